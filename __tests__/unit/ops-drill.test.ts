/**
 * The failure drill: refusal on a single control plane, the judgement of its samples, and the
 * whole run over a fake executor and clock answering with recorded output (no kind cluster here).
 */
import { drillRefusal, drillVictim, runDrill, summarizeDrill, type DrillContext, type DrillSample } from "../../lib/ops/drill";
import { resolveStack } from "../../lib/stack-config";
import { main as drillMain } from "../../tools/drill";
import { clusterFixtures, fakeClock, fakeExec, line, okResult, type Call } from "../fixtures/recorded/load";

const ha = resolveStack("ha-option-a").topology;
const single = resolveStack("single").topology;
const C = "data-platform-local";

const capture = () => {
  const out: string[] = [];
  const err: string[] = [];
  return { io: { out: (t: string) => void out.push(t), err: (t: string) => void err.push(t) }, out, err };
};

describe("drill refusal and victim", () => {
  test("fails when the stack has a single control plane: the drill refuses with the count", () => {
    expect(drillRefusal("single", single)).toBe("drill needs at least 3 control planes; stack single has 1");
  });

  test("accepts 3 control planes and stops the second, never the first", () => {
    expect(drillRefusal("ha-option-a", ha)).toBeUndefined();
    expect(drillVictim(ha)).toBe(`${C}-control-plane2`);
  });

  test("fails when npm run drill is given stack single: exit 1, the message, and no command runs", async () => {
    const { exec, calls } = fakeExec(() => okResult());
    const c = capture();
    expect(await drillMain(["single"], c.io, { exec, env: {} })).toBe(1);
    expect(c.err).toEqual(["drill: drill needs at least 3 control planes; stack single has 1"]);
    expect(calls).toEqual([]);
  });
});

describe("summarizeDrill", () => {
  const s = (at: number, write: boolean, etcd: DrillSample["etcd"] = "degraded", api = true): DrillSample => ({ at, api, etcd, write });

  test("adds up write outages from the first failing poll to the next succeeding one", () => {
    const sum = summarizeDrill([s(0, false), s(3000, false), s(6000, true), s(9000, false), s(12000, true), s(15000, true)]);
    expect(sum).toMatchObject({ writeUnavailableMs: 9000, longestWriteOutageMs: 6000, passed: true, quorumHeld: true, memberDownSeen: true });
  });

  test("fails when etcd lost quorum during the drill", () => {
    const sum = summarizeDrill([s(0, true), s(3000, false, "quorum-lost"), s(6000, true)]);
    expect(sum.passed).toBe(false);
    expect(sum.problems).toContain("etcd lost quorum");
  });

  test("fails when etcd never saw the member down (the stop did not take)", () => {
    const sum = summarizeDrill([s(0, true, "healthy"), s(3000, true, "healthy")]);
    expect(sum.problems).toEqual(["etcd never reported the stopped member down; was it really stopped?"]);
  });

  test("fails when writes still fail at the end, counting the open outage up to the last poll", () => {
    const sum = summarizeDrill([s(0, true), s(3000, false), s(6000, false, "degraded", false)]);
    expect(sum).toMatchObject({ passed: false, writeUnavailableMs: 3000, apiFailures: 1, servingAtEnd: false });
  });

  test("fails when no samples were taken", () => {
    expect(summarizeDrill([]).problems).toEqual(["no samples were taken"]);
  });
});

describe("runDrill over a fake cluster", () => {
  /** A cluster that reacts to docker stop/start: nodes, etcd health and writes follow the stopped state. */
  function fakeCluster(opts: { failingWrites?: number; throwOnPatch?: boolean } = {}) {
    let stopped = false;
    let patches = 0;
    const healthy = clusterFixtures();
    const degraded = clusterFixtures({ nodes: "kubectl-nodes-ha-option-a-cp2-stopped", health: "etcd-script-health-degraded", endpoints: "kubectl-endpointslices-kubernetes-ha-option-a-cp2-stopped" });
    const fake = fakeExec((file, args) => {
      if (file === "docker" && args[0] === "stop") return (stopped = true), okResult(args[1]);
      if (file === "docker" && args[0] === "start") return (stopped = false), okResult(args[1]);
      if (file === "kubectl" && args.includes("configmap") && (args.includes("create") || args.includes("delete"))) return okResult();
      if (file === "kubectl" && args.includes("patch")) {
        if (opts.throwOnPatch) throw new Error("executor crashed");
        patches += 1;
        return patches <= (opts.failingWrites ?? 0) ? { code: 1, stdout: "", stderr: "Error from server: etcdserver: request timed out" } : okResult();
      }
      return (stopped ? degraded : healthy)(file, args);
    });
    return fake;
  }

  const context = (exec: DrillContext["exec"], log: string[]): DrillContext => ({
    stackId: "ha-option-a",
    topology: ha,
    kubeconfig: "/k",
    etcdScript: "/repo/scripts/etcd.sh",
    exec,
    containerCli: "docker",
    clock: fakeClock(),
    log: (l) => void log.push(l),
    observeMs: 30_000,
    intervalMs: 3_000,
  });

  const order = (calls: readonly Call[]) => calls.filter((c) => c.file === "docker").map(line);

  test("stops control-plane2, sees degraded etcd with writes back, starts it again and passes", async () => {
    const { exec, calls } = fakeCluster({ failingWrites: 2 });
    const log: string[] = [];
    const outcome = await runDrill(context(exec, log));
    expect(outcome.ok).toBe(true);
    expect(order(calls)).toEqual([`docker stop ${C}-control-plane2`, `docker start ${C}-control-plane2`]);
    // 11 polls 3 s apart in a 30 s window; the first two writes failed: unavailable 0 s -> 6 s.
    expect(outcome.summary).toMatchObject({ samples: 11, writeUnavailableMs: 6000, quorumHeld: true, memberDownSeen: true, apiFailures: 0 });
    expect(log.join("\n")).toContain("writes unavailable for 6.0 s in total");
  });

  test("fails when the cluster is unhealthy before the drill: nothing is stopped", async () => {
    const { exec, calls } = fakeExec(clusterFixtures({ health: "etcd-script-health-degraded" }));
    const outcome = await runDrill(context(exec, []));
    expect(outcome.ok).toBe(false);
    expect(outcome.message).toMatch(/^drill refused: stack ha-option-a is not healthy before the drill/);
    expect(calls.some((c) => c.file === "docker")).toBe(false);
  });

  test("fails when polling throws, and the stopped control plane is still started again", async () => {
    const { exec, calls } = fakeCluster({ throwOnPatch: true });
    await expect(runDrill(context(exec, []))).rejects.toThrow("executor crashed");
    expect(order(calls)).toEqual([`docker stop ${C}-control-plane2`, `docker start ${C}-control-plane2`]);
  });

  test("fails when docker stop fails: the drill stops there and still runs docker start", async () => {
    const base = fakeCluster();
    const { exec, calls } = fakeExec((file, args) =>
      file === "docker" && args[0] === "stop" ? { code: 1, stdout: "", stderr: "Error response from daemon: timeout" } : base.exec(file, args),
    );
    const outcome = await runDrill(context(exec, []));
    expect(outcome).toMatchObject({ ok: false, message: `docker stop ${C}-control-plane2 failed: Error response from daemon: timeout` });
    expect(order(calls)).toEqual([`docker stop ${C}-control-plane2`, `docker start ${C}-control-plane2`]);
  });

  test("fails when writes never come back during the observation", async () => {
    const { exec, calls } = fakeCluster({ failingWrites: 1000 });
    const outcome = await runDrill(context(exec, []));
    expect(outcome.ok).toBe(false);
    expect(outcome.message).toContain("the API or writes were still failing at the end of the observation");
    expect(order(calls)).toContain(`docker start ${C}-control-plane2`);
  });

  test("the write probe patches one ConfigMap through the API (no shell, JSON patch argument)", async () => {
    const { exec, calls } = fakeCluster();
    await runDrill(context(exec, []));
    const patch = calls.find((c) => c.args.includes("patch"));
    expect(patch?.file).toBe("kubectl");
    expect(patch?.args).toEqual(["--kubeconfig", "/k", "--request-timeout", "20s", "-n", "default", "patch", "configmap", "kindha-drill", "--type", "merge", "-p", '{"data":{"seq":"1"}}']);
  });
});
