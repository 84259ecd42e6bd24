/**
 * The provisioner scripts, run for real in bash with stand-ins for docker, kind and kubectl
 * (no Docker engine here): preflight failures, create, cleanup of a half-made cluster, delete.
 */
import { DATA_OWNER_FILE } from "../../../lib/model/storage";
import { KIND_VERSION } from "../../../lib/model/defaults";
import { spawnSync } from "node:child_process";
import { createServer, type AddressInfo } from "node:net";
import { chmodSync, cpSync, existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { makeStandIns, type StandIns } from "../../../test-support/stand-ins";
import { freePortSync } from "../../../test-support/net";
import { containerCli } from "../../../lib/io/container-cli";
import { parseHealthReport } from "../../../lib/model/etcd";

const SCRIPTS = join(__dirname, "..", "..", "..", "scripts");
const GiB = 1073741824;

/**
 * Runs a script from `scripts` (default: the checkout's), with the words after its name as arguments. `as` runs it as another user (root's
 * tests run it as nobody): that user may not traverse the checkout's parents (root's home is
 * 0700), so the scripts are copied into the stand-ins' directory, which it can enter, and run there.
 */
function run(script: string, s: StandIns, env: Record<string, string> = {}, as: readonly string[] = [], scripts = SCRIPTS) {
  let dir = scripts;
  if (as.length > 0) {
    dir = join(s.dir, "scripts");
    cpSync(scripts, dir, { recursive: true });
    chmodSync(dir, 0o755);
  }
  const [file, ...args] = script.split(" ");
  const r = spawnSync(as[0] ?? "bash", [...as.slice(1), ...(as.length > 0 ? ["bash"] : []), join(dir, file), ...args], {
    env: s.env(env),
    encoding: "utf8",
    cwd: s.dir,
  });
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
    [
      ["docker", "kubectl"],
      { KINDHA_KIND_VERSION: KIND_VERSION },
      `preflight: kind is not installed or not on PATH (install kind ${KIND_VERSION}:`,
    ],
    [["docker", "kind"], {}, "preflight: kubectl is not installed or not on PATH"],
    [["docker", "kind", "kubectl"], { FAKE_DOCKER: "down" }, "preflight: docker is not reachable: Cannot connect to the Docker daemon"],
    [["docker", "kind", "kubectl"], { FAKE_HOST_CPUS: "8" }, "preflight: docker reports 8 CPUs, the stack plans 18; free resources"],
    [
      ["docker", "kind", "kubectl"],
      { FAKE_HOST_MEM_BYTES: String(16 * GiB) },
      "preflight: docker reports 16 GiB of memory, the stack plans 36 GiB",
    ],
  ] as const)("fails when only %j are present with %j", (tools, env, message) => {
    const r = run("preflight.sh", makeStandIns(tools), { ...budget, ...env });
    expect(r.code).toBe(1);
    expect(r.stderr).toContain(message);
    expect(r.stderr).toContain("preflight: nothing was created");
  });

  test("fails when a host port a mapping publishes is taken, one line naming it; a free one passes", async () => {
    const server = createServer();
    await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
    const taken = (server.address() as AddressInfo).port;
    try {
      const r = run("preflight.sh", makeStandIns(), { ...budget, KINDHA_HOST_PORTS: `127.0.0.1:${taken}/TCP 127.0.0.1:${taken}/UDP` });
      expect(r.code).toBe(1);
      expect(r.stderr.split("\n").filter((l) => l.startsWith("preflight:"))).toEqual([
        `preflight: host port 127.0.0.1:${taken}/TCP (setting ports) is in use on this host; free it or choose another hostPort`,
        "preflight: nothing was created",
      ]);
    } finally {
      await new Promise((resolve) => server.close(resolve));
    }
    expect(run("preflight.sh", makeStandIns(), { ...budget, KINDHA_HOST_PORTS: `127.0.0.1:${taken}/TCP` }).code).toBe(0);
  });

  test("fails with every missing tool listed, one line each", () => {
    const r = run("preflight.sh", makeStandIns([]), budget);
    expect(r.code).toBe(1);
    expect(r.stderr.split("\n").filter((l) => l.startsWith("preflight:"))).toHaveLength(4);
  });

  test("fails on a cgroup v1 host unless the stack allows cgroup v1, naming the setting", () => {
    const refused = run("preflight.sh", makeStandIns(), { ...budget, FAKE_CGROUP_VERSION: "1" });
    expect(refused.code).toBe(1);
    expect(refused.stderr).toContain(
      "preflight: docker runs on a cgroup v1 host, and kubelet v1.35+ refuses to start there; set allowCgroupV1: true",
    );
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

describe("preflight.sh: the data directory", () => {
  const data = (s: StandIns, name = "data-platform-local") => ({
    ...budget,
    KINDHA_CLUSTER_NAME: name,
    KINDHA_DATA_DIR: join(s.dir, "home", ".kindha", "data", name),
    KINDHA_DATA_OWNER_FILE: DATA_OWNER_FILE,
  });

  test("passes when it does not exist yet, creating nothing itself", () => {
    const s = makeStandIns();
    const env = data(s);
    const r = run("preflight.sh", s, env);
    expect(r.code).toBe(0);
    expect(r.stderr).toContain(`data in ${env.KINDHA_DATA_DIR}`);
    expect(existsSync(join(s.dir, "home"))).toBe(false);
  });

  test("passes when it is this cluster's", () => {
    const s = makeStandIns();
    const env = data(s);
    mkdirSync(env.KINDHA_DATA_DIR, { recursive: true });
    writeFileSync(join(env.KINDHA_DATA_DIR, DATA_OWNER_FILE), "data-platform-local\n");
    expect(run("preflight.sh", s, env).code).toBe(0);
  });

  test("fails in one line when it belongs to another cluster name", () => {
    const s = makeStandIns();
    const env = data(s);
    mkdirSync(env.KINDHA_DATA_DIR, { recursive: true });
    writeFileSync(join(env.KINDHA_DATA_DIR, DATA_OWNER_FILE), "other-cluster\n");
    const r = run("preflight.sh", s, env);
    expect(r.code).toBe(1);
    expect(r.stderr.split("\n").filter((l) => l.includes("data directory"))).toEqual([
      `preflight: data directory ${env.KINDHA_DATA_DIR} belongs to cluster other-cluster, not data-platform-local; set dataDir to another path (its volumes are kept)`,
    ]);
  });

  test("fails when a file stands where it should be", () => {
    const s = makeStandIns();
    const env = data(s);
    mkdirSync(join(env.KINDHA_DATA_DIR, ".."), { recursive: true });
    writeFileSync(env.KINDHA_DATA_DIR, "");
    const r = run("preflight.sh", s, env);
    expect(r.code).toBe(1);
    expect(r.stderr).toContain(`preflight: data directory ${env.KINDHA_DATA_DIR} exists and is not a directory`);
  });

  test("fails when the user cannot write it (or create it), naming the user, from a checkout under a 0700 directory", () => {
    const s = makeStandIns();
    const env = data(s);
    mkdirSync(env.KINDHA_DATA_DIR, { recursive: true });
    // The checkout as a newcomer's clone in root's home (0700): its scripts behind a parent only the owner enters.
    const home = mkdtempSync(join(tmpdir(), "kindha-0700-home-"));
    chmodSync(home, 0o700);
    const checkout = join(home, "kindha", "scripts");
    cpSync(SCRIPTS, checkout, { recursive: true });
    // root may write anything: it runs the script as nobody, which may not write a root-owned 0755 directory.
    const root = process.getuid?.() === 0;
    chmodSync(env.KINDHA_DATA_DIR, root ? 0o755 : 0o500);
    if (root) for (const d of [s.dir, ...readdirSync(s.dir).map((e) => join(s.dir, e))]) if (statSync(d).isDirectory()) chmodSync(d, 0o755);
    const as = root ? ["/usr/bin/setpriv", "--reuid=65534", "--regid=65534", "--clear-groups"] : [];
    const r = run("preflight.sh", s, env, as, checkout);
    rmSync(home, { recursive: true, force: true });
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(
      new RegExp(
        `preflight: data directory ${env.KINDHA_DATA_DIR} is not writable by (nobody|${process.env.USER ?? "\\w+"}); fix its owner or mode`,
      ),
    );
    const child = { ...env, KINDHA_DATA_DIR: join(env.KINDHA_DATA_DIR, "sub") };
    expect(run("preflight.sh", s, child, as, SCRIPTS).stderr).toContain(
      `data directory ${child.KINDHA_DATA_DIR} cannot be created: ${env.KINDHA_DATA_DIR} is not a writable directory`,
    );
    chmodSync(env.KINDHA_DATA_DIR, 0o755);
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

  /** The create script's environment with a data directory and its storage files. */
  function withData(s: StandIns) {
    const storage = join(s.dir, "storage-class.yaml");
    const patch = join(s.dir, "provisioner-config.json");
    writeFileSync(storage, "kind: StorageClass\n");
    writeFileSync(patch, "{}\n");
    return {
      storage,
      patch,
      env: {
        ...setup(s),
        KINDHA_DATA_DIR: join(s.dir, "data"),
        KINDHA_DATA_OWNER_FILE: DATA_OWNER_FILE,
        KINDHA_STORAGE_CLASS: storage,
        KINDHA_STORAGE_CONFIG: patch,
      },
    };
  }

  test("creates the cluster with the right name, config, kubeconfig and wait; credentials 0600", () => {
    const s = makeStandIns();
    const env = setup(s);
    const r = run("create-cluster.sh", s, env);
    expect(r.stderr).toContain("is ready");
    expect(r.code).toBe(0);
    expect(s.calls()).toContain(
      `kind create cluster --name data-platform-local --config ${env.KINDHA_KIND_CONFIG} --kubeconfig ${env.KINDHA_KUBECONFIG} --wait 5m`,
    );
    expect(statSync(env.KINDHA_KUBECONFIG).mode & 0o777).toBe(0o600);
    expect(statSync(env.KINDHA_BACKUP_DIR).mode & 0o777).toBe(0o700);
  });

  test("makes kind's network with its IPv4 subnet named, then fixes every node at its address", () => {
    const s = makeStandIns();
    const r = run("create-cluster.sh", s, setup(s));
    expect(r.code).toBe(0);
    const docker = s.calls().filter((c) => c.startsWith("docker network") || c.startsWith("docker ps"));
    expect(docker).toEqual([
      "docker network inspect kind",
      expect.stringMatching(/^docker network create kindha-subnet-probe-\d+$/),
      expect.stringMatching(/^docker network inspect kindha-subnet-probe-\d+ -f/),
      expect.stringMatching(/^docker network rm kindha-subnet-probe-\d+$/),
      'docker network inspect bridge -f {{ index .Options "com.docker.network.driver.mtu" }}',
      "docker network create -d=bridge -o com.docker.network.bridge.enable_ip_masquerade=true --ipv6 --subnet fc00:f853:ccd:e793::/64 --subnet 172.18.0.0/16 kind",
      "docker network inspect kind -f {{range .IPAM.Config}}{{.Subnet}} {{end}}",
      "docker ps --filter label=io.x-k8s.kind.cluster=data-platform-local --format {{.Names}}",
      "docker network disconnect kind data-platform-local-control-plane",
      "docker network connect --ip 172.18.0.2 kind data-platform-local-control-plane",
    ]);
    expect(r.stderr).toContain("nodes: fixed the addresses of 1 containers of data-platform-local");
  });

  test("marks every node with the stack and the create id Terraform gave, through the environment only; no id, no mark", () => {
    const s = makeStandIns();
    const r = run("create-cluster.sh", s, { ...setup(s), KINDHA_STACK: "single", KINDHA_CREATE_ID: "5577006791947779410" });
    expect(r.code).toBe(0);
    const mark = s.calls().filter((c) => c.startsWith("docker exec"));
    expect(mark).toEqual([
      `docker exec -e KINDHA_STACK -e KINDHA_CREATE_ID -e KINDHA_PROJECT data-platform-local-control-plane sh -c printf "stack=%s\\ncreate=%s\\nproject=%s\\n" "$KINDHA_STACK" "$KINDHA_CREATE_ID" "$KINDHA_PROJECT" >/kind/kindha-identity`,
    ]);
    expect(s.calls().join("\n")).not.toContain("5577006791947779410");
    expect(r.stderr).toContain("nodes: marked 1 nodes of data-platform-local as stack single's (create id 5577006791947779410)");
    const unmarked = makeStandIns();
    expect(run("create-cluster.sh", unmarked, setup(unmarked)).code).toBe(0);
    expect(unmarked.calls().filter((c) => c.startsWith("docker exec"))).toEqual([]);
  });

  test("leaves addresses as they are, saying so, on a network that names no IPv4 subnet", () => {
    const s = makeStandIns();
    writeFileSync(join(s.dir, "networks"), "kind\n");
    const r = run("create-cluster.sh", s, { ...setup(s), FAKE_SUBNETS: "fc00:f853:ccd:e793::/64" });
    expect(r.code).toBe(0);
    expect(s.calls().filter((c) => /^docker network (create|connect)/.test(c))).toEqual([]);
    expect(r.stderr).toContain("nodes: warning: network kind names no IPv4 subnet");
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

  test("with a data directory: makes it 0700, marks it as this cluster's, and switches storage to it after create", () => {
    const s = makeStandIns();
    const { env, storage, patch } = withData(s);
    const r = run("create-cluster.sh", s, env);
    expect(r.code).toBe(0);
    expect(statSync(env.KINDHA_DATA_DIR).mode & 0o777).toBe(0o700);
    expect(readFileSync(join(env.KINDHA_DATA_DIR, DATA_OWNER_FILE), "utf8")).toBe("data-platform-local\n");
    const kubectl = s
      .calls()
      .filter((c) => c.startsWith("kubectl"))
      .map((c) => c.replace(/--kubeconfig \S+ /, ""));
    expect(kubectl).toEqual([
      "kubectl wait --for=condition=Ready nodes --all --timeout 5m",
      "kubectl delete storageclass standard --ignore-not-found",
      `kubectl create -f ${storage}`,
      `kubectl -n local-path-storage patch configmap local-path-config --type merge --patch-file ${patch}`,
      "kubectl -n local-path-storage rollout restart deployment/local-path-provisioner",
      "kubectl -n local-path-storage rollout status deployment/local-path-provisioner --timeout 5m",
    ]);
    expect(r.stderr).toContain(`volumes of data-platform-local live in ${env.KINDHA_DATA_DIR}`);
  });

  test("with a data directory, keeps it (and what it holds) when the create fails", () => {
    const s = makeStandIns();
    const { env } = withData(s);
    mkdirSync(join(env.KINDHA_DATA_DIR, "db", "data-postgres-0"), { recursive: true });
    const r = run("create-cluster.sh", s, { ...env, FAKE_KIND_FAIL: "create" });
    expect(r.code).not.toBe(0);
    expect(existsSync(join(env.KINDHA_DATA_DIR, "db", "data-postgres-0"))).toBe(true);
  });

  test("fails naming the variable a caller forgot", () => {
    const s = makeStandIns();
    const { KINDHA_KIND_CONFIG: _omit, ...env } = setup(s);
    const r = run("create-cluster.sh", s, env);
    expect(r.code).not.toBe(0);
    expect(r.stderr).toContain("KINDHA_KIND_CONFIG is not set");
  });
});

describe("registry.sh", () => {
  // A port free on this host: the script asks the host whether it is in use.
  const PORT = String(freePortSync());
  function registryEnv(s: StandIns, more: Record<string, string> = {}) {
    return {
      KINDHA_REGISTRY_NAME: "kindha-registry",
      KINDHA_REGISTRY_IMAGE: "kindha.local/registry:2.8.2",
      KINDHA_REGISTRY_PORT: PORT,
      KINDHA_REGISTRY_CONTAINER_PORT: "5000",
      KINDHA_REGISTRY_DIR: join(s.dir, ".kindha", "registry"),
      KINDHA_REGISTRY_HOSTS_TOML: '[host."http://kindha-registry:5000"]\n',
      KINDHA_REGISTRY_HOSTS_DIR: `/etc/containerd/certs.d/localhost:${PORT}`,
      KINDHA_CLUSTER_NAME: "data-platform-local",
      ...more,
    };
  }
  const OTHER = String(Number(PORT) + 1);
  const clusterOf = (s: StandIns) => writeFileSync(join(s.dir, "clusters"), "data-platform-local\n");

  test("up starts the one registry (restarted with the engine, on the host's loopback, its storage a new 0700 directory), joins kind's network, and gives every node containerd's entry", () => {
    const s = makeStandIns();
    clusterOf(s);
    const env = registryEnv(s);
    const r = run("registry.sh up", s, env);
    expect(r.stderr).toContain(`registry: started kindha-registry at localhost:${PORT}`);
    expect(r.code).toBe(0);
    const calls = s.calls();
    expect(calls).toContain(
      `docker run -d --restart=always --name kindha-registry -p 127.0.0.1:${PORT}:5000 -v ${env.KINDHA_REGISTRY_DIR}:/var/lib/registry kindha.local/registry:2.8.2`,
    );
    expect(statSync(env.KINDHA_REGISTRY_DIR).mode & 0o777).toBe(0o700);
    expect(calls).toContain("docker network connect kind kindha-registry");
    expect(calls).toContain(
      `docker exec -i data-platform-local-control-plane sh -c mkdir -p "$1" && cat >"$1/hosts.toml" sh /etc/containerd/certs.d/localhost:${PORT}`,
    );
    expect(readFileSync(join(s.dir, "stdin.data-platform-local-control-plane"), "utf8")).toBe(env.KINDHA_REGISTRY_HOSTS_TOML);
    expect(calls).toContain("docker exec data-platform-local-control-plane curl -fsS -o /dev/null http://kindha-registry:5000/v2/");
    // A second cluster (or a re-created one) shares it: not run again, not connected twice.
    const again = run("registry.sh up", s, env);
    expect(again.code).toBe(0);
    expect(s.calls().filter((c) => c.startsWith("docker run"))).toHaveLength(1);
    expect(s.calls().filter((c) => c.startsWith("docker network connect"))).toHaveLength(1);
  });

  test("check refuses, one line each: a registry already serving another port or directory, a missing image, a busy port", async () => {
    const s = makeStandIns();
    clusterOf(s);
    expect(run("registry.sh up", s, registryEnv(s)).code).toBe(0);
    const other = run("registry.sh check", s, registryEnv(s, { KINDHA_REGISTRY_PORT: OTHER }));
    expect(other.code).toBe(1);
    expect(other.stdout.trim().split("\n")).toEqual([
      `the machine's registry kindha-registry serves localhost:${PORT} from ${registryEnv(s).KINDHA_REGISTRY_DIR}, and this stack's registry setting asks for localhost:${OTHER} from ${registryEnv(s).KINDHA_REGISTRY_DIR}; set the stack's registry to match, or remove the container (docker rm -f kindha-registry; its storage stays)`,
    ]);
    // up refuses the same way, before it changes anything.
    const calls = s.calls().length;
    expect(run("registry.sh up", s, registryEnv(s, { KINDHA_REGISTRY_PORT: OTHER })).code).toBe(1);
    expect(
      s
        .calls()
        .slice(calls)
        .filter((c) => !c.startsWith("docker inspect")),
    ).toEqual([]);
    // No registry yet: its image must be here, and its port free.
    const fresh = makeStandIns();
    const server = createServer();
    await new Promise<void>((done) => server.listen(0, "127.0.0.1", done));
    const busy = String((server.address() as AddressInfo).port);
    try {
      const r = run("registry.sh check", fresh, { ...registryEnv(fresh, { KINDHA_REGISTRY_PORT: busy }), FAKE_NO_IMAGES: "1" });
      expect(r.code).toBe(1);
      expect(r.stdout.trim().split("\n")).toEqual([
        "the registry's image kindha.local/registry:2.8.2 is not on this machine; build it: npm run e2e:image",
        `host port 127.0.0.1:${busy}/TCP (setting registry.port) is in use on this host; free it or choose another registry.port`,
      ]);
      // The preflight says it, and creates nothing.
      const p = run("preflight.sh", fresh, { ...budget, ...registryEnv(fresh, { KINDHA_REGISTRY_PORT: busy }) });
      expect(p.code).toBe(1);
      expect(p.stderr).toContain(`preflight: host port 127.0.0.1:${busy}/TCP (setting registry.port) is in use on this host`);
      expect(fresh.calls().filter((c) => c.startsWith("docker run") || c.startsWith("kind create"))).toEqual([]);
    } finally {
      server.close();
    }
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

  test("removes kind's network once no container is attached, and keeps it while a stopped cluster's node still is", () => {
    for (const [stopped, kept] of [
      ["", false],
      ["other-control-plane", true],
    ] as const) {
      const s = makeStandIns();
      writeFileSync(join(s.dir, "clusters"), "data-platform-local\n");
      writeFileSync(join(s.dir, "networks"), "kind\n");
      const r = run("delete-cluster.sh", s, {
        KINDHA_CLUSTER_NAME: "data-platform-local",
        KINDHA_KUBECONFIG: join(s.dir, "kc"),
        FAKE_STOPPED: stopped,
      });
      expect(r.code).toBe(0);
      expect(s.calls()).toContain("docker ps -a --filter network=kind --format {{.Names}}");
      expect(readFileSync(join(s.dir, "networks"), "utf8").includes("kind")).toBe(kept);
      expect(r.stderr).toContain(
        kept
          ? "delete-cluster: kept the docker network kind: 1 other container(s) are attached, running or stopped (other-control-plane)"
          : "delete-cluster: removed the unused docker network kind",
      );
    }
  });

  test("the machine's registry alone does not keep kind's network: it leaves it and keeps running; with a cluster's node beside it, both stay", () => {
    for (const [attached, removed] of [
      ["kindha-registry", true],
      ["kindha-registry\nother-control-plane", false],
    ] as const) {
      const s = makeStandIns();
      writeFileSync(join(s.dir, "networks"), "kind\n");
      const r = run("delete-cluster.sh", s, {
        KINDHA_CLUSTER_NAME: "data-platform-local",
        KINDHA_KUBECONFIG: join(s.dir, "kc"),
        KINDHA_REGISTRY_NAME: "kindha-registry",
        FAKE_STOPPED: attached,
      });
      expect(r.code).toBe(0);
      expect(s.calls().includes("docker network disconnect kind kindha-registry")).toBe(removed);
      expect(readFileSync(join(s.dir, "networks"), "utf8").includes("kind")).toBe(!removed);
      expect(s.calls().some((c) => c.startsWith("docker rm") || c.startsWith("docker stop"))).toBe(false);
    }
  });

  test("keeps the data directory and says where it is and how it would be removed", () => {
    const s = makeStandIns();
    const dataDir = join(s.dir, "data");
    mkdirSync(join(dataDir, "db", "data-postgres-0"), { recursive: true });
    writeFileSync(join(s.dir, "clusters"), "data-platform-local\n");
    const r = run("delete-cluster.sh", s, {
      KINDHA_CLUSTER_NAME: "data-platform-local",
      KINDHA_KUBECONFIG: join(s.dir, "kc"),
      KINDHA_DATA_DIR: dataDir,
      KINDHA_STACK: "single",
    });
    expect(r.code).toBe(0);
    expect(existsSync(join(dataDir, "db", "data-postgres-0"))).toBe(true);
    expect(r.stderr).toContain(
      `delete-cluster: the volumes of data-platform-local are kept in ${dataDir}; a new cluster of this name finds them there. To delete them: npm run remove-data -- single --yes`,
    );
  });

  test("fails loudly when kind is missing", () => {
    const s = makeStandIns(["docker", "kubectl"]);
    mkdirSync(join(s.dir, "x"), { recursive: true });
    const r = run("delete-cluster.sh", s, { KINDHA_CLUSTER_NAME: "c", KINDHA_KUBECONFIG: join(s.dir, "kc") });
    expect(r.code).toBe(1);
    expect(r.stderr).toContain("delete-cluster: kind is not installed or not on PATH; cannot delete c");
  });
});

/**
 * Runs a hook Terraform runs (plan-hook.sh, upgrade-hook.sh) from a stack directory inside
 * `project`, with a stand-in npm that prints its cwd, its arguments and what `npmPrints` adds.
 */
function runHook(
  script: string,
  packageJson: string | undefined,
  npmPrints: string,
  opts: { env?: Record<string, string>; input?: string } = {},
) {
  const s = makeStandIns([]);
  const project = join(s.dir, "project");
  const stackDir = join(project, "cdktf.out", "stacks", "single");
  mkdirSync(stackDir, { recursive: true });
  if (packageJson !== undefined) writeFileSync(join(project, "package.json"), packageJson);
  writeFileSync(join(s.bin, "npm"), `#!/usr/bin/env bash\nprintf "%s|%s|%s" "$PWD" "$*" "${npmPrints}"\n`);
  chmodSync(join(s.bin, "npm"), 0o755);
  const r = spawnSync("bash", [join(SCRIPTS, script)], {
    env: { ...s.env(), ...opts.env },
    encoding: "utf8",
    cwd: stackDir,
    input: opts.input,
  });
  return { code: r.status, stdout: r.stdout, stderr: r.stderr, project, stackDir };
}

describe("plan-hook.sh", () => {
  /** The hook with Terraform's query on stdin; the stand-in npm prints what it read. */
  const hook = (packageJson: string | undefined) => runHook("plan-hook.sh", packageJson, "$(cat)", { input: '{"stack":"single"}' });

  test("runs npm run recover -- --terraform-hook in the project above, passing Terraform's query on stdin", () => {
    const r = hook('{"scripts":{"recover":"node tools/dev/run.js tools/recover"}}');
    expect(r.code).toBe(0);
    expect(r.stdout).toBe(`${r.project}|run --silent recover -- --terraform-hook|{"stack":"single"}`);
  });

  test.each([
    ["no package.json above", undefined],
    ["a package.json without a recover script", '{"scripts":{"build":"tsc"}}'],
  ])("with %s answers that it did not look, as JSON, exit 0", (_what, packageJson) => {
    const r = hook(packageJson);
    expect(r.code).toBe(0);
    expect(JSON.parse(r.stdout)).toEqual({
      state: "not-checked",
      detail: `no kindha project (package.json with a recover script) above ${r.stackDir}`,
    });
  });
});

describe("upgrade-hook.sh", () => {
  const ENV = {
    KINDHA_STACK: "single",
    KINDHA_NODE_IMAGE: "kindha.local/node:v1.37.2",
    KINDHA_KUBECONFIG: "/k/config",
    KINDHA_PLANNED_STACK: '{"id":"single"}',
  };
  /** The hook with the four values in its environment; the stand-in npm prints them. */
  const hook = (packageJson: string | undefined, env: Record<string, string> = ENV) =>
    runHook("upgrade-hook.sh", packageJson, "$KINDHA_STACK $KINDHA_NODE_IMAGE $KINDHA_KUBECONFIG $KINDHA_PLANNED_STACK", { env });

  test("runs npm run upgrade -- --terraform-hook in the project above, the values in its environment only", () => {
    const r = hook('{"scripts":{"upgrade":"node tools/dev/run.js tools/upgrade"}}');
    expect(r.code).toBe(0);
    expect(r.stdout).toBe(
      `${r.project}|run --silent upgrade -- --terraform-hook|single kindha.local/node:v1.37.2 /k/config {"id":"single"}`,
    );
  });

  test("fails loudly outside a kindha project, saying how to roll by hand", () => {
    const r = hook('{"scripts":{"build":"tsc"}}');
    expect(r.code).toBe(1);
    expect(r.stderr).toContain(
      `upgrade-hook: no kindha project (package.json with an upgrade script) above ${r.stackDir}; roll the cluster by hand: npm run upgrade -- single --to kindha.local/node:v1.37.2`,
    );
  });

  test.each(["KINDHA_NODE_IMAGE", "KINDHA_PLANNED_STACK"])("fails when %s is missing, naming it", (name) => {
    const r = hook('{"scripts":{"upgrade":"x"}}', { ...ENV, [name]: "" });
    expect(r.code).toBe(1);
    expect(r.stderr.trim()).toBe(`upgrade-hook: ${name} is not set`);
  });
});

describe("etcd.sh health counts; lib/model/etcd.ts judges", () => {
  /** etcd.sh health against a stand-in etcdctl that prints `health` for endpoint health and `status` for endpoint status. */
  function health(answers: { health: unknown[]; status?: unknown[] }, ...args: string[]) {
    const s = makeStandIns([]);
    writeFileSync(join(s.dir, "health.json"), JSON.stringify(answers.health));
    writeFileSync(join(s.dir, "status.json"), JSON.stringify(answers.status ?? []));
    writeFileSync(
      join(s.bin, "etcdctl"),
      '#!/usr/bin/env bash\ncase "$*" in *"endpoint health"*) cat "$FAKE_DIR/health.json"; exit 1 ;; *"endpoint status"*) cat "$FAKE_DIR/status.json" ;; *) exit 1 ;; esac\n',
    );
    chmodSync(join(s.bin, "etcdctl"), 0o755);
    const eps = "http://127.0.0.1:23791,http://127.0.0.1:23792,http://127.0.0.1:23793";
    return spawnSync("bash", [join(SCRIPTS, "etcd.sh"), "--endpoints", eps, "health", ...args], {
      env: s.env(),
      encoding: "utf8",
      cwd: s.dir,
    });
  }
  const ep = (n: number, up: boolean) => ({ endpoint: `http://127.0.0.1:2379${n}`, health: up, took: "1ms" });

  test("an endpoint listed twice counts once, and members that did not answer count as unhealthy", () => {
    const r = health({ health: [ep(1, true), ep(1, true)] });
    expect(r.status).toBe(0);
    expect(parseHealthReport(r.stdout)).toMatchObject({ healthy: 1, members: 3, state: "quorum-lost" });
    expect(r.stderr).toContain("etcd.sh: warning: 1 of 3 members healthy");
  });

  test("with no member healthy, the members answering endpoint status count as up; --strict fails, naming the counts", () => {
    const answers = { health: [ep(1, false), ep(2, false), ep(3, false)], status: [{ Endpoint: ep(1, false).endpoint }] };
    expect(parseHealthReport(health(answers).stdout)).toMatchObject({ healthy: 1, members: 3, state: "quorum-lost" });
    const strict = health(answers, "--strict");
    expect(strict.status).toBe(1);
    expect(strict.stderr).toContain("etcd.sh: error: 1 of 3 members healthy; --strict needs every member");
  });

  test("fails when etcdctl prints nothing, naming it; an empty endpoint status counts no member up", () => {
    const none = health({ health: [] });
    expect(parseHealthReport(none.stdout)).toMatchObject({ healthy: 0, members: 3, state: "quorum-lost" });
    const s = makeStandIns([]);
    writeFileSync(join(s.bin, "etcdctl"), "#!/usr/bin/env bash\necho 'context deadline exceeded' >&2\nexit 1\n");
    chmodSync(join(s.bin, "etcdctl"), 0o755);
    const silent = spawnSync("bash", [join(SCRIPTS, "etcd.sh"), "--endpoints", "http://127.0.0.1:23791", "health"], {
      env: s.env(),
      encoding: "utf8",
      cwd: s.dir,
    });
    expect(silent.status).toBe(1);
    expect(silent.stdout).toBe("");
    expect(silent.stderr).toContain("etcd.sh: error: health: etcdctl gave no result (exit 1): context deadline exceeded");
  });

  test("every member healthy passes --strict, quietly", () => {
    const r = health({ health: [ep(1, true), ep(2, true), ep(3, true)] }, "--strict");
    expect(r.status).toBe(0);
    expect(r.stderr).toBe("");
    expect(parseHealthReport(r.stdout)).toMatchObject({ healthy: 3, members: 3, state: "healthy" });
  });
});

describe("etcd.sh leader and move-leader read etcdctl 3.7's tables", () => {
  /** A stand-in etcdctl answering with the tables a real etcd 3.7.0 cluster printed (m1 leads). */
  function etcd37() {
    const s = makeStandIns([]);
    const fixture = (name: string) =>
      JSON.parse(readFileSync(join(__dirname, "..", "..", "fixtures", "recorded", `${name}.json`), "utf8")).stdout as string;
    writeFileSync(join(s.dir, "members.txt"), fixture("etcdctl-3.7-member-list-table"));
    writeFileSync(join(s.dir, "status.txt"), fixture("etcdctl-3.7-endpoint-status-table"));
    writeFileSync(
      join(s.bin, "etcdctl"),
      '#!/usr/bin/env bash\necho "etcdctl $*" >> "$FAKE_DIR/calls.log"\ncase "$*" in *"member list"*) cat "$FAKE_DIR/members.txt" ;; *"endpoint status"*) cat "$FAKE_DIR/status.txt" ;; *) exit 1 ;; esac\n',
    );
    chmodSync(join(s.bin, "etcdctl"), 0o755);
    const etcd = (...args: string[]) =>
      spawnSync("bash", [join(SCRIPTS, "etcd.sh"), "--endpoints", "http://127.0.0.1:23791", ...args], {
        env: s.env(),
        encoding: "utf8",
        cwd: s.dir,
      });
    return { s, etcd };
  }

  test("leader: the member whose row says it leads, by name and hex ID", () => {
    const { etcd } = etcd37();
    const r = etcd("leader");
    expect(r.stderr).toBe("");
    expect(JSON.parse(r.stdout)).toEqual({ name: "m1", id: "bdae9bbc11dd390d" });
  });

  test("move-leader to the member that leads already is a no-op that names it", () => {
    const { s, etcd } = etcd37();
    const r = etcd("move-leader", "--to", "m1");
    expect(r.status).toBe(0);
    expect(JSON.parse(r.stdout)).toEqual({ name: "m1", id: "bdae9bbc11dd390d" });
    expect(s.calls().some((c) => c.includes("move-leader"))).toBe(false);
    // The endpoints handed on are every member's client URL, read from 3.7's member table.
    expect(s.calls().find((c) => c.includes("endpoint status"))).toContain(
      "--endpoints http://127.0.0.1:23792,http://127.0.0.1:23793,http://127.0.0.1:23791",
    );
  });
});

describe("container-cli.sh", () => {
  test("chooses the container CLI (KINDHA_CONTAINER_CLI, else KIND_EXPERIMENTAL_PROVIDER, else docker), and the Node tools get the same from it", () => {
    const cases: Record<string, string>[] = [
      {},
      { KIND_EXPERIMENTAL_PROVIDER: "podman" },
      { KINDHA_CONTAINER_CLI: "nerdctl" },
      { KINDHA_CONTAINER_CLI: "nerdctl", KIND_EXPERIMENTAL_PROVIDER: "podman" },
    ];
    const seen = cases.map((extra) => {
      const env = { PATH: process.env.PATH ?? "", ...extra };
      const shell = spawnSync("bash", ["-c", `source ${join(SCRIPTS, "container-cli.sh")}; printf %s "$cli"`], {
        env,
        encoding: "utf8",
      }).stdout;
      return { extra, shell, node: containerCli(env) };
    });
    expect(seen.map((s) => s.shell)).toEqual(["docker", "podman", "nerdctl", "nerdctl"]);
    for (const s of seen) expect({ extra: s.extra, cli: s.shell }).toEqual({ extra: s.extra, cli: s.node });
  });
});

describe("e2e/lib.sh pin_local_replaces", () => {
  test("pins every replace to a sibling directory (./x, ../x, ../) to the released module, and leaves the others", () => {
    const dir = mkdtempSync(join(tmpdir(), "kindha-gomod-"));
    writeFileSync(
      join(dir, "go.mod"),
      [
        "module sigs.k8s.io/cluster-api/test",
        "replace sigs.k8s.io/cluster-api => ../",
        "replace (",
        "\tk8s.io/api => ./staging/src/k8s.io/api",
        "\tk8s.io/client-go => ../client-go",
        "\tgithub.com/a/b => github.com/c/b v1.2.3",
        ")",
        "",
      ].join("\n"),
    );
    writeFileSync(join(dir, "go.work"), "go 1.24\n");
    const lib = join(__dirname, "..", "..", "..", "e2e", "lib.sh");
    const r = spawnSync("bash", ["-c", `source "$1" && pin_local_replaces "$2" v1.13.6`, "_", lib, dir], { encoding: "utf8" });
    expect(r.status).toBe(0);
    expect(readFileSync(join(dir, "go.mod"), "utf8").split("\n")).toEqual([
      "module sigs.k8s.io/cluster-api/test",
      "replace sigs.k8s.io/cluster-api => sigs.k8s.io/cluster-api v1.13.6",
      "replace (",
      "\tk8s.io/api => k8s.io/api v1.13.6",
      "\tk8s.io/client-go => k8s.io/client-go v1.13.6",
      "\tgithub.com/a/b => github.com/c/b v1.2.3",
      ")",
      "",
    ]);
    expect(existsSync(join(dir, "go.work"))).toBe(false);
    rmSync(dir, { recursive: true, force: true });
  });
});
