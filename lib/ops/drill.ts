/**
 * Failure drill for HA stacks: stop one control-plane container, watch the API (through the load
 * balancer), etcd and writes keep serving, measure how long writes were unavailable, start it
 * again and verify. The container is always started again (finally), whatever happened.
 */
import { parseHealthReport, type HealthState } from "../etcd/parse";
import type { Topology } from "../topology";
import { lastLine, type ClusterOpsContext, type CommandResult } from "./exec";
import { kubectlArgs, parseNodes } from "./kube";
import { pollUntil } from "./steps";
import { collectVerifyInputs, etcdHealthArgs, renderChecks, verifyChecks } from "./verify";

/** Why a stack cannot be drilled, or undefined when it can. */
export function drillRefusal(stackId: string, t: Topology): string | undefined {
  const n = t.controlPlanes.length;
  if (n < 3) return `drill needs at least 3 control planes; stack ${stackId} has ${n}`;
  return undefined;
}

/**
 * The control plane to stop: the second one. Not the first, whose etcd pod the health checks exec
 * into and whose name kind's kubeconfig tooling treats as the bootstrap node.
 */
export function drillVictim(t: Topology): string {
  return t.controlPlanes[1].name;
}

/** One poll while the victim is down. `at` is ms since the stop. */
export interface DrillSample {
  readonly at: number;
  readonly api: boolean;
  readonly etcd: HealthState | "unknown";
  readonly write: boolean;
}

export interface DrillSummary {
  readonly samples: number;
  /** Sum of write outages: from each failing sample to the next succeeding one (or the last sample). */
  readonly writeUnavailableMs: number;
  readonly longestWriteOutageMs: number;
  readonly apiFailures: number;
  /** etcd never reported quorum lost. */
  readonly quorumHeld: boolean;
  /** etcd reported the stopped member as down at least once (the drill really removed a member). */
  readonly memberDownSeen: boolean;
  /** The last sample had the API and writes working. */
  readonly servingAtEnd: boolean;
  readonly passed: boolean;
  readonly problems: readonly string[];
}

/** Judges the samples of one drill. Pure. */
export function summarizeDrill(samples: readonly DrillSample[]): DrillSummary {
  let total = 0;
  let longest = 0;
  let outageStart: number | undefined;
  for (const s of samples) {
    if (!s.write && outageStart === undefined) outageStart = s.at;
    if (s.write && outageStart !== undefined) {
      total += s.at - outageStart;
      longest = Math.max(longest, s.at - outageStart);
      outageStart = undefined;
    }
  }
  const last = samples[samples.length - 1];
  if (outageStart !== undefined && last) {
    total += last.at - outageStart;
    longest = Math.max(longest, last.at - outageStart);
  }
  const quorumHeld = samples.every((s) => s.etcd !== "quorum-lost");
  const memberDownSeen = samples.some((s) => s.etcd === "degraded");
  const servingAtEnd = !!last && last.api && last.write;
  const problems = [
    ...(samples.length === 0 ? ["no samples were taken"] : []),
    ...(quorumHeld ? [] : ["etcd lost quorum"]),
    ...(memberDownSeen || samples.length === 0 ? [] : ["etcd never reported the stopped member down; was it really stopped?"]),
    ...(servingAtEnd || samples.length === 0 ? [] : ["the API or writes were still failing at the end of the observation"]),
  ];
  return {
    samples: samples.length,
    writeUnavailableMs: total,
    longestWriteOutageMs: longest,
    apiFailures: samples.filter((s) => !s.api).length,
    quorumHeld,
    memberDownSeen,
    servingAtEnd,
    passed: problems.length === 0,
    problems,
  };
}

export interface DrillContext extends ClusterOpsContext {
  readonly stackId: string;
  /** How long to observe with the member down (bounded by the caller to at most 120 s). */
  readonly observeMs: number;
  readonly intervalMs: number;
}

export interface DrillOutcome {
  readonly ok: boolean;
  readonly message: string;
  readonly summary?: DrillSummary;
}

const DRILL_CONFIGMAP = "kindha-drill";

/** Runs the drill. Refuses single control planes and clusters that are not healthy to begin with. */
export async function runDrill(c: DrillContext): Promise<DrillOutcome> {
  const refusal = drillRefusal(c.stackId, c.topology);
  if (refusal) return { ok: false, message: refusal };
  const kc = (...args: string[]) => c.exec("kubectl", kubectlArgs(c.kubeconfig, ...args), { env: c.env, timeoutMs: 30_000 });
  const victim = drillVictim(c.topology);

  c.log(`preflight: verify stack ${c.stackId} before breaking anything`);
  const before = verifyChecks(c.topology, await collectVerifyInputs(c.topology, { kubeconfig: c.kubeconfig, etcdScript: c.etcdScript, exec: c.exec, env: c.env }));
  c.log(renderChecks(before));
  if (!before.every((r) => r.ok)) {
    return { ok: false, message: `drill refused: stack ${c.stackId} is not healthy before the drill (a drill on a degraded cluster could lose quorum); fix it first` };
  }
  const nodes = await kc("get", "nodes", "-o", "json");
  const healthArgs = [c.etcdScript, ...etcdHealthArgs(c.topology, c.kubeconfig, nodes)];
  const create = await kc("-n", "default", "create", "configmap", DRILL_CONFIGMAP, "--from-literal=seq=0");
  if (create.code !== 0 && !/AlreadyExists|already exists/.test(create.stderr)) {
    return { ok: false, message: `cannot create the drill ConfigMap: ${lastLine(create)}` };
  }

  const samples: DrillSample[] = [];
  // Set before the stop: a stop that timed out may still have stopped the container.
  let stopAttempted = false;
  try {
    c.log(`stopping control plane ${victim}: ${c.containerCli} stop ${victim}`);
    stopAttempted = true;
    const stop = await c.exec(c.containerCli, ["stop", victim], { env: c.env, timeoutMs: 60_000 });
    if (stop.code !== 0) return { ok: false, message: `${c.containerCli} stop ${victim} failed: ${lastLine(stop)}` };
    const t0 = c.clock.now();
    let seq = 0;
    c.log("  t(s)   API   etcd          write");
    await pollUntil(
      async () => {
        seq += 1;
        const [readyz, health, write] = await Promise.all([
          kc("--server", c.topology.api.url, "get", "--raw", "/readyz"),
          c.exec("bash", healthArgs, { env: c.env, timeoutMs: 30_000 }),
          kc("-n", "default", "patch", "configmap", DRILL_CONFIGMAP, "--type", "merge", "-p", JSON.stringify({ data: { seq: String(seq) } })),
        ]);
        const s: DrillSample = { at: c.clock.now() - t0, api: readyz.code === 0 && readyz.stdout.trim() === "ok", etcd: healthState(health), write: write.code === 0 };
        samples.push(s);
        c.log(`  ${(s.at / 1000).toFixed(1).padStart(5)}  ${s.api ? "ok  " : "FAIL"}  ${s.etcd.padEnd(12)}  ${s.write ? "ok" : "FAIL"}`);
        return { done: false };
      },
      { timeoutMs: c.observeMs, intervalMs: c.intervalMs, clock: c.clock },
    );
  } finally {
    if (stopAttempted) {
      c.log(`starting control plane ${victim} again: ${c.containerCli} start ${victim}`);
      const start = await c.exec(c.containerCli, ["start", victim], { env: c.env, timeoutMs: 60_000 });
      if (start.code !== 0) c.log(`  ${c.containerCli} start ${victim} FAILED: ${lastLine(start)}; start it by hand`);
    }
  }

  const summary = summarizeDrill(samples);
  c.log(`writes unavailable for ${(summary.writeUnavailableMs / 1000).toFixed(1)} s in total (longest ${(summary.longestWriteOutageMs / 1000).toFixed(1)} s); API failures: ${summary.apiFailures} of ${summary.samples} polls`);

  c.log(`waiting for ${victim} to be Ready again`);
  const ready = await pollUntil(
    async () => {
      const r = await kc("get", "nodes", "-o", "json");
      return { done: r.code === 0 && parseNodes(r.stdout).some((n) => n.name === victim && n.ready) };
    },
    { timeoutMs: 180_000, intervalMs: 5_000, clock: c.clock },
  );
  const after = await pollUntil(
    async () => {
      const results = verifyChecks(c.topology, await collectVerifyInputs(c.topology, { kubeconfig: c.kubeconfig, etcdScript: c.etcdScript, exec: c.exec, env: c.env }));
      return { done: results.every((r) => r.ok), results };
    },
    { timeoutMs: 120_000, intervalMs: 10_000, clock: c.clock },
  );
  c.log(renderChecks(after.results));
  await kc("-n", "default", "delete", "configmap", DRILL_CONFIGMAP, "--ignore-not-found");

  const problems = [...summary.problems, ...(ready.done ? [] : [`${victim} did not become Ready again`]), ...(after.done ? [] : ["verify after the drill failed"])];
  return problems.length === 0
    ? { ok: true, message: `drill passed: with ${victim} stopped the API and writes kept serving and etcd held quorum`, summary }
    : { ok: false, message: `drill failed: ${problems.join("; ")}`, summary };
}

function healthState(r: CommandResult): HealthState | "unknown" {
  if (!r.stdout.includes('"state"')) return "unknown";
  try {
    return parseHealthReport(r.stdout).state;
  } catch {
    return "unknown";
  }
}
