/**
 * The remove-data operation: deletes a cluster's data directory (every volume), or one claim's
 * directory, after every check that it is this cluster's, no one else's, and not in use. The only
 * code that deletes a data directory; destroy, migrate and re-creation keep it.
 */
import { existsSync, lstatSync, readdirSync, readFileSync, realpathSync, rmSync, statSync } from "node:fs";
import { dirname, isAbsolute, join, relative, resolve } from "node:path";
import { lastLine, type Executor } from "../../io/exec";
import { DATA_OWNER_FILE } from "../../model/storage";
import { kindClusterPsArgs } from "../../model/topology";
import type { ClusterClient } from "../client";
import { dataDirOf } from "../data";
import { parseVolumes } from "../kube";

export interface RemoveDataContext {
  readonly stackId: string;
  readonly cluster: string;
  /** The data directory, `~/` expanded. */
  readonly dir: string;
  /** The stack's backup directory, `~/` expanded: never deleted with it. */
  readonly backups: string;
  /** The other clusters' data directories, `~/` expanded, by the stacks of the config. */
  readonly others: readonly { readonly path: string; readonly cluster: string; readonly stackId: string }[];
  readonly exec: Executor;
  readonly env: NodeJS.ProcessEnv;
  readonly containerCli: string;
  /** The cluster's client, asked for only when the cluster runs. */
  readonly client: () => ClusterClient;
  /** The user named the deletion (--yes). */
  readonly yes: boolean;
  readonly log: (line: string) => void;
}

/** Done, or what the deletion would take, to be confirmed. */
export type Removal = { readonly done: true } | { readonly confirm: string };

/** A claim's `<namespace>/<name>`: two DNS labels (what Kubernetes allows), so it names a directory under dir and nothing else. */
const CLAIM = /^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?\/[a-z0-9]([-.a-z0-9]{0,251}[a-z0-9])?$/;

/** Why `claim` is not a claim's `<namespace>/<name>`; undefined when it is. */
export function claimProblem(claim: string): string | undefined {
  return !CLAIM.test(claim) || claim.split("/").some((p) => p === "." || p === "..")
    ? `${JSON.stringify(claim)} must be <namespace>/<claim>, each a lower-case Kubernetes name`
    : undefined;
}

/** Deletes the data directory, or with `claim` that claim's directory; throws, deleting nothing, at the first check that fails. */
export async function removeData(c: RemoveDataContext, claim?: string): Promise<Removal> {
  const dir = c.dir;
  if (!existsSync(dir)) {
    c.log(`remove-data: ${dir} does not exist; nothing to delete`);
    return { done: true };
  }
  // A link would delete only itself; its target may be anything.
  if (lstatSync(dir).isSymbolicLink())
    throw new Error(`${dir} is a symbolic link (to ${realpathSync(dir)}); not touching it: set dataDir to the directory itself`);
  if (!statSync(dir).isDirectory()) throw new Error(`${dir} is not a directory; not touching it`);
  if (within(c.backups, dir) || within(dir, c.backups))
    throw new Error(`${dir} overlaps the backup directory ${c.backups}; deleting it would delete snapshots: not touching it`);
  const other = otherClusterData(c);
  if (other) throw new Error(`${dir} overlaps ${other}; deleting it would delete another cluster's volumes: not touching it`);
  // The create script marks the directories it makes; any other directory is not kindha's to delete.
  if (!existsSync(join(dir, DATA_OWNER_FILE)))
    throw new Error(`${dir} has no ${DATA_OWNER_FILE} file naming its cluster, so kindha did not make it; not touching it`);
  const owner = readFileSync(join(dir, DATA_OWNER_FILE), "utf8").trim();
  if (owner !== c.cluster) throw new Error(`${dir} belongs to cluster ${JSON.stringify(owner)}, not ${c.cluster}; not touching it`);
  const nodes = await c.exec(c.containerCli, kindClusterPsArgs(c.cluster), { env: c.env, timeoutMs: 30_000 });
  if (nodes.code !== 0)
    throw new Error(
      `cannot tell whether cluster ${c.cluster} exists (${c.containerCli} ps failed: ${nodes.stderr.trim() || nodes.code}); not deleting`,
    );
  const running = nodes.stdout.trim() !== "";
  if (claim !== undefined) return removeClaim(c, claim, running);
  if (running) throw new Error(`cluster ${c.cluster} exists and uses ${dir}; destroy it first (npx cdktf destroy ${c.stackId})`);
  const volumes = volumesIn(dir);
  const listing = volumes.length === 0 ? "no volumes" : `${volumes.length} volume(s): ${volumes.join(", ")}`;
  if (!c.yes) return { confirm: `${dir} (${listing})` };
  remove(dir);
  c.log(`remove-data: deleted ${dir} (${listing})`);
  return { done: true };
}

/** Deletes one claim's directory; in a running cluster only when the claim is gone, with its released volume. */
async function removeClaim(c: RemoveDataContext, claim: string, running: boolean): Promise<Removal> {
  const problem = claimProblem(claim);
  if (problem) throw new Error(`--claim: ${problem}`);
  const path = join(c.dir, claim);
  if (!existsSync(path)) {
    c.log(`remove-data: ${path} does not exist; nothing to delete`);
    return { done: true };
  }
  const [ns, name] = claim.split("/");
  let released: string[] = [];
  const k = running ? c.client() : undefined;
  if (k) {
    const pvc = await k.kubectl(["-n", ns, "get", "pvc", name, "--ignore-not-found", "-o", "name"], { timeoutMs: 60_000 });
    if (pvc.code !== 0) throw new Error(`cannot tell whether claim ${claim} exists (kubectl: ${lastLine(pvc)}); not deleting`);
    if (pvc.stdout.trim() !== "")
      throw new Error(
        `claim ${claim} exists in cluster ${c.cluster}; delete it first (kubectl -n ${ns} delete pvc ${name}), then run this again`,
      );
    const pv = await k.kubectl(["get", "pv", "-o", "json"], { timeoutMs: 60_000 });
    if (pv.code !== 0) throw new Error(`kubectl get pv failed: ${lastLine(pv)}; not deleting`);
    released = parseVolumes(pv.stdout)
      .filter((v) => v.claim === claim && dataDirOf(v) === claim)
      .map((v) => v.name);
  }
  if (!c.yes) return { confirm: `${path}${released.length > 0 ? ` and the released volume ${released.join(", ")}` : ""}` };
  if (k && released.length > 0) {
    const r = await k.kubectl(["delete", "pv", ...released], { timeoutMs: 60_000 });
    if (r.code !== 0) throw new Error(`deleting volume ${released.join(", ")} failed: ${lastLine(r)}; ${path} is untouched`);
  }
  remove(path);
  c.log(`remove-data: deleted ${path} (volume ${claim})${released.length > 0 ? `, and its released volume ${released.join(", ")}` : ""}`);
  return { done: true };
}

function remove(path: string): void {
  try {
    rmSync(path, { recursive: true });
  } catch (e) {
    throw new Error(
      `deleting ${path} failed: ${(e as Error).message}; files written by containers may belong to other users: sudo rm -rf ${path}`,
      { cause: e },
    );
  }
}

/** `inner` is `outer` or lies below it. */
const within = (inner: string, outer: string) => {
  const rel = relative(resolve(outer), resolve(inner));
  return rel === "" || (!rel.startsWith("..") && !isAbsolute(rel));
};

/**
 * Another cluster's data directory that the directory lies in or holds, by the stacks of the
 * config and by the owner files of its parents: `<path>, the data directory of …`, or undefined.
 */
function otherClusterData(c: RemoveDataContext): string | undefined {
  for (const o of c.others) {
    if (o.cluster === c.cluster) continue;
    if (within(o.path, c.dir) || within(c.dir, o.path)) return `${o.path}, the data directory of cluster ${o.cluster} (stack ${o.stackId})`;
  }
  for (let up = dirname(resolve(c.dir)); up !== dirname(up); up = dirname(up)) {
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
