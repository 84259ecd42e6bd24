/**
 * The cluster and scenario tiers' first act: a kind cluster left by a killed run of a tier (its
 * sandbox gone, or its run ended) is deleted; any other cluster on the engine stops the tier with
 * one line. docker and kind are stand-ins that answer as the engine would.
 */
import { chmodSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { spawnSync } from "node:child_process";
import { clearLeftoverClusters, OWNER_FILE, SANDBOX_PREFIX } from "../../test-support/cluster";

let bin: string;
let log: string;
const made: string[] = [];
beforeEach(() => {
  bin = mkdtempSync(join(tmpdir(), "kindha-leftover-test-"));
  made.push(bin);
  log = join(bin, "calls.log");
  // docker: one cluster "old" of two containers, whose data mount lies at $FAKE_SOURCE.
  writeFileSync(join(bin, "docker"), `#!/bin/bash
echo "docker $*" >> "${log}"
case "$*" in
  "ps -a --filter label=io.x-k8s.kind.cluster --format"*) printf 'old\\nold\\n' ;;
  "ps -a --filter label=io.x-k8s.kind.cluster=old --format"*) printf 'old-control-plane\\nold-worker\\n' ;;
  inspect*) printf '%s\\n/lib/modules\\n%s\\n/lib/modules\\n' "$FAKE_SOURCE" "$FAKE_SOURCE" ;;
  "network inspect kind"*) echo 0 ;;
esac
`);
  writeFileSync(join(bin, "kind"), `#!/bin/bash\necho "kind $*" >> "${log}"\n`);
  chmodSync(join(bin, "docker"), 0o755);
  chmodSync(join(bin, "kind"), 0o755);
});
afterEach(() => made.splice(0).forEach((d) => rmSync(d, { recursive: true, force: true })));

const clear = (source: string) => {
  const said: string[] = [];
  const why = clearLeftoverClusters((l) => void said.push(l), { ...process.env, PATH: `${bin}:${process.env.PATH}`, FAKE_SOURCE: source });
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
  const r = clear(`${SANDBOX_PREFIX}Xgone00/home/.kindha/data/old`);
  expect(r.why).toBeUndefined();
  expect(r.deleted).toBe(true);
  expect(r.said).toEqual([`deleted old (2 containers), left by an earlier test run that has ended (sandbox ${SANDBOX_PREFIX}Xgone00)`]);
  expect(r.calls).toContain("docker network rm kind");
});

test("deletes a cluster whose sandbox is still there but whose test run has ended", () => {
  const ended = spawnSync(process.execPath, ["-e", "process.stdout.write(String(process.pid))"], { encoding: "utf8" }).stdout;
  const dir = sandbox(Number(ended));
  expect(clear(`${dir}/home/.kindha/data/old`)).toMatchObject({ why: undefined, deleted: true });
});

test("fails when the cluster belongs to a run that is still going: nothing is deleted", () => {
  const dir = sandbox(process.pid);
  const r = clear(`${dir}/home/.kindha/data/old`);
  expect(r.deleted).toBe(false);
  expect(r.why).toBe("a kind cluster named old already runs on this engine and is not a leftover of a test tier; delete it (kind delete cluster --name old) or use another engine");
});

test("fails when the cluster is not a test tier's at all (no sandbox among its mounts): nothing is deleted", () => {
  const r = clear("/home/someone/.kindha/data/old");
  expect(r.deleted).toBe(false);
  expect(r.why).toMatch(/^a kind cluster named old already runs on this engine/);
});
