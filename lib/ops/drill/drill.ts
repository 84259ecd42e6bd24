/**
 * Failure drill for HA stacks: stop one control-plane container, watch the API (through the load
 * balancer), etcd and writes keep serving, measure how long writes were unavailable, start it
 * again, check it got its address back, and verify. The container is always started again
 * (finally), whatever happened.
 */
import type { HealthState } from "../../model/etcd";
import type { Topology } from "../../model/topology";
import { lastLine } from "../../io/exec";
import { ClusterClient, type ClusterOpsContext } from "../client";
import { parseNodes } from "../kube";
import { createProbeConfigMap, outage, probesOf, sampleEvery, type Outage, type ProbeSample } from "../probes";
import { pollUntil } from "../steps";
import { etcdMemberEndpoints, renderChecks, verifyOnce, waitForVerify } from "../verify";

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

/** One etcd health reading while the victim is down. */
export interface EtcdSample {
  readonly at: number;
  readonly state: HealthState | "unknown";
}

/** What the drill saw, per probe; API and writes are sampled independently, about once a second. */
export interface DrillSamples {
  readonly api: readonly ProbeSample[];
  readonly write: readonly ProbeSample[];
  readonly etcd: readonly EtcdSample[];
}

export interface DrillSummary {
  readonly api: Outage;
  readonly write: Outage;
  /** etcd never reported quorum lost. */
  readonly quorumHeld: boolean;
  /** etcd reported the stopped member as down at least once (the drill really removed a member). */
  readonly memberDownSeen: boolean;
  readonly passed: boolean;
  readonly problems: readonly string[];
}

/** Judges the samples of one drill. Pure. */
export function summarizeDrill(samples: DrillSamples): DrillSummary {
  const api = outage(samples.api);
  const write = outage(samples.write);
  const quorumHeld = samples.etcd.every((s) => s.state !== "quorum-lost");
  const memberDownSeen = samples.etcd.some((s) => s.state === "degraded");
  const none = api.samples === 0 || write.samples === 0;
  const problems = [
    ...(none ? ["no samples were taken"] : []),
    ...(quorumHeld ? [] : ["etcd lost quorum"]),
    ...(memberDownSeen || samples.etcd.length === 0 ? [] : ["etcd never reported the stopped member down; was it really stopped?"]),
    ...(none || (api.okAtEnd && write.okAtEnd) ? [] : ["the API or writes were still failing at the end of the observation"]),
  ];
  return { api, write, quorumHeld, memberDownSeen, passed: problems.length === 0, problems };
}

export interface DrillContext extends ClusterOpsContext {
  readonly stackId: string;
  /** How long to observe with the member down (bounded by the caller to at most 120 s). */
  readonly observeMs: number;
  /** Between API and write probes (each probe gives up after probes.ts's PROBE_TIMEOUT). */
  readonly intervalMs: number;
}

/** etcd health is read less often: each reading execs into an etcd pod. */
const ETCD_EVERY_MS = 5_000;

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
  const k = new ClusterClient(c);
  const kc = k.kubectlWith(30_000);
  const victim = drillVictim(c.topology);

  c.log(`preflight: verify stack ${c.stackId} before breaking anything`);
  const before = await verifyOnce(c.topology, c);
  c.log(renderChecks(before));
  if (!before.every((r) => r.ok)) {
    return {
      ok: false,
      message: `drill refused: stack ${c.stackId} is not healthy before the drill (a drill on a degraded cluster could lose quorum); fix it first`,
    };
  }
  const nodes = await kc("get", "nodes", "-o", "json");
  const etcdHealth = async (): Promise<HealthState | "unknown"> => {
    const got = await k.etcdHealth(
      c.topology.controlPlanes[0].name,
      c.topology.etcd.members.length,
      etcdMemberEndpoints(c.topology, nodes),
      30_000,
    );
    return "report" in got ? got.report.state : "unknown";
  };
  const cannot = await createProbeConfigMap(k, DRILL_CONFIGMAP);
  if (cannot) return { ok: false, message: `cannot create the drill ConfigMap: ${cannot}` };

  // Docker hands a started container the lowest free address; etcd's peer URLs and certificates
  // name the old one, so a control plane that comes back elsewhere cannot rejoin.
  const addressBefore = await k.nodeAddress(victim);
  let samples: DrillSamples;
  const probes = probesOf(c, DRILL_CONFIGMAP);
  // Set before the stop: a stop that timed out may still have stopped the container.
  let stopAttempted = false;
  try {
    c.log(`stopping control plane ${victim}: ${c.containerCli} stop ${victim}`);
    stopAttempted = true;
    const stop = await k.containers(["stop", victim], 60_000);
    if (stop.code !== 0) return { ok: false, message: `${c.containerCli} stop ${victim} failed: ${lastLine(stop)}` };
    const t0 = c.clock.now();
    // The observation window: no tick at or past it.
    const every = <T>(ms: number, take: () => Promise<T>) => sampleEvery(c.clock, t0, ms, take, (next) => next >= c.observeMs);
    const [api, write, etcd] = await Promise.all([
      every(c.intervalMs, probes.api),
      every(c.intervalMs, probes.write),
      every(Math.max(c.intervalMs, ETCD_EVERY_MS), etcdHealth),
    ]);
    samples = {
      api: api.map(([at, ok]) => ({ at, ok })),
      write: write.map(([at, ok]) => ({ at, ok })),
      etcd: etcd.map(([at, state]) => ({ at, state })),
    };
    c.log("  t(s)   probe  result");
    const rows = [
      ...samples.api.map((s) => [s.at, "API  ", s.ok ? "ok" : "FAIL"] as const),
      ...samples.write.map((s) => [s.at, "write", s.ok ? "ok" : "FAIL"] as const),
      ...samples.etcd.map((s) => [s.at, "etcd ", s.state] as const),
    ].sort((a, b) => a[0] - b[0]);
    for (const [at, what, result] of rows) c.log(`  ${(at / 1000).toFixed(1).padStart(5)}  ${what}  ${result}`);
  } finally {
    if (stopAttempted) {
      c.log(`starting control plane ${victim} again: ${c.containerCli} start ${victim}`);
      const start = await k.containers(["start", victim], 60_000);
      if (start.code !== 0) c.log(`  ${c.containerCli} start ${victim} FAILED: ${lastLine(start)}; start it by hand`);
    }
  }

  const addressAfter = addressBefore ? await k.nodeAddress(victim) : undefined;
  if (addressBefore && addressAfter !== addressBefore) {
    await kc("-n", "default", "delete", "configmap", DRILL_CONFIGMAP, "--ignore-not-found");
    return {
      ok: false,
      message:
        `drill failed: ${victim} came back at ${addressAfter ?? "no address"}, not ${addressBefore}, which its etcd member and certificates name; ` +
        `${c.containerCli} stop ${victim}, free ${addressBefore} (${c.containerCli} network inspect kind shows who holds it), then ${c.containerCli} start ${victim}`,
      summary: summarizeDrill(samples),
    };
  }
  const summary = summarizeDrill(samples);
  const secs = (ms: number) => `${(ms / 1000).toFixed(1)} s`;
  c.log(
    `writes unavailable for ${secs(summary.write.unavailableMs)} in total (longest ${secs(summary.write.longestMs)}; ${summary.write.failures} of ${summary.write.samples} writes failed)`,
  );
  c.log(
    `API unavailable for ${secs(summary.api.unavailableMs)} in total (longest ${secs(summary.api.longestMs)}; ${summary.api.failures} of ${summary.api.samples} /readyz probes failed)`,
  );

  c.log(`waiting for ${victim} to be Ready again`);
  const ready = await pollUntil(
    async () => {
      const r = await kc("get", "nodes", "-o", "json");
      return { done: r.code === 0 && parseNodes(r.stdout).some((n) => n.name === victim && n.ready) };
    },
    { timeoutMs: 180_000, intervalMs: 5_000, clock: c.clock },
  );
  const after = await waitForVerify(c.topology, c, { timeoutMs: 120_000, intervalMs: 10_000, clock: c.clock });
  c.log(renderChecks(after.results));
  await kc("-n", "default", "delete", "configmap", DRILL_CONFIGMAP, "--ignore-not-found");

  const problems = [
    ...summary.problems,
    ...(ready.done ? [] : [`${victim} did not become Ready again`]),
    ...(after.done ? [] : ["verify after the drill failed"]),
  ];
  return problems.length === 0
    ? {
        ok: true,
        message: `drill passed: with ${victim} stopped etcd held quorum; writes unavailable ${secs(summary.write.unavailableMs)}, API unavailable ${secs(summary.api.unavailableMs)}`,
        summary,
      }
    : { ok: false, message: `drill failed: ${problems.join("; ")}`, summary };
}
