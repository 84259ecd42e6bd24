/**
 * `verify` for a `cluster-api` stack: the workload cluster checked against the stack's topology,
 * first as Cluster API sees it in the management cluster (Cluster, control plane, each worker
 * pool, machines), then from inside (nodes and their roles, etcd, the API through its endpoint).
 * The checks are pure functions of recorded output; {@link collectClusterApiInputs} runs the commands.
 */
import { writeFileSync } from "node:fs";
import { join } from "node:path";
import { stringify, parse } from "yaml";
import { withPrivateTempDir } from "../io/temp";
import { CLUSTER_API_DEFAULTS, CLUSTER_NAME_LABEL, workerPools } from "../model/cluster-api";
import { ROLE_LABEL } from "../model/defaults";
import type { Topology } from "../model/topology";
import { isRecord } from "../model/util";
import type { CommandResult } from "../io/exec";
import { ClusterClient, type ClusterAccess } from "./client";
import { listItems, parseNodes } from "./kube";
import { checkEtcdHealth, failureReason, guarded, type CheckResult } from "./verify";

export interface ClusterApiVerifyInputs {
  /** In the management cluster: `kubectl get cluster <name> -o json`. */
  readonly cluster: CommandResult;
  /** `kubectl get kubeadmcontrolplane <name>-control-plane -o json`. */
  readonly controlPlane: CommandResult;
  /** The cluster's MachineDeployments and Machines (`-o json` lists). */
  readonly machineDeployments: CommandResult;
  readonly machines: CommandResult;
  /** In the workload cluster: `kubectl get nodes -o json`, etcd.sh health, `/readyz`; absent without its kubeconfig. */
  readonly nodes?: CommandResult;
  readonly etcdHealth?: CommandResult;
  readonly readyz?: CommandResult;
  /** The API address the workload kubeconfig names. */
  readonly server?: string;
}

// eslint-disable-next-line @typescript-eslint/no-explicit-any -- Cluster API objects of several kinds, read field by field
type Json = Record<string, any>;
const object = (text: string, what: string): Json => {
  const o = JSON.parse(text) as unknown;
  if (!isRecord(o)) throw new Error(`${what}: not an object`);
  return o;
};
const condition = (o: Json, type: string) => ((o.status?.conditions ?? []) as Json[]).find((c) => c.type === type);

/** Cluster API's own verdict: the Cluster's Available condition. */
export function checkClusterAvailable(t: Topology, cluster: CommandResult): CheckResult {
  const check = "Cluster available";
  return guarded(check, cluster, (out) => {
    const c = object(out, "Cluster");
    const available = condition(c, "Available");
    const phase = String(c.status?.phase ?? "unknown");
    return available?.status === "True"
      ? { check, ok: true, reason: `${t.clusterName} ${phase}` }
      : {
          check,
          ok: false,
          reason: `${t.clusterName} ${phase}, Available=${available?.status ?? "unknown"}${available?.message ? `: ${available.message}` : ""}`,
        };
  });
}

/** The KubeadmControlPlane has the topology's replicas, all ready and up to date. */
export function checkControlPlane(t: Topology, kcp: CommandResult): CheckResult {
  const check = "control planes ready";
  return guarded(check, kcp, (out) => {
    const k = object(out, "KubeadmControlPlane");
    const want = t.controlPlanes.length;
    const s = k.status ?? {};
    const have = { replicas: k.spec?.replicas, ready: s.readyReplicas ?? 0, upToDate: s.upToDateReplicas ?? 0 };
    const ok = have.replicas === want && have.ready === want && have.upToDate === want && (s.replicas ?? 0) === want;
    return {
      check,
      ok,
      reason: `${have.ready} of ${want} ready, ${have.upToDate} up to date${have.replicas === want ? "" : `; spec asks for ${have.replicas}`}`,
    };
  });
}

/** Each worker pool's MachineDeployment has the topology's replicas, all ready. */
export function checkWorkerPools(t: Topology, mds: CommandResult): CheckResult {
  const check = "worker pools ready";
  return guarded(check, mds, (out) => {
    const byName = new Map(listItems(out, "MachineDeployments").map((m: Json) => [String(m.metadata?.name), m]));
    const pools = workerPools(t);
    const problems = pools.flatMap((p) => {
      const m = byName.get(p.name);
      if (!m) return [`${p.name} absent`];
      const ready = (m.status?.readyReplicas as number | undefined) ?? 0;
      return m.spec?.replicas === p.replicas && ready === p.replicas
        ? []
        : [`${p.name} ${ready} of ${p.replicas} ready${m.spec?.replicas === p.replicas ? "" : ` (spec asks for ${m.spec?.replicas})`}`];
    });
    const stray = [...byName.keys()].filter((n) => !pools.some((p) => p.name === n));
    if (stray.length > 0) problems.push(`not in the topology: ${stray.join(", ")}`);
    return problems.length === 0
      ? { check, ok: true, reason: pools.map((p) => `${p.name} ${p.replicas}`).join(", ") || "no workers" }
      : { check, ok: false, reason: problems.join("; ") };
  });
}

/** Every Machine of the cluster is Running, one per planned node. */
export function checkMachines(t: Topology, machines: CommandResult): CheckResult {
  const check = "machines running";
  return guarded(check, machines, (out) => {
    const items = listItems(out, "Machines") as Json[];
    const want = t.controlPlanes.length + t.workers.length;
    const notRunning = items.filter((m) => m.status?.phase !== "Running").map((m) => `${m.metadata?.name} ${m.status?.phase ?? "unknown"}`);
    const ok = items.length === want && notRunning.length === 0;
    return {
      check,
      ok,
      reason: ok
        ? `${want} Running`
        : `${items.length} machines for ${want} planned nodes${notRunning.length > 0 ? `; ${notRunning.join(", ")}` : ""}`,
    };
  });
}

/** The workload cluster's nodes: all Ready, as many of each role as planned. */
export function checkWorkloadNodes(t: Topology, nodes: CommandResult | undefined): CheckResult {
  const check = "workload nodes Ready, roles as planned";
  if (!nodes) return { check, ok: false, reason: "no workload kubeconfig yet (Secret <cluster>-kubeconfig)" };
  return guarded(check, nodes, (out) => {
    const all = parseNodes(out);
    const roles = (listItems(out, "Nodes") as Json[]).map((n) => String(n.metadata?.labels?.[ROLE_LABEL] ?? "none"));
    const count = (xs: readonly string[]) =>
      Object.entries(xs.reduce<Record<string, number>>((m, r) => ({ ...m, [r]: (m[r] ?? 0) + 1 }), {}))
        .sort()
        .map(([r, n]) => `${n} ${r}`)
        .join(", ");
    const want = count([...t.controlPlanes, ...t.workers].map((n) => n.role));
    const have = count(roles);
    const notReady = all.filter((n) => !n.ready).map((n) => `${n.name} (${n.readyDetail})`);
    const ok = have === want && notReady.length === 0;
    return {
      check,
      ok,
      reason: ok
        ? `${all.length} Ready: ${have}`
        : `${have || "none"}; planned ${want}${notReady.length > 0 ? `; not Ready: ${notReady.join(", ")}` : ""}`,
    };
  });
}

/** `/readyz` answers through the API endpoint the workload kubeconfig names. */
export function checkWorkloadApi(readyz: CommandResult | undefined, server: string | undefined): CheckResult {
  const check = "API through its endpoint";
  if (!readyz) return { check, ok: false, reason: "no workload kubeconfig yet" };
  if (readyz.code !== 0) return { check, ok: false, reason: `${server}/readyz: ${failureReason(readyz)}` };
  const body = readyz.stdout.trim();
  return { check, ok: body === "ok", reason: `${server}/readyz: ${body === "ok" ? "ok" : JSON.stringify(body.slice(0, 80))}` };
}

export function clusterApiChecks(t: Topology, i: ClusterApiVerifyInputs): CheckResult[] {
  return [
    checkClusterAvailable(t, i.cluster),
    checkControlPlane(t, i.controlPlane),
    checkWorkerPools(t, i.machineDeployments),
    checkMachines(t, i.machines),
    checkWorkloadNodes(t, i.nodes),
    i.etcdHealth ? checkEtcdHealth(t, i.etcdHealth) : { check: "etcd member health", ok: false, reason: "no workload kubeconfig yet" },
    checkWorkloadApi(i.readyz, i.server),
  ];
}

/** How verify reaches a cluster-api stack: the management cluster, and optionally another API address for the workload's. */
export interface ClusterApiAccess extends ClusterAccess {
  readonly namespace?: string;
  /**
   * The workload API's address to use instead of the one its kubeconfig names (CAPD's load
   * balancer as published on 127.0.0.1, say).
   * @default - the kubeconfig's
   */
  readonly workloadServer?: string;
}

/**
 * The kubeconfig Cluster API wrote for a workload cluster (its Secret's `value`, base64) as text,
 * every cluster entry at `server` when given; and the API address it then names.
 */
export function workloadKubeconfig(secretValue: string, server?: string): { text: string; server: string } {
  const config = parse(Buffer.from(secretValue.trim(), "base64").toString("utf8")) as Json;
  if (server) for (const c of config.clusters ?? []) c.cluster.server = server;
  return { text: stringify(config), server: server ?? String(config.clusters?.[0]?.cluster?.server ?? "") };
}

/** Runs the commands: the management cluster's objects, then (with the kubeconfig Cluster API wrote, in a private file removed after) the workload's. */
export async function collectClusterApiInputs(t: Topology, a: ClusterApiAccess): Promise<ClusterApiVerifyInputs> {
  const m = new ClusterClient(a);
  const ns = ["-n", a.namespace ?? CLUSTER_API_DEFAULTS.namespace];
  const selector = ["-l", `${CLUSTER_NAME_LABEL}=${t.clusterName}`];
  const [cluster, controlPlane, machineDeployments, machines, secret] = await Promise.all([
    m.kubectl(["get", "clusters.cluster.x-k8s.io", t.clusterName, ...ns, "-o", "json"]),
    m.kubectl(["get", "kubeadmcontrolplanes.controlplane.cluster.x-k8s.io", `${t.clusterName}-control-plane`, ...ns, "-o", "json"]),
    m.kubectl(["get", "machinedeployments.cluster.x-k8s.io", ...ns, ...selector, "-o", "json"]),
    m.kubectl(["get", "machines.cluster.x-k8s.io", ...ns, ...selector, "-o", "json"]),
    m.kubectl(["get", "secret", `${t.clusterName}-kubeconfig`, ...ns, "-o", "jsonpath={.data.value}"]),
  ]);
  const base = { cluster, controlPlane, machineDeployments, machines };
  if (secret.code !== 0 || secret.stdout.trim() === "") return base;
  return withPrivateTempDir("kindha-verify-", async (dir) => {
    const { text, server } = workloadKubeconfig(secret.stdout, a.workloadServer);
    const kubeconfig = join(dir, "workload.yaml");
    writeFileSync(kubeconfig, text, { mode: 0o600 });
    const w = new ClusterClient({ ...a, kubeconfig });
    const [nodes, readyz] = await Promise.all([w.kubectl(["get", "nodes", "-o", "json"]), w.kubectl(["get", "--raw", "/readyz"])]);
    const cp = nodes.code === 0 ? parseNodes(nodes.stdout).find((n) => n.controlPlane && n.ready)?.name : undefined;
    const etcdHealth = cp
      ? await w.etcdHealthResult(cp, t.etcd.members.length)
      : { code: 1, stdout: "", stderr: "no Ready control-plane node to ask etcd through" };
    return { ...base, nodes, readyz, etcdHealth, server };
  });
}

export async function verifyClusterApiOnce(t: Topology, a: ClusterApiAccess): Promise<CheckResult[]> {
  return clusterApiChecks(t, await collectClusterApiInputs(t, a));
}
