/**
 * `npm run restore -- <stack> --snapshot FILE`: restores an etcd snapshot into a freshly created
 * kind cluster of the stack, one checked step at a time (see lib/ops/restore/ for the steps).
 */
import { existsSync } from "node:fs";
import { resolve } from "node:path";
import { dataArchivePath } from "../lib/ops/data";
import { restoreInto, RESTORE_WAIT_S } from "../lib/ops/restore/restore";
import {
  clusterOpsContext,
  EXIT,
  requireDataDir,
  parseToolArgs,
  processIo,
  runMain,
  runTool,
  singleStack,
  toolDeps,
  underLock,
  UsageError,
  type Io,
  type ToolDeps,
  waitSeconds,
} from "./cli";

export const USAGE = `Usage: npm run restore -- <stack> --snapshot FILE [--with-data] [--kubeconfig FILE] [--wait SECONDS]

Restores an etcd snapshot into a freshly created kind cluster of <stack> (deploy it first:
npx cdktf deploy <stack>). Steps, each checked, stopping at the first failure with what to do:
  1. check the snapshot (snapshot-status: non-zero keys) and that the cluster matches the stack
  2. with --with-data: put the volumes back into the data directory
  3. copy the snapshot into every control-plane container (<container cli> cp)
  4. stop kubelet, then etcd and the API server, on every control plane
  5. etcdutl snapshot restore per member (from the etcd image, via the node's containerd),
     with --initial-cluster of every control plane and the member's own peer URL
  6. swap data dirs (the previous one is kept under /var/lib/kindha-restore until the end), start kubelet
  7. wait for etcd and the API, restart workers' kubelets, remove nodes the stack does not
     have, label and taint the nodes as the stack plans them
  8. once the controller manager has published this cluster's CA, re-create the pods of every
     Deployment, DaemonSet and StatefulSet at once (they were started with the old cluster's CA
     and tokens; pods with no controller are named, not deleted), verify
  9. remove the snapshot's copies and the previous data dirs (they hold every Secret) from the
     control planes; a failed restore keeps them, for its undo

Options:
  --snapshot FILE    snapshot to restore (required), e.g. from npm run backup
  --with-data        also put back the volumes of backup --with-data (FILE's .data.tar.gz),
                     before etcd, refused while a pod uses a claim: what the data directory
                     held is moved to <data dir>.before-restore-<stamp> beside it, never deleted
  --kubeconfig FILE  default: ~/.kube/kindha-<cluster>.yaml
  --wait SECONDS     bound of each wait (default 300, at most 1800)
  -h, --help         this help

Environment: KINDHA_CONTAINER_CLI, else KIND_EXPERIMENTAL_PROVIDER (docker, podman or nerdctl; default docker).`;

export async function main(argv: readonly string[], io: Io = processIo, given: Partial<ToolDeps> = {}): Promise<number> {
  return runTool(io, USAGE, argv, async () => {
    const { values, positionals } = parseToolArgs(argv, {
      snapshot: { type: "string" },
      kubeconfig: { type: "string" },
      wait: { type: "string" },
      "with-data": { type: "boolean" },
    });
    const stack = singleStack(positionals);
    if (!values.snapshot) throw new UsageError("--snapshot FILE is required");
    const snapshot = resolve(values.snapshot);
    if (!existsSync(snapshot)) throw new UsageError(`--snapshot: ${snapshot} does not exist`);
    const wait = waitSeconds(values.wait, RESTORE_WAIT_S);
    const archive = values["with-data"] ? dataArchivePath(snapshot) : undefined;
    if (archive && !existsSync(archive))
      throw new UsageError(`--with-data: ${archive} does not exist (npm run backup -- <stack> --with-data writes it beside the snapshot)`);
    const deps = toolDeps(given);
    const dataArchive = archive ? { archive, dataDir: requireDataDir(stack, "--with-data", "to restore into", deps) } : undefined;
    return underLock(stack, "restore", deps, io, async () => {
      io.out(`restore: ${snapshot} into stack ${stack.id} (${stack.topology.controlPlanes.length} control plane(s))`);
      const report = await restoreInto(clusterOpsContext(stack, values.kubeconfig, deps, io), {
        stackId: stack.id,
        snapshot,
        waitSeconds: wait,
        dataArchive,
      });
      io.out(report.ok ? `restore: done; stack ${stack.id} runs from ${snapshot}` : `restore: stopped at "${report.failed?.step}"`);
      return report.ok ? EXIT.ok : EXIT.failed;
    });
  });
}

if (require.main === module) runMain(main);
