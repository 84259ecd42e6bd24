/**
 * The layering the README describes, checked on the sources: lib/ is pure (no cdktf, no
 * constructs) and has no import cycle, neither between files nor between its folders.
 */
import { readdirSync, readFileSync } from "node:fs";
import { dirname, join, relative, resolve } from "node:path";

const ROOT = join(__dirname, "..", "..");
const LIB = join(ROOT, "lib");

function files(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((e) => (e.isDirectory() ? files(join(dir, e.name)) : e.name.endsWith(".ts") ? [join(dir, e.name)] : []));
}

/** Relative imports of a file, resolved to files (type-only imports included: they are coupling too). */
function imports(file: string): string[] {
  const text = readFileSync(file, "utf8");
  return [...text.matchAll(/from "(\.{1,2}\/[^"]+)"/g)].map((m) => resolve(dirname(file), `${m[1]}.ts`));
}

/** Every cycle of a graph, as a path that comes back to its start. */
function cycles(graph: Map<string, Set<string>>): string[][] {
  const found: string[][] = [];
  const visit = (node: string, path: string[]) => {
    for (const next of graph.get(node) ?? []) {
      if (next === path[0]) found.push([...path, next]);
      else if (!path.includes(next) && next > path[0]) visit(next, [...path, next]);
    }
  };
  for (const start of graph.keys()) visit(start, [start]);
  return found;
}

const libFiles = files(LIB);

test("lib/ is pure logic: no cdktf, no constructs", () => {
  const offenders = libFiles.filter((f) => /from "(cdktf|constructs|@cdktf\/[^"]+)"/.test(readFileSync(f, "utf8"))).map((f) => relative(ROOT, f));
  expect(offenders).toEqual([]);
});

test("lib/ has no import cycle between files", () => {
  const graph = new Map(libFiles.map((f) => [relative(LIB, f), new Set(imports(f).filter((i) => i.startsWith(LIB)).map((i) => relative(LIB, i)))]));
  expect(cycles(graph)).toEqual([]);
});

test("lib/ has no import cycle between folders", () => {
  const folder = (f: string) => relative(LIB, dirname(f)) || ".";
  const graph = new Map<string, Set<string>>();
  for (const f of libFiles) {
    const from = folder(f);
    for (const i of imports(f).filter((x) => x.startsWith(LIB))) {
      if (folder(i) !== from) graph.set(from, (graph.get(from) ?? new Set()).add(folder(i)));
    }
  }
  expect(cycles(graph)).toEqual([]);
});
