/**
 * The base revision of a review: `git archive` into a temporary copy, compiled with this
 * checkout's tsc and synthesized there (no cdktf in this process).
 */
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, symlinkSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { runSync as run } from "../io/exec";
import { firstError } from "./commands";
import { code } from "./markdown";
import { asNodeLayout } from "./nodes";
import type { BaseInfo, BaseStack } from "./render";
import { resourcesOf } from "./resources";

/** Prints the base's stack topologies as JSON; run inside the base copy. */
const LAYOUT_PROBE = `
// The layout of the base's revision: loadStacks (resolved stacks), else loadStackDefinitions and
// planTopology (lib/io + lib/model, or the flat lib/ before them).
const first = (...paths) => {
  for (const p of paths) {
    try { return require(p); } catch (e) { if (e.code !== "MODULE_NOT_FOUND") throw e; }
  }
  throw new Error("no stack loader in the base (looked for " + paths.join(", ") + ")");
};
const s = first("./dist/lib/io/config-file.js", "./dist/lib/stack-config.js");
const out = [];
if (s.loadStacks) for (const r of s.loadStacks()) out.push({ id: r.id, topology: r.topology });
else for (const d of s.loadStackDefinitions()) {
  const t = first("./dist/lib/model/plan-topology.js", "./dist/lib/topology.js");
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
  if (sha.code !== 0)
    return {
      kind: "unavailable",
      label: code(ref),
      reason: "it is not a commit of this repository (fetch it first, e.g. `git fetch origin`)",
    };
  const commit = sha.stdout.trim();
  const label = `${code(ref)} (${code(commit.slice(0, 12))})`;
  const dir = mkdtempSync(join(tmpdir(), "kindha-review-base-"));
  const paths = { "<base checkout>": dir, ".": projectDir };
  const fail = (reason: string): BaseInfo => ({ kind: "unavailable", label, reason });
  try {
    const archive = run("git", ["archive", "--format=tar", commit], { cwd: projectDir, binary: true });
    if (archive.code !== 0 || !archive.stdoutBuffer) return fail(`\`git archive\` failed: ${firstError(archive, paths)}`);
    const untar = run("tar", ["-x", "-C", dir], { input: archive.stdoutBuffer });
    if (untar.code !== 0) return fail(`extracting it failed: ${firstError(untar, paths)}`);
    symlinkSync(join(projectDir, "node_modules"), join(dir, "node_modules"), "dir");

    const notes: string[] = [];
    const tsc = run(process.execPath, [join(projectDir, "node_modules", "typescript", "bin", "tsc"), "-p", "tsconfig.json"], { cwd: dir });
    if (!existsSync(join(dir, "dist", "main.js"))) return fail(`it does not compile: ${firstError(tsc, paths)}`);
    if (tsc.code !== 0)
      notes.push(`The base has type errors (first: ${code(firstError(tsc, paths))}); its compiled output was used anyway.`);

    const outdir = join(dir, "cdktf.out");
    const synth = run(process.execPath, ["dist/main.js"], { cwd: dir, env: { ...process.env, CDKTF_OUTDIR: outdir } });
    if (synth.code !== 0) return fail(`it fails to synthesize: ${firstError(synth, paths)}`);
    const stacksDir = join(outdir, "stacks");
    const ids = existsSync(stacksDir)
      ? readdirSync(stacksDir)
          .filter((id) => existsSync(join(stacksDir, id, "cdk.tf.json")))
          .sort()
      : [];

    const layouts = new Map<string, unknown>();
    const probe = run(process.execPath, ["-e", LAYOUT_PROBE], { cwd: dir });
    let order: string[] = [];
    if (probe.code === 0) {
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
