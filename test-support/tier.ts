/**
 * What the cluster and scenario tiers share: a user's project (a sandbox HOME, kindha.config.yaml,
 * OpenTofu and the pinned providers) whose stacks are made and removed with `cdktf deploy` and
 * `cdktf destroy`; the operations tools run as `npm run <tool>` runs them; marker objects; and the
 * checks every stack's cluster must pass, declared as tests.
 */
import { parseHealthReport } from "../lib/model/etcd";
import { createHash, X509Certificate } from "node:crypto";
import { existsSync, readdirSync, readFileSync, rmSync } from "node:fs";
import { join } from "node:path";
import { parse } from "yaml";
import { findStack } from "../lib/io/config-file";
import { kindLbConfig } from "../lib/model/kind-lb-config";
import type { Topology } from "../lib/model/topology";
import { REGISTRY } from "../lib/model/registry";
import {
  clearLeftoverClusters,
  clusterContainers,
  hasState,
  kubectl,
  makeSandbox,
  MINUTE,
  registryStorage,
  ROOT,
  run,
  TOOLS_IMAGE,
  waitFor,
  type Sandbox,
} from "./cluster";
import { failed, makeProject, missingForDeploy, type Project } from "./deploy";
import { runLogged, type Ran } from "./lifecycle";

export interface Tier {
  readonly sandbox: Sandbox;
  /** The cluster name every preset shares (one cluster at a time on this machine). */
  readonly cluster: string;
  readonly kubeconfig: string;
  readonly dataDir: string;
  readonly backupDir: string;
  /** Valid once beforeAll has run. */
  project(): Project;
  env(): NodeJS.ProcessEnv;
  topology(stack: string): Topology;
  say(line: string): void;
  /** `npx cdktf <verb> <stack> --auto-approve --skip-provider-lock`; throws with the last lines when it fails. */
  cdktf(verb: "deploy" | "destroy" | "diff", stack: string): Promise<Ran>;
  /** `npm run <name> -- <args>` (the compiled tool, in the project); never throws. */
  tool(name: string, ...args: string[]): Promise<Ran>;
  k(...args: string[]): string;
  /** `count` marker ConfigMaps in a new namespace; what was written. */
  writeMarkers(ns: string, count: number): Record<string, Record<string, string>>;
  /** The marker ConfigMaps of a namespace as a LIST returns them (what users see). */
  listMarkers(ns: string): Record<string, Record<string, string>>;
}

/**
 * Declares a tier's project: skips nothing, fails in one test when a prerequisite is missing.
 * @param extra YAML lines added to a stack's settings, by stack id
 * @returns the tier, or undefined when it cannot run (a failing test is declared)
 */
export function declareTier(
  name: string,
  stacks: readonly string[],
  extra: Readonly<Record<string, string>> = {},
  images?: readonly string[],
): Tier | undefined {
  const say = (line: string) => process.stderr.write(`${name}: ${line}\n`);
  const why = missingForDeploy(images) ?? clearLeftoverClusters(say);
  if (why) {
    // Never a silent skip: the tier fails, naming what it lacks.
    test(`the ${name} tier has what it needs`, () => {
      throw new Error(`${name} tier cannot run: ${why}`);
    });
    return undefined;
  }
  const sandbox = makeSandbox(stacks, extra);
  const cluster = findStack(stacks[0], sandbox.configFile).topology.clusterName;
  const kubeconfig = join(sandbox.home, ".kube", `kindha-${cluster}.yaml`);
  let p: Project | undefined;
  const project = () => {
    if (!p) throw new Error("the project is not made yet (beforeAll failed)");
    return p;
  };
  beforeAll(() => {
    p = makeProject(sandbox);
  }, 30 * MINUTE);
  afterAll(async () => {
    // Whatever a failed test left: each stack with state is destroyed, then any cluster of the name.
    if (p && clusterContainers(cluster).length > 0) {
      for (const stack of stacks) {
        if (clusterContainers(cluster).length > 0 && hasState(join(sandbox.dir, `terraform.${stack}.tfstate`))) {
          await runLogged(`npx cdktf destroy ${stack} --auto-approve --skip-provider-lock`, {
            cwd: sandbox.dir,
            env: { ...p.env, KINDHA_SKIP_BACKUP: "1" },
            logFile: sandbox.logFile,
            timeoutMs: 10 * MINUTE,
          });
        }
      }
    }
    if (clusterContainers(cluster).length > 0)
      run(
        "kind",
        ["delete", "cluster", "--name", cluster, "--kubeconfig", join(sandbox.dir, "leftover.kubeconfig")],
        sandbox.env(),
        undefined,
        5 * MINUTE,
      );
    // The machine's registry the tier's deploys started (its storage in the sandbox) goes with it.
    if (registryStorage(sandbox.env())?.startsWith(sandbox.dir)) run("docker", ["rm", "-f", REGISTRY.containerName], sandbox.env());
    if (process.env.KINDHA_KEEP_SANDBOX !== "1") rmSync(sandbox.dir, { recursive: true, force: true });
  }, 30 * MINUTE);
  const env = () => project().env;
  const k = (...args: string[]) => kubectl(kubeconfig, env(), args);
  return {
    sandbox,
    cluster,
    kubeconfig,
    dataDir: join(sandbox.home, ".kindha", "data", cluster),
    backupDir: join(sandbox.home, ".kindha", "backups", cluster),
    project,
    env,
    topology: (stack) => findStack(stack, sandbox.configFile).topology,
    say,
    async cdktf(verb, stack) {
      const r = await project().cdktf(verb, stack);
      if (r.code !== 0) throw failed(`cdktf ${verb} ${stack}`, r);
      say(`cdktf ${verb} ${stack}: ${r.seconds} s`);
      return r;
    },
    tool: (toolName, ...args) => project().tool(toolName, ...args),
    k,
    writeMarkers(ns, count) {
      const items = Array.from({ length: count }, (_, i) => ({
        apiVersion: "v1",
        kind: "ConfigMap",
        metadata: { name: `m${String(i).padStart(3, "0")}`, namespace: ns, labels: { "kindha.io/test": "marker" } },
        data: { index: String(i), content: createHash("sha256").update(`${ns}/${i}`).digest("hex") },
      }));
      k("create", "namespace", ns);
      kubectl(kubeconfig, env(), ["apply", "-f", "-"], JSON.stringify({ apiVersion: "v1", kind: "List", items }));
      return Object.fromEntries(items.map((c) => [c.metadata.name, c.data]));
    },
    listMarkers: (ns) =>
      Object.fromEntries(
        JSON.parse(k("get", "configmap", "-n", ns, "-l", "kindha.io/test=marker", "-o", "json")).items.map((c: any) => [
          c.metadata.name,
          c.data,
        ]),
      ),
  };
}

/** A tool's run that must pass: throws with its last lines otherwise. */
export function passed(what: string, r: Ran): Ran {
  if (r.code !== 0) throw failed(what, r);
  return r;
}

/**
 * Declares the checks every stack's cluster passes once it is deployed: nodes, roles and labels;
 * one healthy etcd member per control plane; etcd's SANs; /readyz through the load balancer; pod
 * to pod across nodes; verify.
 */
export function declareClusterChecks(t: Tier, stack: string): void {
  const topology = () => t.topology(stack);
  test(`${stack}: nodes, roles and kindha.io/role labels match the topology; every node is Ready`, () => {
    const items: any[] = JSON.parse(t.k("get", "nodes", "-o", "json")).items;
    const seen = items
      .map((n) => ({
        name: n.metadata.name,
        role: n.metadata.labels["kindha.io/role"],
        controlPlane: "node-role.kubernetes.io/control-plane" in n.metadata.labels,
        ready: n.status.conditions.find((c: any) => c.type === "Ready")?.status,
        version: n.status.nodeInfo.kubeletVersion,
      }))
      .sort((a, b) => a.name.localeCompare(b.name));
    const want = topology()
      .nodes.map((n) => ({ name: n.name, role: n.role, controlPlane: n.role === "control-plane", ready: "True", version: "v1.36.1" }))
      .sort((a, b) => a.name.localeCompare(b.name));
    expect(seen).toEqual(want);
  });

  test(`${stack}: etcd runs one healthy member per control plane, each certificate naming localhost and 127.0.0.1`, () => {
    const tp = topology();
    const env = t.env();
    const r = run(
      "bash",
      [
        join(ROOT, "scripts", "etcd.sh"),
        "health",
        "--kind",
        "--kubeconfig",
        t.kubeconfig,
        "--cluster",
        tp.clusterName,
        "--expect",
        String(tp.controlPlanes.length),
        "--strict",
      ],
      env,
    );
    expect(r.stderr).not.toMatch(/members healthy/);
    expect(r.code).toBe(0);
    expect(parseHealthReport(r.stdout)).toMatchObject({
      state: "healthy",
      members: tp.controlPlanes.length,
      healthy: tp.controlPlanes.length,
    });
    const pki = "/etc/kubernetes/pki/etcd";
    const members = JSON.parse(
      t.k(
        "-n",
        "kube-system",
        "exec",
        `etcd-${tp.controlPlanes[0].name}`,
        "--",
        "etcdctl",
        "--endpoints=https://127.0.0.1:2379",
        `--cacert=${pki}/ca.crt`,
        `--cert=${pki}/server.crt`,
        `--key=${pki}/server.key`,
        "member",
        "list",
        "-w",
        "json",
      ),
    )
      .members.map((m: any) => m.name)
      .sort();
    expect(members).toEqual(tp.controlPlanes.map((n) => n.name).sort());
    for (const cp of tp.controlPlanes) {
      for (const cert of ["server", "peer"]) {
        const pem = run("docker", ["exec", cp.name, "cat", `${pki}/${cert}.crt`], env);
        expect(pem.code).toBe(0);
        const sans = new X509Certificate(pem.stdout).subjectAltName ?? "";
        expect({
          node: cp.name,
          cert,
          sans: sans
            .split(", ")
            .filter((s) => s === "DNS:localhost" || s === "IP Address:127.0.0.1")
            .sort(),
        }).toEqual({ node: cp.name, cert, sans: ["DNS:localhost", "IP Address:127.0.0.1"] });
      }
    }
  });

  test(`${stack}: /readyz answers at https://127.0.0.1:6443, through kind's load balancer in HA`, () => {
    const tp = topology();
    const env = t.env();
    expect(parse(readFileSync(t.kubeconfig, "utf8")).clusters[0].cluster.server).toBe("https://127.0.0.1:6443");
    expect(t.k("get", "--raw", "/readyz").trim()).toBe("ok");
    const lb = `${tp.clusterName}-external-load-balancer`;
    const published = run("docker", ["port", lb, "6443/tcp"], env);
    if (tp.api.loadBalanced) {
      expect(published.stdout.trim()).toBe("127.0.0.1:6443");
      // The stand-in fronts every API server.
      expect(run("docker", ["exec", lb, "grep", "-c", "^  server ", "/home/envoy/haproxy.cfg"], env).stdout.trim()).toBe(
        String(tp.controlPlanes.length),
      );
      // What recover writes back after a restart is, byte for byte, what kind wrote at create.
      for (const [file, text] of Object.entries(kindLbConfig(tp.controlPlanes.map((n) => n.name)))) {
        expect({ file, text: run("docker", ["exec", lb, "cat", `/home/envoy/${file}.yaml`], env).stdout }).toEqual({ file, text });
      }
    } else {
      expect(published.code).not.toBe(0);
    }
  });

  test(
    `${stack}: a pod on the workload node reaches a pod on another node`,
    async () => {
      const tp = topology();
      const env = t.env();
      const client = tp.workers.find((w) => w.role === "workload" || w.role === "combined")!;
      const server = tp.controlPlanes[0];
      const pod = (name: string, node: string, command: string, restartPolicy: string) => ({
        apiVersion: "v1",
        kind: "Pod",
        metadata: { name, namespace: "default", labels: { app: "kindha-net-test" } },
        spec: {
          nodeName: node,
          restartPolicy,
          tolerations: [{ operator: "Exists" }],
          containers: [{ name: "main", image: TOOLS_IMAGE, imagePullPolicy: "Never", command: ["sh", "-c", command] }],
        },
      });
      kubectl(
        t.kubeconfig,
        env,
        ["apply", "-f", "-"],
        JSON.stringify(
          pod(
            "net-server",
            server.name,
            'mkdir -p /srv && echo "hello from $(hostname)" >/srv/index.html && exec busybox httpd -f -p 8080 -h /srv',
            "Always",
          ),
        ),
      );
      const ip = await waitFor("net-server Running with an IP", 2 * MINUTE, () => {
        const p = JSON.parse(t.k("get", "pod", "net-server", "-o", "json"));
        return p.status.phase === "Running" && p.status.podIP ? (p.status.podIP as string) : undefined;
      });
      kubectl(
        t.kubeconfig,
        env,
        ["apply", "-f", "-"],
        JSON.stringify(pod("net-client", client.name, `curl -sS --max-time 5 http://${ip}:8080/index.html`, "Never")),
      );
      const phase = await waitFor("net-client to finish", 2 * MINUTE, () => {
        const p = JSON.parse(t.k("get", "pod", "net-client", "-o", "json")).status.phase;
        return p === "Succeeded" || p === "Failed" ? p : undefined;
      });
      const logs = t.k("logs", "net-client");
      const clientIp = JSON.parse(t.k("get", "pod", "net-client", "-o", "json")).status.podIP;
      t.k("delete", "pod", "-l", "app=kindha-net-test", "--wait=false");
      expect({ phase, logs: logs.trim() }).toEqual({ phase: "Succeeded", logs: "hello from net-server" });
      // Different nodes have different pod CIDRs: the packet crossed nodes.
      expect(clientIp.split(".").slice(0, 3)).not.toEqual(ip.split(".").slice(0, 3));
    },
    5 * MINUTE,
  );

  test(
    `${stack}: npm run verify passes, the machine's registry reached from every node`,
    async () => {
      const r = await t.tool("verify", stack);
      expect(r.output).not.toContain("FAIL");
      expect(r.code).toBe(0);
      expect(r.output).toMatch(
        new RegExp(`local registry\\s+pass\\s+localhost:5001 pulls from kindha-registry on ${topology().nodes.length} nodes`),
      );
    },
    6 * MINUTE,
  );
}

/** The containers' ids of the cluster, by name: the same ids mean nothing was re-created. */
export function containerIds(t: Tier): Record<string, string> {
  return Object.fromEntries(
    clusterContainers(t.cluster).map((c) => [c, run("docker", ["inspect", "-f", "{{.Id}}", c], t.env()).stdout.trim()]),
  );
}

/** A HA stack's setting for the backup CronJob's shell: the tools image every node image carries. */
export const SCHEDULED_BACKUPS = `    scheduledBackups: { shellImage: ${TOOLS_IMAGE} }\n`;

/** Runs the stack's backup CronJob once, as the Job `job`; the snapshot it added to the host's scheduled directory. */
export async function runScheduledBackup(t: Tier, job: string): Promise<string> {
  const scheduled = join(t.backupDir, "scheduled");
  const before = existsSync(scheduled) ? readdirSync(scheduled) : [];
  t.k("-n", "kube-system", "create", "job", "--from=cronjob/etcd-backup", job);
  await waitFor(`the Job ${job} to complete`, 5 * MINUTE, () => {
    const status = JSON.parse(t.k("-n", "kube-system", "get", "job", job, "-o", "json")).status;
    if ((status.failed ?? 0) > 0) throw new Error(`the Job failed: ${JSON.stringify(status)}`);
    return status.succeeded === 1 ? true : undefined;
  });
  const added = readdirSync(scheduled).filter((f) => !before.includes(f));
  if (added.length !== 1) throw new Error(`the Job ${job} added ${added.length} files to ${scheduled}: ${added.join(", ")}`);
  return join(scheduled, added[0]);
}
