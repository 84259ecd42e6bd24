/**
 * The cluster tier (`npm run test:cluster`, in `npm test` and CI): every preset as a real kind
 * cluster, made and removed the way users do it, with `cdktf deploy` and `cdktf destroy` (OpenTofu
 * and the pinned providers), and operated with the `npm run` tools, in the stack's own namespaces.
 *
 * One cluster at a time, each created once: `single` is deployed, pulls an image pushed to the
 * machine's registry behind a host port, carries PostgreSQL and two claims of known bytes in
 * `workloads` and `data-platform` through a backup, destroy and restore round trip and `npm run
 * migrate` into `ha-option-b`, where the HA checks run (drill, quorum loss, a Docker engine restart
 * repaired by the next `cdktf deploy`, the image pulled again on every node), and back; then `ha-option-a`.
 * What is long and changes rarely is in the scenario tier (__tests__/scenarios).
 */
import { parseHealthReport } from "../../lib/model/etcd";
import { stripVTControlCharacters } from "node:util";
import { chownSync, existsSync, readdirSync, readFileSync, realpathSync, renameSync, rmSync, statSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import {
  clusterContainers,
  dockerEngine,
  kubectl,
  MINUTE,
  registryStorage,
  ROOT,
  run,
  TOOLS_IMAGE,
  waitFor,
} from "../../test-support/cluster";
import * as pg from "../../test-support/postgres";
import { runLogged } from "../../test-support/lifecycle";
import { containerIds, declareClusterChecks, declareTier, passed, runScheduledBackup, SCHEDULED_BACKUPS } from "../../test-support/tier";

const STACKS = ["single", "ha-option-b", "ha-option-a"];
/** single's host port into a NodePort (setting `ports`): a port nothing else on a test host uses. */
const HOST_PORT = 18080;
const NODE_PORT = 30080;
const t = declareTier("cluster", STACKS, {
  single: `    ports: [{ hostPort: ${HOST_PORT}, nodePort: ${NODE_PORT} }]\n`,
  "ha-option-b": SCHEDULED_BACKUPS,
  "ha-option-a": SCHEDULED_BACKUPS,
});
const ipNumber = (ip: string) => ip.split(".").reduce((n, octet) => n * 256 + Number(octet), 0);
/** An image built on this host and pushed once to the machine's registry (docs/deploying.md's two-minute path). */
const APP_IMAGE = "localhost:5001/kindha-app:1";
const APP_DOCKERFILE = `FROM ${TOOLS_IMAGE}
CMD ["sh", "-c", "mkdir -p /www && echo front-door-ok > /www/index.html && exec busybox httpd -f -p 8080 -h /www"]
`;

if (t) {
  const db = () => ({ kubeconfig: t.kubeconfig, env: t.env() });
  /** The claims of known bytes: one in each of the stack's own namespaces. */
  const LAKES = ["workloads", "data-platform"];
  const MIB = 32;

  /**
   * A pod on claim `lake` of `ns` (made when missing, from the default class) running `command`
   * with the volume at /data; its log once it has succeeded.
   */
  const onLake = async (ns: string, command: string): Promise<string> => {
    const claim = {
      apiVersion: "v1",
      kind: "PersistentVolumeClaim",
      metadata: { name: "lake", namespace: ns },
      spec: { accessModes: ["ReadWriteOnce"], resources: { requests: { storage: "1Gi" } } },
    };
    const pod = {
      apiVersion: "v1",
      kind: "Pod",
      metadata: { name: "lake-io", namespace: ns },
      spec: {
        restartPolicy: "Never",
        containers: [
          {
            name: "io",
            image: TOOLS_IMAGE,
            imagePullPolicy: "Never",
            command: ["sh", "-c", command],
            volumeMounts: [{ name: "lake", mountPath: "/data" }],
          },
        ],
        volumes: [{ name: "lake", persistentVolumeClaim: { claimName: "lake" } }],
      },
    };
    kubectl(t.kubeconfig, t.env(), ["apply", "-f", "-"], JSON.stringify({ apiVersion: "v1", kind: "List", items: [claim, pod] }));
    const phase = await waitFor(`${ns}/lake-io to finish`, 3 * MINUTE, () => {
      const p = JSON.parse(t.k("-n", ns, "get", "pod", "lake-io", "-o", "json")).status.phase;
      return p === "Succeeded" || p === "Failed" ? p : undefined;
    });
    const log = t.k("-n", ns, "logs", "lake-io").trim();
    t.k("-n", ns, "delete", "pod", "lake-io", "--wait=true");
    if (phase !== "Succeeded") throw new Error(`${ns}/lake-io ${phase}: ${log}`);
    return log;
  };
  const readLake = (ns: string) => onLake(ns, "sha256sum /data/blob | cut -d' ' -f1");
  const lakeOnHost = (ns: string) => join(t.dataDir, ns, "lake", "blob");
  /** sha256 of each lake's bytes, written once. */
  const lakes: Record<string, string> = {};
  let rows = "";
  const markers: Record<string, Record<string, string>> = {};
  const MARKERS = "kindha-markers";

  describe("single, its data through destroy, restore and migrate into ha-option-b and back", () => {
    let deployed = "";
    test(
      "cdktf deploy single creates the cluster and the stack's namespaces; the preflight warned of over-commit; a second plan is a no-op",
      async () => {
        deployed = (await t.cdktf("deploy", "single")).output;
        expect(deployed).toMatch(/preflight: warning: docker reports \d+ CPUs, the stack plans \d+/);
        expect(deployed).toContain("continuing because KINDHA_ALLOW_OVERCOMMIT=1");
        const namespaces = JSON.parse(t.k("get", "namespaces", "-o", "json")).items.map((n: any) => n.metadata.name);
        expect(namespaces).toEqual(expect.arrayContaining(LAKES));
        const plan = t.project().plan("single");
        expect({ code: plan.code, said: plan.stdout.includes("No changes.") }).toEqual({ code: 0, said: true });
      },
      20 * MINUTE,
    );

    declareClusterChecks(t, "single");

    test(
      `an image built here and pushed once to localhost:5001 runs, pulled by the node, behind single's ports mapping: curl http://127.0.0.1:${HOST_PORT}`,
      async () => {
        const build = run("docker", ["build", "-t", APP_IMAGE, "-"], t.env(), APP_DOCKERFILE, 5 * MINUTE);
        expect({ build: build.code, output: build.code === 0 ? "" : build.output }).toEqual({ build: 0, output: "" });
        const push = run("docker", ["push", APP_IMAGE], t.env(), undefined, 5 * MINUTE);
        expect({ push: push.code, output: push.code === 0 ? "" : push.output }).toEqual({ push: 0, output: "" });
        // The cluster publishes where its registry is (KEP-1755).
        const hosting = t.k(
          "-n",
          "kube-public",
          "get",
          "configmap",
          "local-registry-hosting",
          "-o",
          "jsonpath={.data.localRegistryHosting\\.v1}",
        );
        expect(hosting).toContain("host: localhost:5001");
        const labels = { app: "front-door" };
        const items = [
          {
            apiVersion: "apps/v1",
            kind: "Deployment",
            metadata: { name: "front-door", namespace: "workloads" },
            spec: {
              selector: { matchLabels: labels },
              template: {
                metadata: { labels },
                spec: {
                  containers: [{ name: "httpd", image: APP_IMAGE, imagePullPolicy: "Always" }],
                },
              },
            },
          },
          {
            apiVersion: "v1",
            kind: "Service",
            metadata: { name: "front-door", namespace: "workloads" },
            spec: { type: "NodePort", selector: labels, ports: [{ port: 8080, targetPort: 8080, nodePort: NODE_PORT }] },
          },
        ];
        kubectl(t.kubeconfig, t.env(), ["apply", "-f", "-"], JSON.stringify({ apiVersion: "v1", kind: "List", items }));
        try {
          const body = await waitFor(`http://127.0.0.1:${HOST_PORT} to answer`, 3 * MINUTE, async () => {
            const r = await fetch(`http://127.0.0.1:${HOST_PORT}/`, { signal: AbortSignal.timeout(3000) });
            return r.ok ? (await r.text()).trim() : undefined;
          });
          expect(body).toBe("front-door-ok");
          const pod = JSON.parse(t.k("-n", "workloads", "get", "pods", "-l", "app=front-door", "-o", "json")).items[0];
          expect(pod.status.containerStatuses[0].imageID).toMatch(/^localhost:5001\/kindha-app@sha256:[0-9a-f]{64}$/);
        } finally {
          kubectl(t.kubeconfig, t.env(), ["delete", "-f", "-", "--wait=false"], JSON.stringify({ apiVersion: "v1", kind: "List", items }));
        }
      },
      5 * MINUTE,
    );

    test(
      "single's nodes carry the stack's mark with this state's id; the state is 0600; a changed apiServerPort makes cdktf diff show the replacement within 60 s, the hook not looking at the cluster",
      async () => {
        const stateFile = join(t.sandbox.dir, "terraform.single.tfstate");
        for (const f of [stateFile, `${stateFile}.backup`]) expect({ f, mode: statSync(f).mode & 0o777 }).toEqual({ f, mode: 0o600 });
        const state = JSON.parse(readFileSync(stateFile, "utf8"));
        const lifecycle = state.resources.find((r: any) => r.type === "null_resource" && r.instances[0].attributes.triggers?.config_sha256);
        const id = lifecycle.instances[0].attributes.id;
        expect(id).toMatch(/^\d+$/);
        for (const node of t.topology("single").nodes) {
          expect({ node: node.name, mark: run("docker", ["exec", node.name, "cat", "/kind/kindha-identity"], t.env()).stdout }).toEqual({
            node: node.name,
            mark: `stack=single\ncreate=${id}\nproject=${realpathSync(t.sandbox.dir)}\n`,
          });
        }
        const config = readFileSync(t.sandbox.configFile, "utf8");
        const log = join(t.sandbox.home, ".kindha", "logs", t.cluster, "recover.log");
        const logged = existsSync(log) ? readFileSync(log, "utf8") : "";
        writeFileSync(t.sandbox.configFile, config.replace("  single:\n", "  single:\n    apiServerPort: 6444\n"));
        try {
          const r = await runLogged("npx cdktf diff single --skip-provider-lock", {
            cwd: t.sandbox.dir,
            env: t.env(),
            logFile: t.sandbox.logFile,
            timeoutMs: 60_000,
          });
          t.say(`cdktf diff single with apiServerPort 6444: exit ${r.code} in ${r.seconds} s`);
          // Ended within the bound (a killed run has no code), showing the replacement. It exits 1:
          // the stack's Kubernetes objects cannot be read with the provider's configuration unknown
          // until the new cluster exists (hashicorp/terraform#30465); npm run migrate is that path.
          expect(r.code).not.toBeNull();
          const shown = stripVTControlCharacters(r.output);
          expect(shown).toMatch(/null_resource\.Cluster_Lifecycle_\w+ \(Cluster\/Lifecycle\) must be replaced/);
          // Replaced: the cluster, its preflight, the pre-destroy backup and the registry's node entries.
          expect(shown).toMatch(/Plan: 4 to add, 0 to change, 4 to destroy/);
        } finally {
          writeFileSync(t.sandbox.configFile, config);
        }
        expect(existsSync(log) ? readFileSync(log, "utf8") : "").toBe(logged);
        expect(t.k("get", "--raw", "/readyz").trim()).toBe("ok");
      },
      5 * MINUTE,
    );

    test(
      "PostgreSQL in workloads: 10,000 rows, the volume in the host data directory with a stable name, no node affinity, kept on delete",
      async () => {
        kubectl(t.kubeconfig, t.env(), ["apply", "-f", "-"], pg.postgresManifest());
        const node = await pg.waitReady(db());
        rows = pg.writeRows(db());
        t.say(`PostgreSQL on ${node}: ${rows}`);
        expect(rows).toMatch(/^10000 [0-9a-f]{32}$/);
        const pvc = JSON.parse(t.k("-n", pg.NAMESPACE, "get", "pvc", pg.CLAIM, "-o", "json"));
        expect(pvc.status.phase).toBe("Bound");
        expect(pvc.spec.storageClassName).toBe("standard");
        const pv = JSON.parse(t.k("get", "pv", pvc.spec.volumeName, "-o", "json"));
        expect(pv.spec.nodeAffinity).toBeUndefined();
        expect(pv.spec.persistentVolumeReclaimPolicy).toBe("Retain");
        expect(pv.spec.hostPath.path).toBe(`/var/local-path-provisioner/${pg.NAMESPACE}/${pg.CLAIM}`);
        expect(existsSync(join(t.dataDir, pg.NAMESPACE, pg.CLAIM, "pgdata", "PG_VERSION"))).toBe(true);
        expect(statSync(t.dataDir).mode & 0o777).toBe(0o700);
        expect(readFileSync(join(t.dataDir, ".kindha-cluster"), "utf8")).toBe(`${t.cluster}\n`);
      },
      10 * MINUTE,
    );

    test(
      `a claim in each of the stack's own namespaces holds ${MIB} MiB of random bytes; verify counts them`,
      async () => {
        for (const ns of LAKES) {
          lakes[ns] = await onLake(
            ns,
            `head -c ${MIB * 1024 * 1024} /dev/urandom >/data/blob && sync && sha256sum /data/blob | cut -d' ' -f1`,
          );
          expect(lakes[ns]).toMatch(/^[0-9a-f]{64}$/);
        }
        const v = passed("verify", await t.tool("verify", "single"));
        expect(v.output).toMatch(/PersistentVolumeClaims Bound\s+pass\s+3 Bound/);
        expect(v.output).toMatch(/volume directories on the host\s+pass\s+3 present/);
        expect(v.output).toMatch(/workloads available\s+pass\s+.*1 StatefulSets/);
      },
      10 * MINUTE,
    );

    test(
      "the database moved to another node reads the same bytes",
      async () => {
        const from = JSON.parse(t.k("-n", pg.NAMESPACE, "get", "pod", pg.POD, "-o", "json")).spec.nodeName;
        const to = t.topology("single").controlPlanes[0].name;
        expect(from).not.toBe(to);
        const patch = {
          spec: {
            template: {
              spec: {
                nodeSelector: { "kubernetes.io/hostname": to },
                tolerations: [{ key: "node-role.kubernetes.io/control-plane", operator: "Exists", effect: "NoSchedule" }],
              },
            },
          },
        };
        t.k("-n", pg.NAMESPACE, "patch", "statefulset", "postgres", "--type", "merge", "-p", JSON.stringify(patch));
        await waitFor(`${pg.POD} on ${to}`, 5 * MINUTE, () => {
          const p = JSON.parse(t.k("-n", pg.NAMESPACE, "get", "pod", pg.POD, "-o", "json"));
          return p.spec.nodeName === to && p.status.conditions?.some((c: any) => c.type === "Ready" && c.status === "True")
            ? true
            : undefined;
        });
        await pg.waitReady(db());
        expect(pg.checksum(db())).toBe(rows);
      },
      10 * MINUTE,
    );

    test(
      "backup --with-data; cdktf destroy deletes the cluster but no volume; the data directory gone, cdktf deploy, restore --with-data: the database and the claims' bytes come back",
      async () => {
        const backup = passed("backup --with-data", await t.tool("backup", "single", "--with-data"));
        const [snapshot, archive] = backup.output.split("\n").filter((l) => l.startsWith("/"));
        expect(snapshot).toMatch(new RegExp(`/\\.kindha/backups/${t.cluster}/${t.cluster}-single-\\d{8}T\\d{6}Z\\.db$`));
        expect(archive).toBe(snapshot.replace(/\.db$/, ".data.tar.gz"));
        for (const f of [snapshot, archive]) expect(statSync(f).mode & 0o777).toBe(0o600);
        // The database was stopped for the archive and runs again with its rows.
        expect(backup.output).toContain(`scaled StatefulSet ${pg.NAMESPACE}/postgres from 1 to 0`);
        await pg.waitReady(db());
        expect(pg.checksum(db())).toBe(rows);

        await t.cdktf("destroy", "single");
        expect(clusterContainers(t.cluster)).toEqual([]);
        for (const ns of LAKES) expect(statSync(lakeOnHost(ns)).size).toBe(MIB * 1024 * 1024);
        expect(existsSync(join(t.dataDir, pg.NAMESPACE, pg.CLAIM, "pgdata", "PG_VERSION"))).toBe(true);
        // As on a new machine: only the archive can bring the volumes back.
        renameSync(t.dataDir, `${t.dataDir}.moved-away`);
        await t.cdktf("deploy", "single");
        const restore = passed("restore --with-data", await t.tool("restore", "single", "--snapshot", snapshot, "--with-data"));
        expect(restore.output).toMatch(
          /volumes: each kept on delete, each Bound one's directory on the host\n\s+ok in [\d.]+ s: 3 present/,
        );
        await pg.waitReady(db());
        expect(pg.checksum(db())).toBe(rows);
        for (const ns of LAKES) expect({ ns, sha256: await readLake(ns) }).toEqual({ ns, sha256: lakes[ns] });
        rmSync(`${t.dataDir}.moved-away`, { recursive: true, force: true });
        passed("verify", await t.tool("verify", "single"));
      },
      30 * MINUTE,
    );

    test(
      "npm run migrate -- --from single --to ha-option-b refuses while a claim's directory is missing, changing nothing",
      async () => {
        const lake = join(t.dataDir, "workloads", "lake");
        renameSync(lake, `${lake}.aside`);
        try {
          const r = await t.tool(
            "migrate",
            "--from",
            "single",
            "--to",
            "ha-option-b",
            "--project-dir",
            t.sandbox.dir,
            "--skip-provider-lock",
          );
          expect(r.code).toBe(1);
          expect(r.output).toMatch(/1 of 3 volume\(s\) have no directory in \S+: workloads\/lake \(workloads\/lake\); nothing was changed/);
          expect(t.k("get", "--raw", "/readyz").trim()).toBe("ok");
        } finally {
          renameSync(`${lake}.aside`, lake);
        }
      },
      10 * MINUTE,
    );

    test(
      "npm run migrate -- --from single --to ha-option-b keeps every marker ConfigMap, PostgreSQL's rows and the claims' bytes",
      async () => {
        Object.assign(markers, t.writeMarkers(MARKERS, 30));
        const r = passed(
          "migrate single -> ha-option-b",
          await t.tool("migrate", "--from", "single", "--to", "ha-option-b", "--project-dir", t.sandbox.dir, "--skip-provider-lock"),
        );
        t.say(`migrate single -> ha-option-b: ${r.seconds} s`);
        expect(t.listMarkers(MARKERS)).toEqual(markers);
        expect(JSON.parse(t.k("get", "nodes", "-o", "json")).items).toHaveLength(4);
        await pg.waitReady(db());
        expect(pg.checksum(db())).toBe(rows);
        for (const ns of LAKES) expect({ ns, sha256: await readLake(ns) }).toEqual({ ns, sha256: lakes[ns] });
      },
      40 * MINUTE,
    );

    declareClusterChecks(t, "ha-option-b");

    /** One pod of the app on each node of the cluster, each pulling it (imagePullPolicy: Always); the nodes they ran on. Removed after. */
    const appOnEveryNode = async (): Promise<string[]> => {
      const nodes = t.topology("ha-option-b").nodes.map((n) => n.name);
      const labels = { app: "registry-app" };
      const app = {
        apiVersion: "apps/v1",
        kind: "Deployment",
        metadata: { name: "registry-app", namespace: "workloads" },
        spec: {
          replicas: nodes.length,
          selector: { matchLabels: labels },
          template: {
            metadata: { labels },
            spec: {
              containers: [{ name: "app", image: APP_IMAGE, imagePullPolicy: "Always" }],
              tolerations: [{ key: "node-role.kubernetes.io/control-plane", operator: "Exists", effect: "NoSchedule" }],
              affinity: {
                podAntiAffinity: {
                  requiredDuringSchedulingIgnoredDuringExecution: [
                    { labelSelector: { matchLabels: labels }, topologyKey: "kubernetes.io/hostname" },
                  ],
                },
              },
            },
          },
        },
      };
      const manifest = JSON.stringify(app);
      kubectl(t.kubeconfig, t.env(), ["apply", "-f", "-"], manifest);
      try {
        t.k("-n", "workloads", "rollout", "status", "deployment/registry-app", "--timeout=100s");
        const pods = JSON.parse(t.k("-n", "workloads", "get", "pods", "-l", "app=registry-app", "-o", "json")).items;
        for (const p of pods) expect(p.status.containerStatuses[0].imageID).toMatch(/^localhost:5001\/kindha-app@sha256:/);
        return pods.map((p: any) => p.spec.nodeName).sort();
      } finally {
        kubectl(t.kubeconfig, t.env(), ["delete", "-f", "-", "--wait=true"], manifest);
      }
    };

    test(
      "ha-option-b: the image pushed before the migrate is pulled on every node with no new push; the registry's storage stays in its host directory",
      async () => {
        expect(await appOnEveryNode()).toEqual(
          t
            .topology("ha-option-b")
            .nodes.map((n) => n.name)
            .sort(),
        );
        const stored = join(t.sandbox.home, ".kindha", "registry", "docker", "registry", "v2", "repositories", "kindha-app");
        expect(existsSync(stored)).toBe(true);
      },
      10 * MINUTE,
    );

    test(
      "ha-option-b: cdktf deploy after the restore puts back what the snapshot lacked (the backup CronJob); a Job from it writes a 0600 snapshot into the host backup directory",
      async () => {
        await t.cdktf("deploy", "ha-option-b");
        expect(t.k("-n", "kube-system", "get", "cronjob", "etcd-backup", "-o", "jsonpath={.spec.schedule}")).toBe("0 */6 * * *");
        const scheduled = join(t.backupDir, "scheduled");
        // The directory's owner (here another user than the Job's root) gets the snapshot, so its `npm run restore` reads it.
        chownSync(scheduled, 1000, 1000);
        const snapshot = await runScheduledBackup(t, "etcd-backup-now");
        expect(snapshot).toMatch(/\/scheduled-\d{8}T\d{6}Z\.db$/);
        const stat = statSync(snapshot);
        expect({ size: stat.size > 0, mode: stat.mode & 0o777, uid: stat.uid, gid: stat.gid }).toEqual({
          size: true,
          mode: 0o600,
          uid: 1000,
          gid: 1000,
        });
        chownSync(scheduled, process.getuid!(), process.getgid!());
        const plan = t.project().plan("ha-option-b");
        expect({ code: plan.code, said: plan.stdout.includes("No changes.") }).toEqual({ code: 0, said: true });
      },
      20 * MINUTE,
    );

    test(
      "ha-option-b: npm run drill: with one control plane stopped, /readyz and writes keep being served through the load balancer",
      async () => {
        const r = await t.tool("drill", "ha-option-b", "--observe", "20");
        const writes = Number(/writes unavailable for ([\d.]+) s/.exec(r.output)?.[1]);
        const api = Number(/API unavailable for ([\d.]+) s/.exec(r.output)?.[1]);
        t.say(`drill: writes unavailable ${writes} s, API unavailable ${api} s`);
        expect(r.output).toContain("drill passed");
        expect(r.code).toBe(0);
        expect(writes).toBeLessThan(30);
        expect(api).toBeLessThan(30);
      },
      10 * MINUTE,
    );

    test(
      "ha-option-b: with two of three control planes stopped, quorum is lost and writes fail fast; after restart no key is lost",
      async () => {
        const env = t.env();
        const topology = t.topology("ha-option-b");
        const victims = topology.controlPlanes.slice(1).map((n) => n.name);
        const ipOf = (node: string) =>
          run("docker", ["inspect", "-f", "{{range .NetworkSettings.Networks}}{{.IPAddress}}{{end}}", node], env).stdout.trim();
        const ipsBefore = Object.fromEntries(victims.map((v) => [v, ipOf(v)]));
        // Docker gives a restarted container the lowest free address, not its own: start the
        // stopped control planes in the order of their addresses so each gets its own back.
        const startOrder = [...victims].sort((a, b) => ipNumber(ipsBefore[a]) - ipNumber(ipsBefore[b]));
        try {
          for (const v of victims) expect(run("docker", ["stop", v], env).code).toBe(0);
          const health = run(
            "bash",
            [
              join(ROOT, "scripts", "etcd.sh"),
              "health",
              "--kind",
              "--kubeconfig",
              t.kubeconfig,
              "--cluster",
              topology.clusterName,
              "--expect",
              "3",
            ],
            env,
          );
          expect(health.code).toBe(0);
          expect(parseHealthReport(health.stdout)).toMatchObject({
            state: "quorum-lost",
            message: "quorum lost: 1 of 3 members healthy, quorum needs 2",
          });
          const t0 = Date.now();
          const write = run(
            "kubectl",
            ["--kubeconfig", t.kubeconfig, "--request-timeout", "10s", "-n", MARKERS, "create", "configmap", "during-outage"],
            env,
          );
          const seconds = (Date.now() - t0) / 1000;
          t.say(`write with quorum lost failed after ${seconds.toFixed(1)} s: ${write.stderr.trim().split("\n").pop()}`);
          expect(write.code).not.toBe(0);
          expect(write.stderr.trim()).not.toBe("");
          expect(seconds).toBeLessThan(20);
        } finally {
          for (const v of startOrder) run("docker", ["start", v], env);
        }
        expect(Object.fromEntries(victims.map((v) => [v, ipOf(v)]))).toEqual(ipsBefore);
        const back = Date.now();
        await waitFor(
          "verify to pass after the restart",
          5 * MINUTE,
          () =>
            run(process.execPath, [join(ROOT, "dist", "tools", "verify.js"), "ha-option-b"], {
              ...env,
              KINDHA_CONFIG: t.sandbox.configFile,
            }).code === 0
              ? true
              : undefined,
          5000,
        );
        t.say(`recovered from quorum loss in ${((Date.now() - back) / 1000).toFixed(0)} s`);
        expect(t.listMarkers(MARKERS)).toEqual(markers);
      },
      10 * MINUTE,
    );

    test(
      "ha-option-b: after a restart of the Docker engine, cdktf deploy recovers the cluster in its plan: same containers, nothing replaced, no object or row lost, a no-op plan after",
      async () => {
        const before = containerIds(t);
        dockerEngine("stop", t.env());
        dockerEngine("start", t.env());
        const r = await t.cdktf("deploy", "ha-option-b");
        expect(containerIds(t)).toEqual(before);
        expect(r.output).not.toMatch(/Destroying|[1-9]\d* destroyed|must be replaced/);
        const log = readFileSync(join(t.sandbox.home, ".kindha", "logs", t.cluster, "recover.log"), "utf8");
        expect(log).toMatch(/recover: done in \d+ s/);
        // The plan's repair ends once etcd has quorum and the API answers; it verifies no workload.
        expect(log).toContain("wait for etcd quorum and the API");
        expect(log).not.toContain("verify stack");
        expect(t.k("get", "--raw", "/readyz").trim()).toBe("ok");
        expect(t.listMarkers(MARKERS)).toEqual(markers);
        await pg.waitReady(db());
        expect(pg.checksum(db())).toBe(rows);
        // Pods settle after the nodes restart: verify passes within a bound.
        const settled = Date.now();
        await waitFor("verify to pass after the restart", 5 * MINUTE, async () =>
          (await t.tool("verify", "ha-option-b")).code === 0 ? true : undefined,
        );
        t.say(`verify passed ${((Date.now() - settled) / 1000).toFixed(0)} s after cdktf deploy's repair`);
        // The registry came back with the engine: every node pulls the image again, with no new push.
        expect(await appOnEveryNode()).toEqual(
          t
            .topology("ha-option-b")
            .nodes.map((n) => n.name)
            .sort(),
        );
        const plan = t.project().plan("ha-option-b");
        expect({ code: plan.code, said: plan.stdout.includes("No changes.") }).toEqual({ code: 0, said: true });
      },
      30 * MINUTE,
    );

    test(
      "npm run migrate -- --from ha-option-b --to single keeps every marker ConfigMap, PostgreSQL's rows and the claims' bytes",
      async () => {
        const r = passed(
          "migrate ha-option-b -> single",
          await t.tool("migrate", "--from", "ha-option-b", "--to", "single", "--project-dir", t.sandbox.dir, "--skip-provider-lock"),
        );
        t.say(`migrate ha-option-b -> single: ${r.seconds} s`);
        expect(t.listMarkers(MARKERS)).toEqual(markers);
        expect(
          JSON.parse(t.k("get", "nodes", "-o", "json"))
            .items.map((n: any) => n.metadata.name)
            .sort(),
        ).toEqual([`${t.cluster}-control-plane`, `${t.cluster}-worker`]);
        await pg.waitReady(db());
        expect(pg.checksum(db())).toBe(rows);
        for (const ns of LAKES) expect({ ns, sha256: await readLake(ns) }).toEqual({ ns, sha256: lakes[ns] });
      },
      40 * MINUTE,
    );

    test(
      "cdktf destroy single snapshots first and leaves nothing but the volumes and the snapshots; remove-data deletes the volumes",
      async () => {
        const before = new Set(readdirSync(t.backupDir));
        const started = Date.now();
        const r = await t.cdktf("destroy", "single");
        const snapshots = readdirSync(t.backupDir).filter((f) => !before.has(f) && f.endsWith(".db"));
        expect(snapshots).toHaveLength(1);
        expect(snapshots[0]).toMatch(new RegExp(`^${t.cluster}-single-\\d{8}T\\d{6}Z\\.db$`));
        expect(statSync(join(t.backupDir, snapshots[0])).mtimeMs).toBeGreaterThanOrEqual(started - 1000);
        // Taken while the stack's namespaces still existed, before kind deleted the nodes.
        const at = (s: string) => r.output.indexOf(s);
        expect(at(snapshots[0])).toBeGreaterThanOrEqual(0);
        expect(at(snapshots[0])).toBeLessThan(at("delete-cluster: deleting"));
        expect(at(snapshots[0])).toBeLessThan(r.output.search(/Platform_WorkloadsNamespace_\w+: Destroying/));
        // The cluster, its kind config, the two storage files, the preflight, the pre-destroy backup, the roll resource, the two
        // namespaces, the registry's node entries and its ConfigMap; the registry itself stays, for the host and the next cluster.
        expect(r.output).toMatch(/Destroy complete! Resources: 11 destroyed/);
        expect(registryStorage(t.env())).toBe(join(t.sandbox.home, ".kindha", "registry"));
        expect(clusterContainers(t.cluster)).toEqual([]);
        expect(run("docker", ["network", "inspect", "kind"], t.env()).code).not.toBe(0);
        expect(existsSync(t.kubeconfig)).toBe(false);
        expect(r.output).toContain(`the volumes of ${t.cluster} are kept in ${t.dataDir}`);
        expect(readFileSync(join(t.dataDir, ".kindha-cluster"), "utf8")).toBe(`${t.cluster}\n`);
        expect(existsSync(join(t.dataDir, pg.NAMESPACE, pg.CLAIM, "pgdata", "PG_VERSION"))).toBe(true);
        for (const ns of LAKES) expect(statSync(lakeOnHost(ns)).size).toBe(MIB * 1024 * 1024);
        const removed = passed("remove-data", await t.tool("remove-data", "single", "--yes"));
        expect(removed.output).toContain(
          `remove-data: deleted ${t.dataDir} (3 volume(s): data-platform/lake, ${pg.NAMESPACE}/${pg.CLAIM}, workloads/lake)`,
        );
        expect(existsSync(t.dataDir)).toBe(false);
      },
      20 * MINUTE,
    );
  });

  describe("ha-option-a", () => {
    test(
      "cdktf deploy ha-option-a: five nodes, the infrastructure node tainted, the backup CronJob; a second plan is a no-op",
      async () => {
        await t.cdktf("deploy", "ha-option-a");
        const infra = JSON.parse(t.k("get", "nodes", "-l", "kindha.io/role=infrastructure", "-o", "json")).items;
        expect(infra.map((n: any) => n.spec.taints)).toEqual([[{ key: "kindha.io/role", value: "infrastructure", effect: "NoSchedule" }]]);
        expect(t.k("-n", "kube-system", "get", "cronjob", "etcd-backup", "-o", "jsonpath={.spec.schedule}")).toBe("0 */6 * * *");
        const plan = t.project().plan("ha-option-a");
        expect({ code: plan.code, said: plan.stdout.includes("No changes.") }).toEqual({ code: 0, said: true });
      },
      20 * MINUTE,
    );

    declareClusterChecks(t, "ha-option-a");

    test(
      "cdktf destroy ha-option-a leaves no container, network or kubeconfig behind",
      async () => {
        await t.cdktf("destroy", "ha-option-a");
        expect(clusterContainers(t.cluster)).toEqual([]);
        expect(run("docker", ["network", "inspect", "kind"], t.env()).code).not.toBe(0);
        expect(existsSync(t.kubeconfig)).toBe(false);
      },
      20 * MINUTE,
    );
  });
}
