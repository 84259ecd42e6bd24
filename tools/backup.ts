/**
 * `npm run backup -- <stack> [--with-data]`: snapshot of the stack's etcd into its backup
 * directory, through scripts/etcd.sh backup (the same command the destroy-time provisioner runs),
 * and with --with-data a consistent archive of the cluster's volumes beside it.
 */
import { backup } from "../lib/ops/backup/backup";
import { ClusterClient } from "../lib/ops/client";
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
    const work = async (): Promise<number> => {
      const ok = await backup({
        k: new ClusterClient(clusterAccess(stack, values.kubeconfig, deps)),
        cluster: stack.topology.clusterName,
        stackId: stack.id,
        backupDir: hostPath(values["backup-dir"] ?? stack.paths.backups, deps),
        node: stack.topology.controlPlanes[0].name,
        withData,
        clock: deps.clock,
        waitMs: wait * 1000,
        wrote: (path) => io.out(path),
        log: (line) => io.err(line),
      });
      return ok ? EXIT.ok : EXIT.failed;
    };
    // Archiving stops the volumes' users for a while: one operation on the cluster at a time.
    return withData ? underLock(stack, "backup --with-data", deps, io, work) : work();
  });
}

if (require.main === module) runMain(main);
