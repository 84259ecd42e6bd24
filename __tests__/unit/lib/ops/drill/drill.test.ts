/**
 * The failure drill: refusal on a single control plane, the judgement of its samples, and the
 * whole run over a fake executor and clock answering with recorded output (no kind cluster here).
 */
import { drillRefusal, drillVictim, runDrill, summarizeDrill, type DrillContext } from "../../../../../lib/ops/drill/drill";
import { outage } from "../../../../../lib/ops/probes";
import { findStack } from "../../../../../lib/io/config-file";
import { main as drillMain } from "../../../../../tools/drill";
import { capture, clusterFixtures, fakeClock, fakeExec, line, okResult, type Call } from "../../../../fixtures/recorded/load";

const ha = findStack("ha-option-a").topology;
const single = findStack("single").topology;
const C = "data-platform-local";
const CPS = [`${C}-control-plane`, `${C}-control-plane2`, `${C}-control-plane3`];

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
    expect(await drillMain(["single"], c.io, { exec, env: { KINDHA_LOCK_DIR: process.env.KINDHA_LOCK_DIR } })).toBe(1);
    expect(c.err).toEqual(["drill: drill needs at least 3 control planes; stack single has 1"]);
    expect(calls).toEqual([]);
  });
});

describe("summarizeDrill", () => {
  const probes = (...oks: boolean[]) => oks.map((ok, i) => ({ at: i * 1000, ok }));
  const etcd = (...states: ("healthy" | "degraded" | "quorum-lost")[]) => states.map((state, i) => ({ at: i * 5000, state }));

  test("adds up write outages from the first failing probe to the next succeeding one, apart from the API's", () => {
    const sum = summarizeDrill({
      api: probes(true, true, true, true, true, true),
      write: probes(false, false, true, false, true, true),
      etcd: etcd("degraded"),
    });
    expect(sum.write).toEqual({
      samples: 6,
      failures: 3,
      unavailableMs: 3000,
      longestMs: 2000,
      okAtEnd: true,
      windows: [
        { fromMs: 0, toMs: 2000 },
        { fromMs: 3000, toMs: 4000 },
      ],
    });
    expect(sum.api).toEqual({ samples: 6, failures: 0, unavailableMs: 0, longestMs: 0, okAtEnd: true, windows: [] });
    expect(sum).toMatchObject({ passed: true, quorumHeld: true, memberDownSeen: true });
  });

  test("measures the API's outage on its own probes", () => {
    expect(outage(probes(true, false, false, false, true)).unavailableMs).toBe(3000);
  });

  test("fails when etcd lost quorum during the drill", () => {
    const sum = summarizeDrill({ api: probes(true), write: probes(true, false, true), etcd: etcd("degraded", "quorum-lost") });
    expect(sum.passed).toBe(false);
    expect(sum.problems).toContain("etcd lost quorum");
  });

  test("fails when etcd never saw the member down (the stop did not take)", () => {
    const sum = summarizeDrill({ api: probes(true, true), write: probes(true, true), etcd: etcd("healthy", "healthy") });
    expect(sum.problems).toEqual(["etcd never reported the stopped member down; was it really stopped?"]);
  });

  test("fails when writes still fail at the end, counting the open outage up to the last probe", () => {
    const sum = summarizeDrill({ api: probes(true, true, false), write: probes(true, false, false), etcd: etcd("degraded") });
    expect(sum).toMatchObject({ passed: false, write: { unavailableMs: 1000, okAtEnd: false }, api: { failures: 1 } });
  });

  test("fails when no samples were taken", () => {
    expect(summarizeDrill({ api: [], write: [], etcd: [] }).problems).toEqual(["no samples were taken"]);
  });
});

describe("runDrill over a fake cluster", () => {
  /** A cluster that reacts to docker stop/start: nodes, etcd health and writes follow the stopped state. */
  function fakeCluster(opts: { failingWrites?: number; throwOnPatch?: boolean; movesTo?: string } = {}) {
    let stopped = false;
    let restarted = false;
    let patches = 0;
    const healthy = clusterFixtures();
    const degraded = clusterFixtures({
      nodes: "kubectl-nodes-ha-option-a-cp2-stopped",
      health: "etcd-script-health-degraded",
      endpoints: "kubectl-endpointslices-kubernetes-ha-option-a-cp2-stopped",
    });
    const fake = fakeExec((file, args) => {
      if (file === "docker" && args[0] === "stop") return ((stopped = true), okResult(args[1]));
      if (file === "docker" && args[0] === "start") return ((stopped = false), (restarted = true), okResult(args[1]));
      if (file === "docker" && args[0] === "inspect" && restarted && opts.movesTo && args.includes(`${C}-control-plane2`))
        return okResult(`${opts.movesTo}\n`);
      if (file === "kubectl" && args.includes("configmap") && (args.includes("create") || args.includes("delete"))) return okResult();
      if (file === "kubectl" && args.includes("patch")) {
        if (opts.throwOnPatch) throw new Error("executor crashed");
        patches += 1;
        return patches <= (opts.failingWrites ?? 0)
          ? { code: 1, stdout: "", stderr: "Error from server: etcdserver: request timed out" }
          : okResult();
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
    intervalMs: 1_000,
  });

  /** The container CLI calls that change a container. */
  const order = (calls: readonly Call[]) =>
    calls.filter((c) => c.file === "docker" && (c.args[0] === "stop" || c.args[0] === "start")).map(line);

  test("stops control-plane2, sees degraded etcd with writes back, starts it again and passes", async () => {
    const { exec, calls } = fakeCluster({ failingWrites: 2 });
    const log: string[] = [];
    const outcome = await runDrill(context(exec, log));
    expect(outcome.ok).toBe(true);
    expect(order(calls)).toEqual([`docker stop ${C}-control-plane2`, `docker start ${C}-control-plane2`]);
    // 30 probes 1 s apart in a 30 s window; the first two writes failed: unavailable 0 s -> 2 s.
    expect(outcome.summary).toMatchObject({
      write: { samples: 30, failures: 2, unavailableMs: 2000 },
      api: { samples: 30, failures: 0, unavailableMs: 0 },
      quorumHeld: true,
      memberDownSeen: true,
    });
    expect(log.join("\n")).toContain("writes unavailable for 2.0 s in total");
    expect(outcome.message).toContain("writes unavailable 2.0 s, API unavailable 0.0 s");
  });

  test("fails when the cluster is unhealthy before the drill: nothing is stopped", async () => {
    const { exec, calls } = fakeExec(clusterFixtures({ health: "etcd-script-health-degraded" }));
    const outcome = await runDrill(context(exec, []));
    expect(outcome.ok).toBe(false);
    expect(outcome.message).toMatch(/^drill refused: stack ha-option-a is not healthy before the drill/);
    expect(order(calls)).toEqual([]);
  });

  test("fails when polling throws, and the stopped control plane is still started again", async () => {
    const { exec, calls } = fakeCluster({ throwOnPatch: true });
    await expect(runDrill(context(exec, []))).rejects.toThrow("executor crashed");
    expect(order(calls)).toEqual([`docker stop ${C}-control-plane2`, `docker start ${C}-control-plane2`]);
  });

  test("fails when docker stop fails: the drill stops there and still runs docker start", async () => {
    const base = fakeCluster();
    const { exec, calls } = fakeExec((file, args) =>
      file === "docker" && args[0] === "stop"
        ? { code: 1, stdout: "", stderr: "Error response from daemon: timeout" }
        : base.exec(file, args),
    );
    const outcome = await runDrill(context(exec, []));
    expect(outcome).toMatchObject({ ok: false, message: `docker stop ${C}-control-plane2 failed: Error response from daemon: timeout` });
    expect(order(calls)).toEqual([`docker stop ${C}-control-plane2`, `docker start ${C}-control-plane2`]);
  });

  test("fails at once, saying how to mend it, when the stopped control plane comes back at another address", async () => {
    const { exec, calls } = fakeCluster({ movesTo: "172.18.0.9" });
    const outcome = await runDrill(context(exec, []));
    expect(outcome).toMatchObject({
      ok: false,
      message: `drill failed: ${C}-control-plane2 came back at 172.18.0.9, not 172.18.0.6, which its etcd member and certificates name; docker stop ${C}-control-plane2, free 172.18.0.6 (docker network inspect kind shows who holds it), then docker start ${C}-control-plane2`,
    });
    // verify reads every control plane's address first; the drill reads the victim's before the stop and after the start.
    expect(calls.filter((c) => c.args[0] === "inspect").map((c) => c.args[c.args.length - 1])).toEqual([
      ...CPS,
      `${C}-control-plane2`,
      `${C}-control-plane2`,
    ]);
    // No waiting for a node that cannot rejoin: after the second address read, only the clean-up.
    const lastInspect = calls.map((c) => c.args[0]).lastIndexOf("inspect");
    expect(calls.slice(lastInspect + 1).map(line)).toEqual([
      "kubectl --kubeconfig /k --request-timeout 20s -n default delete configmap kindha-drill --ignore-not-found",
    ]);
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
    expect(patch?.args).toEqual([
      "--kubeconfig",
      "/k",
      "--request-timeout",
      "2s",
      "-n",
      "default",
      "patch",
      "configmap",
      "kindha-drill",
      "--type",
      "merge",
      "-p",
      '{"data":{"seq":"1"}}',
    ]);
  });
});
