/**
 * Locates the project's own files from compiled (dist/) or source (ts-jest) code alike.
 */
import { existsSync } from "node:fs";
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
