/**
 * Independent probes through the stack's API address while something happens to the cluster: a
 * `/readyz` and a write (a ConfigMap patch), each about once a second with a short timeout, so an
 * outage shows as failed samples. Used by the drill and by the rolling steps (renew-certs).
 */
import { lastLine } from "../io/exec";
import { ClusterClient, type ClusterOpsContext } from "./client";
import type { Clock } from "./steps";

/** One probe result. `at` is ms since the probes started. */
export interface ProbeSample {
  readonly at: number;
  readonly ok: boolean;
}

/** Outage of one probe: from each failing sample to the next succeeding one (or the last sample). */
export interface Outage {
  readonly samples: number;
  readonly failures: number;
  readonly unavailableMs: number;
  readonly longestMs: number;
  /** The last sample succeeded. */
  readonly okAtEnd: boolean;
  /** Each run of failures: from its first failing sample to the next succeeding one (ms since the probes started). */
  readonly windows: readonly { readonly fromMs: number; readonly toMs: number }[];
}

/** kubectl's request timeout for the API and write probes: short, so an outage shows as failures. */
export const PROBE_TIMEOUT = "2s";

/** Adds up the outages of one probe. Pure. */
export function outage(samples: readonly ProbeSample[]): Outage {
  let total = 0;
  let longest = 0;
  let start: number | undefined;
  const windows: { fromMs: number; toMs: number }[] = [];
  const close = (at: number) => {
    if (start === undefined) return;
    total += at - start;
    longest = Math.max(longest, at - start);
    windows.push({ fromMs: start, toMs: at });
    start = undefined;
  };
  for (const s of samples) {
    if (!s.ok && start === undefined) start = s.at;
    if (s.ok) close(s.at);
  }
  const last = samples[samples.length - 1];
  if (last) close(last.at);
  return {
    samples: samples.length,
    failures: samples.filter((s) => !s.ok).length,
    unavailableMs: total,
    longestMs: longest,
    okAtEnd: !!last && last.ok,
    windows,
  };
}

/**
 * Calls `take` every `everyMs` (on a fixed grid from t0, skipping ticks a slow call overran) until
 * `stop(ms since t0 of the next tick)` says so; returns `[ms since t0, value]` pairs.
 */
export async function sampleEvery<T>(
  clock: Clock,
  t0: number,
  everyMs: number,
  take: () => Promise<T>,
  stop: (nextAt: number) => boolean,
): Promise<[number, T][]> {
  const out: [number, T][] = [];
  for (;;) {
    out.push([clock.now() - t0, await take()]);
    const next = (Math.floor((clock.now() - t0) / everyMs) + 1) * everyMs;
    if (stop(next)) return out;
    await clock.sleep(next - (clock.now() - t0));
  }
}

/** The two probes, as functions that resolve to whether the sample succeeded. */
export function probesOf(c: ClusterOpsContext, configMap: string): { api: () => Promise<boolean>; write: () => Promise<boolean> } {
  const k = new ClusterClient(c);
  const opts = { requestTimeout: PROBE_TIMEOUT, timeoutMs: 10_000 };
  let seq = 0;
  return {
    api: async () => {
      const r = await k.readyz(c.topology.api.url, opts);
      return r.code === 0 && r.stdout.trim() === "ok";
    },
    write: async () => {
      seq += 1;
      const patch = JSON.stringify({ data: { seq: String(seq) } });
      return (await k.kubectl(["-n", "default", "patch", "configmap", configMap, "--type", "merge", "-p", patch], opts)).code === 0;
    },
  };
}

/** Creates the ConfigMap the write probe patches (one already there is fine); the reason when it cannot. */
export async function createProbeConfigMap(k: ClusterClient, name: string): Promise<string | undefined> {
  const r = await k.kubectl(["-n", "default", "create", "configmap", name, "--from-literal=seq=0"], { timeoutMs: 30_000 });
  return r.code !== 0 && !/AlreadyExists|already exists/.test(r.stderr) ? lastLine(r) : undefined;
}

/** What the probes saw while `work` ran. */
export interface Probed<R> {
  readonly result: R;
  readonly api: readonly ProbeSample[];
  readonly write: readonly ProbeSample[];
  /** Clock time the samples' `at` counts from. */
  readonly startedAt: number;
}

/**
 * Runs `work` with both probes sampling every `everyMs` until it settles (and once after). The
 * ConfigMap the write probe patches is created first and deleted after.
 */
export async function probeDuring<R>(c: ClusterOpsContext, configMap: string, everyMs: number, work: () => Promise<R>): Promise<Probed<R>> {
  const k = new ClusterClient(c);
  const why = await createProbeConfigMap(k, configMap);
  if (why) throw new Error(`cannot create the probe ConfigMap ${configMap}: ${why}`);
  const probes = probesOf(c, configMap);
  let settled = false;
  const t0 = c.clock.now();
  const sample = (take: () => Promise<boolean>) => sampleEvery(c.clock, t0, everyMs, take, () => settled);
  const running = Promise.all([sample(probes.api), sample(probes.write)]);
  try {
    const result = await work();
    return { result, ...(await finish()) };
  } finally {
    if (!settled) await finish().catch(() => undefined);
    await k.kubectl(["-n", "default", "delete", "configmap", configMap, "--ignore-not-found"], { timeoutMs: 30_000 });
  }
  async function finish() {
    settled = true;
    const [api, write] = await running;
    const samples = (xs: [number, boolean][]) => xs.map(([at, ok]) => ({ at, ok }));
    return { api: samples(api), write: samples(write), startedAt: t0 };
  }
}

/**
 * The samples before and from a clock time (a step's start): a tool that prepares before it
 * changes the cluster reports the two apart. Pure.
 */
export function splitProbes(
  p: Pick<Probed<unknown>, "api" | "write" | "startedAt">,
  atClock: number | undefined,
): { before: typeof p; from: typeof p } {
  const cut = atClock === undefined ? Infinity : atClock - p.startedAt;
  const part = (keep: (s: ProbeSample) => boolean) => ({ startedAt: p.startedAt, api: p.api.filter(keep), write: p.write.filter(keep) });
  return { before: part((s) => s.at < cut), from: part((s) => s.at >= cut) };
}

/** A moment of a rolling tool's run (a step starting), at a clock time. */
export interface Mark {
  readonly at: number;
  readonly label: string;
}

/** Records the step lines (`[i/n] name`) a runSteps log prints and their sub-steps' lines, with the clock time of each. */
export function stepMarks(clock: Clock, log: (line: string) => void): { log: (line: string) => void; marks: Mark[] } {
  const marks: Mark[] = [];
  return {
    marks,
    log: (line) => {
      const step = /^(\[\d+\/\d+\]) /.exec(line);
      if (step) marks.push({ at: clock.now(), label: step[1] });
      // A sub-step a step logs as it completes (`      · what (N s)`): the time after it.
      const sub = /^\s+· (.*?) \([\d.]+ s\)$/.exec(line);
      const last = marks[marks.length - 1];
      if (sub && last) marks.push({ at: clock.now(), label: `${last.label.replace(/ after .*$/, "")} after ${sub[1]}` });
      log(line);
    },
  };
}

/**
 * The lines every rolling tool ends with: how long writes and the API were unavailable, and when
 * (seconds after the probes started, and the step then running), so an outage can be traced.
 */
export function outageLines(p: Pick<Probed<unknown>, "api" | "write" | "startedAt">, marks: readonly Mark[] = []): string[] {
  const secs = (ms: number) => `${(ms / 1000).toFixed(1)} s`;
  const when = (o: Outage) =>
    o.windows
      .map((w) => {
        const step = [...marks].reverse().find((m) => m.at - p.startedAt <= w.fromMs);
        return `+${(w.fromMs / 1000).toFixed(1)} s for ${secs(w.toMs - w.fromMs)}${step ? ` in ${step.label}` : ""}`;
      })
      .join(", ");
  const line = (what: string, o: Outage, probes: string) =>
    `${what} unavailable for ${secs(o.unavailableMs)} in total (longest ${secs(o.longestMs)}; ${o.failures} of ${o.samples}${probes} failed)${o.windows.length > 0 ? `: ${when(o)}` : ""}`;
  return [line("writes", outage(p.write), ""), line("API", outage(p.api), " /readyz probes")];
}
