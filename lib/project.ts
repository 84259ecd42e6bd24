/**
 * Locates the project's own files from compiled (dist/) or source (ts-jest) code alike.
 */
import { createHash } from "node:crypto";
import { existsSync, readdirSync, readFileSync } from "node:fs";
import { dirname, join } from "node:path";

/** The project root: the nearest ancestor of this file holding scripts/create-cluster.sh. */
export function projectRoot(): string {
  let dir = __dirname;
  while (!existsSync(join(dir, "scripts", "create-cluster.sh"))) {
    const parent = dirname(dir);
    if (parent === dir) throw new Error(`kindha: scripts/create-cluster.sh not found above ${__dirname}`);
    dir = parent;
  }
  return dir;
}

/** Absolute path of the provisioner scripts, copied into each stack as an asset. */
export function scriptsDir(): string {
  return join(projectRoot(), "scripts");
}

/**
 * Content hash of the scripts directory, file names sorted: stable across machines, unlike a
 * hash in directory-listing order.
 */
export function scriptsHash(): string {
  const dir = scriptsDir();
  const hash = createHash("sha256");
  for (const name of readdirSync(dir).sort()) {
    hash.update(name).update("\0").update(readFileSync(join(dir, name))).update("\0");
  }
  return hash.digest("hex").slice(0, 32);
}
