/**
 * Types shared across lib/ with no logic of their own, so that the modules using them need not
 * import each other (defaults and topology, etcd health and its parsers).
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
