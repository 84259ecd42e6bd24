/**
 * `npm run backup -- <stack> [--with-data]`: snapshot of the stack's etcd into its backup
 * directory, through scripts/etcd.sh backup (the same command the destroy-time provisioner runs),
 * and with --with-data a consistent archive of the cluster's volumes beside it.
 */
import { chmodSync } from "node:fs";
import { lastLine } from "../lib/io/exec";
import { EtcdCommandError } from "../lib/ops/etcd-script";
import { ClusterClient } from "../lib/ops/client";
import { archiveVolumes, dataArchivePath, quiesce, resume } from "../lib/ops/data";
import {
  hostPath,
  clusterAccess,
  EXIT,
  requireDataDir,
  parseToolArgs,
  processIo,
  runMain,
  runTool,
  singleStack,
  toolDeps,
  underLock,
  type Io,
  type ToolDeps,
  waitSeconds,
} from "./cli";

export const USAGE = `Usage: npm run backup -- <stack> [--with-data] [--kubeconfig FILE] [--backup-dir DIR]

Saves an etcd snapshot of the stack's kind cluster from the first control plane's etcd pod,
verifies it (snapshot status, non-zero keys) and prints its path:
  <backup dir>/<cluster>-<stack>-<UTC yyyymmddThhmmssZ>.db   (file 0600, directory 0700)

With --with-data it then archives the cluster's volumes (the stack's data directory) beside it,
  <backup dir>/<cluster>-<stack>-<UTC stamp>.data.tar.gz   (0600), and prints that path too.
Consistency: every Deployment and StatefulSet whose pods mount a PersistentVolumeClaim is scaled
to zero first (databases shut down cleanly), the directory is archived, and each is scaled back
to its replica count. The snapshot is taken before, so it records the counts to restore. Pods
that nothing can scale down (bare pods, DaemonSets, Jobs) are named: their volumes are archived
while they run.

Options:
  --with-data        also archive the volumes (needs the stack's dataDir, on by default)
  --kubeconfig FILE  default: ~/.kube/kindha-<cluster>.yaml
  --backup-dir DIR   default: the stack's backupDir (~/.kindha/backups/<cluster>)
  --wait SECONDS     bound of waiting for pods to stop (default 300, at most 1800)
  -h, --help         this help

Fails when the stack has no cluster or it does not answer; it never exits 0 without writing a
snapshot (KINDHA_SKIP_BACKUP applies to the destroy-time backup alone).`;

export async function main(argv: readonly string[], io: Io = processIo, given: Partial<ToolDeps> = {}): Promise<number> {
  return runTool(io, USAGE, argv, async () => {
    const { values, positionals } = parseToolArgs(argv, {
      kubeconfig: { type: "string" },
      "backup-dir": { type: "string" },
      "with-data": { type: "boolean" },
      wait: { type: "string" },
    });
    const stack = singleStack(positionals);
    const wait = waitSeconds(values.wait, 300);
    const withData = values["with-data"] === true;
    const deps = toolDeps(given);
    if (withData) requireDataDir(stack, "--with-data", "to archive", deps);
    // Archiving stops the volumes' users for a while: one operation on the cluster at a time.
    const work = async (): Promise<number> => {
      const k = new ClusterClient(clusterAccess(stack, values.kubeconfig, deps));
      // The client clears KINDHA_SKIP_BACKUP (the destroy hook's alone): no exit 0 without a snapshot.
      let path: string;
      try {
        const snapshot = await k.backup({
          cluster: stack.topology.clusterName,
          stack: stack.id,
          backupDir: hostPath(values["backup-dir"] ?? stack.paths.backups, deps),
          node: stack.topology.controlPlanes[0].name,
        });
        if (snapshot.log.trim()) io.err(snapshot.log.trimEnd());
        path = snapshot.path;
      } catch (e) {
        if (!(e instanceof EtcdCommandError)) throw e;
        const r = e.result;
        if (r.stderr.trim()) io.err(r.stderr.trimEnd());
        io.err(
          r.code !== 0
            ? `backup: FAILED (exit ${r.code})${r.stderr.trim() ? "" : `: ${lastLine(r)}`}`
            : "backup: FAILED: etcd.sh wrote no snapshot",
        );
        return EXIT.failed;
      }
      io.out(path);
      if (!withData) return EXIT.ok;

      const archive = dataArchivePath(path);
      const log = (l: string) => io.err(l.trim());
      const q = await quiesce(k, { clock: deps.clock, waitMs: wait * 1000, log });
      for (const p of q.running)
        io.err(
          `backup: warning: ${p.namespace}/${p.name} (${p.owner || "bare pod"}) mounts a claim and kept running; its volume is archived live`,
        );
      let archived: Error | undefined;
      try {
        await archiveVolumes(k, stack.topology.controlPlanes[0].name, archive);
        chmodSync(archive, 0o600);
      } catch (e) {
        archived = e as Error;
      }
      const back = await resume(k, q.scaled);
      if (back.length > 0) io.err(`backup: scaling back failed; run by hand: ${back.join("; ")}`);
      else if (q.scaled.length > 0) io.err(`backup: ${q.scaled.length} workload(s) scaled back to their replica counts`);
      if (archived) {
        io.err(`backup: FAILED to archive the volumes: ${archived.message} (the snapshot ${path} is written)`);
        return EXIT.failed;
      }
      io.out(archive);
      return back.length > 0 ? EXIT.failed : EXIT.ok;
    };
    return withData ? underLock(stack, "backup --with-data", deps, io, work) : work();
  });
}

if (require.main === module) runMain(main);
