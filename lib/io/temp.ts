/**
 * Private temporary directories for keys and kubeconfigs (mkdtemp makes them 0700), removed when
 * the work ends, and on Ctrl-C or SIGTERM too: the signal runs the same removal, then ends the
 * process as the signal would have.
 */
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";

const live = new Set<string>();
const SIGNALS = ["SIGINT", "SIGTERM"] as const;

function onSignal(signal: NodeJS.Signals): void {
  for (const dir of live) rmSync(dir, { recursive: true, force: true });
  live.clear();
  for (const s of SIGNALS) process.removeListener(s, onSignal);
  process.kill(process.pid, signal);
}

/** Runs `body` with a new private directory `<tmp>/<prefix>XXXXXX`, removed after it, whatever ends it. */
export async function withPrivateTempDir<T>(prefix: string, body: (dir: string) => Promise<T>): Promise<T> {
  const dir = mkdtempSync(join(tmpdir(), prefix));
  if (live.size === 0) for (const s of SIGNALS) process.on(s, onSignal);
  live.add(dir);
  try {
    return await body(dir);
  } finally {
    rmSync(dir, { recursive: true, force: true });
    live.delete(dir);
    if (live.size === 0) for (const s of SIGNALS) process.removeListener(s, onSignal);
  }
}
