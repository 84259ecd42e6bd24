/**
 * The cluster and scenario tiers' first act: a kind cluster left by a killed run of a tier (its
 * sandbox gone, or its run ended) is deleted; any other cluster on the engine stops the tier with
 * one line. docker and kind are stand-ins that answer as the engine would.
 */
import { chmodSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { spawnSync } from "node:child_process";
import { clearLeftoverClusters, OWNER_FILE, SANDBOX_PREFIX } from "../../../test-support/cluster";

let bin: string;
let log: string;
const made: string[] = [];
beforeEach(() => {
  bin = mkdtempSync(join(tmpdir(), "kindha-leftover-test-"));
  made.push(bin);
  log = join(bin, "calls.log");
  // docker: one cluster "old" of two containers, whose data mount lies at $FAKE_SOURCE and whose
  // mark (a tar stream, as docker cp prints it) names $FAKE_PROJECT; no mark when that is empty;
  // the machine's registry, its storage at $FAKE_REGISTRY, when that is set.
  writeFileSync(
    join(bin, "docker"),
    `#!/bin/bash
echo "docker $*" >> "${log}"
case "$*" in
  "ps -a --filter label=io.x-k8s.kind.cluster --format"*) printf 'old\\nold\\n' ;;
  "ps -a --filter label=io.x-k8s.kind.cluster=old --format"*) printf 'old-control-plane\\nold-worker\\n' ;;
  *kindha-registry) [ -n "$FAKE_REGISTRY" ] || { echo "Error: No such object: kindha-registry" >&2; exit 1; }
    case "$1" in inspect) echo "$FAKE_REGISTRY" ;; esac ;;
  inspect*) printf '%s\\n/lib/modules\\n%s\\n/lib/modules\\n' "$FAKE_SOURCE" "$FAKE_SOURCE" ;;
  "cp old-control-plane:/kind/kindha-identity -")
    [ -n "$FAKE_PROJECT" ] || { echo "Error response from daemon: Could not find the file /kind/kindha-identity in container old-control-plane" >&2; exit 1; }
    d=$(mktemp -d); printf 'stack=single\\ncreate=1\\nproject=%s\\n' "$FAKE_PROJECT" > "$d/kindha-identity"; tar -C "$d" -cf - kindha-identity; rm -rf "$d" ;;
  "network inspect kind"*) echo 0 ;;
esac
`,
  );
  writeFileSync(join(bin, "kind"), `#!/bin/bash\necho "kind $*" >> "${log}"\n`);
  chmodSync(join(bin, "docker"), 0o755);
  chmodSync(join(bin, "kind"), 0o755);
});
afterEach(() => made.splice(0).forEach((d) => rmSync(d, { recursive: true, force: true })));

/** The tier's check with the cluster's mark naming `project` ("" for no mark) and its data mount at `source` (default: in that project). */
const clear = (project: string, source = `${project}/home/.kindha/data/old`, registry = "") => {
  const said: string[] = [];
  writeFileSync(log, "");
  const why = clearLeftoverClusters((l) => void said.push(l), {
    ...process.env,
    PATH: `${bin}:${process.env.PATH}`,
    FAKE_SOURCE: source,
    FAKE_PROJECT: project,
    FAKE_REGISTRY: registry,
  });
  const calls = readFileSync(log, "utf8").trim().split("\n");
  return { why, said, calls, deleted: calls.some((c) => c.startsWith("kind delete cluster --name old ")) };
};

/** A sandbox as a tier makes it, owned by `pid`. */
function sandbox(pid: number): string {
  const dir = mkdtempSync(SANDBOX_PREFIX);
  made.push(dir);
  mkdirSync(join(dir, "home"));
  writeFileSync(join(dir, OWNER_FILE), String(pid));
  return dir;
}

test("deletes a cluster whose sandbox is gone, and kind's network once nothing uses it", () => {
  const r = clear(`${SANDBOX_PREFIX}Xgone00`);
  expect(r.why).toBeUndefined();
  expect(r.deleted).toBe(true);
  expect(r.said).toEqual([`deleted old (2 containers), left by an earlier test run that has ended (sandbox ${SANDBOX_PREFIX}Xgone00)`]);
  expect(r.calls).toContain("docker network rm kind");
});

test("deletes a cluster whose sandbox is still there but whose test run has ended", () => {
  const ended = spawnSync(process.execPath, ["-e", "process.stdout.write(String(process.pid))"], { encoding: "utf8" }).stdout;
  const dir = sandbox(Number(ended));
  expect(clear(dir)).toMatchObject({ why: undefined, deleted: true });
});

test("fails when the cluster belongs to a run that is still going: nothing is deleted", () => {
  const dir = sandbox(process.pid);
  const r = clear(dir);
  expect(r.deleted).toBe(false);
  expect(r.why).toBe(
    `a kind cluster named old already runs on this engine and is not a leftover of a test tier (made from ${dir}); delete it (kind delete cluster --name old) or use another engine`,
  );
});

test("fails when the cluster is not a test tier's at all (another project's mark, or none): nothing is deleted", () => {
  for (const project of ["/home/someone/platform", ""]) {
    const r = clear(project, "/home/someone/.kindha/data/old");
    expect(r.deleted).toBe(false);
    expect(r.why).toMatch(/^a kind cluster named old already runs on this engine and is not a leftover of a test tier/);
  }
});

test("a cluster that only mounts something in an ended tier's sandbox is not the tier's: its mark names another project, and it stays", () => {
  const r = clear("/home/someone/platform", `${SANDBOX_PREFIX}Xgone00/home/.kindha/data/old`);
  expect(r.deleted).toBe(false);
  expect(r.why).toContain("(made from /home/someone/platform)");
});

test("removes the machine's registry when a tier that has ended started it (its storage in that sandbox); any other stops the tier, kept", () => {
  const gone = `${SANDBOX_PREFIX}Xgone00`;
  const r = clear(gone, undefined, `${gone}/home/.kindha/registry`);
  expect(r.why).toBeUndefined();
  expect(r.calls).toContain("docker rm -f kindha-registry");
  expect(r.said).toContain(`removed kindha-registry, left by an earlier test run that has ended (sandbox ${gone})`);
  for (const storage of [`${sandbox(process.pid)}/home/.kindha/registry`, "/home/someone/.kindha/registry"]) {
    const kept = clear(gone, undefined, storage);
    expect(kept.calls).not.toContain("docker rm -f kindha-registry");
    expect(kept.why).toBe(
      `a registry kindha-registry already runs on this engine with its storage in ${storage} and is not a leftover of a test tier; remove it (docker rm -f kindha-registry; its storage stays) or use another engine`,
    );
  }
});
