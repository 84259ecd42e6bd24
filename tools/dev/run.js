#!/usr/bin/env node
/**
 * Runs a compiled entry point of this project (`main`, `tools/verify`, `bench/bench`, ...) after
 * transpiling the TypeScript sources that changed since dist/ was written, so `npm run synth` and
 * the tools start in a fraction of a second instead of type-checking the whole project each time.
 * Type errors still fail `npm test` and CI, which run tsc first (`npm run build` does too).
 *
 * Usage: node tools/dev/run.js <entry without .js> [args...]
 */
"use strict";
const { existsSync, mkdirSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } = require("node:fs");
const { dirname, join } = require("node:path");
const Module = require("node:module");

const root = join(__dirname, "..", "..");
const dist = join(root, "dist");
const SOURCE_DIRS = ["constructs", "stacks", "lib", "tools", "bench"];

/** Paths (relative to `base`) of the files under SOURCE_DIRS whose names end with `ext`. */
function filesUnder(base, ext) {
  const found = [];
  const walk = (rel) => {
    for (const entry of readdirSync(join(base, rel), { withFileTypes: true })) {
      const path = `${rel}/${entry.name}`;
      if (entry.isDirectory()) walk(path);
      else if (entry.name.endsWith(ext) && !entry.name.endsWith(".d.ts")) found.push(path);
    }
  };
  for (const dir of SOURCE_DIRS) if (existsSync(join(base, dir))) walk(dir);
  return found;
}

const sources = () => ["main.ts", ...filesUnder(root, ".ts")];

// Output of a source that is gone would still load: remove it.
for (const out of existsSync(dist) ? filesUnder(dist, ".js") : []) {
  if (!existsSync(join(root, out.replace(/\.js$/, ".ts")))) rmSync(join(dist, out));
}

const outputOf = (src) => join(dist, src.replace(/\.ts$/, ".js"));
const stale = sources().filter((src) => {
  const out = outputOf(src);
  return !existsSync(out) || statSync(out).mtimeMs < statSync(join(root, src)).mtimeMs;
});

if (stale.length > 0) {
  // Loaded only when something changed: TypeScript itself takes ~0.3 s to load.
  const ts = require("typescript");
  const tsconfig = ts.readConfigFile(join(root, "tsconfig.json"), ts.sys.readFile).config;
  const { options } = ts.convertCompilerOptionsFromJson(tsconfig.compilerOptions, root);
  for (const src of stale) {
    const { outputText } = ts.transpileModule(readFileSync(join(root, src), "utf8"), { compilerOptions: options, fileName: src });
    mkdirSync(dirname(outputOf(src)), { recursive: true });
    writeFileSync(outputOf(src), outputText);
  }
}

const entry = process.argv[2];
if (!entry) {
  process.stderr.write("usage: node tools/dev/run.js <entry> [args...], e.g. node tools/dev/run.js main\n");
  process.exit(2);
}
const file = join(dist, `${entry.replace(/\.(ts|js)$/, "")}.js`);
if (!existsSync(file)) {
  process.stderr.write(`run: no such entry point: ${entry} (${file})\n`);
  process.exit(2);
}
// Run it as the main module, so its `require.main === module` guard fires.
process.argv.splice(1, 2, file);
Module.runMain();
