/**
 * `npm run remove-data -- <stack> --yes`: deletes the stack's data directory (every volume of its
 * cluster). The only command that does; destroy, migrate and re-creation keep it.
 */
import type { ResolvedStack } from "../lib/model/resolved-stack";
import { existsSync, lstatSync, readdirSync, readFileSync, realpathSync, rmSync, statSync } from "node:fs";
import { dirname, isAbsolute, join, relative, resolve } from "node:path";
import { loadStacks } from "../lib/io/config-file";
import { containerCli } from "../lib/io/container-cli";
import { DATA_OWNER_FILE } from "../lib/model/storage";
import { kindClusterPsArgs } from "../lib/model/topology";
import { lastLine } from "../lib/io/exec";
import { ClusterClient } from "../lib/ops/client";
import { dataDirOf } from "../lib/ops/data";
import { parseVolumes } from "../lib/ops/kube";
import {
  hostPath,
  clusterAccess,
  EXIT,
  parseToolArgs,
  processIo,
  runMain,
  runTool,
  singleStack,
  toolDeps,
  UsageError,
  type Io,
  type ToolDeps,
} from "./cli";

export const USAGE = `Usage: npm run remove-data -- <stack> [--claim NAMESPACE/CLAIM] --yes

Deletes the data directory of <stack>'s cluster (default ~/.kindha/data/<cluster>): every
PersistentVolume's bytes. Nothing else deletes it: cdktf destroy, a topology change, npm run
migrate and deleting a claim keep it (kindha's class keeps a deleted claim's directory, and a new
claim of the same name finds the bytes), for the next cluster or claim of that name.

Refuses while the cluster exists (destroy it first), when the directory belongs to another
cluster or has no file naming its cluster (kindha did not make it), when it is a symbolic link or
overlaps the backup directory or another cluster's data directory, and without --yes (then it
lists what would go).

Options:
  --claim NS/NAME  delete only that claim's directory (<data dir>/NS/NAME). While the cluster runs,
                   only when no claim of that name exists in it (delete the claim first); its
                   released volume object goes too
  --yes            delete it
  -h, --help       this help`;

/** `inner` is `outer` or lies below it. */
const within = (inner: string, outer: string) => {
  const rel = relative(resolve(outer), resolve(inner));
  return rel === "" || (!rel.startsWith("..") && !isAbsolute(rel));
};

/**
 * Another cluster's data directory that `dir` lies in or holds, by the stacks of the config and by
 * the owner files of `dir`'s parents: `<path> (cluster <name>)`, or undefined.
 */
function otherClusterData(dir: string, cluster: string, deps: ToolDeps): string | undefined {
  for (const stack of loadStacks()) {
    const name = stack.topology.clusterName;
    const theirs = stack.paths.data;
    if (name === cluster || stack.definition.target === "cluster-api" || theirs === undefined) continue;
    const path = hostPath(theirs, deps);
    if (within(path, dir) || within(dir, path)) return `${path}, the data directory of cluster ${name} (stack ${stack.id})`;
  }
  for (let up = dirname(resolve(dir)); up !== dirname(up); up = dirname(up)) {
    const owner = join(up, DATA_OWNER_FILE);
    if (existsSync(owner)) return `${up}, the data directory of cluster ${JSON.stringify(readFileSync(owner, "utf8").trim())}`;
  }
  return undefined;
}

/** `<namespace>/<claim>` directories under a data directory. */
export function volumesIn(dir: string): string[] {
  const subdirs = (d: string) =>
    readdirSync(d, { withFileTypes: true })
      .filter((e) => e.isDirectory())
      .map((e) => e.name)
      .sort();
  return subdirs(dir).flatMap((ns) => {
    try {
      return subdirs(join(dir, ns)).map((claim) => `${ns}/${claim}`);
    } catch {
      return [`${ns}/?`];
    }
  });
}

export async function main(argv: readonly string[], io: Io = processIo, given: Partial<ToolDeps> = {}): Promise<number> {
  return runTool(io, USAGE, argv, async () => {
    const { values, positionals } = parseToolArgs(argv, { yes: { type: "boolean" }, claim: { type: "string" } });
    const stack = singleStack(positionals);
    const deps = toolDeps(given);
    const name = stack.topology.clusterName;
    const configured = stack.paths.data;
    if (configured === undefined)
      throw new UsageError(`stack ${stack.id} has no data directory (dataDir: false): its volumes lived inside the nodes`);
    const dir = hostPath(configured, deps);
    if (!existsSync(dir)) {
      io.out(`remove-data: ${dir} does not exist; nothing to delete`);
      return EXIT.ok;
    }
    // A link would delete only itself; its target may be anything.
    if (lstatSync(dir).isSymbolicLink())
      throw new Error(`${dir} is a symbolic link (to ${realpathSync(dir)}); not touching it: set dataDir to the directory itself`);
    if (!statSync(dir).isDirectory()) throw new Error(`${dir} is not a directory; not touching it`);
    const backups = hostPath(stack.paths.backups, deps);
    if (within(backups, dir) || within(dir, backups))
      throw new Error(`${dir} overlaps the backup directory ${backups}; deleting it would delete snapshots: not touching it`);
    const other = otherClusterData(dir, name, deps);
    if (other) throw new Error(`${dir} overlaps ${other}; deleting it would delete another cluster's volumes: not touching it`);
    // The create script marks the directories it makes; any other directory is not kindha's to delete.
    if (!existsSync(join(dir, DATA_OWNER_FILE)))
      throw new Error(`${dir} has no ${DATA_OWNER_FILE} file naming its cluster, so kindha did not make it; not touching it`);
    const owner = readFileSync(join(dir, DATA_OWNER_FILE), "utf8").trim();
    if (owner !== name) throw new Error(`${dir} belongs to cluster ${JSON.stringify(owner)}, not ${name}; not touching it`);
    const cli = containerCli(deps.env);
    const nodes = await deps.exec(cli, kindClusterPsArgs(name), { env: deps.env, timeoutMs: 30_000 });
    if (nodes.code !== 0)
      throw new Error(`cannot tell whether cluster ${name} exists (${cli} ps failed: ${nodes.stderr.trim() || nodes.code}); not deleting`);
    const running = nodes.stdout.trim() !== "";
    if (values.claim !== undefined) return removeClaim(stack, dir, values.claim, running, values.yes === true, deps, io);
    if (running) throw new Error(`cluster ${name} exists and uses ${dir}; destroy it first (npx cdktf destroy ${stack.id})`);
    const volumes = volumesIn(dir);
    const listing = volumes.length === 0 ? "no volumes" : `${volumes.length} volume(s): ${volumes.join(", ")}`;
    if (values.yes !== true) throw new UsageError(`add --yes to delete ${dir} (${listing})`);
    try {
      rmSync(dir, { recursive: true });
    } catch (e) {
      throw new Error(
        `deleting ${dir} failed: ${(e as Error).message}; files written by containers may belong to other users: sudo rm -rf ${dir}`,
        { cause: e },
      );
    }
    io.out(`remove-data: deleted ${dir} (${listing})`);
    return EXIT.ok;
  });
}

/** A claim's `<namespace>/<name>`: two DNS labels (what Kubernetes allows), so it names a directory under dir and nothing else. */
const CLAIM = /^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?\/[a-z0-9]([-.a-z0-9]{0,251}[a-z0-9])?$/;

/** Deletes one claim's directory; in a running cluster only when the claim is gone, with its released volume. */
async function removeClaim(
  stack: ResolvedStack,
  dir: string,
  claim: string,
  running: boolean,
  yes: boolean,
  deps: ToolDeps,
  io: Io,
): Promise<number> {
  if (!CLAIM.test(claim) || claim.split("/").some((p) => p === "." || p === "..")) {
    throw new UsageError(`--claim: ${JSON.stringify(claim)} must be <namespace>/<claim>, each a lower-case Kubernetes name`);
  }
  const path = join(dir, claim);
  if (!existsSync(path)) {
    io.out(`remove-data: ${path} does not exist; nothing to delete`);
    return EXIT.ok;
  }
  const [ns, name] = claim.split("/");
  let released: string[] = [];
  const k = running ? new ClusterClient(clusterAccess(stack, undefined, deps)) : undefined;
  if (k) {
    const pvc = await k.kubectl(["-n", ns, "get", "pvc", name, "--ignore-not-found", "-o", "name"], { timeoutMs: 60_000 });
    if (pvc.code !== 0) throw new Error(`cannot tell whether claim ${claim} exists (kubectl: ${lastLine(pvc)}); not deleting`);
    if (pvc.stdout.trim() !== "")
      throw new Error(
        `claim ${claim} exists in cluster ${stack.topology.clusterName}; delete it first (kubectl -n ${ns} delete pvc ${name}), then run this again`,
      );
    const pv = await k.kubectl(["get", "pv", "-o", "json"], { timeoutMs: 60_000 });
    if (pv.code !== 0) throw new Error(`kubectl get pv failed: ${lastLine(pv)}; not deleting`);
    released = parseVolumes(pv.stdout)
      .filter((v) => v.claim === claim && dataDirOf(v) === claim)
      .map((v) => v.name);
  }
  if (!yes)
    throw new UsageError(`add --yes to delete ${path}${released.length > 0 ? ` and the released volume ${released.join(", ")}` : ""}`);
  if (k && released.length > 0) {
    const r = await k.kubectl(["delete", "pv", ...released], { timeoutMs: 60_000 });
    if (r.code !== 0) throw new Error(`deleting volume ${released.join(", ")} failed: ${lastLine(r)}; ${path} is untouched`);
  }
  try {
    rmSync(path, { recursive: true });
  } catch (e) {
    throw new Error(
      `deleting ${path} failed: ${(e as Error).message}; files written by containers may belong to other users: sudo rm -rf ${path}`,
      { cause: e },
    );
  }
  io.out(`remove-data: deleted ${path} (volume ${claim})${released.length > 0 ? `, and its released volume ${released.join(", ")}` : ""}`);
  return EXIT.ok;
}

if (require.main === module) runMain(main);
