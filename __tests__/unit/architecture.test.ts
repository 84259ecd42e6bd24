/**
 * The layering the README describes, checked on the sources: lib/model holds the rules and does
 * no I/O; lib/io, then lib/ops and lib/review, build on it; nothing in lib/ knows cdktf; no import
 * cycle between files or folders; tools/ holds the user commands, plumbing sits in tools/dev.
 */
import { existsSync, readdirSync, readFileSync } from "node:fs";
import { dirname, join, relative, resolve } from "node:path";

const ROOT = join(__dirname, "..", "..");
const LIB = join(ROOT, "lib");

function files(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((e) =>
    e.isDirectory() ? files(join(dir, e.name)) : e.name.endsWith(".ts") ? [join(dir, e.name)] : [],
  );
}

/** Relative imports of a file, resolved to files (type-only imports included: they are coupling too). */
function imports(file: string): string[] {
  const text = readFileSync(file, "utf8");
  return [...text.matchAll(/from "(\.{1,2}\/[^"]+)"/g)].map((m) => resolve(dirname(file), `${m[1]}.ts`));
}

/** Module specifiers a file names that are not relative: packages and node: built-ins. */
function externals(file: string): string[] {
  return [...readFileSync(file, "utf8").matchAll(/(?:from |import\(|require\()"([^".][^"]*)"/g)].map((m) => m[1]);
}

/** What the model may use from outside itself: computations only, no file, process, clock or network. */
const MODEL_EXTERNALS = ["yaml", "node:net", "node:crypto"];
/** Globals that reach the machine: the environment, the clock, randomness, timers. */
const MODEL_GLOBALS = /\b(process\.|Date\.now|new Date\(\)|Math\.random|setTimeout|setInterval)/;

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

/** Which folder of lib/ may import which (a folder may always import itself). */
const LAYERS: Record<string, readonly string[]> = {
  model: [],
  io: ["model"],
  ops: ["model", "io"],
  review: ["model", "io"],
};

/** A file's layer: the first folder under lib/ (lib/ops/restore/plan.ts is in ops). */
const layer = (f: string) => relative(LIB, dirname(f)).split("/")[0];

test("lib/ has only the layers the README names", () => {
  expect([...new Set(libFiles.map(layer))].sort()).toEqual(Object.keys(LAYERS).sort());
});

const OPS = join(LIB, "ops");
/** The operations that have a folder of their own under lib/ops/, each an npm script. */
const OPERATIONS = ["backup", "cluster-api", "drill", "migrate", "recover", "remove-data", "renew-certs", "restore", "upgrade"];

test("lib/ops/ holds one folder per operation, each named after its npm script, and the machinery they share beside them", () => {
  const scripts = Object.keys(JSON.parse(readFileSync(join(ROOT, "package.json"), "utf8")).scripts);
  const folders = readdirSync(OPS, { withFileTypes: true })
    .filter((e) => e.isDirectory())
    .map((e) => e.name)
    .sort();
  expect(folders).toEqual(OPERATIONS);
  expect(folders.filter((f) => !scripts.includes(f))).toEqual([]);
  expect(libFiles.filter((f) => f.startsWith(`${OPS}/`) && relative(OPS, f).split("/").length > 2).map((f) => relative(ROOT, f))).toEqual(
    [],
  );
});

test("the shared machinery of lib/ops/ imports no operation's folder", () => {
  const shared = libFiles.filter((f) => dirname(f) === OPS);
  expect(shared.length).toBeGreaterThan(10);
  const offenders = shared.flatMap((f) =>
    imports(f)
      .filter((i) => dirname(i) !== OPS && i.startsWith(OPS))
      .map((i) => `${relative(ROOT, f)} -> ${relative(ROOT, i)}`),
  );
  expect(offenders).toEqual([]);
});

test("no tool imports another tool: they share only tools/cli.ts", () => {
  const tools = files(join(ROOT, "tools")).filter((f) => dirname(f) === join(ROOT, "tools"));
  const offenders = tools.flatMap((f) =>
    imports(f)
      .filter((i) => dirname(i) === join(ROOT, "tools") && !i.endsWith("/cli.ts"))
      .map((i) => `${relative(ROOT, f)} -> ${relative(ROOT, i)}`),
  );
  expect(offenders).toEqual([]);
});

test("lib/model does no I/O: only yaml, node:net and node:crypto from outside it, no process, clock or timers", () => {
  const model = libFiles.filter((f) => f.startsWith(join(LIB, "model")));
  expect(model.length).toBeGreaterThan(10);
  const offenders = model.flatMap((f) => [
    ...externals(f)
      .filter((x) => !MODEL_EXTERNALS.includes(x))
      .map((x) => `${relative(ROOT, f)} imports ${x}`),
    ...(MODEL_GLOBALS.test(readFileSync(f, "utf8"))
      ? [`${relative(ROOT, f)} uses ${MODEL_GLOBALS.exec(readFileSync(f, "utf8"))![1]}`]
      : []),
  ]);
  expect(offenders).toEqual([]);
});

test("each folder of lib/ imports only the layers below it", () => {
  const offenders = libFiles.flatMap((f) => {
    const from = layer(f);
    return imports(f)
      .filter((i) => i.startsWith(LIB))
      .map(layer)
      .filter((to) => to !== from && !(LAYERS[from] ?? []).includes(to))
      .map((to) => `${relative(ROOT, f)} -> lib/${to}`);
  });
  expect(offenders).toEqual([]);
});

test("tools/ holds the user commands: every file there is an npm script, or the CLI helper they share", () => {
  const scripts: Record<string, string> = JSON.parse(readFileSync(join(ROOT, "package.json"), "utf8")).scripts;
  const commands = new Set(Object.values(scripts).flatMap((s) => [...s.matchAll(/tools\/([a-z-]+)(?:\s|$)/g)].map((m) => `${m[1]}.ts`)));
  const top = readdirSync(join(ROOT, "tools"), { withFileTypes: true })
    .filter((e) => e.isFile())
    .map((e) => e.name);
  expect(top.filter((f) => f !== "cli.ts" && !commands.has(f))).toEqual([]);
  expect(readdirSync(join(ROOT, "tools", "dev")).sort()).toEqual(["engine.sh", "run.js", "setup.sh"]);
});

test("lib/ is pure logic: no cdktf, no constructs", () => {
  const offenders = libFiles
    .filter((f) => /from "(cdktf|constructs|@cdktf\/[^"]+)"/.test(readFileSync(f, "utf8")))
    .map((f) => relative(ROOT, f));
  expect(offenders).toEqual([]);
});

test("lib/ has no import cycle between files", () => {
  const graph = new Map(
    libFiles.map((f) => [
      relative(LIB, f),
      new Set(
        imports(f)
          .filter((i) => i.startsWith(LIB))
          .map((i) => relative(LIB, i)),
      ),
    ]),
  );
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

test("no code runs a compiled tool as a process: tools call each other's functions (migrate runs restore and verify in-process)", () => {
  const sources = [...libFiles, ...files(join(ROOT, "tools"))];
  const offenders = sources
    .filter((f) => /dist\/tools|tools\/[a-z-]+\.js\b|\b(restore|verify)\.js\b/.test(readFileSync(f, "utf8")))
    .map((f) => relative(ROOT, f));
  expect(offenders).toEqual([]);
});

test("a file of lib/ over 300 lines (as Prettier lays it out, 140 wide) says in its header why it is that long", () => {
  const long = libFiles.filter((f) => readFileSync(f, "utf8").split("\n").length > 300);
  const header = (f: string) =>
    readFileSync(f, "utf8")
      .split("*/")[0]
      .replace(/\n \* ?/g, " ");
  const unexplained = long.filter((f) => !/\b(Over|Just over) 300 lines\b/.test(header(f))).map((f) => relative(ROOT, f));
  expect(unexplained).toEqual([]);
});

test("__tests__/unit mirrors the folders it tests: a test sits in the folder of its subject; those of the whole project at the top", () => {
  const unit = join(ROOT, "__tests__", "unit");
  const tests = files(unit).filter((f) => f.endsWith(".test.ts"));
  const astray = tests.map((f) => relative(unit, dirname(f))).filter((d) => d !== "" && !existsSync(join(ROOT, d)));
  expect(astray).toEqual([]);
  expect(tests.filter((f) => dirname(f) === unit).map((f) => relative(unit, f))).toEqual(["architecture.test.ts", "inputs.test.ts"]);
  expect(tests.length).toBeGreaterThan(20);
});
