/**
 * Plan counts for the review: the engine named by TERRAFORM_BINARY_NAME, `tofu` on PATH, or the
 * one `npm run engine` bootstrapped, run on each synthesized stack.
 */
import { existsSync } from "node:fs";
import { basename, join } from "node:path";
import { runSync as run } from "../io/exec";
import { projectRoot } from "../io/project";
import { firstError } from "./commands";
import { code } from "./markdown";
import { planCounts } from "./plan";
import type { PlanInfo, PlanOutcome } from "./render";

export interface Engine {
  /** What to run: TERRAFORM_BINARY_NAME or `tofu`. */
  readonly bin: string;
  /** Its base name, for the report. */
  readonly name: string;
  /** Settings it needs, e.g. the CLI config of a provider mirror. */
  readonly env?: Readonly<Record<string, string>>;
}

/**
 * The engine named by TERRAFORM_BINARY_NAME, else `tofu` on PATH, else the one `npm run engine`
 * bootstrapped with its provider mirror (what the engine tier runs; nothing is built here); or why
 * there is none.
 */
export function findEngine(env: NodeJS.ProcessEnv): Engine | { readonly reason: string } {
  const found = findNamedEngine(env);
  if (!("reason" in found) || env.TERRAFORM_BINARY_NAME?.trim()) return found;
  const boot = run("bash", [join(projectRoot(), "tools", "engine.sh"), "--env", "--no-build"], { env, timeoutMs: 60_000 });
  const vars = Object.fromEntries(
    boot.stdout
      .split("\n")
      .filter((l) => l.includes("="))
      .map((l) => [l.slice(0, l.indexOf("=")), l.slice(l.indexOf("=") + 1)]),
  );
  if (boot.code !== 0 || !vars.KINDHA_ENGINE_BIN || !vars.TF_CLI_CONFIG_FILE) return found;
  return { bin: vars.KINDHA_ENGINE_BIN, name: basename(vars.KINDHA_ENGINE_BIN), env: { TF_CLI_CONFIG_FILE: vars.TF_CLI_CONFIG_FILE } };
}

function findNamedEngine(env: NodeJS.ProcessEnv): Engine | { readonly reason: string } {
  const named = env.TERRAFORM_BINARY_NAME?.trim();
  const bin = named || "tofu";
  const r = run(bin, ["version"], { env, timeoutMs: 60_000 });
  if (r.missing) {
    return {
      reason: named
        ? `TERRAFORM_BINARY_NAME names ${code(basename(named))}, which cannot be run`
        : "no Terraform engine here (TERRAFORM_BINARY_NAME is not set and `tofu` is not on PATH; `tools/dev/engine.sh --env` prints the settings for one)",
    };
  }
  if (r.code !== 0) return { reason: `\`${basename(bin)} version\` failed: ${firstError(r, {})}` };
  return { bin, name: basename(bin) };
}

/**
 * init, plan and `show -json` for each synthesized stack in `outdir`, against the stack's local
 * state beside cdktf.json when there is one (read only: no lock, no refresh), else no state.
 */
export function planStacks(engine: Engine, outdir: string, ids: readonly string[], projectDir: string, env: NodeJS.ProcessEnv): PlanInfo {
  const results: Record<string, PlanOutcome> = {};
  for (const id of ids) {
    const dir = join(outdir, "stacks", id);
    const paths = { "<stack dir>": dir, ".": projectDir };
    const stateName = `terraform.${id}.tfstate`;
    const state = join(projectDir, stateName);
    const hasState = existsSync(state);
    const tf = (args: string[]) => run(engine.bin, args, { cwd: dir, env: { ...env, ...engine.env, TF_IN_AUTOMATION: "1" } });
    const init = tf(["init", "-input=false", "-no-color", `-backend-config=path=${hasState ? state : join(dir, "review.tfstate")}`]);
    if (init.code !== 0) {
      results[id] = { ok: false, reason: `\`${engine.name} init\` failed: ${firstError(init, paths)}` };
      continue;
    }
    const plan = tf(["plan", "-input=false", "-no-color", "-lock=false", "-refresh=false", "-out=review.tfplan"]);
    if (plan.code !== 0) {
      results[id] = { ok: false, reason: `\`${engine.name} plan\` failed: ${firstError(plan, paths)}` };
      continue;
    }
    const show = tf(["show", "-json", "-no-color", "review.tfplan"]);
    try {
      if (show.code !== 0) throw new Error(firstError(show, paths));
      results[id] = {
        ok: true,
        counts: planCounts(JSON.parse(show.stdout)),
        against: hasState ? `against the local state ${code(stateName)}` : "against no state: nothing is deployed from this checkout",
      };
    } catch (e) {
      results[id] = { ok: false, reason: `\`${engine.name} show -json\` failed: ${(e as Error).message}` };
    }
  }
  const failures = Object.values(results).filter((r): r is Extract<PlanOutcome, { ok: false }> => !r.ok);
  if (ids.length > 0 && failures.length === ids.length && failures.every((f) => f.reason === failures[0].reason)) {
    return { kind: "not-computed", reason: failures[0].reason };
  }
  return { kind: "computed", engine: engine.name, stacks: results };
}
