/**
 * `recover`: brings a kind cluster back after its containers were stopped, by a Docker restart, a
 * host reboot or a hand: every container running at the address it was fixed at (create pins
 * them, scripts/nodes.sh), kind's load-balancer configuration written back (its entrypoint resets
 * it on every start), etcd with quorum and the API answering, then verify.
 *
 * The address plan is a pure function of `docker inspect` and `docker network inspect` output;
 * the steps run the commands. Over 300 lines because the plan-time condition the Terraform hook
 * asks (is this the stack's cluster, does it answer) shares the plan's readings.
 */
import { kindClusterPsArgs, kindLoadBalancerName, type Topology } from "../../model/topology";
import { lastLine, type CommandResult } from "../../io/exec";
import { isEmptyLbConfig, kindLbConfig, LB_CONFIG_PATHS } from "../../model/kind-lb-config";
import { isRecord } from "../../model/util";
import { identityMismatch, identityOfCopy, IDENTITY_PATH, type Identity } from "../../model/identity";
import { ClusterClient, type ClusterOpsContext } from "../client";
import { ETCD_SERVER_CERT, memberAddresses } from "../certs";
import { readLbConfig, writeLbConfig } from "../lb";
import { failed, failedCommand, ok, pollUntil, type Step } from "../steps";
import { STEADY_MS, verifyStepResult, waitForSteadyVerify } from "../verify";

/** One container of the cluster as Docker reports it. */
export interface ContainerState {
  readonly name: string;
  readonly running: boolean;
  /** Its address on the network now; empty while it is stopped. */
  readonly address: string;
  /** The address it is fixed at (IPAMConfig), if any. */
  readonly pinned?: string;
  readonly pinned6?: string;
}

/** `docker inspect <containers...>` (a JSON array), on `network`. */
export function parseContainers(text: string, network: string): ContainerState[] {
  let data: unknown;
  try {
    data = JSON.parse(text);
  } catch {
    throw new Error("docker inspect output is not JSON");
  }
  if (!Array.isArray(data)) throw new Error("docker inspect did not return a list");
  return data.filter(isRecord).map((c) => {
    const state = isRecord(c.State) ? c.State : {};
    const settings = isRecord(c.NetworkSettings) && isRecord(c.NetworkSettings.Networks) ? c.NetworkSettings.Networks : {};
    const net = isRecord(settings[network]) ? settings[network] : {};
    const ipam = isRecord(net.IPAMConfig) ? net.IPAMConfig : {};
    const str = (x: unknown) => (typeof x === "string" ? x : "");
    return {
      name: str(c.Name).replace(/^\//, ""),
      running: state.Running === true,
      address: str(net.IPAddress),
      ...(str(ipam.IPv4Address) ? { pinned: str(ipam.IPv4Address) } : {}),
      ...(str(ipam.IPv6Address) ? { pinned6: str(ipam.IPv6Address) } : {}),
    };
  });
}

/** The containers Docker knows of these names, on `network` (missing ones are left out). */
export async function inspectContainers(
  k: ClusterClient,
  names: readonly string[],
  network: string,
): Promise<{ r: CommandResult; states: ContainerState[] }> {
  const r = await k.containers(["inspect", ...names], 60_000);
  // inspect prints the ones it found and fails naming the others.
  return { r, states: r.stdout.trim().startsWith("[") ? parseContainers(r.stdout, network) : [] };
}

/** `docker network inspect <network>`: the address each running container holds, by address. */
export function parseHolders(text: string): Map<string, string> {
  const data: unknown = JSON.parse(text);
  const net = Array.isArray(data) && isRecord(data[0]) ? data[0] : {};
  const containers = isRecord(net.Containers) ? net.Containers : {};
  const holders = new Map<string, string>();
  for (const c of Object.values(containers)) {
    if (isRecord(c) && typeof c.IPv4Address === "string" && typeof c.Name === "string")
      holders.set(c.IPv4Address.replace(/\/\d+$/, ""), c.Name);
  }
  return holders;
}

/** What has to happen to one container. */
export interface NodeMove {
  readonly name: string;
  /** Where it must be (its fixed address, or the one its etcd certificate names). */
  readonly address: string;
  readonly address6?: string;
  /** Running at another address: stopped first. */
  readonly stopFirst: boolean;
  /** Not fixed at `address` yet: disconnected and connected again with --ip. */
  readonly pin: boolean;
}

export interface AddressPlan {
  /** Running where they belong. */
  readonly inPlace: readonly string[];
  /** Containers to (stop,) fix and start, in start order: control planes, workers, load balancer. */
  readonly moves: readonly NodeMove[];
  /** Addresses held by containers outside the cluster: nothing can start until they are freed. */
  readonly conflicts: readonly { readonly name: string; readonly address: string; readonly holder: string }[];
  /** Containers with no known address: started wherever Docker puts them, after the others. */
  readonly unknown: readonly string[];
}

/**
 * The plan that puts every container back where it belongs. `want` gives a container's address
 * when Docker has none fixed (an unpinned control plane: what its etcd certificate names).
 */
export function planAddresses(
  order: readonly string[],
  containers: readonly ContainerState[],
  holders: ReadonlyMap<string, string>,
  want: ReadonlyMap<string, string> = new Map(),
): AddressPlan {
  const byName = new Map(containers.map((c) => [c.name, c]));
  const ours = new Set(order);
  const inPlace: string[] = [];
  const moves: NodeMove[] = [];
  const conflicts: { name: string; address: string; holder: string }[] = [];
  const unknown: string[] = [];
  for (const name of order) {
    const c = byName.get(name);
    if (!c) continue;
    const address = c.pinned ?? want.get(name);
    if (!address) {
      if (c.running) inPlace.push(name);
      else unknown.push(name);
      continue;
    }
    if (c.running && c.address === address) {
      inPlace.push(name);
      continue;
    }
    const holder = holders.get(address);
    if (holder && holder !== name && !ours.has(holder)) conflicts.push({ name, address, holder });
    moves.push({ name, address, ...(c.pinned6 ? { address6: c.pinned6 } : {}), stopFirst: c.running, pin: c.pinned !== address });
  }
  return { inPlace, moves, conflicts, unknown };
}

export interface RecoverContext extends ClusterOpsContext {
  readonly stackId: string;
  /** Docker network of the cluster (KIND_EXPERIMENTAL_DOCKER_NETWORK, default kind). */
  readonly network: string;
  /** Bound of each wait, in ms. */
  readonly waitMs: number;
  /** Filled by the steps. */
  plan?: AddressPlan;
}

/** The cluster's containers in start order: control planes, workers, then kind's load balancer. */
export function startOrder(t: Topology): string[] {
  return [
    ...t.controlPlanes.map((n) => n.name),
    ...t.workers.map((n) => n.name),
    ...(t.api.loadBalanced ? [kindLoadBalancerName(t.clusterName)] : []),
  ];
}

/** What a plan finds of a stack's cluster before the Kubernetes provider reads it (see {@link clusterCondition}). */
export interface Condition {
  readonly state: "absent" | "other-topology" | "not-ours" | "no-engine" | "healthy" | "unhealthy";
  readonly why: string;
}

/** The mark create wrote into a node (`docker cp` reads it from stopped containers too), or undefined. */
export async function readIdentity(k: ClusterClient, node: string): Promise<Identity | undefined> {
  const r = await k.containers(["cp", `${node}:${IDENTITY_PATH}`, "-"], 30_000);
  return r.code === 0 ? identityOfCopy(r.stdout) : undefined;
}

/**
 * A quick look, changing nothing: is the stack's cluster there, the one the stack plans, marked
 * as `want`'s (stack id and create id), and does its API answer? `unhealthy` is the only state
 * recover acts on: every planned container exists (no other), each node carries the mark, and
 * the API does not answer; `why` then names what is down.
 */
export async function clusterCondition(c: RecoverContext, want: Identity): Promise<Condition> {
  const k = new ClusterClient(c);
  const t = c.topology;
  const names = startOrder(t);
  const ps = await k.containers(kindClusterPsArgs(t.clusterName), 30_000);
  if (ps.code !== 0) return { state: "no-engine", why: `${c.containerCli} ps failed: ${lastLine(ps)}` };
  const found = ps.stdout.split("\n").filter(Boolean).sort();
  if (found.length === 0) return { state: "absent", why: `no container of cluster ${t.clusterName}` };
  const planned = [...names].sort();
  if (found.join(" ") !== planned.join(" ")) {
    return { state: "other-topology", why: `cluster ${t.clusterName} has ${found.join(", ")}; the stack plans ${planned.join(", ")}` };
  }
  for (const node of t.nodes.map((n) => n.name)) {
    const mismatch = identityMismatch(node, await readIdentity(k, node), want);
    if (mismatch) return { state: "not-ours", why: mismatch };
  }
  const r = await k.readyz(t.api.url, { timeoutMs: 30_000, requestTimeout: "10s" });
  if (r.code === 0) return { state: "healthy", why: `the API answers at ${t.api.url}` };
  const { states } = await inspectContainers(k, names, c.network);
  const down = states.filter((s) => !s.running).map((s) => s.name);
  const moved = states
    .filter((s) => s.running && s.pinned && s.address !== s.pinned)
    .map((s) => `${s.name} at ${s.address}, fixed at ${s.pinned}`);
  const why = [...(down.length > 0 ? [`stopped: ${down.join(", ")}`] : []), ...moved, `no API at ${t.api.url}: ${lastLine(r)}`];
  return { state: "unhealthy", why: why.join("; ") };
}

/**
 * The recovery steps, in order. Pure: nothing runs until runSteps calls them. `verify: false`
 * (the plan's hook) ends once etcd has quorum and the API answers.
 */
export function recoverSteps(c: RecoverContext, opts: { readonly verify?: boolean } = {}): Step<RecoverContext>[] {
  const k = new ClusterClient(c);
  const t = c.topology;
  const names = startOrder(t);
  const lb = kindLoadBalancerName(t.clusterName);
  const inspect = () => inspectContainers(k, names, c.network);

  return [
    {
      name: `find the containers of ${t.clusterName}`,
      next: `a container is gone: the cluster cannot be recovered; re-create it (npx cdktf deploy ${c.stackId}) and restore a snapshot (npm run restore)`,
      run: async () => {
        const { r, states } = await inspect();
        const missing = names.filter((n) => !states.some((s) => s.name === n));
        if (missing.length > 0) return failed(`no container ${missing.join(", ")}${r.code !== 0 ? ` (${lastLine(r)})` : ""}`);
        const down = states.filter((s) => !s.running).map((s) => s.name);
        return ok(`${states.length} containers${down.length > 0 ? `; stopped: ${down.join(", ")}` : ", all running"}`);
      },
    },
    {
      name: "plan the addresses (each container where etcd and kubeadm expect it)",
      next: (ctx) => {
        const first = ctx.plan?.conflicts[0];
        return first
          ? `free the address: stop ${first.holder} (${ctx.containerCli} stop ${first.holder}) or move it off the network (${ctx.containerCli} network disconnect ${ctx.network} ${first.holder}), then run recover again`
          : "run recover again; if it fails the same way, re-create the cluster and restore a snapshot";
      },
      run: async () => {
        const { states } = await inspect();
        const net = await k.containers(["network", "inspect", c.network], 30_000);
        if (net.code !== 0) return failedCommand(`${c.containerCli} network inspect ${c.network}`, net);
        // Unpinned control planes (clusters made before addresses were fixed): the address their
        // etcd certificate names, read while they run.
        const want = new Map<string, string>();
        for (const cp of t.controlPlanes) {
          const s = states.find((x) => x.name === cp.name);
          if (!s || s.pinned || !s.running) continue;
          const pem = await k.inNode(cp.name, ["cat", ETCD_SERVER_CERT], 30_000);
          const named = pem.code === 0 ? memberAddresses(pem.stdout, t.etcd.certSans) : [];
          if (named.length > 0 && !named.includes(s.address)) want.set(cp.name, named.filter((ip) => !ip.includes(":"))[0] ?? named[0]);
        }
        const plan = (c.plan = planAddresses(names, states, parseHolders(net.stdout), want));
        if (plan.conflicts.length > 0) {
          return failed(plan.conflicts.map((x) => `${x.name} belongs at ${x.address}, which ${x.holder} holds`).join("; "));
        }
        const moves = plan.moves.map((m) => `${m.name} -> ${m.address}${m.stopFirst ? " (moved: restart)" : ""}`);
        return ok(
          [
            `${plan.inPlace.length} in place`,
            ...moves,
            ...(plan.unknown.length > 0 ? [`no recorded address: ${plan.unknown.join(", ")}`] : []),
          ].join("; "),
        );
      },
    },
    {
      name: "put every container back at its address and start it (control planes first)",
      next: `look at ${c.containerCli} ps -a and the node's log (${c.containerCli} logs <node>); then run recover again`,
      run: async () => {
        const plan = c.plan;
        if (!plan) return failed("no address plan");
        for (const m of plan.moves.filter((x) => x.stopFirst)) {
          const r = await k.containers(["stop", m.name], 120_000);
          if (r.code !== 0) return failedCommand(`${c.containerCli} stop ${m.name}`, r);
        }
        for (const m of plan.moves) {
          if (m.pin) {
            await k.containers(["network", "disconnect", c.network, m.name], 60_000);
            const r = await k.containers(
              ["network", "connect", "--ip", m.address, ...(m.address6 ? ["--ip6", m.address6] : []), c.network, m.name],
              60_000,
            );
            if (r.code !== 0) return failedCommand(`${c.containerCli} network connect --ip ${m.address} ${c.network} ${m.name}`, r);
          }
          const r = await k.containers(["start", m.name], 120_000);
          if (r.code !== 0) return failedCommand(`${c.containerCli} start ${m.name}`, r);
        }
        for (const name of plan.unknown) {
          const r = await k.containers(["start", name], 120_000);
          if (r.code !== 0) return failedCommand(`${c.containerCli} start ${name}`, r);
        }
        const started = plan.moves.length + plan.unknown.length;
        return ok(started === 0 ? "nothing to start" : `${started} started`);
      },
    },
    ...(t.api.loadBalanced
      ? [
          {
            name: `write kind's configuration back into ${lb}`,
            next: `write it by hand: the files kind writes at create are ${LB_CONFIG_PATHS.cds} and ${LB_CONFIG_PATHS.lds} in ${lb}`,
            run: async () => {
              const want = kindLbConfig(t.controlPlanes.map((n) => n.name));
              const now = await readLbConfig(k, lb);
              if (now.code === 0 && now.stdout === want.cds) return ok("it is kind's already");
              const r = await writeLbConfig(k, lb, want);
              if (r.code !== 0) return failedCommand(`writing ${LB_CONFIG_PATHS.cds} in ${lb}`, r);
              return ok(
                `${t.controlPlanes.length} backends${now.code === 0 && isEmptyLbConfig(now.stdout) ? " (it had none: reset by its restart)" : ""}`,
              );
            },
          } satisfies Step<RecoverContext>,
        ]
      : []),
    {
      name: "wait for etcd quorum and the API",
      next: `run npm run verify -- ${c.stackId}: it reads the nodes directly when the API is down`,
      run: async () => {
        const first = t.controlPlanes[0].name;
        const last = await pollUntil(
          async () => {
            const got = await k.etcdHealth(first, t.etcd.members.length, undefined, 60_000);
            if (!("report" in got)) return { done: false, why: `etcd: ${lastLine(got.result)}` };
            if (got.report.state === "quorum-lost") return { done: false, why: got.report.message };
            const r = await k.readyz(t.api.url, { timeoutMs: 30_000, requestTimeout: "10s" });
            return r.code === 0 ? { done: true, why: got.report.message } : { done: false, why: `API: ${lastLine(r)}` };
          },
          { timeoutMs: c.waitMs, intervalMs: 2_000, clock: c.clock },
        );
        return last.done ? ok(last.why) : failed(last.why);
      },
    },
    ...(opts.verify === false
      ? []
      : [
          {
            name: `verify stack ${c.stackId}, passing for ${STEADY_MS / 1000} s in a row`,
            next: `run npm run verify -- ${c.stackId} again in a minute; pods settle after the nodes restart`,
            run: async () => {
              const last = await waitForSteadyVerify(t, c, { timeoutMs: c.waitMs, intervalMs: 3_000, holdMs: STEADY_MS, clock: c.clock });
              return verifyStepResult(last, c.log);
            },
          } satisfies Step<RecoverContext>,
        ]),
  ];
}
