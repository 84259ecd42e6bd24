/**
 * Benchmark: cold synth through the compiled app (a fresh `node dist/main.js` per run), for the
 * three shipped stacks and for a large 7-control-plane + 100-worker topology; then the commands as
 * users type them, warm: `npm run synth` and `npm run verify -- --help` through tools/dev/run.js, side
 * by side with the old path that type-checked the project first (`tsc && node dist/...`). Prints
 * figures; asserts nothing (timings belong here, not in tests).
 *
 * Usage: npm run bench [-- --runs 5]; `npm run bench -- --migrate` runs bench/migrate.ts instead
 * (real clusters, about 15 minutes), `npm run bench -- --upgrade` bench/upgrade.ts (real clusters,
 * about 25 minutes).
 */
import { spawnSync } from "node:child_process";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { parseArgs } from "node:util";

const { values } = parseArgs({
  options: {
    runs: { type: "string", default: "5" },
    migrate: { type: "boolean", default: false },
    upgrade: { type: "boolean", default: false },
    stacks: { type: "string" },
    help: { type: "boolean", default: false },
  },
});
if (values.help) {
  console.log(
    "Usage: npm run bench [-- --runs N]\nTimes cold synths of the compiled app; prints median and range in ms.\n" +
      "npm run bench -- --migrate: migrate single <-> ha-option-b without and with 1 GiB of volume data (real clusters; needs KINDHA_PROVIDER_DIR).\n" +
      "npm run bench -- --upgrade [--stacks ha-option-b,single]: npm run upgrade v1.36.1 -> v1.37.2, the roll time per node and the probes' outage (real clusters).",
  );
  process.exit(0);
}
if (values.migrate || values.upgrade) {
  const root = resolve(__dirname, "..", "..");
  const entry = join(__dirname, values.migrate ? "migrate.js" : "upgrade.js");
  const args = values.upgrade && values.stacks ? ["--stacks", values.stacks] : [];
  const r = spawnSync("bash", [join(root, "e2e", "docker-engine.sh"), "run", "node", entry, ...args], { cwd: root, stdio: "inherit" });
  process.exit(r.status ?? 1);
}
const runs = Number(values.runs);
const main = resolve(__dirname, "..", "main.js");

const LARGE = `stacks:
  ha-large:
    availability: ha
    controlPlanes: 7
    workers:
      - { role: infrastructure, count: 10 }
      - { role: workload, count: 90, budget: { cpu: 2, memoryGiB: 4 } }
`;

function time(label: string, config?: string): number[] {
  const samples: number[] = [];
  for (let i = 0; i < runs; i++) {
    const cwd = mkdtempSync(join(tmpdir(), "kindha-bench-"));
    if (config) writeFileSync(join(cwd, "kindha.config.yaml"), config);
    const start = process.hrtime.bigint();
    const r = spawnSync("node", [main], { cwd, env: { ...process.env, CDKTF_OUTDIR: join(cwd, "cdktf.out") }, encoding: "utf8" });
    const ms = Number(process.hrtime.bigint() - start) / 1e6;
    rmSync(cwd, { recursive: true, force: true });
    if (r.status !== 0) throw new Error(`${label}: synth failed: ${r.stderr}`);
    samples.push(ms);
  }
  samples.sort((a, b) => a - b);
  const median = samples[Math.floor(samples.length / 2)];
  console.log(
    `${label.padEnd(48)} median ${median.toFixed(0).padStart(5)} ms  (min ${samples[0].toFixed(0)}, max ${samples[samples.length - 1].toFixed(0)}, ${runs} runs)`,
  );
  return samples;
}

console.log(`cold synth through the compiled app (node ${process.version}, ${runs} runs each)`);
const base = time("single + ha-option-b + ha-option-a");
const large = time("the three + ha-large (7 CP, 100 workers)", LARGE);
const ratio = large[Math.floor(large.length / 2)] / base[Math.floor(base.length / 2)];
console.log(`large / base: ${ratio.toFixed(2)}x (target < 2x); base target <= 1000 ms`);

/** Median wall time of a shell command run in the project root, in ms. */
function command(label: string, cmd: string, target: number): void {
  const root = resolve(__dirname, "..", "..");
  const samples: number[] = [];
  for (let i = 0; i < runs; i++) {
    const start = process.hrtime.bigint();
    const r = spawnSync("sh", ["-c", cmd], { cwd: root, encoding: "utf8", env: { ...process.env, CHECKPOINT_DISABLE: "1" } });
    if (r.status !== 0) throw new Error(`${label}: failed: ${r.stderr}`);
    samples.push(Number(process.hrtime.bigint() - start) / 1e6);
  }
  samples.sort((a, b) => a - b);
  const median = samples[Math.floor(samples.length / 2)];
  console.log(
    `${label.padEnd(48)} median ${median.toFixed(0).padStart(5)} ms  (min ${samples[0].toFixed(0)}, max ${samples[samples.length - 1].toFixed(0)}; target ${target ? `<= ${target} ms` : "none"})`,
  );
}

console.log(`\nthe commands, warm (${runs} runs each)`);
command("npm run synth", "npm run -s synth >/dev/null", 1000);
command("old path: tsc && node dist/main.js", "npx tsc -p tsconfig.json && node dist/main.js >/dev/null", 0);
command("npm run verify -- --help", "npm run -s verify -- --help >/dev/null", 1500);
command("old path: tsc && node dist/tools/verify.js --help", "npx tsc -p tsconfig.json && node dist/tools/verify.js --help >/dev/null", 0);
