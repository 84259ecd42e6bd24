/**
 * `npm run review`: the pull-request review artifact. Synthesizes every stack of this checkout
 * (in-process) and of a base git revision (compiled and run from a temporary copy), asks a
 * Terraform engine for plan counts when one is available, and writes markdown (lib/review).
 *
 *   npm run review                          this checkout only -> review.md
 *   npm run review -- --base origin/main    compared with a base revision
 *   npm run review -- --example             regenerates docs/review-example.md
 */
import { spawnSync } from "node:child_process";
import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, symlinkSync, writeFileSync } from "node:fs";
import { homedir, tmpdir } from "node:os";
import { basename, dirname, join, resolve } from "node:path";
import { parseArgs } from "node:util";
import { App } from "cdktf";
import { stringify } from "yaml";
import { buildApp } from "../main";
import { projectRoot } from "../lib/project";
import {
  analyze,
  asNodeLayout,
  code,
  planCounts,
  renderReview,
  resourcesOf,
  type BaseInfo,
  type BaseStack,
  type HeadStack,
  type PlanInfo,
  type PlanOutcome,
} from "../lib/review";
import { loadStackDefinitions, stackDefinitionsFromYaml } from "../lib/stack-config";
import { ClusterStack } from "../stacks/cluster-stack";

// ---------------------------------------------------------------------------------------------
// Synthesis of this checkout (in-process)

/**
 * Synthesizes the app of this checkout into `outdir` (as `npm run synth` does) and returns every
 * cluster stack with its topology and resources.
 *
 * @param configYaml stack config to use instead of kindha.config.yaml (see lib/stack-config.ts)
 */
export function synthesizeCheckout(outdir: string, configYaml?: string): HeadStack[] {
  const defs = configYaml === undefined ? loadStackDefinitions() : stackDefinitionsFromYaml(configYaml, "review config");
  const app = buildApp(() => new App({ outdir }), defs);
  app.synth();
  return app.node.children
    .filter((child): child is ClusterStack => child instanceof ClusterStack)
    .map((stack) => {
      const id = stack.node.id;
      const document = JSON.parse(readFileSync(join(outdir, "stacks", id, "cdk.tf.json"), "utf8")) as unknown;
      return { id, topology: stack.topology, resources: resourcesOf(document) };
    });
}

function asBase(stacks: readonly HeadStack[]): BaseStack[] {
  return stacks.map((s) => ({ id: s.id, layout: s.topology, resources: s.resources }));
}

// ---------------------------------------------------------------------------------------------
// Commands

interface RunResult {
  readonly status: number;
  readonly stdout: string;
  readonly stderr: string;
  /** The program could not be started (not found, not executable). */
  readonly missing: boolean;
}

function run(
  file: string,
  args: readonly string[],
  opts: { cwd?: string; env?: NodeJS.ProcessEnv; input?: Buffer; timeoutMs?: number; binary?: boolean } = {},
): RunResult & { stdoutBuffer?: Buffer } {
  const r = spawnSync(file, [...args], {
    cwd: opts.cwd,
    env: opts.env ?? process.env,
    input: opts.input,
    timeout: opts.timeoutMs ?? 10 * 60_000,
    maxBuffer: 512 * 1024 * 1024,
  });
  const err = r.error as NodeJS.ErrnoException | undefined;
  return {
    status: r.status ?? (err ? 127 : 1),
    stdout: r.stdout ? r.stdout.toString("utf8") : "",
    stderr: r.stderr ? r.stderr.toString("utf8") : err ? err.message : "",
    missing: err?.code === "ENOENT" || err?.code === "EACCES",
    ...(opts.binary && r.stdout ? { stdoutBuffer: r.stdout } : {}),
  };
}

/**
 * The first informative line of a failed command's output, with the machine's paths replaced, so
 * the report stays the same wherever it is generated.
 */
function firstError(r: RunResult, paths: Readonly<Record<string, string>>): string {
  const lines = `${r.stderr}\n${r.stdout}`
    .split("\n")
    .map((l) => l.replace(/^[\s│╷╵]+/, "").trim())
    .filter((l) => l !== "");
  // A validation error is a heading and its problems: keep them together on one line.
  const heading = lines.findIndex((l) => /^Invalid .* \(\d+ problems?\):$/.test(l));
  const line =
    heading >= 0
      ? [lines[heading], ...lines.slice(heading + 1).filter((l) => l.startsWith("- "))].join(" ")
      : (lines.find((l) => /error/i.test(l)) ?? lines[0] ?? `exit code ${r.status}`);
  return scrub(line, paths).slice(0, 300);
}

function scrub(text: string, paths: Readonly<Record<string, string>>): string {
  let out = text;
  const entries = Object.entries({ ...paths, "~": homedir() }).sort((a, b) => b[1].length - a[1].length);
  for (const [name, path] of entries) if (path.length > 1) out = out.split(path).join(name);
  return out;
}

// ---------------------------------------------------------------------------------------------
// The base revision (a temporary copy, compiled with this checkout's tsc)

/** Prints the base's stack topologies as JSON; run inside the base copy. */
const LAYOUT_PROBE = `
const s = require("./dist/lib/stack-config.js");
const t = require("./dist/lib/topology.js");
const out = [];
for (const d of s.loadStackDefinitions()) {
  try { out.push({ id: d.id, topology: t.planTopology(d.availability, d.spec, "stack " + d.id) }); }
  catch (e) { out.push({ id: d.id, error: String((e && e.message) || e) }); }
}
process.stdout.write(JSON.stringify(out));
`;

/**
 * Synthesizes the stacks of git revision `ref`: `git archive` into a temporary directory,
 * node_modules linked from this checkout, compiled with this checkout's tsc, run with
 * CDKTF_OUTDIR. Never throws for a bad base: says what went wrong instead.
 */
export function synthesizeRef(ref: string, projectDir: string): BaseInfo {
  const git = (args: string[]) => run("git", args, { cwd: projectDir });
  const sha = git(["rev-parse", "--verify", "--quiet", `${ref}^{commit}`]);
  if (sha.missing) return { kind: "unavailable", label: code(ref), reason: "`git` is not installed" };
  if (sha.status !== 0) return { kind: "unavailable", label: code(ref), reason: "it is not a commit of this repository (fetch it first, e.g. `git fetch origin`)" };
  const commit = sha.stdout.trim();
  const label = `${code(ref)} (${code(commit.slice(0, 12))})`;
  const dir = mkdtempSync(join(tmpdir(), "kindha-review-base-"));
  const paths = { "<base checkout>": dir, ".": projectDir };
  const fail = (reason: string): BaseInfo => ({ kind: "unavailable", label, reason });
  try {
    const archive = run("git", ["archive", "--format=tar", commit], { cwd: projectDir, binary: true });
    if (archive.status !== 0 || !archive.stdoutBuffer) return fail(`\`git archive\` failed: ${firstError(archive, paths)}`);
    const untar = run("tar", ["-x", "-C", dir], { input: archive.stdoutBuffer });
    if (untar.status !== 0) return fail(`extracting it failed: ${firstError(untar, paths)}`);
    symlinkSync(join(projectDir, "node_modules"), join(dir, "node_modules"), "dir");

    const notes: string[] = [];
    const tsc = run(process.execPath, [join(projectDir, "node_modules", "typescript", "bin", "tsc"), "-p", "tsconfig.json"], { cwd: dir });
    if (!existsSync(join(dir, "dist", "main.js"))) return fail(`it does not compile: ${firstError(tsc, paths)}`);
    if (tsc.status !== 0) notes.push(`The base has type errors (first: ${code(firstError(tsc, paths))}); its compiled output was used anyway.`);

    const outdir = join(dir, "cdktf.out");
    const synth = run(process.execPath, ["dist/main.js"], { cwd: dir, env: { ...process.env, CDKTF_OUTDIR: outdir } });
    if (synth.status !== 0) return fail(`it fails to synthesize: ${firstError(synth, paths)}`);
    const stacksDir = join(outdir, "stacks");
    const ids = existsSync(stacksDir)
      ? readdirSync(stacksDir)
          .filter((id) => existsSync(join(stacksDir, id, "cdk.tf.json")))
          .sort()
      : [];

    const layouts = new Map<string, unknown>();
    const probe = run(process.execPath, ["-e", LAYOUT_PROBE], { cwd: dir });
    let order: string[] = [];
    if (probe.status === 0) {
      try {
        const parsed = JSON.parse(probe.stdout) as { id: string; topology?: unknown }[];
        for (const p of parsed) layouts.set(p.id, p.topology);
        order = parsed.map((p) => p.id);
      } catch {
        notes.push("The base's topologies could not be read, so node differences are not shown.");
      }
    } else {
      notes.push(`The base's topologies could not be computed (${code(firstError(probe, paths))}), so node differences are not shown.`);
    }
    ids.sort((a, b) => (order.includes(a) ? order.indexOf(a) : order.length) - (order.includes(b) ? order.indexOf(b) : order.length));
    const stacks: BaseStack[] = ids.map((id) => {
      const document = JSON.parse(readFileSync(join(stacksDir, id, "cdk.tf.json"), "utf8")) as unknown;
      const layout = asNodeLayout(layouts.get(id));
      return { id, ...(layout ? { layout } : {}), resources: resourcesOf(document) };
    });
    return { kind: "synthesized", label, notes, stacks };
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

// ---------------------------------------------------------------------------------------------
// Plan counts (only with an engine)

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
  const vars = Object.fromEntries(boot.stdout.split("\n").filter((l) => l.includes("=")).map((l) => [l.slice(0, l.indexOf("=")), l.slice(l.indexOf("=") + 1)]));
  if (boot.status !== 0 || !vars.KINDHA_ENGINE_BIN || !vars.TF_CLI_CONFIG_FILE) return found;
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
        : "no Terraform engine here (TERRAFORM_BINARY_NAME is not set and `tofu` is not on PATH; `tools/engine.sh --env` prints the settings for one)",
    };
  }
  if (r.status !== 0) return { reason: `\`${basename(bin)} version\` failed: ${firstError(r, {})}` };
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
    if (init.status !== 0) {
      results[id] = { ok: false, reason: `\`${engine.name} init\` failed: ${firstError(init, paths)}` };
      continue;
    }
    const plan = tf(["plan", "-input=false", "-no-color", "-lock=false", "-refresh=false", "-out=review.tfplan"]);
    if (plan.status !== 0) {
      results[id] = { ok: false, reason: `\`${engine.name} plan\` failed: ${firstError(plan, paths)}` };
      continue;
    }
    const show = tf(["show", "-json", "-no-color", "review.tfplan"]);
    try {
      if (show.status !== 0) throw new Error(firstError(show, paths));
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

// ---------------------------------------------------------------------------------------------
// The report

export interface ReviewOptions {
  /** Git ref to compare with; none: the checkout alone. */
  readonly base?: string;
  readonly projectDir?: string;
  /** Environment the engine is looked up in. */
  readonly env?: NodeJS.ProcessEnv;
}

export interface Review {
  readonly markdown: string;
  readonly stacks: readonly string[];
  /** Stacks whose cluster the change destroys. */
  readonly replaced: readonly string[];
}

export function createReview(opts: ReviewOptions = {}): Review {
  const projectDir = opts.projectDir ?? projectRoot();
  const env = opts.env ?? process.env;
  const dir = mkdtempSync(join(tmpdir(), "kindha-review-"));
  try {
    const outdir = join(dir, "head");
    const head = synthesizeCheckout(outdir);
    const base: BaseInfo = opts.base === undefined ? { kind: "none" } : synthesizeRef(opts.base, projectDir);
    const engine = findEngine(env);
    const plan: PlanInfo =
      "reason" in engine
        ? { kind: "not-computed", reason: engine.reason }
        : planStacks(
            engine,
            outdir,
            head.map((h) => h.id),
            projectDir,
            env,
          );
    const input = { head, base, plan, command: opts.base === undefined ? "npm run review" : `npm run review -- --base ${opts.base}` };
    const reviews = analyze(input);
    return {
      markdown: renderReview(input),
      stacks: reviews.map((r) => r.id),
      replaced: reviews.filter((r) => r.replacement).map((r) => r.id),
    };
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

/** The example's base: this checkout's presets with `ha-option-b` cut to one control plane. */
export const EXAMPLE_BASE_CONFIG = stringify({ stacks: { "ha-option-b": { availability: "single", controlPlanes: 1 } } });
/** The example's head: the presets alone, whatever kindha.config.yaml says. */
export const EXAMPLE_HEAD_CONFIG = stringify({ stacks: {} });
export const EXAMPLE_FILE = join("docs", "review-example.md");

/**
 * docs/review-example.md: the presets of this checkout compared with a built-in base in which
 * `ha-option-b` has a single control plane, so the example shows nodes added and the cluster
 * replacement warning. No engine: the file is the same on every machine.
 */
export function exampleReview(): string {
  const dir = mkdtempSync(join(tmpdir(), "kindha-review-example-"));
  try {
    const head = synthesizeCheckout(join(dir, "head"), EXAMPLE_HEAD_CONFIG);
    const base = synthesizeCheckout(join(dir, "base"), EXAMPLE_BASE_CONFIG);
    return renderReview({
      head,
      base: {
        kind: "synthesized",
        label: "a built-in example variant of this checkout",
        notes: [
          "It is this checkout's three presets, except that `ha-option-b` is a single-control-plane stack " +
            "(stack config `ha-option-b: {availability: single, controlPlanes: 1}`: 1 control plane + 1 combined worker). " +
            "So the example shows `ha-option-b` growing to 3 control planes, which replaces its cluster, and the other stacks unchanged.",
        ],
        stacks: asBase(base),
      },
      plan: { kind: "not-computed", reason: "the example is generated without a Terraform engine, so that it reads the same on every machine" },
      command: "npm run review -- --example",
      intro: [
        "This is an example of the report `npm run review` writes and the pull-request workflow posts " +
          "(see [Reviewing changes](../README.md#reviewing-changes)). It is regenerated, never edited: a unit test fails when it is out of date.",
      ],
    });
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

// ---------------------------------------------------------------------------------------------
// Command line

export const USAGE = `Usage: npm run review -- [--base <git ref>] [--out <file>] | --example | --help

Synthesizes every stack of this checkout and writes a markdown review: per stack a topology
diagram, the nodes with CPU and memory, etcd quorum and tolerated failures; a single-vs-HA
comparison; and, with --base, the difference against that git revision (nodes, CPU/memory,
resources, and a warning when the kind cluster would be destroyed and re-created). Plan counts
are added when a Terraform engine is available (TERRAFORM_BINARY_NAME, or tofu on PATH).

Options:
  --base <ref>   git revision to compare with, e.g. origin/main (default: compare nothing)
  --out <file>   where to write the review (default: review.md; with --example:
                 docs/review-example.md)
  --example      regenerate docs/review-example.md: this checkout against a built-in base
                 in which ha-option-b has a single control plane
  --help         print this help
`;

export interface CliOptions {
  readonly base?: string;
  readonly out: string;
  readonly example: boolean;
  readonly help: boolean;
}

/** Parses the arguments; throws a usage error. */
export function parseCli(argv: readonly string[]): CliOptions {
  const { values } = parseArgs({
    args: [...argv],
    options: {
      base: { type: "string" },
      out: { type: "string" },
      example: { type: "boolean", default: false },
      help: { type: "boolean", short: "h", default: false },
    },
    strict: true,
    allowPositionals: false,
  });
  if (values.example && values.base !== undefined) throw new Error("--example compares with its own built-in base; drop --base");
  if (values.base !== undefined && values.base.trim() === "") throw new Error("--base needs a git ref, e.g. --base origin/main");
  return {
    ...(values.base !== undefined ? { base: values.base } : {}),
    out: values.out ?? (values.example ? EXAMPLE_FILE : "review.md"),
    example: values.example ?? false,
    help: values.help ?? false,
  };
}

export function main(argv: readonly string[]): number {
  let cli: CliOptions;
  try {
    cli = parseCli(argv);
  } catch (e) {
    process.stderr.write(`review: ${(e as Error).message}\n\n${USAGE}`);
    return 2;
  }
  if (cli.help) {
    process.stdout.write(USAGE);
    return 0;
  }
  if (cli.base !== undefined && run("git", ["rev-parse", "--verify", "--quiet", `${cli.base}^{commit}`], { cwd: projectRoot() }).status !== 0) {
    process.stderr.write(`review: --base ${cli.base} is not a commit of this repository (fetch it first, e.g. git fetch origin)\n\n${USAGE}`);
    return 2;
  }
  try {
    // The example's default path is the project's, wherever the command runs.
    const out = cli.example && cli.out === EXAMPLE_FILE ? join(projectRoot(), EXAMPLE_FILE) : resolve(cli.out);
    if (cli.example) {
      mkdirSync(dirname(out), { recursive: true });
      writeFileSync(out, exampleReview());
      process.stderr.write(`review: wrote ${cli.out} (example: ha-option-b against a single-control-plane base)\n`);
      return 0;
    }
    const review = createReview({ base: cli.base });
    mkdirSync(dirname(out), { recursive: true });
    writeFileSync(out, review.markdown);
    const replaced = review.replaced.length > 0 ? `; CLUSTER REPLACED in ${review.replaced.join(", ")}` : "";
    process.stderr.write(`review: wrote ${cli.out} (${review.stacks.length} stacks${cli.base ? `, against ${cli.base}` : ""}${replaced})\n`);
    return 0;
  } catch (e) {
    process.stderr.write(`review: ${e instanceof Error ? e.message : String(e)}\n`);
    return 1;
  }
}

if (require.main === module) process.exit(main(process.argv.slice(2)));
