/**
 * scripts/etcd.sh and lib/etcd against REAL etcd processes: a 3-member etcd cluster with TLS on
 * 127.0.0.1 (test-support/etcd-cluster.ts). Needs `etcd`, `etcdctl` and `openssl` on PATH.
 *
 * Tests run in file order and share clusters: snapshot -> restore into a new member set -> fail
 * members one by one. kubectl and docker are the only stand-ins (generated shims that forward
 * `kubectl exec etcd-<node> -- etcdctl ...` to the real cluster), since there is no kind cluster.
 */
import { execFileSync, spawnSync } from "node:child_process";
import { chmodSync, existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { parseEndpointStatus, parseSnapshotStatus } from "../../lib/model/etcd";
import { backupArgs, EtcdCommandError, EtcdScript, runEtcdctl, type EtcdConnection } from "../../lib/ops/etcd-script";
import {
  allocatePorts,
  generatePki,
  initialClusterOf,
  startEtcdCluster,
  stopEverything,
  type EtcdCluster,
  type TestPki,
} from "../../test-support/etcd-cluster";

const KEYS = 200;
const keyOf = (i: number) => `kindha/test/key-${String(i).padStart(3, "0")}`;
const valueOf = (i: number) => `value ${i} of ${KEYS}`;
/** Short etcdctl timeouts: a dead member or lost quorum is reported after 2 s, not 5 s. */
const ENV = { KINDHA_ETCD_TIMEOUT: "2s" };

let dir: string;
let pki: TestPki;
let first: EtcdCluster;
let restored: EtcdCluster | undefined;
let snapshot: string;

function localConn(c: EtcdCluster, endpoints = c.members.map((m) => m.clientUrl)): Extract<EtcdConnection, { mode: "local" }> {
  return { mode: "local", endpoints, cacert: pki.ca, cert: pki.clientCert, key: pki.clientKey };
}

/** Writes the test keys in transactions of 100 puts (etcd allows 128 operations per txn). */
function writeKeys(c: EtcdCluster): void {
  for (let start = 0; start < KEYS; start += 100) {
    const puts = Array.from({ length: Math.min(100, KEYS - start) }, (_, j) => `put ${keyOf(start + j)} "${valueOf(start + j)}"`);
    const r = spawnSync("etcdctl", [...c.ctlArgs(), "txn"], {
      input: `\n${puts.join("\n")}\n\n\n`,
      env: { ...process.env, ETCDCTL_API: "3" },
      encoding: "utf8",
      timeout: 30_000,
    });
    if (r.status !== 0 || !r.stdout.startsWith("SUCCESS")) throw new Error(`txn failed: ${r.stderr || r.stdout}`);
  }
}

/** Every test key and its value, read back with `get --prefix -w json`. */
async function readKeys(c: EtcdCluster): Promise<Map<string, string>> {
  const r = await runEtcdctl(localConn(c), ["get", "--prefix", "kindha/test/", "-w", "json"]);
  if (r.code !== 0) throw new Error(`get failed: ${r.stderr}`);
  const kvs = (JSON.parse(r.stdout) as { kvs?: { key: string; value: string }[] }).kvs ?? [];
  const b64 = (s: string) => Buffer.from(s, "base64").toString("utf8");
  return new Map(kvs.map((kv) => [b64(kv.key), b64(kv.value)]));
}

beforeAll(async () => {
  for (const tool of ["etcd", "etcdctl", "openssl"]) {
    const probe = spawnSync(tool, [tool === "etcd" ? "--version" : "version"], { encoding: "utf8" });
    if (probe.status !== 0)
      throw new Error(`${tool} is not installed; the etcd tier needs etcd 3.4+ (Debian: etcd-server etcd-client) and openssl`);
  }
  dir = mkdtempSync(join(tmpdir(), "kindha-etcd-"));
  pki = await generatePki(join(dir, "pki"));
  const ports = await allocatePorts(3);
  first = await startEtcdCluster({ dir: join(dir, "first"), pki, names: ["m0", "m1", "m2"], ports });
});

afterAll(async () => {
  await stopEverything();
  if (dir) rmSync(dir, { recursive: true, force: true });
});

describe("scripts/etcd.sh local mode against a real 3-member etcd cluster", () => {
  test("health counts all 3 members healthy, judged healthy", async () => {
    const { report, result } = await new EtcdScript(localConn(first), { env: ENV }).health();
    expect(result.code).toBe(0);
    expect(report).toMatchObject({ state: "healthy", healthy: 3, members: 3, quorum: 2, tolerated: 1 });
    expect(report.endpoints.map((e) => e.endpoint).sort()).toEqual(first.members.map((m) => m.clientUrl).sort());
  });

  test("leader names the member that leads; move-leader hands leadership to another and back, a no-op when it leads already", async () => {
    const script = new EtcdScript(localConn(first), { env: ENV });
    const before = await script.leader();
    expect(first.members.map((m) => m.name)).toContain(before.name);
    expect(before.id).toMatch(/^[0-9a-f]+$/);
    const other = first.members.map((m) => m.name).find((n) => n !== before.name)!;
    expect((await script.moveLeader(other)).name).toBe(other);
    expect((await script.leader()).name).toBe(other);
    expect((await script.moveLeader(other)).name).toBe(other);
    expect((await script.moveLeader(before.name)).name).toBe(before.name);
    await expect(script.moveLeader("nobody")).rejects.toThrow(/no member named nobody \(members: m\d m\d m\d\)/);
  });

  test("snapshot-save writes a 0600 snapshot in a new 0700 directory holding all 200 keys", async () => {
    writeKeys(first);
    expect((await readKeys(first)).size).toBe(KEYS);
    const backups = join(dir, "backups", "nested");
    snapshot = await new EtcdScript(localConn(first), { env: ENV }).snapshotSave(join(backups, "first.db"));
    expect(snapshot).toBe(join(backups, "first.db"));
    expect(statSync(snapshot).mode & 0o777).toBe(0o600);
    expect(statSync(backups).mode & 0o777).toBe(0o700);
    expect(readdirSync(backups)).toEqual(["first.db"]); // no temp or .part file left
    const status = await new EtcdScript(undefined).snapshotStatus(snapshot);
    expect(status.totalKey).toBeGreaterThanOrEqual(KEYS);
  });

  test("fails when no endpoint answers: snapshot-save exits non-zero and leaves no file", async () => {
    const [dead] = await allocatePorts(1);
    const target = join(dir, "backups", "nothing", "dead.db");
    const conn = localConn(first, [`https://127.0.0.1:${dead.client}`]);
    await expect(new EtcdScript(conn, { env: ENV }).snapshotSave(target)).rejects.toThrow(/snapshot save failed on every endpoint/);
    expect(readdirSync(join(dir, "backups", "nothing"))).toEqual([]);
  });

  test("restore into a NEW 3-member set (new data dirs, new ports) brings back every key and value", async () => {
    await first.stopAll();
    const names = ["r0", "r1", "r2"];
    const ports = await allocatePorts(3);
    const initialCluster = initialClusterOf(names, ports);
    const restoreDir = join(dir, "restored");
    const script = new EtcdScript(undefined);
    const dataDirs: string[] = [];
    for (const [i, name] of names.entries()) {
      dataDirs.push(
        await script.restore(snapshot, {
          name,
          initialCluster,
          peerUrl: `https://127.0.0.1:${ports[i].peer}`,
          dataDir: join(restoreDir, `${name}.data`),
          token: "kindha-restored",
        }),
      );
    }
    restored = await startEtcdCluster({ dir: restoreDir, pki, names, ports, dataDirs, token: "kindha-restored" });
    const keys = await readKeys(restored);
    expect(keys.size).toBe(KEYS);
    for (let i = 0; i < KEYS; i++) expect(keys.get(keyOf(i))).toBe(valueOf(i));
  });

  test("fails when the restore data dir already exists", async () => {
    const existing = join(dir, "restored", "r0.data");
    const r = await new EtcdScript(undefined).run([
      "restore",
      snapshot,
      "--name",
      "r0",
      "--initial-cluster",
      "r0=https://127.0.0.1:1",
      "--initial-advertise-peer-urls",
      "https://127.0.0.1:1",
      "--data-dir",
      existing,
    ]);
    expect(r.code).not.toBe(0);
    expect(r.stderr).toContain(`--data-dir ${existing} already exists`);
  });
});

describe("scripts/etcd.sh kind mode through kubectl/docker stand-ins, against the real restored cluster", () => {
  let shimEnv: NodeJS.ProcessEnv;
  let kubeconfig: string;
  const nodeName = "kindha-test-control-plane";

  beforeAll(() => {
    if (!restored) throw new Error("the restored cluster did not start");
    const bin = join(dir, "shims");
    const root = join(dir, "nodes");
    mkdirSync(bin, { recursive: true });
    mkdirSync(join(root, nodeName, "var", "lib", "etcd"), { recursive: true });
    kubeconfig = join(dir, "kubeconfig.yaml");
    writeFileSync(kubeconfig, "apiVersion: v1\nkind: Config\n", { mode: 0o600 });
    // kubectl: readyz answers ok; `exec etcd-NODE -- BIN ARGS` runs BIN here with the pod's
    // endpoint, certificate paths and /var/lib/etcd mapped onto the test cluster.
    writeFileSync(
      join(bin, "kubectl"),
      `#!/usr/bin/env bash
set -euo pipefail
echo "kubectl $*" >>"$FAKE_ROOT/calls.log"
while [ $# -gt 0 ]; do
  case "$1" in
    --kubeconfig|-n|--request-timeout) shift 2 ;;
    get) [ "\${FAKE_API:-up}" = up ] || { echo "The connection to the server 127.0.0.1:6443 was refused" >&2; exit 1; }; echo ok; exit 0 ;;
    exec) pod="$2"; shift 2; [ "$1" = "--" ] && shift; break ;;
    *) echo "fake kubectl: unexpected $1" >&2; exit 2 ;;
  esac
done
node="\${pod#etcd-}"; bin="$1"; shift; out=()
for a in "$@"; do
  case "$a" in
    https://127.0.0.1:2379) a="$FAKE_ENDPOINT" ;;
    /etc/kubernetes/pki/etcd/ca.crt) a="$FAKE_CA" ;;
    /etc/kubernetes/pki/etcd/server.crt) a="$FAKE_CERT" ;;
    /etc/kubernetes/pki/etcd/server.key) a="$FAKE_KEY" ;;
    /var/lib/etcd/*) a="$FAKE_ROOT/$node$a" ;;
  esac
  out+=("$a")
done
command -v "$bin" >/dev/null || { echo "exec: \\"$bin\\": executable file not found in \\$PATH" >&2; echo "command terminated with exit code 126" >&2; exit 126; }
exec "$bin" "\${out[@]}"
`,
    );
    // docker: cp and exec against the node's directory under FAKE_ROOT.
    writeFileSync(
      join(bin, "docker"),
      `#!/usr/bin/env bash
set -euo pipefail
echo "docker $*" >>"$FAKE_ROOT/calls.log"
map() { case "$1" in *:/*) echo "$FAKE_ROOT/\${1%%:*}\${1#*:}" ;; *) echo "$1" ;; esac; }
case "$1" in
  cp) cp "$(map "$2")" "$(map "$3")" ;;
  exec) node="$2"; shift 2; args=(); for a in "$@"; do case "$a" in /*) a="$FAKE_ROOT/$node$a" ;; esac; args+=("$a"); done; "\${args[@]}" ;;
  *) echo "fake docker: unexpected $1" >&2; exit 2 ;;
esac
`,
    );
    chmodSync(join(bin, "kubectl"), 0o755);
    chmodSync(join(bin, "docker"), 0o755);
    shimEnv = {
      ...ENV,
      PATH: `${bin}:${process.env.PATH}`,
      FAKE_ROOT: root,
      FAKE_ENDPOINT: restored.members[0].clientUrl,
      FAKE_CA: pki.ca,
      // kubeadm's pod uses the server certificate as a client certificate; so does the test PKI.
      FAKE_CERT: pki.serverCert,
      FAKE_KEY: pki.serverKey,
      KINDHA_CONTAINER_CLI: "docker",
    };
  });

  test("health --expect 3 checks every member from the member list", async () => {
    const conn: EtcdConnection = { mode: "kind", kubeconfig, node: nodeName };
    const { report, result } = await new EtcdScript(conn, { env: shimEnv }).health(3);
    expect(result.code).toBe(0);
    expect(report).toMatchObject({ state: "healthy", healthy: 3, members: 3 });
  });

  test("health --kind --cluster NAME (as create-cluster.sh calls it) uses etcd-NAME-control-plane", async () => {
    const r = await new EtcdScript(undefined, { env: shimEnv }).run([
      "health",
      "--kind",
      "--kubeconfig",
      kubeconfig,
      "--cluster",
      "kindha-test",
    ]);
    expect(r.code).toBe(0);
    expect(JSON.parse(r.stdout)).toMatchObject({ healthy: 3, members: 3 });
    expect(readFileSync(join(dir, "nodes", "calls.log"), "utf8")).toContain("exec etcd-kindha-test-control-plane -- etcdctl");
  });

  test("backup, configured the way the destroy-time provisioner does (env only), snapshots to <cluster>-<stack>-<UTC>.db, verified, 0600", async () => {
    const backupDir = join(dir, "kind-backups");
    const provisionerEnv = {
      KINDHA_CLUSTER_NAME: "kindha-test",
      KINDHA_KUBECONFIG: kubeconfig,
      KINDHA_STACK: "ha-option-a",
      KINDHA_BACKUP_DIR: backupDir,
      KINDHA_ETCD_POD: `etcd-${nodeName}`,
    };
    const r = await new EtcdScript(undefined, { env: { ...shimEnv, ...provisionerEnv } }).run(["backup"]);
    expect(r.stderr).not.toMatch(/error/);
    expect(r.code).toBe(0);
    const path = r.stdout.trim();
    expect(path).toMatch(new RegExp(`^${backupDir}/kindha-test-ha-option-a-\\d{8}T\\d{6}Z\\.db$`));
    expect(statSync(path).mode & 0o777).toBe(0o600);
    expect(statSync(backupDir).mode & 0o777).toBe(0o700);
    const status = parseSnapshotStatus(
      execFileSync("etcdctl", ["snapshot", "status", path, "-w", "json"], { encoding: "utf8", env: { ...process.env, ETCDCTL_API: "3" } }),
    );
    expect(status.totalKey).toBeGreaterThanOrEqual(KEYS);
    // The in-pod copy is cleaned up; only the local snapshot remains.
    expect(readdirSync(join(dir, "nodes", nodeName, "var", "lib", "etcd"))).toEqual([]);
    expect(readFileSync(join(dir, "nodes", "calls.log"), "utf8")).toContain(
      `exec etcd-${nodeName} -- etcdctl --endpoints https://127.0.0.1:2379`,
    );
  });

  test("EtcdScript.backup resolves to the snapshot's path; it throws when the script fails or, skipped, wrote none", async () => {
    const request = { cluster: "kindha-test", stack: "single", kubeconfig, backupDir: join(dir, "typed-backups") };
    const snapshot = await new EtcdScript(undefined, { env: shimEnv }).backup(request);
    expect(snapshot.path).toMatch(new RegExp(`^${request.backupDir}/kindha-test-single-\\d{8}T\\d{6}Z\\.db$`));
    expect(statSync(snapshot.path).mode & 0o777).toBe(0o600);
    const down = new EtcdScript(undefined, { env: { ...shimEnv, FAKE_API: "down" } }).backup(request);
    await expect(down).rejects.toBeInstanceOf(EtcdCommandError);
    await expect(down).rejects.toThrow(/^etcd\.sh backup failed \(exit [1-9]\d*\): /);
    const skipped = new EtcdScript(undefined, { env: { ...shimEnv, FAKE_API: "down", KINDHA_SKIP_BACKUP: "1" } }).backup(request);
    await expect(skipped).rejects.toThrow("etcd.sh backup exited 0 but wrote no snapshot");
  });

  test("fails when the kubeconfig is missing: backup refuses loudly and names KINDHA_SKIP_BACKUP", async () => {
    const backupDir = join(dir, "gone-backups");
    const r = await new EtcdScript(undefined, { env: shimEnv }).run(
      backupArgs({
        cluster: "gone",
        stack: "single",
        kubeconfig: join(dir, "no-such-kubeconfig"),
        backupDir,
      }),
    );
    expect(r.code).not.toBe(0);
    expect(r.stderr).toContain("backup of cluster gone (stack single) failed");
    expect(r.stderr).toContain("does not exist (is the cluster already gone?)");
    expect(r.stderr).toContain("set KINDHA_SKIP_BACKUP=1");
    expect(r.stdout).toBe("");
    expect(existsSync(backupDir)).toBe(false);
  });

  test("fails when the API server is unreachable: backup refuses, and KINDHA_SKIP_BACKUP=1 turns it into a warning", async () => {
    const request = { cluster: "kindha-test", stack: "single", kubeconfig, backupDir: join(dir, "down-backups") };
    const refused = await new EtcdScript(undefined, { env: { ...shimEnv, FAKE_API: "down" } }).run(backupArgs(request));
    expect(refused.code).not.toBe(0);
    expect(refused.stderr).toContain("the API server is unreachable (The connection to the server 127.0.0.1:6443 was refused)");
    const skipped = await new EtcdScript(undefined, { env: { ...shimEnv, FAKE_API: "down", KINDHA_SKIP_BACKUP: "1" } }).run(
      backupArgs(request),
    );
    expect(skipped.code).toBe(0);
    expect(skipped.stderr).toContain("skipped: the API server is unreachable");
  });

  test("fails when etcd cannot be snapshotted from the pod: backup exits non-zero and leaves no file", async () => {
    const [dead] = await allocatePorts(1);
    const backupDir = join(dir, "failed-backups");
    const r = await new EtcdScript(undefined, { env: { ...shimEnv, FAKE_ENDPOINT: `https://127.0.0.1:${dead.client}` } }).run(
      backupArgs({
        cluster: "kindha-test",
        stack: "single",
        kubeconfig,
        backupDir,
      }),
    );
    expect(r.code).not.toBe(0);
    expect(r.stderr).toContain(`snapshot save in etcd-kindha-test-control-plane failed`);
    expect(readdirSync(backupDir)).toEqual([]);
  });

  test("with KINDHA_SKIP_BACKUP=1 a missing kubeconfig only warns, and backup exits 0", async () => {
    const r = await new EtcdScript(undefined, { env: { ...shimEnv, KINDHA_SKIP_BACKUP: "1" } }).run(
      backupArgs({
        cluster: "gone",
        stack: "single",
        kubeconfig: join(dir, "no-such-kubeconfig"),
        backupDir: join(dir, "gone-backups"),
      }),
    );
    expect(r.code).toBe(0);
    expect(r.stderr).toContain("warning: backup of cluster gone (stack single) skipped");
    expect(r.stderr).toContain("NO SNAPSHOT was taken");
  });
});

describe("member failures on the restored cluster", () => {
  let leaderIndex: number;
  let down: number[] = [];

  beforeAll(async () => {
    if (!restored) throw new Error("the restored cluster did not start");
    const r = await runEtcdctl(localConn(restored), ["endpoint", "status", "-w", "json"]);
    const statuses = parseEndpointStatus(r.stdout);
    expect(statuses).toHaveLength(3);
    const leader = statuses.find((s) => s.isLeader);
    if (!leader) throw new Error(`no leader in ${r.stdout}`);
    leaderIndex = restored.members.findIndex((m) => m.clientUrl === leader.endpoint);
    // Followers fail first, so no leader election sits between the kill and the write.
    down = [0, 1, 2].filter((i) => i !== leaderIndex);
  });

  test("kill 1 of 3: health is degraded (2 of 3, quorum 2 held), exit 0, and a write succeeds", async () => {
    const c = restored as EtcdCluster;
    await c.kill(down[0]);
    const { report, result } = await new EtcdScript(localConn(c), { env: ENV }).health();
    expect(result.code).toBe(0);
    expect(report).toMatchObject({ state: "degraded", healthy: 2, members: 3, quorum: 2 });
    expect(result.stderr).toContain("2 of 3 members healthy");
    expect(report.message).toBe("degraded: 2 of 3 members healthy, quorum needs 2 (held); 0 more failures tolerated");
    const put = await runEtcdctl(localConn(c), ["--command-timeout", "5s", "put", "kindha/test/after-one-down", "yes"]);
    expect(put.code).toBe(0);
  });

  test("fails when 2 of 3 are down: health is judged 'quorum lost', --strict exits non-zero, and writes fail", async () => {
    const c = restored as EtcdCluster;
    await c.kill(down[1]);
    const script = new EtcdScript(localConn(c), { env: ENV });
    const { report, result } = await script.health();
    // The survivor cannot commit the linearizable read `endpoint health` does, but it still
    // answers `endpoint status`: it is up, 1 of 3.
    expect(report).toMatchObject({ state: "quorum-lost", healthy: 1, members: 3 });
    expect(report.message).toBe("quorum lost: 1 of 3 members healthy, quorum needs 2");
    expect(result.stderr).toContain("1 of 3 members healthy");
    const strict = await script.run(["health", "--strict"]);
    expect(strict.code).toBe(1);
    expect(strict.stderr).toContain("etcd.sh: error: 1 of 3 members healthy; --strict needs every member");
    const put = await runEtcdctl(localConn(c, [c.members[leaderIndex].clientUrl]), [
      "--dial-timeout",
      "2s",
      "--command-timeout",
      "2s",
      "put",
      "kindha/test/after-two-down",
      "no",
    ]);
    expect(put.code).not.toBe(0);
  });
});
