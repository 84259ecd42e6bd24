/**
 * Types shared across the program, with no logic of their own, so that the modules using them need
 * not import each other (defaults and topology, etcd health and its parsers, the stack config and
 * the constructs).
 */

/** What a node is for. Workers are infrastructure, workload or both (combined). */
export type NodeRole = "control-plane" | "infrastructure" | "workload" | "combined";
export type WorkerRole = Exclude<NodeRole, "control-plane">;
export const WORKER_ROLES: readonly WorkerRole[] = ["infrastructure", "workload", "combined"];

/** CPU and memory planned for one node. */
export interface NodeBudget {
  readonly cpu: number;
  readonly memoryGiB: number;
}

/** A Kubernetes taint, as kubectl and the API spell it. */
export interface Taint {
  readonly key: string;
  readonly value: string;
  readonly effect: "NoSchedule" | "PreferNoSchedule" | "NoExecute";
}

/** What etcd health amounts to. */
export type HealthState = "healthy" | "degraded" | "quorum-lost";

/** The judgement of etcd health: state, counts and the message scripts and tools print. */
export interface HealthJudgement {
  readonly state: HealthState;
  readonly healthy: number;
  readonly members: number;
  readonly quorum: number;
  /** Failures the full member set tolerates: floor((n-1)/2). */
  readonly tolerated: number;
  readonly message: string;
}

/** The user's settings of scheduled etcd backups (see EtcdCluster.scheduleBackups). */
export interface ScheduledBackupOptions {
  /**
   * Cron schedule.
   * @default "0 *\/6 * * *" (every 6 hours)
   */
  readonly schedule?: string;
  /**
   * Snapshots kept; older ones are deleted.
   * @default 8
   */
  readonly retention?: number;
  /**
   * Image with etcdctl.
   * @default "registry.k8s.io/etcd:3.6.8-0" (the etcd kubeadm v1.36.1 runs)
   */
  readonly etcdImage?: string;
  /**
   * Image with a POSIX shell for naming, permissions and retention.
   * @default "busybox:1.37"
   */
  readonly shellImage?: string;
}
