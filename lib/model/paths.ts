/**
 * Where a deployed cluster's files live on the machine that applies it, `~/` unexpanded: Terraform
 * expands them at apply time (pathexpand), so synthesized JSON never holds a path of the
 * synthesizing machine, and the tools with lib/io/home.ts's expandHome.
 */
import { DEFAULTS, KINDHA_DIR } from "./defaults";

/** Kubeconfig that `kind create cluster` writes (0600). */
export function kubeconfigPath(clusterName: string): string {
  return `~/.kube/kindha-${clusterName}.yaml`;
}

/** Directory of etcd snapshots of a cluster (0700; snapshots 0600). */
export function backupDir(clusterName: string): string {
  return `${KINDHA_DIR}/backups/${clusterName}`;
}

/** Directory of a cluster's logs (0700): the plan's recoveries, kubeadm's runs during a roll. */
export function logDir(clusterName: string): string {
  return `${KINDHA_DIR}/logs/${clusterName}`;
}

/**
 * Directory of a cluster's persistent volumes (0700): mounted into every node, kept when the
 * cluster is deleted.
 */
export function dataDir(clusterName: string): string {
  return `${KINDHA_DIR}/data/${clusterName}`;
}

/** The data directory a stack's `dataDir` setting resolves to; undefined when volumes stay in the nodes. */
export function resolveDataDir(given: string | false | undefined, clusterName: string): string | undefined {
  if (given === false) return undefined;
  return given ?? (DEFAULTS.persistentData ? dataDir(clusterName) : undefined);
}

/** A stack's host paths, `~/` unexpanded. */
export interface StackPaths {
  readonly kubeconfig: string;
  readonly backups: string;
  /** The data directory; undefined when volumes stay inside the nodes. */
  readonly data?: string;
  /** Directory of the cluster's logs: the plan's recoveries (`recover.log`), kubeadm's runs during a roll. */
  readonly logs: string;
}

/**
 * Resolves a stack's path settings (or their defaults). A cluster-api stack's kubeconfig is its
 * management cluster's (`management`: its setting, else kindha's single stack's).
 */
export function stackPaths(
  s: { readonly kubeconfigPath?: string; readonly backupDir?: string; readonly dataDir?: string | false },
  clusterName: string,
  management?: string,
): StackPaths {
  return {
    kubeconfig: management ?? s.kubeconfigPath ?? kubeconfigPath(clusterName),
    backups: s.backupDir ?? backupDir(clusterName),
    data: resolveDataDir(s.dataDir, clusterName),
    logs: logDir(clusterName),
  };
}

/** A cluster-api stack's management cluster kubeconfig: its setting, else kindha's single stack's. */
export function managementKubeconfig(setting: string | undefined): string {
  return setting ?? kubeconfigPath(DEFAULTS.clusterName);
}

/** Where the locks and the rolls' progress records live (lib/ops/lock.ts). */
export const LOCK_DIR = `${KINDHA_DIR}/locks`;
