/**
 * tools/dev/run.js, the fast path of `npm run synth` and the tools: it transpiles what changed and
 * never runs output whose source is gone. Run in a scratch project of two sources.
 */
import { spawnSync } from "node:child_process";
import { copyFileSync, existsSync, mkdirSync, mkdtempSync, rmSync, utimesSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";

const ROOT = join(__dirname, "..", "..", "..");
let dir: string;
beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), "kindha-run-"));
  mkdirSync(join(dir, "tools", "dev"), { recursive: true });
  mkdirSync(join(dir, "lib"));
  copyFileSync(join(ROOT, "tools", "dev", "run.js"), join(dir, "tools", "dev", "run.js"));
  writeFileSync(join(dir, "tsconfig.json"), JSON.stringify({ compilerOptions: { module: "commonjs", target: "es2022" } }));
  writeFileSync(join(dir, "main.ts"), 'import { x } from "./lib/a";\nconsole.log(`x=${x}`);\n');
  writeFileSync(join(dir, "lib", "a.ts"), "export const x: number = 1;\n");
});
afterEach(() => rmSync(dir, { recursive: true, force: true }));

const run = () =>
  spawnSync(process.execPath, [join(dir, "tools", "dev", "run.js"), "main"], {
    encoding: "utf8",
    env: { ...process.env, NODE_PATH: join(ROOT, "node_modules") },
  });

test("transpiles changed sources before running the entry point", () => {
  expect(run().stdout).toBe("x=1\n");
  writeFileSync(join(dir, "lib", "a.ts"), "export const x: number = 2;\n");
  const later = new Date(Date.now() + 5_000);
  utimesSync(join(dir, "lib", "a.ts"), later, later);
  expect(run().stdout).toBe("x=2\n");
});

test("removes the output of a source that was deleted, so nothing stale can load", () => {
  expect(run().status).toBe(0);
  writeFileSync(join(dir, "dist", "lib", "gone.js"), "module.exports = {};\n");
  expect(run().stdout).toBe("x=1\n");
  expect(existsSync(join(dir, "dist", "lib", "gone.js"))).toBe(false);
  expect(existsSync(join(dir, "dist", "lib", "a.js"))).toBe(true);
});
