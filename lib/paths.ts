/**
 * Where a deployed cluster's files live on the machine that applies it. Terraform expands `~`
 * at apply time (pathexpand), so synthesized JSON never holds a path of the synthesizing machine.
 */
import { homedir } from "node:os";
import { join } from "node:path";

/** Kubeconfig that `kind create cluster` writes (0600). */
export function kubeconfigPath(clusterName: string): string {
  return `~/.kube/kindha-${clusterName}.yaml`;
}

/** Directory of etcd snapshots of a cluster (0700; snapshots 0600). */
export function backupDir(clusterName: string): string {
  return `~/.kindha/backups/${clusterName}`;
}

/** A `~/`-path as this process sees it. */
export function expandHome(path: string): string {
  return path.startsWith("~/") ? join(homedir(), path.slice(2)) : path;
}
