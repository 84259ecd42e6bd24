/**
 * The backup operation: an etcd snapshot through scripts/etcd.sh backup (the command the
 * destroy-time provisioner runs) and, with data, a consistent archive of the volumes beside it:
 * the claims' users scaled to zero, the directory archived, each scaled back.
 */
import { chmodSync } from "node:fs";
import { lastLine } from "../../io/exec";
import type { ClusterClient } from "../client";
import { archiveVolumes, dataArchivePath, quiesce, resume } from "../data";
import { EtcdCommandError } from "../etcd-script";
import type { Clock } from "../steps";

export interface BackupContext {
  readonly k: ClusterClient;
  readonly cluster: string;
  readonly stackId: string;
  /** Where the snapshot goes, `~/` expanded. */
  readonly backupDir: string;
  /** The control plane whose etcd is snapshotted and whose node reads the data directory. */
  readonly node: string;
  /** Also archive the volumes (the stack has a data directory). */
  readonly withData: boolean;
  readonly clock: Clock;
  /** Bound of waiting for the claims' users to stop. */
  readonly waitMs: number;
  /** Each file written, as soon as it is: the snapshot, then the archive. */
  readonly wrote: (path: string) => void;
  /** Progress, warnings and failures. */
  readonly log: (line: string) => void;
}

/** Takes the backup; false when anything failed (said through `log`). Never true without a snapshot. */
export async function backup(c: BackupContext): Promise<boolean> {
  // The client clears KINDHA_SKIP_BACKUP (the destroy hook's alone): no success without a snapshot.
  let snapshot: string;
  try {
    const s = await c.k.backup({ cluster: c.cluster, stack: c.stackId, backupDir: c.backupDir, node: c.node });
    if (s.log.trim()) c.log(s.log.trimEnd());
    snapshot = s.path;
  } catch (e) {
    if (!(e instanceof EtcdCommandError)) throw e;
    const r = e.result;
    if (r.stderr.trim()) c.log(r.stderr.trimEnd());
    c.log(
      r.code !== 0
        ? `backup: FAILED (exit ${r.code})${r.stderr.trim() ? "" : `: ${lastLine(r)}`}`
        : "backup: FAILED: etcd.sh wrote no snapshot",
    );
    return false;
  }
  c.wrote(snapshot);
  if (!c.withData) return true;

  const archive = dataArchivePath(snapshot);
  const q = await quiesce(c.k, { clock: c.clock, waitMs: c.waitMs, log: (l) => c.log(l.trim()) });
  for (const p of q.running)
    c.log(
      `backup: warning: ${p.namespace}/${p.name} (${p.owner || "bare pod"}) mounts a claim and kept running; its volume is archived live`,
    );
  let archived: Error | undefined;
  try {
    await archiveVolumes(c.k, c.node, archive);
    chmodSync(archive, 0o600);
  } catch (e) {
    archived = e as Error;
  }
  const back = await resume(c.k, q.scaled);
  if (back.length > 0) c.log(`backup: scaling back failed; run by hand: ${back.join("; ")}`);
  else if (q.scaled.length > 0) c.log(`backup: ${q.scaled.length} workload(s) scaled back to their replica counts`);
  if (archived) {
    c.log(`backup: FAILED to archive the volumes: ${archived.message} (the snapshot ${snapshot} is written)`);
    return false;
  }
  c.wrote(archive);
  return back.length === 0;
}
