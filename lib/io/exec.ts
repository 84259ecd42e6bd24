/**
 * The one place tools run external commands: argv arrays through execFile, never a shell string.
 *
 * An {@link Executor} never throws for a failing command; it returns the exit code, so step
 * runners decide what a failure means and tests can inject a fake.
 */
import { execFile, spawnSync } from "node:child_process";

/** What running a command gives, synchronously ({@link runSync}) or not ({@link Executor}). */
export interface CommandResult {
  /** Exit code; 127 when the program is missing, 124 when it ran out of time. */
  readonly code: number;
  readonly stdout: string;
  readonly stderr: string;
  /** The program could not be started (not found, not executable). */
  readonly missing?: boolean;
}

export interface RunOptions {
  readonly env?: NodeJS.ProcessEnv;
  readonly cwd?: string;
  /** Kill the command after this long (default 5 minutes; every call is bounded). */
  readonly timeoutMs?: number;
}

export type Executor = (file: string, args: readonly string[], opts?: RunOptions) => Promise<CommandResult>;

const DEFAULT_TIMEOUT_MS = 5 * 60_000;

/** Runs a program with execFile and collects its output. */
export const execFileExecutor: Executor = (file, args, opts = {}) =>
  new Promise((resolve) => {
    execFile(
      file,
      [...args],
      {
        env: opts.env ?? process.env,
        cwd: opts.cwd,
        timeout: opts.timeoutMs ?? DEFAULT_TIMEOUT_MS,
        maxBuffer: 256 * 1024 * 1024,
        encoding: "utf8",
      },
      (error, stdout, stderr) => {
        if (!error) return resolve({ code: 0, stdout, stderr });
        const e = error as NodeJS.ErrnoException & { code?: number | string; killed?: boolean; signal?: string };
        if (e.code === "ENOENT") return resolve({ code: 127, stdout, stderr: `${file}: command not found`, missing: true });
        if (e.killed && e.signal) {
          return resolve({ code: 124, stdout, stderr: `${stderr}${file}: timed out after ${opts.timeoutMs ?? DEFAULT_TIMEOUT_MS} ms` });
        }
        resolve({ code: typeof e.code === "number" ? e.code : 1, stdout, stderr: stderr || e.message });
      },
    );
  });

/** `file arg1 arg2`, quoting args with spaces: for printing what runs, never for running it. */
export function showCommand(file: string, args: readonly string[]): string {
  return [file, ...args].map((a) => (/^[\w@%+=:,./~-]+$/.test(a) ? a : `'${a.replace(/'/g, `'\\''`)}'`)).join(" ");
}

/** Last non-empty line of stderr (else stdout): what to show when a command failed. */
export function lastLine(r: CommandResult): string {
  const lines = (r.stderr.trim() || r.stdout.trim()).split("\n").filter((l) => l.trim() !== "");
  return lines.pop() ?? `exit code ${r.code}`;
}

/** Runs a program to completion, synchronously (review's git, tsc and engine calls; the test tiers). */
export function runSync(
  file: string,
  args: readonly string[],
  opts: { cwd?: string; env?: NodeJS.ProcessEnv; input?: string | Buffer; timeoutMs?: number; binary?: boolean } = {},
): CommandResult & { stdoutBuffer?: Buffer } {
  const r = spawnSync(file, [...args], {
    cwd: opts.cwd,
    env: opts.env ?? process.env,
    input: opts.input,
    timeout: opts.timeoutMs ?? 10 * 60_000,
    maxBuffer: 512 * 1024 * 1024,
  });
  const err = r.error as NodeJS.ErrnoException | undefined;
  const missing = err?.code === "ENOENT" || err?.code === "EACCES";
  return {
    code: r.status ?? (missing ? 127 : err?.code === "ETIMEDOUT" ? 124 : 1),
    stdout: r.stdout ? r.stdout.toString("utf8") : "",
    stderr: r.stderr ? r.stderr.toString("utf8") : err ? err.message : "",
    missing,
    ...(opts.binary && r.stdout ? { stdoutBuffer: r.stdout } : {}),
  };
}

/**
 * The non-empty lines of a command's output, without colour codes and without the box drawing
 * the engine frames its diagnostics in: what a failure message is picked from.
 */
export function outputLines(text: string): string[] {
  return (
    text
      // eslint-disable-next-line no-control-regex
      .replace(/\x1b\[[0-9;]*m/g, "")
      .split("\n")
      .map((l) => l.replace(/^[\s│╷╵]+/, "").trim())
      .filter((l) => l !== "")
  );
}
