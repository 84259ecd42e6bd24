import { lastLine, type CommandResult } from "../io/exec";

/**
 * A step runner for restore and migrate: runs steps in order, checks each, and stops at the first
 * failure with what to do next. Steps get their commands through an injected executor, so tests
 * drive the whole sequence with a fake.
 */

export type StepResult = { readonly ok: true; readonly detail?: string } | { readonly ok: false; readonly reason: string };

export interface Step<C> {
  readonly name: string;
  /** Does the work and checks it; a throw counts as a failure with the error's message. */
  readonly run: (ctx: C) => Promise<StepResult>;
  /** What the operator should do when this step fails (state left behind, how to resume or undo). */
  readonly next: string | ((ctx: C) => string);
}

export interface StepReport {
  readonly ok: boolean;
  readonly completed: readonly string[];
  readonly failed?: { readonly step: string; readonly reason: string; readonly next: string };
}

export const ok = (detail?: string): StepResult => (detail === undefined ? { ok: true } : { ok: true, detail });
export const failed = (reason: string): StepResult => ({ ok: false, reason });

/** How a command failed: what, its exit code and its last line. */
export const commandFailure = (what: string, r: CommandResult, cause: (r: CommandResult) => string = lastLine): string =>
  `${what} failed (exit ${r.code}): ${cause(r)}`;

/** A step failed because a command did: what, its exit code and why (its last line, unless `cause` picks). */
export const failedCommand = (what: string, r: CommandResult, cause?: (r: CommandResult) => string): StepResult =>
  failed(commandFailure(what, r, cause));

/** Runs steps in order, printing `[i/n] name` and each step's time, and stops at the first failure. */
export async function runSteps<C>(
  steps: readonly Step<C>[],
  ctx: C,
  log: (line: string) => void,
  clock: Clock = realClock,
): Promise<StepReport> {
  const completed: string[] = [];
  const t0 = clock.now();
  for (const [i, step] of steps.entries()) {
    log(`[${i + 1}/${steps.length}] ${step.name}`);
    const started = clock.now();
    let result: StepResult;
    try {
      result = await step.run(ctx);
    } catch (e) {
      result = failed((e as Error).message);
    }
    if (!result.ok) {
      const next = typeof step.next === "function" ? step.next(ctx) : step.next;
      log(`      FAILED: ${result.reason}`);
      log(`      next: ${next}`);
      if (i + 1 < steps.length)
        log(
          `      not run: ${steps
            .slice(i + 1)
            .map((s) => s.name)
            .join("; ")}`,
        );
      return { ok: false, completed, failed: { step: step.name, reason: result.reason, next } };
    }
    log(`      ok in ${((clock.now() - started) / 1000).toFixed(1)} s${result.detail ? `: ${result.detail}` : ""}`);
    completed.push(step.name);
  }
  log(`done: ${steps.length} steps in ${((clock.now() - t0) / 1000).toFixed(0)} s`);
  return { ok: true, completed };
}

/** Clock and sleep, injectable so bounded loops run instantly in tests. */
export interface Clock {
  now(): number;
  sleep(ms: number): Promise<void>;
}

export const realClock: Clock = {
  now: () => Date.now(),
  sleep: (ms) => new Promise((resolve) => setTimeout(resolve, ms)),
};

/**
 * Calls `probe` until it reports done or `timeoutMs` passes (bounded: at most timeoutMs/intervalMs
 * + 1 probes). Resolves to the last probe's result.
 */
export async function pollUntil<T extends { done: boolean }>(
  probe: () => Promise<T>,
  opts: { timeoutMs: number; intervalMs: number; clock?: Clock },
): Promise<T> {
  const clock = opts.clock ?? realClock;
  const deadline = clock.now() + opts.timeoutMs;
  const maxTries = Math.floor(opts.timeoutMs / Math.max(1, opts.intervalMs)) + 1;
  let last = await probe();
  for (let tries = 1; !last.done && tries < maxTries && clock.now() < deadline; tries++) {
    await clock.sleep(opts.intervalMs);
    last = await probe();
  }
  return last;
}
