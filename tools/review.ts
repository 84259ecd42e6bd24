/**
 * `npm run review`: the pull-request review artifact. Synthesizes every stack of this checkout
 * (in-process) and of a base git revision (compiled and run from a temporary copy), asks a
 * Terraform engine for plan counts when one is available, and writes markdown (lib/review).
 *
 *   npm run review                          this checkout only -> review.md
 *   npm run review -- --base origin/main    compared with a base revision
 *   npm run review -- --example             regenerates docs/review-example.md
 */
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join, resolve } from "node:path";
import { App } from "cdktf";
import { stringify } from "yaml";
import { buildApp } from "../main";
import { projectRoot } from "../lib/io/project";
import { analyze, renderReview, resourcesOf, type BaseInfo, type BaseStack, type HeadStack, type PlanInfo } from "../lib/review";
import { runSync as run } from "../lib/io/exec";
import { synthesizeRef } from "../lib/review/base";
import { findEngine, planStacks } from "../lib/review/engine";
import { stacksFromYaml } from "../lib/model/resolved-stack";
import { loadStacks } from "../lib/io/config-file";
import { ClusterStack } from "../stacks/cluster-stack";
import { ClusterApiStack } from "../stacks/cluster-api-stack";
import { EXIT, parseToolArgs, processIo, runMain, runTool, UsageError, type Io } from "./cli";

export { synthesizeRef } from "../lib/review/base";
export { findEngine, planStacks, type Engine } from "../lib/review/engine";

// ---------------------------------------------------------------------------------------------
// Synthesis of this checkout (in-process)

/**
 * Synthesizes the app of this checkout into `outdir` (as `npm run synth` does) and returns every
 * cluster stack with its topology and resources.
 *
 * @param configYaml stack config to use instead of kindha.config.yaml (see lib/stack-config.ts)
 */
export function synthesizeCheckout(outdir: string, configYaml?: string): HeadStack[] {
  const stacks = configYaml === undefined ? loadStacks() : stacksFromYaml(configYaml, "review config");
  const app = buildApp(() => new App({ outdir }), stacks);
  app.synth();
  return app.node.children
    .filter((child): child is ClusterStack | ClusterApiStack => child instanceof ClusterStack || child instanceof ClusterApiStack)
    .map((stack) => {
      const id = stack.node.id;
      const document = JSON.parse(readFileSync(join(outdir, "stacks", id, "cdk.tf.json"), "utf8")) as unknown;
      return {
        id,
        topology: stack.topology,
        resources: resourcesOf(document),
        target: stack instanceof ClusterApiStack ? ("cluster-api" as const) : ("kind" as const),
      };
    });
}

function asBase(stacks: readonly HeadStack[]): BaseStack[] {
  return stacks.map((s) => ({ id: s.id, layout: s.topology, resources: s.resources }));
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
      plan: {
        kind: "not-computed",
        reason: "the example is generated without a Terraform engine, so that it reads the same on every machine",
      },
      command: "npm run review -- --example",
      intro: [
        "This is an example of the report `npm run review` writes and the pull-request workflow posts " +
          "(see [Reviewing changes](reviewing.md)). It is regenerated, never edited: a unit test fails when it is out of date.",
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

/** Parses the arguments; throws a UsageError. */
export function parseCli(argv: readonly string[]): CliOptions {
  const { values } = parseToolArgs(argv, {
    base: { type: "string" },
    out: { type: "string" },
    example: { type: "boolean", default: false },
    help: { type: "boolean", short: "h", default: false },
  });
  if (values.example && values.base !== undefined) throw new UsageError("--example compares with its own built-in base; drop --base");
  if (values.base !== undefined && values.base.trim() === "") throw new UsageError("--base needs a git ref, e.g. --base origin/main");
  return {
    ...(values.base !== undefined ? { base: values.base } : {}),
    out: values.out ?? (values.example ? EXAMPLE_FILE : "review.md"),
    example: values.example ?? false,
    help: values.help ?? false,
  };
}

export async function main(argv: readonly string[], io: Io = processIo): Promise<number> {
  return runTool(io, USAGE, argv, async () => {
    const cli = parseCli(argv);
    if (
      cli.base !== undefined &&
      run("git", ["rev-parse", "--verify", "--quiet", `${cli.base}^{commit}`], { cwd: projectRoot() }).code !== 0
    ) {
      throw new UsageError(`--base ${cli.base} is not a commit of this repository (fetch it first, e.g. git fetch origin)`);
    }
    // The example's default path is the project's, wherever the command runs.
    const out = cli.example && cli.out === EXAMPLE_FILE ? join(projectRoot(), EXAMPLE_FILE) : resolve(cli.out);
    mkdirSync(dirname(out), { recursive: true });
    if (cli.example) {
      writeFileSync(out, exampleReview());
      io.err(`review: wrote ${cli.out} (example: ha-option-b against a single-control-plane base)`);
      return EXIT.ok;
    }
    const review = createReview({ base: cli.base });
    writeFileSync(out, review.markdown);
    const replaced = review.replaced.length > 0 ? `; CLUSTER REPLACED in ${review.replaced.join(", ")}` : "";
    io.err(`review: wrote ${cli.out} (${review.stacks.length} stacks${cli.base ? `, against ${cli.base}` : ""}${replaced})`);
    return EXIT.ok;
  });
}

if (require.main === module) runMain(main);
