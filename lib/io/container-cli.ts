/**
 * The container CLI kind uses, by the one rule scripts/container-cli.sh holds: the scripts source
 * it (provisioners run them without Node), and the tools ask it here.
 */
import { spawnSync } from "node:child_process";
import { join } from "node:path";
import { scriptsDir } from "./project";

/** The variables the rule reads. */
const RULE_VARS = ["KINDHA_CONTAINER_CLI", "KIND_EXPERIMENTAL_PROVIDER"] as const;
const known = new Map<string, string>();

/** docker, podman or nerdctl, as scripts/container-cli.sh chooses it in `env`. */
export function containerCli(env: NodeJS.ProcessEnv = process.env): string {
  const given = Object.fromEntries(RULE_VARS.filter((v) => env[v] !== undefined).map((v) => [v, env[v] as string]));
  const key = JSON.stringify(given);
  const cached = known.get(key);
  if (cached !== undefined) return cached;
  const script = join(scriptsDir(), "container-cli.sh");
  const r = spawnSync("bash", ["-c", 'source "$1"; printf %s "$cli"', "container-cli", script], {
    env: { PATH: process.env.PATH ?? "/usr/bin:/bin", ...given },
    encoding: "utf8",
  });
  if (r.status !== 0 || !r.stdout) throw new Error(`kindha: ${script} named no container CLI (exit ${r.status}): ${r.stderr.trim()}`);
  known.set(key, r.stdout);
  return r.stdout;
}
