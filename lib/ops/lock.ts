/**
 * One lock per cluster for the operations that change it (upgrade, renew-certs, drill, restore,
 * migrate, backup --with-data, recover and the plan's repair): a file `~/.kindha/locks/<cluster>.lock`
 * (KINDHA_LOCK_DIR moves them) naming its holder, pid and start time. A second holder waits, saying for whom, and gives up after
 * a bound; a lock whose process is gone is taken over with a line saying so. What a holder runs
 * (migrate's cdktf deploy and its plan's hook) inherits it through KINDHA_LOCK.
 */
import { expandHome } from "../io/home";
import { LOCK_DIR } from "../model/paths";
import { randomUUID } from "node:crypto";
import { mkdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { dirname, join } from "node:path";
import { isRecord } from "../model/util";
import type { Clock } from "./steps";

/** What a lock file holds. */
export interface LockRecord {
  /** The operation: `renew-certs ha-option-b`. */
  readonly holder: string;
  readonly pid: number;
  /** ISO time the lock was taken. */
  readonly started: string;
  /** Handed to the holder's children (KINDHA_LOCK), which then run under the same lock. */
  readonly token: string;
}

export interface LockDeps {
  readonly env: NodeJS.ProcessEnv;
  readonly clock: Clock;
  /** Whether a process runs (default: signal 0). */
  readonly alive?: (pid: number) => boolean;
}

/** How long a second holder waits by default: KINDHA_LOCK_WAIT (seconds) changes it. */
export const LOCK_WAIT_SECONDS = 600;

/** Where the locks and the rolls' progress records live: KINDHA_LOCK_DIR, else LOCK_DIR. */
export function lockDir(env: NodeJS.ProcessEnv): string {
  return env.KINDHA_LOCK_DIR || expandHome(LOCK_DIR, env);
}

/** `<lockDir>/<cluster>.lock`. */
export function lockPath(cluster: string, env: NodeJS.ProcessEnv): string {
  return join(lockDir(env), `${cluster}.lock`);
}

const describe = (r: LockRecord) => `${r.holder} (pid ${r.pid}, since ${r.started})`;

function processAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (e) {
    return (e as NodeJS.ErrnoException).code === "EPERM";
  }
}

function readRecord(path: string): LockRecord | undefined {
  try {
    const r: unknown = JSON.parse(readFileSync(path, "utf8"));
    return isRecord(r) &&
      typeof r.holder === "string" &&
      typeof r.pid === "number" &&
      typeof r.started === "string" &&
      typeof r.token === "string"
      ? (r as unknown as LockRecord)
      : undefined;
  } catch {
    return undefined;
  }
}

/** KINDHA_LOCK_WAIT: whole seconds from 0 to 86400; anything else is refused. */
export function lockWaitMs(env: NodeJS.ProcessEnv): number {
  const given = env.KINDHA_LOCK_WAIT;
  if (given === undefined || given === "") return LOCK_WAIT_SECONDS * 1000;
  if (!/^\d+$/.test(given) || Number(given) > 86_400)
    throw new Error(`KINDHA_LOCK_WAIT=${JSON.stringify(given)}: must be whole seconds from 0 to 86400`);
  return Number(given) * 1000;
}

/**
 * Takes the lock of `cluster` for `holder`, waiting while a live process holds it. Resolves to
 * the release; throws, naming the holder, when the wait runs out.
 */
export async function acquireLock(cluster: string, holder: string, deps: LockDeps, say: (line: string) => void): Promise<() => void> {
  const path = lockPath(cluster, deps.env);
  const alive = deps.alive ?? processAlive;
  const waitMs = lockWaitMs(deps.env);
  const inherited = deps.env.KINDHA_LOCK;
  mkdirSync(dirname(path), { recursive: true, mode: 0o700 });
  const t0 = deps.clock.now();
  let waiting = false;
  for (;;) {
    const mine: LockRecord = { holder, pid: process.pid, started: new Date(deps.clock.now()).toISOString(), token: randomUUID() };
    try {
      writeFileSync(path, `${JSON.stringify(mine)}\n`, { flag: "wx", mode: 0o600 });
      const before = deps.env.KINDHA_LOCK;
      deps.env.KINDHA_LOCK = [before, mine.token].filter(Boolean).join(",");
      return () => {
        if (readRecord(path)?.token === mine.token) rmSync(path, { force: true });
        if (before === undefined) delete deps.env.KINDHA_LOCK;
        else deps.env.KINDHA_LOCK = before;
      };
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== "EEXIST") throw e;
    }
    const held = readRecord(path);
    if (held && (inherited ?? "").split(",").includes(held.token)) return () => undefined;
    if (!held || !alive(held.pid)) {
      say(`lock: taking over ${path}: ${held ? `its holder ${describe(held)} is gone` : "it does not name a holder"}`);
      rmSync(path, { force: true });
      continue;
    }
    const waited = deps.clock.now() - t0;
    if (waited >= waitMs)
      throw new Error(
        `cluster ${cluster} is busy: ${describe(held)} holds ${path}; waited ${Math.round(waited / 1000)} s (KINDHA_LOCK_WAIT); run again when it has finished`,
      );
    if (!waiting) say(`lock: waiting for ${describe(held)} to finish (up to ${Math.round(waitMs / 1000)} s; ${path})`);
    waiting = true;
    await deps.clock.sleep(1_000);
  }
}

/** Runs `body` holding the lock of `cluster`. */
export async function withLock<T>(
  cluster: string,
  holder: string,
  deps: LockDeps,
  say: (line: string) => void,
  body: () => Promise<T>,
): Promise<T> {
  const release = await acquireLock(cluster, holder, deps, say);
  try {
    return await body();
  } finally {
    release();
  }
}
