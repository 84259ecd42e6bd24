/**
 * The cluster's volumes in backups and restores. Volumes live in the host data directory, which
 * every node mounts at NODE_DATA_DIR; the archive is written and read through a node, because the
 * files belong to the containers' users, which the host user may not be able to read.
 *
 * Consistency: the Deployments and StatefulSets whose pods mount a claim are scaled to zero
 * (their replica counts remembered), so every database has shut down cleanly, then the directory
 * is archived, then each is scaled back to its count. Pods nothing can scale down (bare pods,
 * DaemonSets, Jobs) are named in the output: their volumes are archived while they run.
 */
import { existsSync, mkdirSync, readdirSync, renameSync } from "node:fs";
import { join } from "node:path";
import { DATA_OWNER_FILE, NODE_DATA_DIR } from "../model/storage";
import { lastLine, type CommandResult } from "../io/exec";
import type { ClusterClient } from "./client";
import { parseVolumes, parseWorkloads, podsWithClaims, type ClaimPod, type VolumeInfo, type WorkloadInfo } from "./kube";
import { pollUntil, type Clock } from "./steps";

/** Working directory of restores inside each node (on its /var volume, like /var/lib/etcd). */
export const NODE_RESTORE_DIR = "/var/lib/kindha-restore";
/** Where the archive is staged inside the node. */
const NODE_STAGING = `${NODE_RESTORE_DIR}/data.tar.gz`;

/** Makes the staging directory in `node` (0700: the archive holds every volume's files). */
async function makeStagingDir(k: ClusterClient, node: string): Promise<void> {
  const dir = await k.inNode(node, ["mkdir", "-p", "-m", "700", NODE_RESTORE_DIR]);
  if (dir.code !== 0) throw new Error(`preparing ${NODE_RESTORE_DIR} on ${node} failed: ${lastLine(dir)}`);
}

/** The archive that goes with a snapshot: `<snapshot without .db>.data.tar.gz`. */
export function dataArchivePath(snapshot: string): string {
  return `${snapshot.replace(/\.db$/, "")}.data.tar.gz`;
}

/** A workload scaled down for the archive, and the count it goes back to. */
export interface Scaled {
  readonly kind: "Deployment" | "StatefulSet";
  readonly namespace: string;
  readonly name: string;
  readonly replicas: number;
}

/** The Deployments and StatefulSets with running replicas whose pods mount a claim. */
export function workloadsToQuiesce(workloads: readonly WorkloadInfo[]): Scaled[] {
  return workloads.flatMap((w) =>
    (w.kind === "Deployment" || w.kind === "StatefulSet") && w.claims.length > 0 && w.desired > 0
      ? [{ kind: w.kind, namespace: w.namespace, name: w.name, replicas: w.desired }]
      : [],
  );
}

/** Owners whose pods go away when their Deployment or StatefulSet is scaled to zero. */
const SCALED_OWNERS = new Set(["ReplicaSet", "StatefulSet"]);

/** `kubectl scale` of one workload. */
const scale = (k: ClusterClient, w: Scaled, replicas: number) =>
  k.kubectl(["-n", w.namespace, "scale", `${w.kind.toLowerCase()}/${w.name}`, `--replicas=${replicas}`], { timeoutMs: 60_000 });

export interface Quiesced {
  readonly scaled: readonly Scaled[];
  /** Pods that still mount claims (nothing scales them): archived while they run. */
  readonly running: readonly ClaimPod[];
}

/**
 * Scales every Deployment and StatefulSet that mounts a claim to zero and waits until their pods
 * are gone. On failure the ones already scaled are scaled back before it throws.
 */
export async function quiesce(k: ClusterClient, opts: { clock: Clock; waitMs: number; log: (l: string) => void }): Promise<Quiesced> {
  const got = await k.kubectl(["get", "deployments,statefulsets,daemonsets", "-A", "-o", "json"]);
  if (got.code !== 0) throw new Error(`listing workloads failed: ${lastLine(got)}`);
  const todo = workloadsToQuiesce(parseWorkloads(got.stdout));
  const scaled: Scaled[] = [];
  try {
    for (const w of todo) {
      const r = await scale(k, w, 0);
      if (r.code !== 0) throw new Error(`scaling ${w.kind} ${w.namespace}/${w.name} to 0 failed: ${lastLine(r)}`);
      scaled.push(w);
      opts.log(`      scaled ${w.kind} ${w.namespace}/${w.name} from ${w.replicas} to 0`);
    }
    const last = await pollUntil(
      async () => {
        const pods = await k.kubectl(["get", "pods", "-A", "-o", "json"]);
        if (pods.code !== 0) return { done: false, left: [] as ClaimPod[], why: lastLine(pods) };
        const left = podsWithClaims(pods.stdout);
        return { done: left.every((p) => !SCALED_OWNERS.has(p.owner)), left, why: "" };
      },
      { timeoutMs: opts.waitMs, intervalMs: 2_000, clock: opts.clock },
    );
    if (!last.done) {
      const stuck = last.left.filter((p) => SCALED_OWNERS.has(p.owner)).map((p) => `${p.namespace}/${p.name}`);
      throw new Error(`pods still mount their claims after ${opts.waitMs / 1000}s: ${stuck.join(", ") || last.why}`);
    }
    return { scaled, running: last.left };
  } catch (e) {
    const back = await resume(k, scaled);
    throw new Error(`${(e as Error).message}${back.length > 0 ? `; scaling back failed too: ${back.join("; ")}` : ""}`, { cause: e });
  }
}

/** Scales each workload back to its count; returns what failed (with the command to run by hand). */
export async function resume(k: ClusterClient, scaled: readonly Scaled[]): Promise<string[]> {
  const problems: string[] = [];
  for (const w of scaled) {
    const r = await scale(k, w, w.replicas);
    if (r.code !== 0)
      problems.push(`kubectl -n ${w.namespace} scale ${w.kind.toLowerCase()}/${w.name} --replicas=${w.replicas} (${lastLine(r)})`);
  }
  return problems;
}

/**
 * Archives the data directory, as `node` sees it, into `file` on this machine: made 0600 in the
 * node (umask 077), and the container CLI's cp keeps that mode, so it is never readable by others.
 */
export async function archiveVolumes(k: ClusterClient, node: string, file: string): Promise<void> {
  await makeStagingDir(k, node);
  const tar = await k.inNode(
    node,
    ["sh", "-c", 'umask 077 && tar -C "$2" --exclude="./$3" -czf "$1" .', "-", NODE_STAGING, NODE_DATA_DIR, DATA_OWNER_FILE],
    1_800_000,
  );
  if (tar.code !== 0) throw new Error(`archiving ${NODE_DATA_DIR} on ${node} failed: ${lastLine(tar)}`);
  const cp = await k.containers(["cp", `${node}:${NODE_STAGING}`, file], 1_800_000);
  await k.inNode(node, ["rm", "-f", NODE_STAGING]);
  if (cp.code !== 0) throw new Error(`copying the archive out of ${node} failed: ${lastLine(cp)}`);
}

/**
 * Moves what the host data directory holds (but its owner file) into a new 0700 sibling,
 * `<dataDir>.before-restore-<stamp>`: never deleted, and outside the directory a later backup
 * archives. Renames only, so files written by containers as other users move too. Returns the
 * sibling, or undefined when there was nothing to move.
 */
export function setAsideData(dataDir: string, stamp: string): string | undefined {
  if (!existsSync(dataDir)) return undefined;
  const entries = readdirSync(dataDir).filter((e) => e !== DATA_OWNER_FILE);
  if (entries.length === 0) return undefined;
  const aside = `${dataDir}.before-restore-${stamp}`;
  mkdirSync(aside, { mode: 0o700 });
  for (const e of entries) renameSync(join(dataDir, e), join(aside, e));
  return aside;
}

/** Unpacks an archive's volumes into the data directory through `node` (the host side set aside first). */
export async function restoreVolumes(k: ClusterClient, node: string, archive: string): Promise<void> {
  await makeStagingDir(k, node);
  const cp = await k.containers(["cp", archive, `${node}:${NODE_STAGING}`], 1_800_000);
  if (cp.code !== 0) throw new Error(`copying ${archive} into ${node} failed: ${lastLine(cp)}`);
  const r = await k.inNode(node, ["sh", "-c", 'tar -C "$1" -xzf "$2" && rm -f "$2"', "-", NODE_DATA_DIR, NODE_STAGING], 1_800_000);
  if (r.code !== 0) throw new Error(`unpacking ${archive} on ${node} failed: ${lastLine(r)}`);
}

/**
 * Lists the claim directories of the data directory as a node sees it: `<namespace>/<claim>` a
 * line, followed by a tab and `-` when the directory is empty.
 */
export const VOLUME_DIRS_SCRIPT =
  'cd "$1" 2>/dev/null || exit 0; for d in */*/; do [ -d "$d" ] || continue; d=${d%/}; if [ -n "$(ls -A "$d")" ]; then echo "$d"; else printf "%s\\t-\\n" "$d"; fi; done';

/** Runs {@link VOLUME_DIRS_SCRIPT} in a node. */
export function listVolumeDirs(k: ClusterClient, node: string): Promise<CommandResult> {
  return k.inNode(node, ["sh", "-c", VOLUME_DIRS_SCRIPT, "-", NODE_DATA_DIR], 60_000);
}

/** What {@link VOLUME_DIRS_SCRIPT} printed: the directories present, and which of them are empty. */
export function parseVolumeDirs(stdout: string): { present: Set<string>; empty: Set<string> } {
  const present = new Set<string>();
  const empty = new Set<string>();
  for (const line of stdout.split("\n").filter(Boolean)) {
    const [dir, mark] = line.split("\t");
    present.add(dir);
    if (mark === "-") empty.add(dir);
  }
  return { present, empty };
}

/** A volume of the shared host data directory: its directory relative to it, or undefined. */
export function dataDirOf(v: VolumeInfo): string | undefined {
  return v.shared && v.path.startsWith(`${NODE_DATA_DIR}/`) ? v.path.slice(NODE_DATA_DIR.length + 1) : undefined;
}

/** What the host data directory holds of the Bound volumes: those whose directory is missing, and those whose directory is empty. */
export function volumesOnHost(
  volumes: readonly VolumeInfo[],
  dirs: { present: ReadonlySet<string>; empty: ReadonlySet<string> },
): { bound: number; missing: string[]; empty: string[] } {
  const bound = volumes.filter((v) => v.phase === "Bound" && dataDirOf(v) !== undefined);
  const label = (v: VolumeInfo) => `${v.claim || v.name} (${dataDirOf(v)})`;
  return {
    bound: bound.length,
    missing: bound.filter((v) => !dirs.present.has(dataDirOf(v)!)).map(label),
    empty: bound.filter((v) => dirs.empty.has(dataDirOf(v)!)).map(label),
  };
}

/** Reads the volumes and the directories a node sees; throws naming the command that failed. */
export async function readVolumesOnHost(
  k: ClusterClient,
  node: string,
): Promise<{ volumes: VolumeInfo[]; bound: number; missing: string[]; empty: string[] }> {
  const pv = await k.kubectl(["get", "pv", "-o", "json"], { timeoutMs: 60_000 });
  if (pv.code !== 0) throw new Error(`kubectl get pv failed: ${lastLine(pv)}`);
  const dirs = await listVolumeDirs(k, node);
  if (dirs.code !== 0) throw new Error(`listing ${NODE_DATA_DIR} on ${node} failed: ${lastLine(dirs)}`);
  const volumes = parseVolumes(pv.stdout);
  return { volumes, ...volumesOnHost(volumes, parseVolumeDirs(dirs.stdout)) };
}

/**
 * Sets `Retain` on every volume of the shared data directory that has another policy (volumes of
 * an older cluster's class, brought back by a restore): deleting a claim, or its namespace, then
 * keeps the bytes. Returns the volumes changed.
 */
export async function retainVolumes(k: ClusterClient, volumes: readonly VolumeInfo[]): Promise<string[]> {
  const todo = volumes.filter((v) => dataDirOf(v) !== undefined && v.reclaimPolicy !== "Retain");
  for (const v of todo) {
    const r = await k.kubectl(["patch", "pv", v.name, "--type", "merge", "-p", '{"spec":{"persistentVolumeReclaimPolicy":"Retain"}}'], {
      timeoutMs: 60_000,
    });
    if (r.code !== 0) throw new Error(`setting Retain on volume ${v.name} failed: ${lastLine(r)}`);
  }
  return todo.map((v) => v.name);
}
