/**
 * The cluster tier: every preset stack created as a real kind cluster on this machine's Docker
 * engine, from the node image e2e/node-image.sh builds, by the very scripts the stack's cluster
 * resource runs (read from the synthesized cdk.tf.json), checked live, then deleted.
 * One stack at a time; each cluster is deleted at the end even when a check fails.
 */
import { createHash, X509Certificate } from "node:crypto";
import { appendFileSync, existsSync, readFileSync, rmSync, statSync } from "node:fs";
import { join } from "node:path";
import { parse } from "yaml";
import { resolveStack } from "../../lib/stack-config";
import type { Topology } from "../../lib/topology";
import type { Lifecycle } from "../../test-support/lifecycle";
import { runLogged } from "../../test-support/lifecycle";
import { clusterContainers, kubectl, makeSandbox, missingPrerequisite, ROOT, run, TOOLS_IMAGE, waitFor } from "../../test-support/cluster";

const ALL_STACKS = ["single", "ha-option-b", "ha-option-a"];
// KINDHA_CLUSTER_STACKS narrows a local run (e.g. "single"); CI runs them all.
const STACKS = process.env.KINDHA_CLUSTER_STACKS?.split(",").filter(Boolean) ?? ALL_STACKS;
/** Backup and restore round trip: one and three members. Failover: the lighter HA stack. */
const ROUND_TRIP_STACKS = ["single", "ha-option-b"];
const FAILOVER_STACKS = ["ha-option-b"];
const MINUTE = 60_000;
const say = (line: string) => process.stderr.write(`cluster: ${line}\n`);
const ipNumber = (ip: string) => ip.split(".").reduce((n, octet) => n * 256 + Number(octet), 0);

const missing = missingPrerequisite();
if (missing) {
  // Never a silent skip: the tier fails, naming what it lacks.
  test("the cluster tier has what it needs", () => {
    throw new Error(`cluster tier cannot run: ${missing}`);
  });
} else {
  const sandbox = makeSandbox(STACKS);
  afterAll(() => {
    if (process.env.KINDHA_KEEP_SANDBOX !== "1") rmSync(sandbox.dir, { recursive: true, force: true });
  });

  describe.each(STACKS)("stack %s on a real kind cluster", (stack) => {
    let life: Lifecycle;
    let topology: Topology;
    let kubeconfig: string;
    let env: NodeJS.ProcessEnv;
    let createOutput = "";
    const k = (...args: string[]) => kubectl(kubeconfig, env, args);
    /** One of the operations tools (npm run <name> -- <args>), compiled. */
    const tool = (name: string, ...args: string[]) => {
      const started = Date.now();
      const r = run(process.execPath, [join(ROOT, "dist", "tools", `${name}.js`), ...args], env, undefined, 10 * MINUTE);
      appendFileSync(sandbox.logFile, `\n$ npm run ${name} -- ${args.join(" ")}  (exit ${r.code}, ${((Date.now() - started) / 1000).toFixed(1)} s)\n${r.output}`);
      return r;
    };

    const destroy = () =>
      runLogged(life.destroy.command, { cwd: life.stackDir, env: { ...env, ...life.destroy.environment }, logFile: sandbox.logFile, timeoutMs: 5 * MINUTE });

    beforeAll(async () => {
      topology = resolveStack(stack, sandbox.configFile).topology;
      life = sandbox.synth(stack);
      env = sandbox.env();
      kubeconfig = life.triggers.kubeconfig_path;
      life.writeConfig();
      const created = await runLogged(life.create.command, {
        cwd: life.stackDir,
        env: { ...env, ...life.create.environment },
        logFile: sandbox.logFile,
        timeoutMs: 15 * MINUTE,
      });
      createOutput = created.output;
      if (created.code !== 0) {
        throw new Error(`create-cluster.sh exited ${created.code} after ${created.seconds}s:\n${created.output.split("\n").slice(-40).join("\n")}`);
      }
      say(`${stack}: ${topology.nodes.length} nodes created and Ready in ${created.seconds}s`);
    }, 16 * MINUTE);

    let deleted = false;
    afterAll(async () => {
      if (!deleted && life) await destroy();
    }, 6 * MINUTE);

    test("the preflight warned that the stack over-commits this machine", () => {
      expect(createOutput).toMatch(/preflight: warning: docker reports \d+ CPUs, the stack plans \d+/);
      expect(createOutput).toContain("continuing because KINDHA_ALLOW_OVERCOMMIT=1");
    });

    test("nodes, roles and kindha.io/role labels match the topology; every node is Ready", () => {
      const items: any[] = JSON.parse(k("get", "nodes", "-o", "json")).items;
      const seen = items
        .map((n) => ({
          name: n.metadata.name,
          role: n.metadata.labels["kindha.io/role"],
          controlPlane: "node-role.kubernetes.io/control-plane" in n.metadata.labels,
          ready: n.status.conditions.find((c: any) => c.type === "Ready")?.status,
          version: n.status.nodeInfo.kubeletVersion,
        }))
        .sort((a, b) => a.name.localeCompare(b.name));
      const want = topology.nodes
        .map((n) => ({ name: n.name, role: n.role, controlPlane: n.role === "control-plane", ready: "True", version: "v1.36.1" }))
        .sort((a, b) => a.name.localeCompare(b.name));
      expect(seen).toEqual(want);
    });

    test("etcd runs one healthy member per control plane", () => {
      const r = run("bash", [join(ROOT, "scripts", "etcd.sh"), "health", "--kind", "--kubeconfig", kubeconfig, "--cluster", topology.clusterName, "--expect", String(topology.controlPlanes.length), "--strict"], env);
      expect(r.stderr).not.toMatch(/quorum lost|degraded/);
      expect(r.code).toBe(0);
      const health = JSON.parse(r.stdout);
      expect(health).toMatchObject({ state: "healthy", members: topology.controlPlanes.length, healthy: topology.controlPlanes.length });
      const members = JSON.parse(
        k("-n", "kube-system", "exec", `etcd-${topology.controlPlanes[0].name}`, "--", "etcdctl", "--endpoints=https://127.0.0.1:2379",
          "--cacert=/etc/kubernetes/pki/etcd/ca.crt", "--cert=/etc/kubernetes/pki/etcd/server.crt", "--key=/etc/kubernetes/pki/etcd/server.key",
          "member", "list", "-w", "json"),
      ).members.map((m: any) => m.name).sort();
      expect(members).toEqual(topology.controlPlanes.map((n) => n.name).sort());
    });

    test("etcd's server and peer certificates carry localhost and 127.0.0.1 on every control plane", () => {
      for (const cp of topology.controlPlanes) {
        for (const cert of ["server", "peer"]) {
          const pem = run("docker", ["exec", cp.name, "cat", `/etc/kubernetes/pki/etcd/${cert}.crt`], env);
          expect(pem.code).toBe(0);
          const sans = new X509Certificate(pem.stdout).subjectAltName ?? "";
          expect({ node: cp.name, cert, sans: sans.split(", ").filter((s) => s === "DNS:localhost" || s === "IP Address:127.0.0.1").sort() })
            .toEqual({ node: cp.name, cert, sans: ["DNS:localhost", "IP Address:127.0.0.1"] });
        }
      }
    });

    test("/readyz answers at https://127.0.0.1:6443, through kind's load balancer in HA", () => {
      const server = parse(readFileSync(kubeconfig, "utf8")).clusters[0].cluster.server;
      expect(server).toBe("https://127.0.0.1:6443");
      expect(k("get", "--raw", "/readyz").trim()).toBe("ok");
      const lb = `${topology.clusterName}-external-load-balancer`;
      const published = run("docker", ["port", lb, "6443/tcp"], env);
      if (topology.api.loadBalanced) {
        expect(published.stdout.trim()).toBe("127.0.0.1:6443");
        // The stand-in fronts every API server.
        const servers = run("docker", ["exec", lb, "grep", "-c", "^  server ", "/home/envoy/haproxy.cfg"], env);
        expect(servers.stdout.trim()).toBe(String(topology.controlPlanes.length));
      } else {
        expect(published.code).not.toBe(0);
      }
    });

    test("a pod on the workload node reaches a pod on another node", async () => {
      const client = topology.workers.find((w) => w.role === "workload" || w.role === "combined")!;
      const server = topology.controlPlanes[0];
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
      kubectl(kubeconfig, env, ["apply", "-f", "-"], JSON.stringify(pod("net-server", server.name, "mkdir -p /srv && echo \"hello from $(hostname)\" >/srv/index.html && exec busybox httpd -f -p 8080 -h /srv", "Always")));
      const ip = await waitFor("net-server Running with an IP", 2 * MINUTE, () => {
        const p = JSON.parse(k("get", "pod", "net-server", "-o", "json"));
        return p.status.phase === "Running" && p.status.podIP ? (p.status.podIP as string) : undefined;
      });
      kubectl(kubeconfig, env, ["apply", "-f", "-"], JSON.stringify(pod("net-client", client.name, `curl -sS --max-time 5 http://${ip}:8080/index.html`, "Never")));
      const phase = await waitFor("net-client to finish", 2 * MINUTE, () => {
        const p = JSON.parse(k("get", "pod", "net-client", "-o", "json")).status.phase;
        return p === "Succeeded" || p === "Failed" ? p : undefined;
      });
      const logs = k("logs", "net-client");
      const clientIp = JSON.parse(k("get", "pod", "net-client", "-o", "json")).status.podIP;
      k("delete", "pod", "-l", "app=kindha-net-test", "--wait=false");
      expect({ phase, logs: logs.trim() }).toEqual({ phase: "Succeeded", logs: "hello from net-server" });
      // Different nodes have different pod CIDRs: the packet crossed nodes.
      expect(clientIp.split(".").slice(0, 3)).not.toEqual(ip.split(".").slice(0, 3));
    }, 5 * MINUTE);

    test("npm run verify passes", () => {
      const r = tool("verify", stack);
      expect(r.output).not.toContain("FAIL");
      expect(r.code).toBe(0);
    }, 6 * MINUTE);

    /** ConfigMaps of a namespace as a LIST returns them (what users see), name -> data. */
    const listConfigMaps = (ns: string): Record<string, Record<string, string>> =>
      Object.fromEntries(JSON.parse(k("get", "configmap", "-n", ns, "-l", "kindha.io/test=marker", "-o", "json")).items.map((c: any) => [c.metadata.name, c.data]));
    const writeMarkers = (ns: string, count: number) => {
      const items = Array.from({ length: count }, (_, i) => ({
        apiVersion: "v1",
        kind: "ConfigMap",
        metadata: { name: `m${String(i).padStart(3, "0")}`, namespace: ns, labels: { "kindha.io/test": "marker" } },
        data: { index: String(i), content: createHash("sha256").update(`${ns}/${i}`).digest("hex") },
      }));
      kubectl(kubeconfig, env, ["create", "namespace", ns], undefined);
      kubectl(kubeconfig, env, ["apply", "-f", "-"], JSON.stringify({ apiVersion: "v1", kind: "List", items }));
      return Object.fromEntries(items.map((c) => [c.metadata.name, c.data]));
    };

    if (FAILOVER_STACKS.includes(stack)) {
      test("npm run drill: with one control plane stopped, /readyz and writes keep being served through the load balancer", () => {
        const r = tool("drill", stack, "--observe", "20");
        const writes = Number(/writes unavailable for ([\d.]+) s/.exec(r.output)?.[1]);
        const api = Number(/API unavailable for ([\d.]+) s/.exec(r.output)?.[1]);
        say(`${stack}: drill: writes unavailable ${writes} s, API unavailable ${api} s`);
        expect(r.output).toContain("drill passed");
        expect(r.code).toBe(0);
        expect(writes).toBeLessThan(30);
        expect(api).toBeLessThan(30);
      }, 10 * MINUTE);

      test("with two of three control planes stopped, quorum is lost and writes fail fast; after restart no key is lost", async () => {
        const ns = "kindha-quorum";
        const markers = writeMarkers(ns, 50);
        const victims = topology.controlPlanes.slice(1).map((n) => n.name);
        const ipOf = (node: string) => run("docker", ["inspect", "-f", "{{range .NetworkSettings.Networks}}{{.IPAddress}}{{end}}", node], env).stdout.trim();
        const ipsBefore = Object.fromEntries(victims.map((v) => [v, ipOf(v)]));
        // Docker gives a restarted container the lowest free address, not its own: start the
        // stopped control planes in the order of their addresses so each gets its own back
        // (etcd's peer URLs and certificates name those addresses).
        const startOrder = [...victims].sort((a, b) => ipNumber(ipsBefore[a]) - ipNumber(ipsBefore[b]));
        try {
          for (const v of victims) expect(run("docker", ["stop", v], env).code).toBe(0);
          const health = run("bash", [join(ROOT, "scripts", "etcd.sh"), "health", "--kind", "--kubeconfig", kubeconfig, "--cluster", topology.clusterName, "--expect", "3"], env);
          expect(health.stderr).toContain("quorum lost: 1 of 3 members healthy, quorum needs 2");
          expect(health.code).toBe(1);
          const t0 = Date.now();
          const write = run("kubectl", ["--kubeconfig", kubeconfig, "--request-timeout", "10s", "-n", ns, "create", "configmap", "during-outage"], env);
          const seconds = (Date.now() - t0) / 1000;
          say(`${stack}: write with quorum lost failed after ${seconds.toFixed(1)} s: ${write.stderr.trim().split("\n").pop()}`);
          expect(write.code).not.toBe(0);
          expect(write.stderr.trim()).not.toBe("");
          expect(seconds).toBeLessThan(20);
        } finally {
          for (const v of startOrder) run("docker", ["start", v], env);
        }
        expect(Object.fromEntries(victims.map((v) => [v, ipOf(v)]))).toEqual(ipsBefore);
        const back = Date.now();
        await waitFor("verify to pass after the restart", 5 * MINUTE, () => (tool("verify", stack).code === 0 ? true : undefined), 5000);
        say(`${stack}: recovered from quorum loss in ${((Date.now() - back) / 1000).toFixed(0)} s`);
        expect(listConfigMaps(ns)).toEqual(markers);
      }, 10 * MINUTE);
    }

    if (ROUND_TRIP_STACKS.includes(stack)) {
      test("backup, delete, create, restore: 200 ConfigMaps come back with their content when listed; verify passes", async () => {
        const ns = "kindha-roundtrip";
        const markers = writeMarkers(ns, 200);
        expect(Object.keys(listConfigMaps(ns))).toHaveLength(200);

        const backup = tool("backup", stack);
        expect(backup.code).toBe(0);
        const snapshot = backup.stdout.trim().split("\n").pop()!;
        expect(snapshot).toMatch(new RegExp(`/\\.kindha/backups/${topology.clusterName}/${topology.clusterName}-${stack}-\\d{8}T\\d{6}Z\\.db$`));
        expect(statSync(snapshot).mode & 0o777).toBe(0o600);
        const status = run("bash", [join(ROOT, "scripts", "etcd.sh"), "--kind", "--kubeconfig", kubeconfig, "--cluster", topology.clusterName, "snapshot-status", snapshot], env);
        expect(status.code).toBe(0);
        expect(JSON.parse(status.stdout).totalKey).toBeGreaterThan(0);

        expect((await destroy()).code).toBe(0);
        expect(clusterContainers(topology.clusterName)).toEqual([]);
        life.writeConfig();
        const created = await runLogged(life.create.command, { cwd: life.stackDir, env: { ...env, ...life.create.environment }, logFile: sandbox.logFile, timeoutMs: 15 * MINUTE });
        expect(created.code).toBe(0);
        expect(k("get", "namespace", ns, "--ignore-not-found").trim()).toBe("");

        const t0 = Date.now();
        const restore = tool("restore", stack, "--snapshot", snapshot);
        say(`${stack}: restore of ${topology.controlPlanes.length} member(s): exit ${restore.code} in ${((Date.now() - t0) / 1000).toFixed(0)} s`);
        if (restore.code !== 0) throw new Error(`restore failed:\n${restore.output}`);
        expect(listConfigMaps(ns)).toEqual(markers);
        expect(tool("verify", stack).code).toBe(0);
      }, 30 * MINUTE);
    }

    test("delete-cluster.sh leaves no container, network or kubeconfig behind", async () => {
      const r = await destroy();
      deleted = true;
      expect(r.code).toBe(0);
      expect(clusterContainers(topology.clusterName)).toEqual([]);
      expect(run("docker", ["network", "inspect", "kind"], env).code).not.toBe(0);
      expect(existsSync(kubeconfig)).toBe(false);
    }, 6 * MINUTE);
  });
}
