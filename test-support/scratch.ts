// Directories a test file makes and forgets (cdktf's Testing.app() makes an outdir per call and
// never removes it): all under one directory per test file, removed after it (jest-setup.ts).
import { chmodSync, mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";

let base: string | undefined;

/** A fresh, empty directory, removed after the test file. */
export function scratchDir(prefix = "out-"): string {
  if (!base) {
    base = mkdtempSync(join(tmpdir(), "kindha-scratch-"));
    // Traversable, as /tmp is: a test may run a script as another user from a directory in it; each directory in it stays 0700.
    chmodSync(base, 0o755);
  }
  return mkdtempSync(join(base, prefix));
}

/** Removes every directory this test file made with scratchDir. */
export function removeScratchDirs(): void {
  if (base) rmSync(base, { recursive: true, force: true });
  base = undefined;
}
