/**
 * The cluster tier: every preset stack created as a real kind cluster on this machine's Docker
 * engine, from the node image e2e/node-image.sh builds, by the very scripts the stack's cluster
 * resource runs (read from the synthesized cdk.tf.json), checked live, then deleted.
 * One stack at a time; each cluster is deleted at the end even when a check fails.
 */
import { createHash, X509Certificate } from "node:crypto";
import { appendFileSync, existsSync, readFileSync, renameSync, rmSync, statSync } from "node:fs";
import { join } from "node:path";
import { parse } from "yaml";
import { kindLbConfig } from "../../lib/model/kind-lb-config";
import { CERT_BUNDLE_SCRIPT, earliestCert, parseCertBundle } from "../../lib/ops/certs";
import { STEADY_MS } from "../../lib/ops/verify";
import { resolveStack } from "../../lib/io/config-file";
import type { Topology } from "../../lib/model/topology";
import type { Lifecycle } from "../../test-support/lifecycle";
import { runLogged } from "../../test-support/lifecycle";
import { clearLeftoverClusters, clusterContainers, dockerEngine, kubectl, makeSandbox, MINUTE, missingPrerequisite, NODE_IMAGE, rollFigures, ROOT, run, TOOLS_IMAGE, UPGRADE_IMAGE, waitFor } from "../../test-support/cluster";
import * as pg from "../../test-support/postgres";
import { installClusterApiCrds } from "../../test-support/cluster-api";
import { clusterApiObjects } from "../../lib/model/cluster-api";
import { planTopology } from "../../lib/model/plan-topology";
import { preset, type TopologyOption } from "../../lib/model/presets";

const ALL_STACKS = ["single", "ha-option-b", "ha-option-a"];
// KINDHA_CLUSTER_STACKS narrows a local run (e.g. "single"); CI runs them all.
const STACKS = process.env.KINDHA_CLUSTER_STACKS?.split(",").filter(Boolean) ?? ALL_STACKS;
/** Backup and restore round trip: one and three members. Failover: the lighter HA stack. */
const ROUND_TRIP_STACKS = ["single", "ha-option-b"];
const FAILOVER_STACKS = ["ha-option-b"];
/** PostgreSQL on a claim: volumes through backup and restore, and into ha-option-b (the migrate path). */
const DATA_STACKS = ["single"];
/** Docker engine restarts, then recover: how many in a row, per stack. */
const RESTARTS: Record<string, number> = { single: 1, "ha-option-b": 2 };
// Certificate renewal: HA keeps serving (asserted), single reports its outage.
const RENEW_STACKS = ["single", "ha-option-b"];
/** Rolling Kubernetes upgrade v1.36.1 -> v1.37.2: HA keeps serving (asserted), single reports its outage. */
const UPGRADE_STACKS = ["single", "ha-option-b"];
/** The management cluster of the cluster-api target's server-side validation: kindha's own single stack. */
const CLUSTER_API_STACKS = ["single"];
/** Bound on what the probes through the load balancer may miss while HA control planes roll. */
const ROLL_OUTAGE_BOUND_S = 5;
/** The bound asserted on restart-to-verified (measured: see the README). */
const RECOVERY_BOUND_S = 240;
const say = (line: string) => process.stderr.write(`cluster: ${line}\n`);
const ipNumber = (ip: string) => ip.split(".").reduce((n, octet) => n * 256 + Number(octet), 0);

const missing = missingPrerequisite() ?? clearLeftoverClusters(say);
if (missing) {
  // Never a silent skip: the tier fails, naming what it lacks.
  test("the cluster tier has what it needs", () => {
    throw new Error(`cluster tier cannot run: ${missing}`);
  });
} else {
  // Every stack is configured for this machine: the data tests move single's state into ha-option-b.
  const sandbox = makeSandbox(ALL_STACKS);
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
    const tool = (name: string, ...args: string[]) => toolWithin(10 * MINUTE, name, ...args);
    const toolWithin = (timeoutMs: number, name: string, ...args: string[]) => {
      const started = Date.now();
      const r = run(process.execPath, [join(ROOT, "dist", "tools", `${name}.js`), ...args], env, undefined, timeoutMs);
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
        // What recover writes back after a restart is, byte for byte, what kind wrote at create.
        const names = topology.controlPlanes.map((n) => n.name);
        for (const [file, text] of Object.entries(kindLbConfig(names))) {
          expect({ file, text: run("docker", ["exec", lb, "cat", `/home/envoy/${file}.yaml`], env).stdout }).toEqual({ file, text });
        }
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

    if (RENEW_STACKS.includes(stack)) {
      test(`npm run renew-certs renews every control plane's certificates one node at a time${stack === "single" ? ", printing the outage" : ", /readyz and writes served throughout"}`, () => {
        const earliest = () =>
          topology.controlPlanes.map((cp) => {
            const r = run("docker", ["exec", cp.name, "sh", "-c", CERT_BUNDLE_SCRIPT], env);
            return earliestCert(parseCertBundle(r.stdout))?.notAfter.getTime() ?? 0;
          });
        const before = earliest();
        const r = tool("renew-certs", stack);
        const { writesS: writes, apiS: api } = rollFigures(r.output);
        say(`${stack}: renew-certs exit ${r.code}: writes unavailable ${writes} s, API unavailable ${api} s; ${r.output.trim().split("\n").pop()}`);
        if (r.code !== 0) throw new Error(`renew-certs failed:\n${r.output.split("\n").slice(-40).join("\n")}`);
        const after = earliest();
        after.forEach((t, i) => expect(t).toBeGreaterThan(before[i]));
        // The kubeconfig carries the renewed client certificate and still works.
        expect(k("get", "--raw", "/readyz").trim()).toBe("ok");
        if (topology.api.loadBalanced) {
          expect(writes).toBeLessThan(ROLL_OUTAGE_BOUND_S);
          expect(api).toBeLessThan(ROLL_OUTAGE_BOUND_S);
        }
      }, 20 * MINUTE);
    }

    const db = () => ({ kubeconfig, env });
    /** PostgreSQL's rows, written once; every later test reads the same checksum back. */
    let rows = "";
    const dataDir = () => life.triggers.data_dir;

    if (DATA_STACKS.includes(stack)) {
      test("PostgreSQL on a claim from standard: 10,000 rows, the volume in the host data directory with a stable name and no node affinity", async () => {
        kubectl(kubeconfig, env, ["apply", "-f", "-"], pg.postgresManifest());
        const node = await pg.waitReady(db());
        rows = pg.writeRows(db());
        say(`${stack}: PostgreSQL on ${node}: ${rows}`);
        expect(rows).toMatch(/^10000 [0-9a-f]{32}$/);
        const pvc = JSON.parse(k("-n", pg.NAMESPACE, "get", "pvc", pg.CLAIM, "-o", "json"));
        expect(pvc.status.phase).toBe("Bound");
        expect(pvc.spec.storageClassName).toBe("standard");
        const pv = JSON.parse(k("get", "pv", pvc.spec.volumeName, "-o", "json"));
        expect(pv.spec.nodeAffinity).toBeUndefined();
        expect(pv.spec.hostPath.path).toBe(`/var/local-path-provisioner/${pg.NAMESPACE}/${pg.CLAIM}`);
        expect(existsSync(join(dataDir(), pg.NAMESPACE, pg.CLAIM, "pgdata", "PG_VERSION"))).toBe(true);
        expect(statSync(dataDir()).mode & 0o777).toBe(0o700);
        expect(readFileSync(join(dataDir(), ".kindha-cluster"), "utf8")).toBe(`${topology.clusterName}\n`);
        const v = tool("verify", stack);
        expect(v.output).toMatch(/PersistentVolumeClaims Bound\s+pass\s+1 Bound/);
        expect(v.output).toMatch(/workloads available\s+pass\s+.*1 StatefulSets/);
      }, 10 * MINUTE);

      test("the database moved to another node reads the same bytes", async () => {
        const from = JSON.parse(k("-n", pg.NAMESPACE, "get", "pod", pg.POD, "-o", "json")).spec.nodeName;
        const to = topology.controlPlanes[0].name;
        expect(from).not.toBe(to);
        const patch = { spec: { template: { spec: { nodeSelector: { "kubernetes.io/hostname": to }, tolerations: [{ key: "node-role.kubernetes.io/control-plane", operator: "Exists", effect: "NoSchedule" }] } } } };
        k("-n", pg.NAMESPACE, "patch", "statefulset", "postgres", "--type", "merge", "-p", JSON.stringify(patch));
        const node = await waitFor(`${pg.POD} on ${to}`, 5 * MINUTE, () => {
          const p = JSON.parse(k("-n", pg.NAMESPACE, "get", "pod", pg.POD, "-o", "json"));
          return p.spec.nodeName === to && p.status.conditions?.some((c: any) => c.type === "Ready" && c.status === "True") ? p.spec.nodeName : undefined;
        });
        await pg.waitReady(db());
        say(`${stack}: PostgreSQL moved from ${from} to ${node}`);
        expect(pg.checksum(db())).toBe(rows);
      }, 10 * MINUTE);
    }

    /** A container's address on kind's network. */
    const ipOf = (name: string) => run("docker", ["inspect", "-f", "{{range .NetworkSettings.Networks}}{{.IPAddress}}{{end}}", name], env).stdout.trim();
    const engine = (verb: "stop" | "start") => dockerEngine(verb, env);

    if (RESTARTS[stack]) {
      test(`survives ${RESTARTS[stack] === 1 ? "a restart" : `${RESTARTS[stack]} restarts in a row`} of the Docker engine: recover, verify, no object lost, etcd at its address with a certificate naming it`, async () => {
        const ns = "kindha-restart";
        const markers = writeMarkers(ns, 100);
        const containers = clusterContainers(topology.clusterName);
        const before = Object.fromEntries(containers.map((c) => [c, ipOf(c)]));
        for (let round = 1; round <= RESTARTS[stack]; round++) {
          expect(engine("stop")).toContain("stopped");
          expect(run("docker", ["info"], env).code).not.toBe(0);
          engine("start");
          const t0 = Date.now();
          const r = tool("recover", stack);
          const seconds = (Date.now() - t0) / 1000;
          say(`${stack}: restart ${round}: recover exit ${r.code} in ${seconds.toFixed(0)} s`);
          if (r.code !== 0) throw new Error(`recover failed after restart ${round}:\n${r.output}`);
          expect(seconds).toBeLessThan(RECOVERY_BOUND_S);
          expect(Object.fromEntries(containers.map((c) => [c, ipOf(c)]))).toEqual(before);
          const v = tool("verify", stack);
          expect(v.output).not.toContain("FAIL");
          expect(k("get", "--raw", "/readyz").trim()).toBe("ok");
          expect(listConfigMaps(ns)).toEqual(markers);
          if (DATA_STACKS.includes(stack) && rows) {
            await pg.waitReady(db());
            expect(pg.checksum(db())).toBe(rows);
          }
        }
        // etcd answers at the address kubeadm advertised, over TLS that checks the address is in its certificate.
        for (const cp of topology.controlPlanes) {
          const manifest = run("docker", ["exec", cp.name, "cat", "/etc/kubernetes/manifests/etcd.yaml"], env).stdout;
          const advertised = /--advertise-client-urls=https:\/\/([\d.]+):2379/.exec(manifest)?.[1];
          expect(advertised).toBe(before[cp.name]);
          const pki = "/etc/kubernetes/pki/etcd";
          const health = run("docker", ["exec", cp.name, "curl", "-sS", "--max-time", "5", "--cacert", `${pki}/ca.crt`, "--cert", `${pki}/healthcheck-client.crt`, "--key", `${pki}/healthcheck-client.key`, `https://${advertised}:2379/health`], env);
          expect({ node: cp.name, health: health.stdout.trim() }).toEqual({ node: cp.name, health: '{"health":"true","reason":""}' });
        }
        k("delete", "namespace", ns, "--wait=false");
      }, (4 + 4 * RESTARTS[stack]) * MINUTE);
    }

    if (FAILOVER_STACKS.includes(stack)) {
      test("a control plane restarted alone comes back at its address, and the cluster verifies", async () => {
        const victim = topology.controlPlanes[1].name;
        const was = ipOf(victim);
        // Taken by nothing: the next container on the network would have got the lowest free address.
        expect(run("docker", ["restart", victim], env).code).toBe(0);
        expect(ipOf(victim)).toBe(was);
        // Right after a restart pods still show their old Ready status until the kubelet has synced
        // them: the cluster is back when verify keeps passing for STEADY_MS, as recover judges it
        // (the drill next refuses a cluster that is not healthy).
        let since: number | undefined;
        await waitFor(`verify to pass for ${STEADY_MS / 1000} s in a row after the restart`, 5 * MINUTE, () => {
          if (tool("verify", stack).code !== 0) return (since = undefined);
          since ??= Date.now();
          return Date.now() - since >= STEADY_MS ? true : undefined;
        }, 5000);
      }, 8 * MINUTE);
    }

    if (DATA_STACKS.includes(stack)) {
      test("npm run drill -- --docker-restart: every container stopped and started in the wrong order, recovered and verified", () => {
        const r = tool("drill", stack, "--docker-restart");
        say(`${stack}: ${r.output.trim().split("\n").pop()}`);
        expect(r.output).toMatch(/drill passed: cluster back and verified \d+ s after the restart; every container at its address/);
        expect(r.code).toBe(0);
      }, 10 * MINUTE);
    }

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

        const withData = DATA_STACKS.includes(stack);
        const backup = withData ? tool("backup", stack, "--with-data") : tool("backup", stack);
        expect(backup.code).toBe(0);
        const printed = backup.stdout.trim().split("\n");
        const snapshot = printed[0];
        expect(printed).toHaveLength(withData ? 2 : 1);
        expect(snapshot).toMatch(new RegExp(`/\\.kindha/backups/${topology.clusterName}/${topology.clusterName}-${stack}-\\d{8}T\\d{6}Z\\.db$`));
        expect(statSync(snapshot).mode & 0o777).toBe(0o600);
        const status = run("bash", [join(ROOT, "scripts", "etcd.sh"), "--kind", "--kubeconfig", kubeconfig, "--cluster", topology.clusterName, "snapshot-status", snapshot], env);
        expect(status.code).toBe(0);
        expect(JSON.parse(status.stdout).totalKey).toBeGreaterThan(0);

        if (withData) {
          const archive = printed[1];
          expect(archive).toBe(snapshot.replace(/\.db$/, ".data.tar.gz"));
          expect(statSync(archive).mode & 0o777).toBe(0o600);
          // The database was stopped for the archive and runs again with its rows.
          expect(backup.stderr).toContain("scaled StatefulSet kindha-data/postgres from 1 to 0");
          await pg.waitReady(db());
          expect(pg.checksum(db())).toBe(rows);
        }

        expect((await destroy()).code).toBe(0);
        expect(clusterContainers(topology.clusterName)).toEqual([]);
        if (withData) {
          // delete-cluster.sh kept the volumes; take them away, as on a new machine, so only the archive can bring them back.
          expect(existsSync(join(dataDir(), pg.NAMESPACE, pg.CLAIM, "pgdata", "PG_VERSION"))).toBe(true);
          renameSync(dataDir(), `${dataDir()}.moved-away`);
        }
        life.writeConfig();
        const created = await runLogged(life.create.command, { cwd: life.stackDir, env: { ...env, ...life.create.environment }, logFile: sandbox.logFile, timeoutMs: 15 * MINUTE });
        expect(created.code).toBe(0);
        expect(k("get", "namespace", ns, "--ignore-not-found").trim()).toBe("");
        if (withData) expect(existsSync(join(dataDir(), pg.NAMESPACE))).toBe(false);

        const t0 = Date.now();
        const restore = withData ? tool("restore", stack, "--snapshot", snapshot, "--with-data") : tool("restore", stack, "--snapshot", snapshot);
        say(`${stack}: restore of ${topology.controlPlanes.length} member(s): exit ${restore.code} in ${((Date.now() - t0) / 1000).toFixed(0)} s`);
        if (restore.code !== 0) throw new Error(`restore failed:\n${restore.output}`);
        expect(listConfigMaps(ns)).toEqual(markers);
        if (withData) {
          const node = await pg.waitReady(db());
          say(`${stack}: PostgreSQL back from the archive on ${node}: ${pg.checksum(db())}`);
          expect(pg.checksum(db())).toBe(rows);
          rmSync(`${dataDir()}.moved-away`, { recursive: true, force: true });
        }
        expect(tool("verify", stack).code).toBe(0);
      }, 30 * MINUTE);
    }

    if (DATA_STACKS.includes(stack)) {
      test("into ha-option-b the way migrate goes (snapshot, delete, create, restore): the volumes stay in place and PostgreSQL has its rows", async () => {
        const backup = tool("backup", stack);
        expect(backup.code).toBe(0);
        const snapshot = backup.stdout.trim();
        expect((await destroy()).code).toBe(0);
        expect(existsSync(join(dataDir(), pg.NAMESPACE, pg.CLAIM, "pgdata", "PG_VERSION"))).toBe(true);

        const target = "ha-option-b";
        const ha = sandbox.synth(target);
        expect(ha.triggers.data_dir).toBe(dataDir());
        ha.writeConfig();
        const created = await runLogged(ha.create.command, { cwd: ha.stackDir, env: { ...env, ...ha.create.environment }, logFile: sandbox.logFile, timeoutMs: 15 * MINUTE });
        if (created.code !== 0) throw new Error(`create ${target} failed:\n${created.output.split("\n").slice(-30).join("\n")}`);
        const t0 = Date.now();
        const restore = tool("restore", target, "--snapshot", snapshot);
        say(`${stack} -> ${target}: restore in ${((Date.now() - t0) / 1000).toFixed(0)} s`);
        if (restore.code !== 0) throw new Error(`restore failed:\n${restore.output}`);
        const node = await pg.waitReady(db());
        say(`${stack} -> ${target}: PostgreSQL on ${node}: ${pg.checksum(db())}`);
        expect(pg.checksum(db())).toBe(rows);
        const v = tool("verify", target);
        expect(v.output).not.toContain("FAIL");
        expect(v.code).toBe(0);
        // The last test deletes whatever cluster of this name runs: now ha-option-b's.
      }, 30 * MINUTE);
    }

    if (UPGRADE_STACKS.includes(stack)) {
      test(`npm run upgrade rolls v1.36.1 -> v1.37.2 in place${stack === "single" ? ", printing the outage" : ", /readyz and writes served throughout"}: every node, kubeadm and static pod on v1.37.2, etcd healthy, no object lost`, async () => {
        if (DATA_STACKS.includes(stack)) {
          // The data tests left ha-option-b's cluster under this name: the stack's own, created at v1.36.1, is rolled.
          expect((await destroy()).code).toBe(0);
          life.writeConfig();
          const created = await runLogged(life.create.command, { cwd: life.stackDir, env: { ...env, ...life.create.environment }, logFile: sandbox.logFile, timeoutMs: 15 * MINUTE });
          if (created.code !== 0) throw new Error(`create ${stack} failed:\n${created.output.split("\n").slice(-30).join("\n")}`);
        }
        const versions = () => JSON.parse(k("get", "nodes", "-o", "json")).items.map((n: any) => n.status.nodeInfo.kubeletVersion);
        expect(versions()).toEqual(topology.nodes.map(() => "v1.36.1"));
        const ns = "kindha-upgrade";
        const markers = writeMarkers(ns, 50);

        const r = toolWithin(35 * MINUTE, "upgrade", stack, "--to", UPGRADE_IMAGE);
        const { nodes: rolled, writesS: writes, apiS: api } = rollFigures(r.output);
        const perNode = rolled.map(([n, sec]) => `${n.replace(`${topology.clusterName}-`, "")} ${sec} s`);
        say(`${stack}: upgrade exit ${r.code}: writes unavailable ${writes} s, API unavailable ${api} s; per node: ${perNode.join(", ")}; ${r.output.trim().split("\n").pop()}`);
        // Where any outage fell (the step or sub-step then running), for the CI log.
        for (const l of r.output.split("\n").filter((x) => /^(while preparing .*: )?(writes|API) unavailable /.test(x))) say(`${stack}: ${l}`);
        if (r.code !== 0) throw new Error(`upgrade failed:\n${r.output.split("\n").slice(-40).join("\n")}`);
        expect(perNode).toHaveLength(topology.nodes.length);

        expect(versions()).toEqual(topology.nodes.map(() => "v1.37.2"));
        for (const n of topology.nodes) expect(run("docker", ["exec", n.name, "kubeadm", "version", "-o", "short"], env).stdout.trim()).toBe("v1.37.2");
        for (const cp of topology.controlPlanes) {
          const images = Object.fromEntries(
            ["etcd", "kube-apiserver", "kube-controller-manager", "kube-scheduler"].map((c) => [c, k("-n", "kube-system", "get", "pod", `${c}-${cp.name}`, "-o", "jsonpath={.spec.containers[0].image}").trim()]),
          );
          expect(images).toEqual({
            etcd: "registry.k8s.io/etcd:3.7.0-0",
            "kube-apiserver": "registry.k8s.io/kube-apiserver:v1.37.2",
            "kube-controller-manager": "registry.k8s.io/kube-controller-manager:v1.37.2",
            "kube-scheduler": "registry.k8s.io/kube-scheduler:v1.37.2",
          });
        }
        const health = run("bash", [join(ROOT, "scripts", "etcd.sh"), "health", "--kind", "--kubeconfig", kubeconfig, "--cluster", topology.clusterName, "--expect", String(topology.controlPlanes.length), "--strict"], env);
        expect(health.code).toBe(0);
        expect(JSON.parse(health.stdout)).toMatchObject({ state: "healthy", members: topology.controlPlanes.length, healthy: topology.controlPlanes.length });
        expect(listConfigMaps(ns)).toEqual(markers);
        const v = tool("verify", stack);
        expect(v.output).not.toContain("FAIL");
        expect(v.code).toBe(0);
        // A second run finds nothing to do (what the roll resource's hook does on every create).
        const again = tool("upgrade", stack, "--to", UPGRADE_IMAGE);
        expect(again.stdout.trim()).toBe(`upgrade: stack ${stack} already runs v1.37.2 on every node; nothing to do`);
        if (topology.api.loadBalanced) {
          expect(writes).toBeLessThan(ROLL_OUTAGE_BOUND_S);
          expect(api).toBeLessThan(ROLL_OUTAGE_BOUND_S);
        }
      }, 40 * MINUTE);
    }

    // Last before the delete: the CRDs' weight on one API server can leave CoreDNS briefly unready,
    // and the tests before (renew-certs, upgrade) need verify to pass at once.
    if (CLUSTER_API_STACKS.includes(stack)) {
      test("as a management cluster, Cluster API's CRDs take the cluster-api target's objects of every preset (server-side dry run)", () => {
        const uninstall = installClusterApiCrds(kubeconfig, env);
        try {
          const items = ALL_STACKS.flatMap((id) => {
            const p = preset(id as TopologyOption);
            return clusterApiObjects(planTopology(p.availability, { ...p.spec, clusterName: `capi-${id}`, nodeImage: NODE_IMAGE, allowCgroupV1: true }, id));
          });
          const out = kubectl(kubeconfig, env, ["apply", "--dry-run=server", "-f", "-"], JSON.stringify({ apiVersion: "v1", kind: "List", items }));
          const accepted = out.split("\n").filter((l) => l.endsWith("created (server dry run)"));
          say(`${stack}: Cluster API v1.13 CRDs accepted ${accepted.length} objects of ${ALL_STACKS.length} presets`);
          expect(accepted).toHaveLength(items.length);
          // The check is strict: a field Cluster API does not know is refused, not dropped.
          const bad = { ...items.find((o) => o.kind === "KubeadmControlPlane")!, spec: { replicas: 3, kubeadmConfigSpecs: {} } };
          const refused = run("kubectl", ["--kubeconfig", kubeconfig, "apply", "--dry-run=server", "-f", "-"], env, JSON.stringify(bad));
          expect(refused.code).not.toBe(0);
          expect(refused.stderr).toContain('unknown field "spec.kubeadmConfigSpecs"');
        } finally {
          uninstall();
        }
      }, 3 * MINUTE);
    }

    test("delete-cluster.sh leaves no container, network or kubeconfig behind", async () => {
      const r = await destroy();
      deleted = true;
      expect(r.code).toBe(0);
      expect(clusterContainers(topology.clusterName)).toEqual([]);
      expect(run("docker", ["network", "inspect", "kind"], env).code).not.toBe(0);
      expect(existsSync(kubeconfig)).toBe(false);
      // The volumes stay: only npm run remove-data deletes them.
      expect(readFileSync(join(dataDir(), ".kindha-cluster"), "utf8")).toBe(`${topology.clusterName}\n`);
      if (DATA_STACKS.includes(stack)) {
        expect(existsSync(join(dataDir(), pg.NAMESPACE, pg.CLAIM, "pgdata", "PG_VERSION"))).toBe(true);
        expect(r.output).toContain(`the volumes of ${topology.clusterName} are kept in ${dataDir()}`);
        const removed = tool("remove-data", stack, "--yes");
        expect(removed.stdout).toContain(`remove-data: deleted ${dataDir()} (1 volume(s): ${pg.NAMESPACE}/${pg.CLAIM})`);
        expect(existsSync(dataDir())).toBe(false);
      }
    }, 6 * MINUTE);
  });
}
