/**
 * The deploy tier (`npm run test:deploy`): the whole Terraform path as users run it, through the
 * cdktf CLI with OpenTofu and the pinned providers, on real kind clusters of the node image.
 * deploy single (cluster and Kubernetes objects, then a no-op plan); migrate to ha-option-a and
 * back with marker ConfigMaps and PostgreSQL's rows preserved; the scheduled backup's Job writing into the host backup
 * directory; a deploy after a Docker engine restart recovering the cluster in its plan; a new node
 * image rolled in place by cdktf deploy; destroy taking its snapshot before the cluster goes.
 *
 * Needs KINDHA_PROVIDER_DIR with the four pinned provider binaries (no registry here serves
 * them; build them from their public sources). Without them it fails with one line naming what
 * is missing. Not part of `npm test` or CI.
 */
import { createHash } from "node:crypto";
import { existsSync, mkdirSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { resolveStack } from "../../lib/io/config-file";
import { clearLeftoverClusters, clusterContainers, dockerEngine, kubectl, makeSandbox, MINUTE, NODE_IMAGE, run, TOOLS_IMAGE, UPGRADE_IMAGE, waitFor } from "../../test-support/cluster";
import { failed as fail, makeProject, missingForDeploy, type Project } from "../../test-support/deploy";
import { runLogged } from "../../test-support/lifecycle";
import * as pg from "../../test-support/postgres";
import { installClusterApiCrds } from "../../test-support/cluster-api";

const say = (line: string) => process.stderr.write(`deploy: ${line}\n`);

const why = missingForDeploy() ?? clearLeftoverClusters(say);
if (why) {
  test("the deploy tier has what it needs", () => {
    throw new Error(`deploy tier cannot run: ${why}`);
  });
} else {
  const sandbox = makeSandbox(["single", "ha-option-a"], { "ha-option-a": `    scheduledBackups: { shellImage: ${TOOLS_IMAGE} }\n` });
  const project = sandbox.dir;
  let p: Project;
  let env: NodeJS.ProcessEnv;
  const cluster = resolveStack("single", sandbox.configFile).topology.clusterName;
  const kubeconfig = join(sandbox.home, ".kube", `kindha-${cluster}.yaml`);
  const backups = join(sandbox.home, ".kindha", "backups", cluster);
  const k = (...args: string[]) => kubectl(kubeconfig, env, args);
  const cdktf = (...args: string[]) => p.cdktf(...args);
  const tool = (name: string, ...args: string[]) => p.tool(name, ...args);

  /** `count` marker ConfigMaps named <prefix>00.. in a new namespace, each with a checksum of `seed(i)`; what was written. */
  const writeMarkers = (ns: string, prefix: string, count: number, seed: (i: number) => string): Record<string, Record<string, string>> => {
    k("create", "namespace", ns);
    const items = Array.from({ length: count }, (_, i) => ({
      apiVersion: "v1",
      kind: "ConfigMap",
      metadata: { name: `${prefix}${String(i).padStart(2, "0")}`, namespace: ns, labels: { "kindha.io/test": "marker" } },
      data: { index: String(i), content: createHash("sha256").update(seed(i)).digest("hex") },
    }));
    kubectl(kubeconfig, env, ["apply", "-f", "-"], JSON.stringify({ apiVersion: "v1", kind: "List", items }));
    return Object.fromEntries(items.map((c) => [c.metadata.name, c.data]));
  };
  const markers = (ns: string) =>
    Object.fromEntries(
      JSON.parse(k("get", "configmap", "-n", ns, "-l", "kindha.io/test=marker", "-o", "json")).items.map((c: any) => [c.metadata.name, c.data]),
    );

  beforeAll(() => {
    p = makeProject(sandbox);
    env = p.env;
  }, 30 * MINUTE);

  afterAll(async () => {
    for (const stack of ["single", "ha-option-a"]) {
      if (existsSync(join(project, `terraform.${stack}.tfstate`)) && clusterContainers(cluster).length > 0) {
        await runLogged(`npx cdktf destroy ${stack} --auto-approve --skip-provider-lock`, { cwd: project, env: { ...env, KINDHA_SKIP_BACKUP: "1" }, logFile: sandbox.logFile, timeoutMs: 10 * MINUTE });
      }
    }
    run("kind", ["delete", "cluster", "--name", cluster], env);
    if (process.env.KINDHA_KEEP_SANDBOX !== "1") rmSync(sandbox.dir, { recursive: true, force: true });
  }, 20 * MINUTE);

  test("cdktf deploy single creates the cluster and its Kubernetes objects; a second plan is a no-op", async () => {
    const r = await cdktf("deploy", "single");
    if (r.code !== 0) throw fail("cdktf deploy single", r);
    say(`cdktf deploy single took ${r.seconds} s`);
    const namespaces = JSON.parse(k("get", "namespaces", "-o", "json")).items.map((n: any) => n.metadata.name);
    expect(namespaces).toEqual(expect.arrayContaining(["data-platform", "workloads"]));
    const roles = JSON.parse(k("get", "nodes", "-o", "json")).items.map((n: any) => [n.metadata.name, n.metadata.labels["kindha.io/role"]]).sort();
    expect(roles).toEqual([[`${cluster}-control-plane`, "control-plane"], [`${cluster}-worker`, "combined"]]);
    const plan = p.plan("single");
    expect({ code: plan.code, said: plan.stdout.includes("No changes.") }).toEqual({ code: 0, said: true });
  }, 30 * MINUTE);

  test("a cluster-api stack: cdktf deploy applies its Cluster API objects to single's cluster (with Cluster API's CRDs), a second plan is a no-op, cdktf destroy removes them", async () => {
    const config = readFileSync(sandbox.configFile, "utf8");
    const uninstall = installClusterApiCrds(kubeconfig, env);
    try {
      writeFileSync(sandbox.configFile, `${config}  prod:\n    availability: ha\n    target: cluster-api\n    clusterName: dp-prod\n    workers: [{ role: infrastructure }, { role: workload, count: 2 }]\n`);
      const r = await cdktf("deploy", "prod");
      if (r.code !== 0) throw fail("cdktf deploy prod", r);
      say(`cdktf deploy prod (10 Cluster API objects) took ${r.seconds} s`);
      const kinds = ["clusters.cluster.x-k8s.io", "kubeadmcontrolplanes.controlplane.cluster.x-k8s.io", "machinedeployments.cluster.x-k8s.io"];
      const listed = () => k("get", kinds.join(","), "-n", "default", "-o", "name").trim().split("\n").filter(Boolean).sort();
      expect(listed()).toEqual([
        "cluster.cluster.x-k8s.io/dp-prod",
        "kubeadmcontrolplane.controlplane.cluster.x-k8s.io/dp-prod-control-plane",
        "machinedeployment.cluster.x-k8s.io/dp-prod-infrastructure",
        "machinedeployment.cluster.x-k8s.io/dp-prod-workload",
      ]);
      expect(JSON.parse(k("get", "machinedeployment", "dp-prod-workload", "-n", "default", "-o", "json")).spec.replicas).toBe(2);
      const plan = p.plan("prod");
      expect({ code: plan.code, said: plan.stdout.includes("No changes."), out: plan.code === 0 ? "" : plan.stdout.slice(-2000) }).toEqual({ code: 0, said: true, out: "" });
      const d = await cdktf("destroy", "prod");
      if (d.code !== 0) throw fail("cdktf destroy prod", d);
      expect(listed()).toEqual([]);
    } finally {
      writeFileSync(sandbox.configFile, config);
      uninstall();
    }
  }, 20 * MINUTE);

  const written: Record<string, Record<string, string>> = {};
  let rows = "";
  const db = () => ({ kubeconfig, env });
  test("npm run migrate -- --from single --to ha-option-a keeps every marker ConfigMap, with its content, and PostgreSQL's rows", async () => {
    kubectl(kubeconfig, env, ["apply", "-f", "-"], pg.postgresManifest());
    await pg.waitReady(db());
    rows = pg.writeRows(db());
    say(`PostgreSQL on single: ${rows}`);
    Object.assign(written, writeMarkers("kindha-markers", "m", 30, String));
    const ns = "kindha-markers";
    const r = await tool("migrate", "--from", "single", "--to", "ha-option-a", "--project-dir", project, "--skip-provider-lock");
    if (r.code !== 0) throw fail("migrate single -> ha-option-a", r);
    say(`migrate single -> ha-option-a took ${r.seconds} s`);
    expect(markers(ns)).toEqual(written);
    expect(JSON.parse(k("get", "nodes", "-o", "json")).items).toHaveLength(5);
    await pg.waitReady(db());
    expect(pg.checksum(db())).toBe(rows);
  }, 40 * MINUTE);

  test("after the restore, cdktf deploy ha-option-a puts back the objects the old snapshot lacked: taint and backup CronJob", async () => {
    const r = await cdktf("deploy", "ha-option-a");
    if (r.code !== 0) throw fail("cdktf deploy ha-option-a", r);
    const infra = JSON.parse(k("get", "nodes", "-l", "kindha.io/role=infrastructure", "-o", "json")).items;
    expect(infra.map((n: any) => n.spec.taints)).toEqual([[{ key: "kindha.io/role", value: "infrastructure", effect: "NoSchedule" }]]);
    expect(k("-n", "kube-system", "get", "cronjob", "etcd-backup", "-o", "jsonpath={.spec.schedule}")).toBe("0 */6 * * *");
  }, 30 * MINUTE);

  test("a Job made from the backup CronJob writes a snapshot into the host backup directory", async () => {
    const scheduled = join(backups, "scheduled");
    const before = existsSync(scheduled) ? readdirSync(scheduled) : [];
    k("-n", "kube-system", "create", "job", "--from=cronjob/etcd-backup", "etcd-backup-now");
    await waitFor("the Job to complete", 5 * MINUTE, () => {
      const status = JSON.parse(k("-n", "kube-system", "get", "job", "etcd-backup-now", "-o", "json")).status;
      if ((status.failed ?? 0) > 0) throw new Error(`the Job failed: ${JSON.stringify(status)}`);
      return status.succeeded === 1 ? true : undefined;
    });
    const added = readdirSync(scheduled).filter((f) => !before.includes(f));
    expect(added).toHaveLength(1);
    expect(added[0]).toMatch(/^scheduled-\d{8}T\d{6}Z\.db$/);
    const file = join(scheduled, added[0]);
    expect(statSync(file).size).toBeGreaterThan(0);
    expect(statSync(file).mode & 0o777).toBe(0o600);
  }, 10 * MINUTE);

  test("after a restart of the Docker engine, cdktf deploy ha-option-a recovers the cluster in its plan: same containers, no replacement, a no-op plan after", async () => {
    const ids = () => Object.fromEntries(clusterContainers(cluster).map((c) => [c, run("docker", ["inspect", "-f", "{{.Id}}", c], env).stdout.trim()]));
    const before = ids();
    dockerEngine("stop", env);
    dockerEngine("start", env);
    const r = await cdktf("deploy", "ha-option-a");
    if (r.code !== 0) throw fail("cdktf deploy ha-option-a after the engine restart", r);
    say(`cdktf deploy ha-option-a after a Docker restart took ${r.seconds} s`);
    expect(ids()).toEqual(before);
    expect(r.output).not.toMatch(/Destroying|[1-9]\d* destroyed|must be replaced/);
    expect(readFileSync(join(sandbox.home, ".kindha", "logs", cluster, "recover.log"), "utf8")).toMatch(/recover: done in \d+ s/);
    expect(k("get", "--raw", "/readyz").trim()).toBe("ok");
    expect(markers("kindha-markers")).toEqual(written);
    const plan = p.plan("ha-option-a");
    expect({ code: plan.code, said: plan.stdout.includes("No changes.") }).toEqual({ code: 0, said: true });
  }, 30 * MINUTE);

  test("npm run migrate -- --from ha-option-a --to single keeps every marker ConfigMap and PostgreSQL's rows", async () => {
    const r = await tool("migrate", "--from", "ha-option-a", "--to", "single", "--project-dir", project, "--skip-provider-lock");
    if (r.code !== 0) throw fail("migrate ha-option-a -> single", r);
    say(`migrate ha-option-a -> single took ${r.seconds} s`);
    expect(markers("kindha-markers")).toEqual(written);
    expect(JSON.parse(k("get", "nodes", "-o", "json")).items.map((n: any) => n.metadata.name).sort()).toEqual([`${cluster}-control-plane`, `${cluster}-worker`]);
    await pg.waitReady(db());
    expect(pg.checksum(db())).toBe(rows);
  }, 40 * MINUTE);

  test("a new nodeImage in kindha.config.yaml: cdktf diff plans the roll, not a re-create; cdktf deploy rolls the same containers to v1.37.2; a no-op plan after", async () => {
    const config = readFileSync(sandbox.configFile, "utf8");
    const single = config.indexOf("  single:");
    expect(single).toBeGreaterThanOrEqual(0);
    writeFileSync(sandbox.configFile, config.slice(0, single) + config.slice(single).replace(`nodeImage: ${NODE_IMAGE}`, `nodeImage: ${UPGRADE_IMAGE}`));
    const ids = () => Object.fromEntries(clusterContainers(cluster).map((c) => [c, run("docker", ["inspect", "-f", "{{.Id}}", c], env).stdout.trim()]));
    const before = ids();
    // Objects of its own, so the test also runs alone (-t).
    const ns = "kindha-upgrade";
    const kept = writeMarkers(ns, "u", 20, (i) => `upgrade/${i}`);
    expect(markers(ns)).toEqual(kept);
    const diff = await cdktf("diff", "single");
    if (diff.code !== 0) throw fail("cdktf diff single", diff);
    // cdktf colours the plan and names the construct path after the address:
    // `null_resource.Upgrade_Roll_… (Upgrade/Roll) must be replaced`.
    const shown = diff.output.replace(/\x1b\[[0-9;]*[A-Za-z]/g, "");
    expect(shown).toMatch(/null_resource\.Upgrade_Roll_\w+ (\(\S+\) )?must be replaced/);
    expect(shown).not.toMatch(/Cluster_Lifecycle_\w+ (\(\S+\) )?must be replaced/);
    expect(shown).toMatch(/Plan: 2 to add, 0 to change, 2 to destroy/);
    const r = await cdktf("deploy", "single");
    if (r.code !== 0) throw fail("cdktf deploy single with the new image", r);
    say(`cdktf deploy single rolling to v1.37.2 took ${r.seconds} s`);
    expect(r.output).toMatch(/upgrade: done in \d+ s; stack single runs v1\.37\.2 and verified/);
    expect(ids()).toEqual(before);
    expect(JSON.parse(k("get", "nodes", "-o", "json")).items.map((n: any) => n.status.nodeInfo.kubeletVersion)).toEqual(["v1.37.2", "v1.37.2"]);
    expect(markers(ns)).toEqual(kept);
    const plan = p.plan("single");
    expect({ code: plan.code, said: plan.stdout.includes("No changes.") }).toEqual({ code: 0, said: true });
  }, 40 * MINUTE);

  test("cdktf destroy single takes a snapshot before the cluster is deleted, and destroys every resource", async () => {
    mkdirSync(backups, { recursive: true });
    const before = new Set(readdirSync(backups));
    const started = Date.now();
    const r = await cdktf("destroy", "single");
    if (r.code !== 0) throw fail("cdktf destroy single", r);
    const snapshots = readdirSync(backups).filter((f) => !before.has(f) && f.endsWith(".db"));
    expect(snapshots).toHaveLength(1);
    expect(snapshots[0]).toMatch(new RegExp(`^${cluster}-single-\\d{8}T\\d{6}Z\\.db$`));
    const taken = statSync(join(backups, snapshots[0])).mtimeMs;
    expect(taken).toBeGreaterThanOrEqual(started - 1000);
    // The snapshot is written while the cluster still answers: before kind deletes the nodes.
    const deleteLine = r.output.indexOf("delete-cluster: deleting");
    const backupLine = r.output.indexOf(snapshots[0]);
    expect(backupLine).toBeGreaterThanOrEqual(0);
    expect(backupLine).toBeLessThan(deleteLine);
    // The cluster, its kind config, the two storage files, the preflight, the pre-destroy backup,
    // the roll resource and the two namespaces.
    expect(r.output).toMatch(/Destroy complete! Resources: 9 destroyed/);
    expect(clusterContainers(cluster)).toEqual([]);
  }, 20 * MINUTE);
}
