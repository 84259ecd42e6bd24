/**
 * The provisioner scripts, run for real in bash with stand-ins for docker, kind and kubectl
 * (no Docker engine here): preflight failures, create, cleanup of a half-made cluster, delete.
 */
import { spawnSync } from "node:child_process";
import { existsSync, mkdirSync, readFileSync, statSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { makeStandIns, type StandIns } from "../../test-support/stand-ins";

const SCRIPTS = join(__dirname, "..", "..", "scripts");
const GiB = 1073741824;

function run(script: string, s: StandIns, env: Record<string, string> = {}) {
  const r = spawnSync("bash", [join(SCRIPTS, script)], { env: s.env(env), encoding: "utf8", cwd: s.dir });
  return { code: r.status, stderr: r.stderr, stdout: r.stdout };
}

const budget = { KINDHA_REQUIRED_CPUS: "18", KINDHA_REQUIRED_MEMORY_GIB: "36" };

describe("preflight.sh", () => {
  test("passes on a host with docker, kind, kubectl and enough resources", () => {
    const r = run("preflight.sh", makeStandIns(), budget);
    expect(r.code).toBe(0);
    expect(r.stderr).toContain("preflight: ok");
  });

  test.each([
    [["kind", "kubectl"], {}, "preflight: docker is not installed or not on PATH (kind runs every node as a docker container)"],
    [["docker", "kubectl"], {}, "preflight: kind is not installed or not on PATH"],
    [["docker", "kind"], {}, "preflight: kubectl is not installed or not on PATH"],
    [["docker", "kind", "kubectl"], { FAKE_DOCKER: "down" }, "preflight: docker is not reachable: Cannot connect to the Docker daemon"],
    [["docker", "kind", "kubectl"], { FAKE_HOST_CPUS: "8" }, "preflight: docker reports 8 CPUs, the stack plans 18; free resources"],
    [["docker", "kind", "kubectl"], { FAKE_HOST_MEM_BYTES: String(16 * GiB) }, "preflight: docker reports 16 GiB of memory, the stack plans 36 GiB"],
  ] as const)("fails when only %j are present with %j", (tools, env, message) => {
    const r = run("preflight.sh", makeStandIns(tools), { ...budget, ...env });
    expect(r.code).toBe(1);
    expect(r.stderr).toContain(message);
    expect(r.stderr).toContain("preflight: nothing was created");
  });

  test("fails with every missing tool listed, one line each", () => {
    const r = run("preflight.sh", makeStandIns([]), budget);
    expect(r.code).toBe(1);
    expect(r.stderr.split("\n").filter((l) => l.startsWith("preflight:"))).toHaveLength(4);
  });

  test("fails on a cgroup v1 host unless the stack allows cgroup v1, naming the setting", () => {
    const refused = run("preflight.sh", makeStandIns(), { ...budget, FAKE_CGROUP_VERSION: "1" });
    expect(refused.code).toBe(1);
    expect(refused.stderr).toContain("preflight: docker runs on a cgroup v1 host, and kubelet v1.35+ refuses to start there; set allowCgroupV1: true");
    expect(refused.stderr).toContain("preflight: nothing was created");
    const allowed = run("preflight.sh", makeStandIns(), { ...budget, FAKE_CGROUP_VERSION: "1", KINDHA_ALLOW_CGROUP_V1: "1" });
    expect(allowed.code).toBe(0);
  });

  test("over-commits only when asked", () => {
    const s = makeStandIns();
    const r = run("preflight.sh", s, { ...budget, FAKE_HOST_CPUS: "8", KINDHA_ALLOW_OVERCOMMIT: "1" });
    expect(r.code).toBe(0);
    expect(r.stderr).toContain("warning: docker reports 8 CPUs, the stack plans 18; continuing because KINDHA_ALLOW_OVERCOMMIT=1");
  });
});

describe("create-cluster.sh", () => {
  function setup(s: StandIns) {
    const config = join(s.dir, "kind-config.yaml");
    writeFileSync(config, "kind: Cluster\n");
    return {
      ...budget,
      KINDHA_CLUSTER_NAME: "data-platform-local",
      KINDHA_KIND_CONFIG: config,
      KINDHA_KUBECONFIG: join(s.dir, ".kube", "kindha-data-platform-local.yaml"),
      KINDHA_BACKUP_DIR: join(s.dir, ".kindha", "backups", "data-platform-local"),
      KINDHA_WAIT: "5m",
      KINDHA_SKIP_VERIFY: "1",
    };
  }

  test("creates the cluster with the right name, config, kubeconfig and wait; credentials 0600", () => {
    const s = makeStandIns();
    const env = setup(s);
    const r = run("create-cluster.sh", s, env);
    expect(r.stderr).toContain("is ready");
    expect(r.code).toBe(0);
    expect(s.calls()).toContain(`kind create cluster --name data-platform-local --config ${env.KINDHA_KIND_CONFIG} --kubeconfig ${env.KINDHA_KUBECONFIG} --wait 5m`);
    expect(statSync(env.KINDHA_KUBECONFIG).mode & 0o777).toBe(0o600);
    expect(statSync(env.KINDHA_BACKUP_DIR).mode & 0o777).toBe(0o700);
  });

  test("fails before creating anything when the preflight fails", () => {
    const s = makeStandIns();
    const r = run("create-cluster.sh", s, { ...setup(s), FAKE_DOCKER: "down" });
    expect(r.code).toBe(1);
    expect(r.stderr).toContain("preflight: docker is not reachable");
    expect(s.calls().filter((c) => c.startsWith("kind create"))).toEqual([]);
  });

  test("fails when the cluster already exists outside this state, and leaves it alone", () => {
    const s = makeStandIns();
    writeFileSync(join(s.dir, "clusters"), "data-platform-local\n");
    const r = run("create-cluster.sh", s, setup(s));
    expect(r.code).toBe(1);
    expect(r.stderr).toContain("a kind cluster named data-platform-local already exists");
    expect(s.calls().filter((c) => /^kind (create|delete)/.test(c))).toEqual([]);
  });

  test.each([
    ["kind create fails", { FAKE_KIND_FAIL: "create" }],
    ["nodes never become Ready", { FAKE_KUBECTL_FAIL: "wait" }],
  ])("deletes the half-made cluster when %s", (_why, fail) => {
    const s = makeStandIns();
    const env = setup(s);
    const r = run("create-cluster.sh", s, { ...env, ...fail });
    expect(r.code).not.toBe(0);
    expect(r.stderr).toContain("deleting the half-made cluster data-platform-local");
    expect(s.calls()).toContain(`kind delete cluster --name data-platform-local --kubeconfig ${env.KINDHA_KUBECONFIG}`);
    expect(readFileSync(join(s.dir, "clusters"), "utf8").trim()).toBe("");
    expect(existsSync(env.KINDHA_KUBECONFIG)).toBe(false);
  });

  test("fails naming the variable a caller forgot", () => {
    const s = makeStandIns();
    const { KINDHA_KIND_CONFIG: _omit, ...env } = setup(s);
    const r = run("create-cluster.sh", s, env);
    expect(r.code).not.toBe(0);
    expect(r.stderr).toContain("KINDHA_KIND_CONFIG is not set");
  });
});

describe("delete-cluster.sh", () => {
  test("deletes the cluster and its kubeconfig, and is idempotent", () => {
    const s = makeStandIns();
    const kubeconfig = join(s.dir, "kc.yaml");
    writeFileSync(kubeconfig, "x");
    writeFileSync(join(s.dir, "clusters"), "data-platform-local\n");
    const env = { KINDHA_CLUSTER_NAME: "data-platform-local", KINDHA_KUBECONFIG: kubeconfig };
    expect(run("delete-cluster.sh", s, env).code).toBe(0);
    expect(existsSync(kubeconfig)).toBe(false);
    expect(readFileSync(join(s.dir, "clusters"), "utf8").trim()).toBe("");
    expect(run("delete-cluster.sh", s, env).code).toBe(0);
  });

  test("fails loudly when kind is missing", () => {
    const s = makeStandIns(["docker", "kubectl"]);
    mkdirSync(join(s.dir, "x"), { recursive: true });
    const r = run("delete-cluster.sh", s, { KINDHA_CLUSTER_NAME: "c", KINDHA_KUBECONFIG: join(s.dir, "kc") });
    expect(r.code).toBe(1);
    expect(r.stderr).toContain("delete-cluster: kind is not installed or not on PATH; cannot delete c");
  });
});
