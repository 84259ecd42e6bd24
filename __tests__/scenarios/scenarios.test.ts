/**
 * The scenario tier (`npm run test:scenarios`, outside CI): what is long and changes rarely, on
 * real clusters made and removed with `cdktf deploy` and `cdktf destroy` like the cluster tier.
 * `single`: the restart drill, renew-certs, a new nodeImage rolled by `cdktf deploy`, Cluster API's
 * CRDs (a cluster-api stack deployed onto it, and every preset's objects in a server-side dry run).
 * `ha-option-b`: two Docker engine restarts in a row with recover, a control plane restarted alone,
 * a restore from the snapshot its backup CronJob wrote,
 * renew-certs (and a plan during it), and `npm run upgrade` with writes and /readyz served
 * throughout, interrupted by Ctrl-C after a node's kubelet restart and finished by a rerun.
 * Run it before resolving an issue that touches upgrade, certificates, recovery, migrate or Cluster API.
 */
import { parseHealthReport } from "../../lib/model/etcd";
import { stripVTControlCharacters } from "node:util";
import { existsSync, readFileSync, statSync, writeFileSync } from "node:fs";
import { LB_CONFIG_PATHS, lbBackends } from "../../lib/model/kind-lb-config";
import { join } from "node:path";
import { CERT_BUNDLE_SCRIPT, earliestCert, parseCertBundle } from "../../lib/ops/certs";
import { STEADY_MS } from "../../lib/ops/verify";
import { clusterApiObjects } from "../../lib/model/cluster-api";
import { planTopology } from "../../lib/model/plan-topology";
import { preset, type TopologyOption } from "../../lib/model/presets";
import {
  clusterContainers,
  dockerEngine,
  kubectl,
  MINUTE,
  NODE_IMAGE,
  rollFigures,
  ROOT,
  run,
  UPGRADE_IMAGE,
  waitFor,
} from "../../test-support/cluster";
import { installClusterApiCrds } from "../../test-support/cluster-api";
import { runLogged } from "../../test-support/lifecycle";
import { containerIds, declareTier, passed, runScheduledBackup, SCHEDULED_BACKUPS, type Tier } from "../../test-support/tier";

const STACKS = ["single", "ha-option-b"];
/** Bound on what the probes through the load balancer may miss while HA control planes roll. */
const ROLL_OUTAGE_BOUND_S = 5;
/** The bound asserted on restart-to-verified. */
const RECOVERY_BOUND_S = 240;
const t = declareTier("scenarios", STACKS, { "ha-option-b": SCHEDULED_BACKUPS }, [NODE_IMAGE, UPGRADE_IMAGE]);

/** Each control plane's earliest certificate expiry (ms). */
const earliest = (tier: Tier, stack: string) =>
  tier
    .topology(stack)
    .controlPlanes.map(
      (cp) =>
        earliestCert(
          parseCertBundle(run("docker", ["exec", cp.name, "sh", "-c", CERT_BUNDLE_SCRIPT], tier.env()).stdout),
        )?.notAfter.getTime() ?? 0,
    );

/** renew-certs renews every control plane's certificates; on HA the probes through the load balancer see no outage. */
function declareRenewCerts(tier: Tier, stack: string): void {
  test(
    `${stack}: npm run renew-certs renews every control plane's certificates one node at a time${stack === "single" ? ", printing the outage" : ", /readyz and writes served throughout"}`,
    async () => {
      const before = earliest(tier, stack);
      const r = await tier.tool("renew-certs", stack);
      const { writesS: writes, apiS: api } = rollFigures(r.output);
      tier.say(`${stack}: renew-certs exit ${r.code}: writes unavailable ${writes} s, API unavailable ${api} s`);
      passed("renew-certs", r);
      earliest(tier, stack).forEach((at, i) => expect(at).toBeGreaterThan(before[i]));
      // The kubeconfig carries the renewed client certificate and still works.
      expect(tier.k("get", "--raw", "/readyz").trim()).toBe("ok");
      if (tier.topology(stack).api.loadBalanced) {
        expect(writes).toBeLessThan(ROLL_OUTAGE_BOUND_S);
        expect(api).toBeLessThan(ROLL_OUTAGE_BOUND_S);
      }
    },
    20 * MINUTE,
  );
}

/** After an upgrade: every node, kubeadm and static pod on v1.37.2, etcd healthy, verify passing. */
async function expectUpgraded(tier: Tier, stack: string): Promise<void> {
  const topology = tier.topology(stack);
  const env = tier.env();
  expect(JSON.parse(tier.k("get", "nodes", "-o", "json")).items.map((n: any) => n.status.nodeInfo.kubeletVersion)).toEqual(
    topology.nodes.map(() => "v1.37.2"),
  );
  for (const n of topology.nodes)
    expect(run("docker", ["exec", n.name, "kubeadm", "version", "-o", "short"], env).stdout.trim()).toBe("v1.37.2");
  for (const cp of topology.controlPlanes) {
    const images = Object.fromEntries(
      ["etcd", "kube-apiserver", "kube-controller-manager", "kube-scheduler"].map((c) => [
        c,
        tier.k("-n", "kube-system", "get", "pod", `${c}-${cp.name}`, "-o", "jsonpath={.spec.containers[0].image}").trim(),
      ]),
    );
    expect(images).toEqual({
      etcd: "registry.k8s.io/etcd:3.7.0-0",
      "kube-apiserver": "registry.k8s.io/kube-apiserver:v1.37.2",
      "kube-controller-manager": "registry.k8s.io/kube-controller-manager:v1.37.2",
      "kube-scheduler": "registry.k8s.io/kube-scheduler:v1.37.2",
    });
  }
  const health = run(
    "bash",
    [
      join(ROOT, "scripts", "etcd.sh"),
      "health",
      "--kind",
      "--kubeconfig",
      tier.kubeconfig,
      "--cluster",
      topology.clusterName,
      "--expect",
      String(topology.controlPlanes.length),
      "--strict",
    ],
    env,
  );
  expect(health.code).toBe(0);
  expect(parseHealthReport(health.stdout)).toMatchObject({
    state: "healthy",
    members: topology.controlPlanes.length,
    healthy: topology.controlPlanes.length,
  });
  const v = await tier.tool("verify", stack);
  expect(v.output).not.toContain("FAIL");
  expect(v.code).toBe(0);
}

if (t) {
  describe("single", () => {
    test(
      "cdktf deploy single",
      async () => {
        await t.cdktf("deploy", "single");
      },
      20 * MINUTE,
    );

    test(
      "single: npm run drill -- --docker-restart: every container stopped and started in the wrong order, recovered and verified",
      async () => {
        const r = await t.tool("drill", "single", "--docker-restart");
        t.say(`single: ${r.output.trim().split("\n").pop()}`);
        expect(r.output).toMatch(/drill passed: cluster back and verified \d+ s after the restart; every container at its address/);
        expect(r.code).toBe(0);
      },
      10 * MINUTE,
    );

    declareRenewCerts(t, "single");

    test(
      "single: a new nodeImage in kindha.config.yaml: cdktf diff plans the roll, not a re-create; cdktf deploy rolls the same containers to v1.37.2, no object lost; a no-op plan after",
      async () => {
        const config = readFileSync(t.sandbox.configFile, "utf8");
        const at = config.indexOf("  single:");
        expect(at).toBeGreaterThanOrEqual(0);
        writeFileSync(
          t.sandbox.configFile,
          config.slice(0, at) + config.slice(at).replace(`nodeImage: ${NODE_IMAGE}`, `nodeImage: ${UPGRADE_IMAGE}`),
        );
        try {
          const before = containerIds(t);
          const kept = t.writeMarkers("kindha-upgrade", 20);
          const diff = await t.cdktf("diff", "single");
          // cdktf colours the plan and names the construct path after the address.
          const shown = stripVTControlCharacters(diff.output);
          expect(shown).toMatch(/null_resource\.Upgrade_Roll_\w+ (\(\S+\) )?must be replaced/);
          expect(shown).not.toMatch(/Cluster_Lifecycle_\w+ (\(\S+\) )?must be replaced/);
          expect(shown).toMatch(/Plan: 2 to add, 0 to change, 2 to destroy/);
          const r = await t.cdktf("deploy", "single");
          expect(r.output).toMatch(/upgrade: done in \d+ s; stack single runs v1\.37\.2 and verified/);
          expect(containerIds(t)).toEqual(before);
          expect(t.listMarkers("kindha-upgrade")).toEqual(kept);
          await expectUpgraded(t, "single");
          const plan = t.project().plan("single");
          expect({ code: plan.code, said: plan.stdout.includes("No changes.") }).toEqual({ code: 0, said: true });
        } finally {
          writeFileSync(t.sandbox.configFile, config);
        }
      },
      40 * MINUTE,
    );

    // Last before the destroy: the CRDs' weight on one API server can leave CoreDNS briefly unready.
    test(
      "single as a management cluster: Cluster API's CRDs take every preset's cluster-api objects (server-side dry run); a cluster-api stack deploys onto it, plans no change after, and is destroyed",
      async () => {
        const env = t.env();
        const config = readFileSync(t.sandbox.configFile, "utf8");
        const uninstall = installClusterApiCrds(t.kubeconfig, env);
        try {
          const items = ["single", "ha-option-b", "ha-option-a"].flatMap((id) => {
            const p = preset(id as TopologyOption);
            return clusterApiObjects(
              planTopology(p.availability, { ...p.spec, clusterName: `capi-${id}`, nodeImage: NODE_IMAGE, allowCgroupV1: true }, id),
            );
          });
          const out = kubectl(
            t.kubeconfig,
            env,
            ["apply", "--dry-run=server", "-f", "-"],
            JSON.stringify({ apiVersion: "v1", kind: "List", items }),
          );
          expect(out.split("\n").filter((l) => l.endsWith("created (server dry run)"))).toHaveLength(items.length);
          // The check is strict: a field Cluster API does not know is refused, not dropped.
          const bad = { ...items.find((o) => o.kind === "KubeadmControlPlane")!, spec: { replicas: 3, kubeadmConfigSpecs: {} } };
          const refused = run("kubectl", ["--kubeconfig", t.kubeconfig, "apply", "--dry-run=server", "-f", "-"], env, JSON.stringify(bad));
          expect(refused.code).not.toBe(0);
          expect(refused.stderr).toContain('unknown field "spec.kubeadmConfigSpecs"');

          writeFileSync(
            t.sandbox.configFile,
            `${config}  prod:\n    availability: ha\n    target: cluster-api\n    clusterName: dp-prod\n    workers: [{ role: infrastructure }, { role: workload, count: 2 }]\n`,
          );
          await t.cdktf("deploy", "prod");
          const kinds = [
            "clusters.cluster.x-k8s.io",
            "kubeadmcontrolplanes.controlplane.cluster.x-k8s.io",
            "machinedeployments.cluster.x-k8s.io",
          ];
          const listed = () => t.k("get", kinds.join(","), "-n", "default", "-o", "name").trim().split("\n").filter(Boolean).sort();
          expect(listed()).toEqual([
            "cluster.cluster.x-k8s.io/dp-prod",
            "kubeadmcontrolplane.controlplane.cluster.x-k8s.io/dp-prod-control-plane",
            "machinedeployment.cluster.x-k8s.io/dp-prod-infrastructure",
            "machinedeployment.cluster.x-k8s.io/dp-prod-workload",
          ]);
          expect(JSON.parse(t.k("get", "machinedeployment", "dp-prod-workload", "-n", "default", "-o", "json")).spec.replicas).toBe(2);
          const plan = t.project().plan("prod");
          expect({
            code: plan.code,
            said: plan.stdout.includes("No changes."),
            out: plan.code === 0 ? "" : plan.stdout.slice(-2000),
          }).toEqual({ code: 0, said: true, out: "" });
          await t.cdktf("destroy", "prod");
          expect(listed()).toEqual([]);
        } finally {
          writeFileSync(t.sandbox.configFile, config);
          uninstall();
        }
      },
      20 * MINUTE,
    );

    test(
      "cdktf destroy single",
      async () => {
        await t.cdktf("destroy", "single");
        expect(clusterContainers(t.cluster)).toEqual([]);
      },
      20 * MINUTE,
    );
  });

  describe("ha-option-b", () => {
    const ipOf = (name: string) =>
      run("docker", ["inspect", "-f", "{{range .NetworkSettings.Networks}}{{.IPAddress}}{{end}}", name], t.env()).stdout.trim();

    test(
      "cdktf deploy ha-option-b",
      async () => {
        await t.cdktf("deploy", "ha-option-b");
      },
      20 * MINUTE,
    );

    test(
      "ha-option-b survives 2 restarts in a row of the Docker engine: recover, verify, no object lost, etcd at its address with a certificate naming it",
      async () => {
        const ns = "kindha-restart";
        const markers = t.writeMarkers(ns, 100);
        const topology = t.topology("ha-option-b");
        const containers = clusterContainers(t.cluster);
        const before = Object.fromEntries(containers.map((c) => [c, ipOf(c)]));
        for (let round = 1; round <= 2; round++) {
          expect(dockerEngine("stop", t.env())).toContain("stopped");
          expect(run("docker", ["info"], t.env()).code).not.toBe(0);
          dockerEngine("start", t.env());
          const r = await t.tool("recover", "ha-option-b");
          t.say(`restart ${round}: recover exit ${r.code} in ${r.seconds} s`);
          passed(`recover after restart ${round}`, r);
          expect(r.seconds).toBeLessThan(RECOVERY_BOUND_S);
          expect(Object.fromEntries(containers.map((c) => [c, ipOf(c)]))).toEqual(before);
          const v = await t.tool("verify", "ha-option-b");
          expect(v.output).not.toContain("FAIL");
          expect(t.k("get", "--raw", "/readyz").trim()).toBe("ok");
          expect(t.listMarkers(ns)).toEqual(markers);
        }
        // etcd answers at the address kubeadm advertised, over TLS that checks the address is in its certificate.
        for (const cp of topology.controlPlanes) {
          const manifest = run("docker", ["exec", cp.name, "cat", "/etc/kubernetes/manifests/etcd.yaml"], t.env()).stdout;
          const advertised = /--advertise-client-urls=https:\/\/([\d.]+):2379/.exec(manifest)?.[1];
          expect(advertised).toBe(before[cp.name]);
          const pki = "/etc/kubernetes/pki/etcd";
          const health = run(
            "docker",
            [
              "exec",
              cp.name,
              "curl",
              "-sS",
              "--max-time",
              "5",
              "--cacert",
              `${pki}/ca.crt`,
              "--cert",
              `${pki}/healthcheck-client.crt`,
              "--key",
              `${pki}/healthcheck-client.key`,
              `https://${advertised}:2379/health`,
            ],
            t.env(),
          );
          expect({ node: cp.name, health: health.stdout.trim() }).toEqual({ node: cp.name, health: '{"health":"true","reason":""}' });
        }
        t.k("delete", "namespace", ns, "--wait=false");
      },
      12 * MINUTE,
    );

    test(
      "ha-option-b: a control plane restarted alone comes back at its address, and the cluster verifies",
      async () => {
        const victim = t.topology("ha-option-b").controlPlanes[1].name;
        const was = ipOf(victim);
        expect(run("docker", ["restart", victim], t.env()).code).toBe(0);
        expect(ipOf(victim)).toBe(was);
        // The cluster is back when verify keeps passing for STEADY_MS, as recover judges it.
        let since: number | undefined;
        await waitFor(
          `verify to pass for ${STEADY_MS / 1000} s in a row after the restart`,
          5 * MINUTE,
          () => {
            const v = run(process.execPath, [join(ROOT, "dist", "tools", "verify.js"), "ha-option-b"], {
              ...t.env(),
              KINDHA_CONFIG: t.sandbox.configFile,
            });
            if (v.code !== 0) return (since = undefined);
            since ??= Date.now();
            return Date.now() - since >= STEADY_MS ? true : undefined;
          },
          5000,
        );
      },
      8 * MINUTE,
    );

    test(
      "ha-option-b: npm run restore from the snapshot the backup CronJob wrote: what it held comes back, what came after is gone; verify passes; a no-op plan after",
      async () => {
        const kept = t.writeMarkers("kindha-scheduled", 20);
        const snapshot = await runScheduledBackup(t, "etcd-backup-restore");
        expect(statSync(snapshot).mode & 0o777).toBe(0o600);
        t.writeMarkers("kindha-after-snapshot", 1);
        const r = passed("restore", await t.tool("restore", "ha-option-b", "--snapshot", snapshot));
        t.say(`ha-option-b: restore from ${snapshot.split("/").pop()}: ${r.seconds} s`);
        expect(r.output).toContain(`restore: done; stack ha-option-b runs from ${snapshot}`);
        // The snapshot holds the Job that took it, still running: it is not the stack's.
        t.k("-n", "kube-system", "delete", "job", "etcd-backup-restore", "--ignore-not-found", "--wait=false");
        expect(t.listMarkers("kindha-scheduled")).toEqual(kept);
        expect(t.k("get", "namespaces", "-o", "jsonpath={.items[*].metadata.name}").split(" ")).not.toContain("kindha-after-snapshot");
        passed("verify", await t.tool("verify", "ha-option-b"));
        const plan = t.project().plan("ha-option-b");
        expect({ code: plan.code, said: plan.stdout.includes("No changes.") }).toEqual({ code: 0, said: true });
        t.k("delete", "namespace", "kindha-scheduled", "--wait=false");
      },
      20 * MINUTE,
    );

    declareRenewCerts(t, "ha-option-b");

    test(
      "ha-option-b: a plan during renew-certs leaves the load balancer as renew-certs set it (the API answers: the plan's hook does nothing)",
      async () => {
        const lb = `${t.cluster}-external-load-balancer`;
        const backends = () => lbBackends(run("docker", ["exec", lb, "cat", LB_CONFIG_PATHS.cds], t.env()).stdout);
        const all = t
          .topology("ha-option-b")
          .controlPlanes.map((n) => n.name)
          .sort();
        const log = join(t.sandbox.home, ".kindha", "logs", t.cluster, "recover.log");
        const logged = existsSync(log) ? readFileSync(log, "utf8") : "";
        const logStart = readFileSync(t.sandbox.logFile, "utf8").length;
        const renewing = t.tool("renew-certs", "ha-option-b");
        const out = await waitFor(
          "renew-certs to take a control plane out of the load balancer",
          5 * MINUTE,
          () => all.find((n) => !backends().includes(n)),
          500,
        );
        const diff = await t.cdktf("diff", "ha-option-b");
        const after = backends();
        // Still out, unless renew-certs itself has put it back since (its step for that node then ended).
        const logSoFar = readFileSync(t.sandbox.logFile, "utf8").slice(logStart);
        const back = new RegExp(`renew ${out}: [^\\n]*\\n(?:\\s+·[^\\n]*\\n)*\\s+ok in`).test(logSoFar);
        t.say(
          `renew-certs had ${out} out of ${lb}; after cdktf diff (${diff.seconds} s) it holds ${after.join(", ")}${back ? " (renew-certs had put it back)" : ""}`,
        );
        if (!back) expect(after).not.toContain(out);
        expect(existsSync(log) ? readFileSync(log, "utf8") : "").toBe(logged);
        passed("renew-certs", await renewing);
        expect(backends()).toEqual(all);
      },
      20 * MINUTE,
    );

    test(
      "ha-option-b: npm run upgrade rolls v1.36.1 -> v1.37.2 in place, /readyz and writes served throughout; Ctrl-C after the first node's kubelet restart, then a rerun, finishes it: every node uncordoned and in the load balancer, kubeadm and static pods on v1.37.2, etcd healthy, no object lost",
      async () => {
        const markers = t.writeMarkers("kindha-upgrade", 50);
        // The user's Ctrl-C: SIGINT to the upgrade's own process, once its first node's kubelet restarted.
        const first = await runLogged(
          `exec node ${JSON.stringify(join(ROOT, "dist", "tools", "upgrade.js"))} ha-option-b --to ${UPGRADE_IMAGE}`,
          {
            cwd: t.sandbox.dir,
            env: t.project().env,
            logFile: t.sandbox.logFile,
            timeoutMs: 40 * MINUTE,
            interruptWhen: /· kubelet restarted/,
          },
        );
        t.say(`ha-option-b: upgrade interrupted (${first.signal}) after ${first.seconds} s`);
        expect(first.signal).toBe("SIGINT");
        // The rerun's pre-checks want every node Ready: the interrupted node's new kubelet registers within seconds.
        await waitFor("every node Ready after the interruption", 3 * MINUTE, () =>
          JSON.parse(t.k("get", "nodes", "-o", "json")).items.every((n: any) =>
            n.status.conditions.some((c: any) => c.type === "Ready" && c.status === "True"),
          )
            ? true
            : undefined,
        );
        const r = await t.tool("upgrade", "ha-option-b", "--to", UPGRADE_IMAGE);
        expect(r.output).toMatch(/upgrade: an interrupted roll left \S+ upgraded \(since [^)]+\); finishing it first/);
        expect(r.output).toMatch(/lock: taking over .*: its holder upgrade ha-option-b \(pid \d+/);
        const { nodes: rolled, writesS: writes, apiS: api } = rollFigures(r.output);
        t.say(
          `ha-option-b: upgrade rerun exit ${r.code}: writes unavailable ${writes} s, API unavailable ${api} s; per node: ${rolled.map(([n, s]) => `${n.replace(`${t.cluster}-`, "")} ${s} s`).join(", ")}`,
        );
        passed("upgrade", r);
        expect(rolled).toHaveLength(t.topology("ha-option-b").nodes.length);
        expect(JSON.parse(t.k("get", "nodes", "-o", "json")).items.filter((n: any) => n.spec.unschedulable)).toEqual([]);
        await expectUpgraded(t, "ha-option-b");
        expect(t.listMarkers("kindha-upgrade")).toEqual(markers);
        // A second run finds nothing to do (what the roll resource's hook does on every create).
        const again = await t.tool("upgrade", "ha-option-b", "--to", UPGRADE_IMAGE);
        expect(again.output).toContain("upgrade: stack ha-option-b already runs v1.37.2 on every node; nothing to do");
        expect(writes).toBeLessThan(ROLL_OUTAGE_BOUND_S);
        expect(api).toBeLessThan(ROLL_OUTAGE_BOUND_S);
      },
      40 * MINUTE,
    );

    test(
      "cdktf destroy ha-option-b",
      async () => {
        await t.cdktf("destroy", "ha-option-b");
        expect(clusterContainers(t.cluster)).toEqual([]);
      },
      20 * MINUTE,
    );
  });
}
