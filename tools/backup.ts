/**
 * `npm run backup -- <stack>`: snapshot of the stack's etcd into its backup directory, through
 * scripts/etcd.sh backup (the same command the destroy-time provisioner runs).
 */
import { lastLine } from "../lib/exec";
import { ClusterClient } from "../lib/ops/client";
import { backupDir, expandHome } from "../lib/paths";
import { clusterAccess, EXIT, parseToolArgs, processIo, runMain, runTool, singleStack, toolDeps, type Io, type ToolDeps } from "./cli";

export const USAGE = `Usage: npm run backup -- <stack> [--kubeconfig FILE] [--backup-dir DIR]

Saves an etcd snapshot of the stack's kind cluster from the first control plane's etcd pod,
verifies it (snapshot status, non-zero keys) and prints its path:
  <backup dir>/<cluster>-<stack>-<UTC yyyymmddThhmmssZ>.db   (file 0600, directory 0700)

Options:
  --kubeconfig FILE  default: ~/.kube/kindha-<cluster>.yaml
  --backup-dir DIR   default: ~/.kindha/backups/<cluster>
  -h, --help         this help

Fails when the stack has no cluster or it does not answer; it never exits 0 without writing a
snapshot (KINDHA_SKIP_BACKUP applies to the destroy-time backup alone).`;

export async function main(argv: readonly string[], io: Io = processIo, given: Partial<ToolDeps> = {}): Promise<number> {
  return runTool(io, USAGE, argv, async () => {
    const { values, positionals } = parseToolArgs(argv, { kubeconfig: { type: "string" }, "backup-dir": { type: "string" } });
    const stack = singleStack(positionals);
    const deps = toolDeps(given);
    // The client clears KINDHA_SKIP_BACKUP (the destroy hook's alone): no exit 0 without a snapshot.
    const r = await new ClusterClient(clusterAccess(stack, values.kubeconfig, deps)).backup({
      cluster: stack.topology.clusterName,
      stack: stack.id,
      backupDir: expandHome(values["backup-dir"] ?? backupDir(stack.topology.clusterName)),
      node: stack.topology.controlPlanes[0].name,
    });
    if (r.stderr.trim()) io.err(r.stderr.trimEnd());
    if (r.code !== 0) {
      io.err(`backup: FAILED (exit ${r.code})${r.stderr.trim() ? "" : `: ${lastLine(r)}`}`);
      return EXIT.failed;
    }
    const path = r.stdout.trim().split("\n").pop() ?? "";
    if (path === "") {
      io.err("backup: FAILED: etcd.sh wrote no snapshot");
      return EXIT.failed;
    }
    io.out(path);
    return EXIT.ok;
  });
}

if (require.main === module) runMain(main);
