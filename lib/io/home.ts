import { homedir } from "node:os";
import { join } from "node:path";

/** A `~/`-path (lib/model/paths.ts) as an environment sees it: its HOME, else the process's home. */
export function expandHome(path: string, env: NodeJS.ProcessEnv = process.env): string {
  return path.startsWith("~/") ? join(env.HOME || homedir(), path.slice(2)) : path;
}
