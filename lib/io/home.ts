import { homedir } from "node:os";
import { join } from "node:path";

/** A `~/`-path (lib/model/paths.ts) as this process, or the given home directory, sees it. */
export function expandHome(path: string, home: string = homedir()): string {
  return path.startsWith("~/") ? join(home, path.slice(2)) : path;
}
