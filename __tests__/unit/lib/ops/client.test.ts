/**
 * The operations' one client (lib/ops/client.ts): the exact commands it runs for kubectl, etcd.sh
 * and the node containers, over a fake executor.
 */
import { spawnSync } from "node:child_process";
import { boundedArgs, ClusterClient } from "../../../../lib/ops/client";
import { failResult, fakeExec, line, okResult, recorded } from "../../../fixtures/recorded/load";

const access = { kubeconfig: "/k", etcdScript: "/repo/scripts/etcd.sh", env: { KINDHA_SKIP_BACKUP: "1", PATH: "/bin" }, cwd: "/project" };

describe("ClusterClient", () => {
  test("kubectl: the cluster's kubeconfig and a 20 s request bound, or the one a call asks for", async () => {
    const { exec, calls } = fakeExec(() => okResult("ok"));
    const k = new ClusterClient({ ...access, exec });
    await k.kubectl(["get", "nodes"]);
    await k.readyz("https://127.0.0.1:6443", { requestTimeout: "2s", timeoutMs: 10_000 });
    expect(calls.map(line)).toEqual([
      "kubectl --kubeconfig /k --request-timeout 20s get nodes",
      "kubectl --kubeconfig /k --request-timeout 2s --server https://127.0.0.1:6443 get --raw /readyz",
    ]);
    expect(calls.map((c) => [c.opts?.timeoutMs, c.opts?.cwd, c.opts?.env?.PATH])).toEqual([
      [60_000, "/project", "/bin"],
      [10_000, "/project", "/bin"],
    ]);
  });

  test("node commands, and etcd.sh's, go through the container CLI kind used (docker unless told)", async () => {
    const { exec, calls } = fakeExec(() => okResult());
    await new ClusterClient({ ...access, exec }).inNode("cp1", ["crictl", "ps"]);
    await new ClusterClient({ ...access, exec, containerCli: "podman" }).containers(["stop", "cp2"]);
    await new ClusterClient({ ...access, exec, containerCli: "podman" }).etcdHealthResult("cp1", 3);
    expect(calls.map(line).slice(0, 2)).toEqual(["docker exec cp1 crictl ps", "podman stop cp2"]);
    // etcd.sh copies into and execs in the nodes itself: with the same CLI.
    expect(calls[2].opts?.env?.KINDHA_CONTAINER_CLI).toBe("podman");
  });

  test("etcd health runs etcd.sh in the node's pod with --expect; a missing report is a reason, not a throw", async () => {
    const { exec, calls } = fakeExec((_f, args) =>
      args.includes("cp1")
        ? recorded("etcd-script-health-degraded")
        : failResult("etcd.sh: error: health: etcdctl gave no result (exit 1)"),
    );
    const k = new ClusterClient({ ...access, exec });
    const got = await k.etcdHealth("cp1", 3, ["https://10.0.0.1:2379"]);
    expect("report" in got && got.report.state).toBe("degraded");
    expect(line(calls[0])).toBe(
      "bash /repo/scripts/etcd.sh --mode kind --kubeconfig /k --node cp1 --endpoints https://10.0.0.1:2379 health --expect 3",
    );
    expect(await k.etcdHealth("cp2", 3)).toMatchObject({ reason: "etcd.sh health printed no report", result: { code: 1 } });
  });

  test("backup passes the cluster's kubeconfig and clears KINDHA_SKIP_BACKUP, so it never succeeds without a snapshot", async () => {
    const { exec, calls } = fakeExec(() => okResult("/b/c-single-20260102T030405Z.db\n"));
    const r = await new ClusterClient({ ...access, exec }).backup({ cluster: "c", stack: "single", backupDir: "/b" });
    expect(r.path).toBe("/b/c-single-20260102T030405Z.db");
    expect(line(calls[0])).toBe("bash /repo/scripts/etcd.sh backup --cluster c --stack single --kubeconfig /k --backup-dir /b");
    expect(calls[0].opts?.env?.KINDHA_SKIP_BACKUP).toBe("");
  });

  test("snapshot status of a failed read names the command and its error", async () => {
    const { exec } = fakeExec(() => failResult("etcd.sh: error: etcdutl snapshot status failed: invalid database"));
    await expect(new ClusterClient({ ...access, exec }).snapshotStatus("/b/s.db", "cp1")).rejects.toThrow(
      "etcd.sh snapshot-status /b/s.db failed (exit 1): etcd.sh: error: etcdutl snapshot status failed: invalid database",
    );
  });
});

describe("a command bounded where it runs", () => {
  test("coreutils' timeout, as the node runs it, ends the command at the bound (exit 124), its children with it", () => {
    const marker = `kindha-bounded-${process.pid}`;
    const args = boundedArgs(["bash", "-c", `exec -a ${marker} sleep 30`], 1_000);
    expect(args.slice(0, 3)).toEqual(["timeout", "--kill-after=10s", "1s"]);
    const t0 = Date.now();
    const r = spawnSync(args[0], args.slice(1));
    expect(r.status).toBe(124);
    expect(Date.now() - t0).toBeLessThan(10_000);
    expect(spawnSync("pgrep", ["-f", marker]).status).toBe(1);
  });
});
