/**
 * The real engine on the synthesized JSON: init, validate, plan for every stack, and apply up to
 * the container runtime with stand-ins for docker, kind and kubectl.
 *
 * Part of `npm test` (alone: `npm run test:engine`). It needs the engine and the pinned providers
 * (tools/dev/engine.sh: OpenTofu, and KINDHA_PROVIDER_DIR, default ../shared/providers); when they
 * cannot be had it fails with the bootstrap's one-line reason.
 */
import { spawnSync, type SpawnSyncReturns } from "node:child_process";
import { chmodSync, existsSync, readFileSync, rmSync, statSync, writeFileSync } from "node:fs";
import { createServer, type AddressInfo } from "node:net";
import { join } from "node:path";
import { freePortSync } from "../../test-support/net";
import { scratchDir } from "../../test-support/scratch";
import { makeStandIns, type StandIns } from "../../test-support/stand-ins";

const ROOT = join(__dirname, "..", "..");
const engineEnv: Record<string, string> = {};

function sh(cmd: string, args: string[], opts: { cwd?: string; env?: NodeJS.ProcessEnv } = {}): SpawnSyncReturns<string> {
  return spawnSync(cmd, args, { encoding: "utf8", cwd: opts.cwd, env: opts.env ?? process.env, maxBuffer: 64 * 1024 * 1024 });
}

// The engine and the pinned providers (npm run test:engine compiles dist/ first). When they cannot
// be had, the tier is one failing test whose message is the bootstrap's one-line reason.
const boot = sh("bash", [join(ROOT, "tools", "dev", "engine.sh"), "--env"]);
for (const line of boot.stdout.trim().split("\n")) {
  const [k, ...v] = line.split("=");
  engineEnv[k] = v.join("=");
}
const unavailable = boot.status === 0 ? undefined : (boot.stderr.trim().split("\n").pop() ?? `engine.sh exited ${boot.status}`);
if (unavailable) {
  test("the engine tier has what it needs", () => {
    throw new Error(`engine tier cannot run: ${unavailable}`);
  });
}
const describeIfEngine = unavailable ? () => undefined : describe;
const describeEachIfEngine = (ids: string[]) => (unavailable ? () => undefined : describe.each(ids));

/** Synthesizes the app in a fresh directory, with an optional kindha.config.yaml. */
function synth(config?: string): string {
  const dir = scratchDir("engine-");
  if (config) writeFileSync(join(dir, "kindha.config.yaml"), config);
  const r = sh("node", [join(ROOT, "dist", "main.js")], { cwd: dir, env: { ...process.env, CDKTF_OUTDIR: join(dir, "cdktf.out") } });
  if (r.status !== 0) throw new Error(r.stderr);
  return dir;
}

/** Runs the engine in a stack directory; PATH starts with the stand-ins when given. */
function tf(stackDir: string, args: string[], home: string, standIns?: StandIns, extra: Record<string, string> = {}) {
  const path = `${standIns ? `${standIns.bin}:` : ""}${engineEnv.KINDHA_ENGINE_PATH}:${process.env.PATH}`;
  const env = {
    ...process.env,
    ...extra,
    HOME: home,
    PATH: path,
    TF_CLI_CONFIG_FILE: engineEnv.TF_CLI_CONFIG_FILE,
    TF_IN_AUTOMATION: "1",
    FAKE_DIR: standIns?.dir ?? "",
  };
  return sh(engineEnv.KINDHA_ENGINE_BIN, args, { cwd: stackDir, env });
}

const EXPECTED: Record<string, Record<string, number>> = {
  single: { local_file: 3, null_resource: 5, kubernetes_namespace_v1: 2, kubernetes_config_map_v1: 1 },
  "ha-option-b": { local_file: 3, null_resource: 5, kubernetes_namespace_v1: 2, kubernetes_config_map_v1: 1, kubernetes_cron_job_v1: 1 },
  "ha-option-a": {
    local_file: 3,
    null_resource: 5,
    kubernetes_namespace_v1: 2,
    kubernetes_config_map_v1: 1,
    kubernetes_cron_job_v1: 1,
    kubernetes_node_taint: 1,
  },
};

describeEachIfEngine(Object.keys(EXPECTED))("stack %s", (id: string) => {
  const dir = synth();
  const stack = join(dir, "cdktf.out", "stacks", id);
  const home = scratchDir("home-");

  test("init offline, validate with no errors or warnings", () => {
    const init = tf(stack, ["init", "-input=false", "-no-color"], home);
    expect(init.stderr).toBe("");
    expect(init.status).toBe(0);
    const validate = JSON.parse(tf(stack, ["validate", "-json"], home).stdout);
    expect(validate).toMatchObject({ valid: true, error_count: 0, warning_count: 0 });
  });

  test("plans every resource, Kubernetes objects included, with no kubeconfig anywhere", () => {
    const plan = tf(stack, ["plan", "-input=false", "-no-color", "-out=plan.bin"], home);
    expect(plan.stderr).toBe("");
    expect(plan.status).toBe(0);
    const shown = JSON.parse(tf(stack, ["show", "-json", "plan.bin"], home).stdout);
    const changes: { type: string; mode: string; change: { actions: string[] } }[] = shown.resource_changes;
    const managed = changes.filter((c) => c.mode === "managed");
    expect(managed.every((c) => c.change.actions.join() === "create")).toBe(true);
    const counts: Record<string, number> = {};
    for (const c of managed) counts[c.type] = (counts[c.type] ?? 0) + 1;
    expect(counts).toEqual(EXPECTED[id]);
    expect(existsSync(join(home, ".kube"))).toBe(false);
    // The recover hook waits for the cluster's id: with no cluster in state it is read after the apply creates one.
    const hook = changes.find((c) => c.mode === "data" && c.type === "external");
    expect(hook?.change.actions).toEqual(["read"]);
    expect(shown.prior_state?.values?.root_module?.resources?.some((r: { type: string }) => r.type === "external") ?? false).toBe(false);
  });
});

describeIfEngine("a cluster-api stack", () => {
  test("init offline, validate with no errors or warnings: one kubernetes_manifest per Cluster API object", () => {
    const dir = synth(
      "stacks:\n  prod:\n    availability: ha\n    target: cluster-api\n    clusterName: dp-prod\n    workers: [{ role: infrastructure }, { role: workload, count: 2 }]\n",
    );
    const stack = join(dir, "cdktf.out", "stacks", "prod");
    const home = scratchDir("home-");
    const init = tf(stack, ["init", "-input=false", "-no-color"], home);
    expect(init.stderr).toBe("");
    expect(init.status).toBe(0);
    const validate = JSON.parse(tf(stack, ["validate", "-json"], home).stdout);
    expect(validate).toMatchObject({ valid: true, error_count: 0, warning_count: 0 });
    const json = JSON.parse(readFileSync(join(stack, "cdk.tf.json"), "utf8"));
    expect(Object.keys(json.resource)).toEqual(["kubernetes_manifest"]);
    expect(Object.keys(json.resource.kubernetes_manifest)).toHaveLength(10);
  });
});

describeIfEngine("the front door's refusals, on the user's path", () => {
  test("a duplicate host-port mapping: the app refuses it in one line and writes no stack", () => {
    const dir = scratchDir("engine-");
    writeFileSync(
      join(dir, "kindha.config.yaml"),
      "stacks:\n  single:\n    ports: [{ hostPort: 8080, nodePort: 30080 }, { hostPort: 8080, nodePort: 30081 }]\n",
    );
    const r = sh("node", [join(ROOT, "dist", "main.js")], { cwd: dir, env: { ...process.env, CDKTF_OUTDIR: join(dir, "cdktf.out") } });
    expect(r.status).toBe(1);
    expect(r.stderr.split("\n").filter((l) => l.includes("8080"))).toEqual([
      "  - stacks.single.ports[1].hostPort: 8080 is already mapped by ports[0] (TCP); each host port may be mapped once",
    ]);
    expect(r.stderr).not.toMatch(/\n\s+at /);
    expect(existsSync(join(dir, "cdktf.out", "stacks", "single", "cdk.tf.json"))).toBe(false);
  });

  test("a host port busy on this machine (a mapping's, the registry's): the apply stops in the preflight, one line each, no cluster in state", async () => {
    const servers = [createServer(), createServer()];
    await Promise.all(servers.map((srv) => new Promise<void>((done) => srv.listen(0, "127.0.0.1", done))));
    const [mapped, registry] = servers.map((srv) => (srv.address() as AddressInfo).port);
    try {
      const dir = synth(
        `stacks:\n  single:\n    platformObjects: false\n    ports: [{ hostPort: ${mapped}, nodePort: 30080 }]\n    registry: { port: ${registry} }\n`,
      );
      const stack = join(dir, "cdktf.out", "stacks", "single");
      const home = scratchDir("home-");
      const s = makeStandIns();
      expect(tf(stack, ["init", "-input=false", "-no-color"], home).status).toBe(0);
      const r = tf(stack, ["apply", "-auto-approve", "-input=false", "-no-color"], home, s, { KINDHA_SKIP_VERIFY: "1" });
      expect(r.status).not.toBe(0);
      // The preflight's own lines, as the apply streams them (its error summary wraps them again).
      const said = (r.stdout + r.stderr).split("\n").filter((l) => /\(local-exec\): preflight: host port/.test(l));
      expect(said.map((l) => l.replace(/^.*\(local-exec\): preflight: /, ""))).toEqual([
        `host port 127.0.0.1:${mapped}/TCP (setting ports) is in use on this host; free it or choose another hostPort`,
        `host port 127.0.0.1:${registry}/TCP (setting registry.port) is in use on this host; free it or choose another registry.port`,
      ]);
      expect(s.calls().filter((c) => c.startsWith("kind create") || c.startsWith("docker run"))).toEqual([]);
      expect(tf(stack, ["state", "list"], home).stdout).not.toContain("Cluster_Lifecycle");
    } finally {
      servers.forEach((srv) => srv.close());
    }
  });
});

describeIfEngine("apply up to the container runtime (kind replaced by a stand-in)", () => {
  // The registry's port free on this host: the preflight asks the host whether it is in use.
  const registryPort = freePortSync();
  const bare = `stacks:\n  single:\n    platformObjects: false\n    registry: { port: ${registryPort} }\n`;
  const dir = synth(bare);
  const stack = join(dir, "cdktf.out", "stacks", "single");
  const home = scratchDir("home-");
  const s = makeStandIns();
  const env = { KINDHA_SKIP_VERIFY: "1", KINDHA_SKIP_BACKUP: "1" };
  const kubeconfig = join(home, ".kube", "kindha-data-platform-local.yaml");

  beforeAll(() => {
    expect(tf(stack, ["init", "-input=false", "-no-color"], home).status).toBe(0);
  });

  test("a failed preflight stops the apply with no cluster resource in state", () => {
    const r = tf(stack, ["apply", "-auto-approve", "-input=false", "-no-color"], home, s, { ...env, FAKE_DOCKER: "down" });
    expect(r.status).not.toBe(0);
    expect(r.stdout + r.stderr).toContain("preflight: docker is not reachable");
    expect(s.calls().filter((c) => c.startsWith("kind create"))).toEqual([]);
    expect(tf(stack, ["state", "list"], home).stdout).not.toContain("Cluster_Lifecycle");
    expect(existsSync(kubeconfig)).toBe(false);
  });

  /** A kindha project above the stack with only an upgrade script, and a stand-in npm recording how the roll resource called it. */
  const withUpgradeHook = <T>(body: () => T): T => {
    writeFileSync(
      join(dir, "package.json"),
      JSON.stringify({ private: true, scripts: { upgrade: "node tools/dev/run.js tools/upgrade" } }),
    );
    const npm = join(s.bin, "npm");
    writeFileSync(
      npm,
      `#!/usr/bin/env bash\necho "$PWD $* | $KINDHA_STACK $KINDHA_NODE_IMAGE $KINDHA_KUBECONFIG" >> "$FAKE_DIR/npm-upgrade"\n`,
    );
    chmodSync(npm, 0o755);
    try {
      return body();
    } finally {
      rmSync(join(dir, "package.json"));
      rmSync(npm);
    }
  };
  const upgradeCalls = () =>
    existsSync(join(s.dir, "npm-upgrade")) ? readFileSync(join(s.dir, "npm-upgrade"), "utf8").trim().split("\n") : [];
  const IMAGE = "kindest/node:v1.36.1@sha256:3489c7674813ba5d8b1a9977baea8a6e553784dab7b84759d1014dbd78f7ebd5";

  test("the next apply retries cleanly: writes the config where create reads it, and create gets name, config and kubeconfig", () => {
    const r = withUpgradeHook(() => tf(stack, ["apply", "-auto-approve", "-input=false", "-no-color"], home, s, env));
    expect(r.stderr).toBe("");
    expect(r.status).toBe(0);
    // The roll resource ran its hook once, after the cluster, with its values in the environment.
    expect(upgradeCalls()).toEqual([`${dir} run --silent upgrade -- --terraform-hook | single ${IMAGE} ${kubeconfig}`]);
    const config = join(stack, "kind-config.yaml");
    expect(readFileSync(config, "utf8")).toContain("kind: Cluster");
    expect(s.calls()).toContain(
      `kind create cluster --name data-platform-local --config ./kind-config.yaml --kubeconfig ${kubeconfig} --wait 5m`,
    );
    expect(statSync(kubeconfig).mode & 0o777).toBe(0o600);
    // The machine's registry, started once the cluster exists, its storage under the user's home.
    expect(s.calls()).toContain(
      `docker run -d --restart=always --name kindha-registry -p 127.0.0.1:${registryPort}:5000 -v ${home}/.kindha/registry:/var/lib/registry kindha.local/registry:2.8.2`,
    );
    expect(s.calls().indexOf("docker network connect kind kindha-registry")).toBeGreaterThan(
      s.calls().findIndex((c) => c.startsWith("kind create cluster")),
    );
    // The state holds the kubeconfig's key: 0600 from its first write, as is its backup.
    const state = join(dir, "terraform.single.tfstate");
    expect(readFileSync(state, "utf8")).toContain('"type": "local_sensitive_file"');
    for (const f of [state, `${state}.backup`]) expect({ f, mode: statSync(f).mode & 0o777 }).toEqual({ f, mode: 0o600 });
    // The mark the plan's hook checks: the stack and this state's id of the cluster resource.
    expect(s.calls()).toContain(
      'docker exec -e KINDHA_STACK -e KINDHA_CREATE_ID -e KINDHA_PROJECT data-platform-local-control-plane sh -c printf "stack=%s\\ncreate=%s\\nproject=%s\\n" "$KINDHA_STACK" "$KINDHA_CREATE_ID" "$KINDHA_PROJECT" >/kind/kindha-identity',
    );
  });

  test("a second plan is a no-op", () => {
    expect(tf(stack, ["plan", "-detailed-exitcode", "-input=false", "-no-color"], home, s, env).status).toBe(0);
  });

  test("in a kindha project, a plan passes the stack and kubeconfig to npm run recover on stdin; a failed recovery stops it", () => {
    writeFileSync(
      join(dir, "package.json"),
      JSON.stringify({ private: true, scripts: { recover: "node tools/dev/run.js tools/recover" } }),
    );
    const npm = join(s.bin, "npm");
    writeFileSync(
      npm,
      `#!/usr/bin/env bash\ncat > "$FAKE_DIR/npm-stdin"; echo "$PWD $*" > "$FAKE_DIR/npm-args"\n[ -n "\${FAKE_RECOVER_FAIL:-}" ] && { echo "recover: stopped at start" >&2; exit 1; }\necho '{"state":"healthy","detail":"fake"}'\n`,
    );
    chmodSync(npm, 0o755);
    try {
      expect(tf(stack, ["plan", "-detailed-exitcode", "-input=false", "-no-color"], home, s, env).status).toBe(0);
      const state = JSON.parse(tf(stack, ["show", "-json"], home, s, env).stdout);
      const cluster = state.values.root_module.resources.find((r: any) => r.type === "null_resource" && r.values.triggers?.config_sha256);
      expect(cluster.values.id).toMatch(/^\d+$/);
      expect(JSON.parse(readFileSync(join(s.dir, "npm-stdin"), "utf8"))).toEqual({
        stack: "single",
        kubeconfig,
        create_id: cluster.values.id,
      });
      expect(readFileSync(join(s.dir, "npm-args"), "utf8").trim()).toBe(`${dir} run --silent recover -- --terraform-hook`);
      const failed = tf(stack, ["plan", "-input=false", "-no-color"], home, s, { ...env, FAKE_RECOVER_FAIL: "1" });
      expect(failed.status).toBe(1);
      expect(failed.stderr).toContain("recover: stopped at start");
    } finally {
      rmSync(join(dir, "package.json"));
      rmSync(npm);
    }
  });

  test("a topology change plans a replacement of the cluster, and the plan's hook does not look at the cluster being replaced", () => {
    writeFileSync(join(dir, "kindha.config.yaml"), `${bare}    apiServerPort: 7443\n`);
    const r = sh("node", [join(ROOT, "dist", "main.js")], { cwd: dir, env: { ...process.env, CDKTF_OUTDIR: join(dir, "cdktf.out") } });
    expect(r.status).toBe(0);
    // An npm that fails if called: the project's hook would run it.
    writeFileSync(
      join(dir, "package.json"),
      JSON.stringify({ private: true, scripts: { recover: "node tools/dev/run.js tools/recover" } }),
    );
    const npm = join(s.bin, "npm");
    writeFileSync(npm, `#!/usr/bin/env bash\necho "$*" >> "$FAKE_DIR/npm-called"; exit 1\n`);
    chmodSync(npm, 0o755);
    try {
      expect(tf(stack, ["plan", "-input=false", "-no-color", "-out=change.bin"], home, s, env).status).toBe(0);
    } finally {
      rmSync(join(dir, "package.json"));
      rmSync(npm);
    }
    expect(existsSync(join(s.dir, "npm-called"))).toBe(false);
    const shown = JSON.parse(tf(stack, ["show", "-json", "change.bin"], home).stdout);
    const cluster = shown.resource_changes.find((c: any) => c.type === "null_resource" && c.change.before?.triggers?.config_sha256);
    expect(cluster.change.actions).toEqual(["delete", "create"]);
    expect(shown.resource_changes.find((c: any) => c.mode === "data" && c.type === "external").change.actions).toEqual(["read"]);
    writeFileSync(join(dir, "kindha.config.yaml"), bare);
    sh("node", [join(ROOT, "dist", "main.js")], { cwd: dir, env: { ...process.env, CDKTF_OUTDIR: join(dir, "cdktf.out") } });
  });

  test("a new node image plans a replacement of the roll resource alone (the cluster is a no-op), and applying it runs the roll", () => {
    const next = "kindha.local/node:v1.37.2";
    writeFileSync(join(dir, "kindha.config.yaml"), `${bare}    nodeImage: ${next}\n`);
    const resynth = () =>
      sh("node", [join(ROOT, "dist", "main.js")], { cwd: dir, env: { ...process.env, CDKTF_OUTDIR: join(dir, "cdktf.out") } });
    try {
      expect(resynth().status).toBe(0);
      expect(tf(stack, ["plan", "-input=false", "-no-color", "-out=roll.bin"], home, s, env).status).toBe(0);
      const shown = JSON.parse(tf(stack, ["show", "-json", "roll.bin"], home).stdout);
      const actions = (pick: (c: any) => boolean) => shown.resource_changes.find(pick)?.change.actions;
      expect(actions((c) => c.type === "null_resource" && c.change.before?.triggers?.config_sha256)).toEqual(["no-op"]);
      expect(actions((c) => c.type === "null_resource" && c.change.before?.triggers?.node_image)).toEqual(["delete", "create"]);
      const r = withUpgradeHook(() => tf(stack, ["apply", "-input=false", "-no-color", "roll.bin"], home, s, env));
      expect(r.status).toBe(0);
      expect(upgradeCalls().pop()).toBe(`${dir} run --silent upgrade -- --terraform-hook | single ${next} ${kubeconfig}`);
      expect(s.calls().filter((c) => c.startsWith("kind create"))).toHaveLength(1);
      expect(tf(stack, ["plan", "-detailed-exitcode", "-input=false", "-no-color"], home, s, env).status).toBe(0);
    } finally {
      writeFileSync(join(dir, "kindha.config.yaml"), bare);
      resynth();
    }
  });

  test("destroy runs the delete command and removes the files", () => {
    const r = tf(stack, ["destroy", "-auto-approve", "-input=false", "-no-color"], home, s, env);
    expect(r.status).toBe(0);
    expect(s.calls()).toContain(`kind delete cluster --name data-platform-local --kubeconfig ${kubeconfig}`);
    expect(existsSync(kubeconfig)).toBe(false);
    expect(existsSync(join(stack, "kind-config.yaml"))).toBe(false);
  });
});
