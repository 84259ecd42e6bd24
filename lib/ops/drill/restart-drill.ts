/**
 * The restart drill (`npm run drill -- <stack> --docker-restart`): what a restart of Docker or of
 * the host does to a cluster, done to this cluster's containers only. Every container stops, then
 * starts again in the reverse of the order the nodes need (the load balancer first, control
 * planes last: the order that moves unfixed addresses around, and kind's load balancer resets its
 * configuration on every start); then `recover` brings the cluster back and verify must pass.
 */
import { lastLine } from "../../io/exec";
import { ClusterClient } from "../client";
import { inspectContainers, recoverSteps, startOrder, type RecoverContext } from "../recover/recover";
import { runSteps } from "../steps";
import { renderChecks, waitForVerify } from "../verify";

export interface RestartDrillOutcome {
  readonly ok: boolean;
  readonly message: string;
  /** From the first start to a verified cluster, in ms. */
  readonly recoveredMs?: number;
}

export async function runRestartDrill(c: RecoverContext): Promise<RestartDrillOutcome> {
  const k = new ClusterClient(c);
  const names = startOrder(c.topology);
  // A cluster that has just started settles for a while: wait for it, within a bound.
  const before = (await waitForVerify(c.topology, c, { timeoutMs: 90_000, intervalMs: 3_000, clock: c.clock })).results;
  if (!before.every((r) => r.ok)) {
    c.log(renderChecks(before));
    return {
      ok: false,
      message: "the cluster is not healthy before the drill (90 s waited); nothing was stopped (npm run recover, or npm run verify, first)",
    };
  }
  const addresses = async () => new Map((await inspectContainers(k, names, c.network)).states.map((s) => [s.name, s.address]));
  const was = await addresses();
  c.log(`drill: stopping ${names.length} containers, as a Docker restart does`);
  const stop = await k.containers(["stop", ...names], 300_000);
  if (stop.code !== 0) c.log(`drill: stop: ${lastLine(stop)} (starting what was stopped again)`);
  const started = c.clock.now();
  for (const name of [...names].reverse()) {
    const r = await k.containers(["start", name], 120_000);
    if (r.code !== 0) c.log(`drill: start ${name}: ${lastLine(r)} (recover will try it again)`);
  }
  c.log("drill: every container started again; recovering");
  const report = await runSteps(recoverSteps(c), c, c.log, c.clock);
  const recoveredMs = c.clock.now() - started;
  const now = await addresses();
  const moved = [...was].filter(([name, ip]) => now.get(name) !== ip).map(([name, ip]) => `${name} ${ip} -> ${now.get(name) || "none"}`);
  if (!report.ok) return { ok: false, message: `recover stopped at "${report.failed?.step}": ${report.failed?.reason}`, recoveredMs };
  if (moved.length > 0)
    return { ok: false, message: `verified, but containers are not at their addresses: ${moved.join(", ")}`, recoveredMs };
  return {
    ok: true,
    message: `drill passed: cluster back and verified ${(recoveredMs / 1000).toFixed(0)} s after the restart; every container at its address`,
    recoveredMs,
  };
}
