/**
 * What a topology is (the spec, the planned nodes, etcd and the API endpoint) and its maths:
 * quorum, tolerance, kind's names, totals, etcd's SANs. Pure; planTopology (plan-topology.ts)
 * resolves and checks a spec into one. Constructs translate the result into resources.
 */
import { ETCD_BASE_SANS, ROLE_LABEL } from "./defaults";

export { WORKER_ROLES, type NodeBudget, type NodeRole, type Taint, type WorkerRole } from "./types";
import type { NodeBudget, NodeRole, Taint, WorkerRole } from "./types";

/** A group of identical workers. */
export interface WorkerGroup {
  /** What the workers run. */
  readonly role: WorkerRole;
  /**
   * How many workers of this role.
   * @default 1
   */
  readonly count?: number;
  /**
   * CPU and memory of each worker.
   * @default - the role's budget in DEFAULTS.workerBudgets
   */
  readonly budget?: Partial<NodeBudget>;
}

/** Protocols a host port may forward (kind's extraPortMappings). */
export const PORT_PROTOCOLS = ["TCP", "UDP", "SCTP"] as const;
export type PortProtocol = (typeof PORT_PROTOCOLS)[number];

/** A host port forwarded to a NodePort of the cluster (kind's extraPortMappings on one node). */
export interface PortMapping {
  /** The port on this host. */
  readonly hostPort: number;
  /** The NodePort it reaches: in the cluster's NodePort range (30000-32767). */
  readonly nodePort: number;
  /**
   * @default "TCP"
   */
  readonly protocol?: PortProtocol;
  /**
   * The host address it listens on; 0.0.0.0 (every address) is allowed with a warning.
   * @default "127.0.0.1"
   */
  readonly listenAddress?: string;
  /**
   * The worker role whose first node carries the mapping.
   * @default - the first workload worker, else the first combined worker
   */
  readonly role?: WorkerRole;
}

/** A mapping with its defaults applied, and the node that carries it. */
export interface PlannedPort {
  readonly hostPort: number;
  readonly nodePort: number;
  readonly protocol: PortProtocol;
  readonly listenAddress: string;
  /** The kind node (container) that publishes it. */
  readonly node: string;
}

/** Everything that shapes a cluster; every field optional, resolved against DEFAULTS. */
export interface TopologySpec {
  /**
   * kind cluster name; node names derive from it.
   * @default "data-platform-local"
   */
  readonly clusterName?: string;
  /**
   * Number of control-plane nodes (odd, 1 to 7).
   * @default 1 for a single stack, 3 for an HA stack
   */
  readonly controlPlanes?: number;
  /**
   * Workers, in the order kind names them (`<cluster>-worker`, `<cluster>-worker2`, ...).
   * @default - one combined worker
   */
  readonly workers?: readonly WorkerGroup[];
  /**
   * CPU and memory of each control plane.
   * @default { cpu: 2, memoryGiB: 4 }
   */
  readonly controlPlaneBudget?: Partial<NodeBudget>;
  /**
   * Host address the API server (or its load balancer) listens on.
   * @default "127.0.0.1"
   */
  readonly apiServerAddress?: string;
  /**
   * Host port of the API server (or its load balancer).
   * @default 6443
   */
  readonly apiServerPort?: number;
  /**
   * Node image for every node.
   * @default - the image released with the pinned kind version (DEFAULTS.nodeImage)
   */
  readonly nodeImage?: string;
  /**
   * Let kubelet run on a cgroup v1 host. kubelet v1.35+ refuses cgroup v1 unless its
   * configuration says `failCgroupV1: false`; this adds that KubeletConfiguration patch to the
   * kind config. The preflight stops on a cgroup v1 host when this is off.
   * @default false
   */
  readonly allowCgroupV1?: boolean;
  /**
   * Host ports forwarded to NodePorts, e.g. a notebook UI or a database from the host.
   * @default - none
   */
  readonly ports?: readonly PortMapping[];
}

/** Whether the topology must tolerate control-plane failures. */
export type Availability = "single" | "ha";

/** One node, fully resolved. */
export interface PlannedNode {
  /** The container and Kubernetes node name kind gives it. */
  readonly name: string;
  readonly role: NodeRole;
  readonly kindRole: "control-plane" | "worker";
  readonly budget: NodeBudget;
  readonly labels: Readonly<Record<string, string>>;
  /** Taints applied after the cluster exists. */
  readonly taints: readonly Taint[];
}

/** A validated, fully resolved topology. */
export interface Topology {
  readonly availability: Availability;
  readonly clusterName: string;
  readonly controlPlanes: readonly PlannedNode[];
  readonly workers: readonly PlannedNode[];
  readonly nodes: readonly PlannedNode[];
  readonly etcd: EtcdFacts;
  readonly api: ApiEndpoint;
  readonly nodeImage: string;
  /** kubelet may run on cgroup v1 hosts (`failCgroupV1: false`). */
  readonly allowCgroupV1: boolean;
  readonly totals: NodeBudget;
  /** Host ports forwarded to NodePorts, each on its node. */
  readonly ports: readonly PlannedPort[];
  /** What is allowed but risky (e.g. an API on every address), for the app to print. */
  readonly warnings: readonly string[];
}

export interface EtcdFacts {
  /** Member names: one stacked member per control plane. */
  readonly members: readonly string[];
  readonly quorum: number;
  readonly toleratedFailures: number;
  /** SANs of the etcd server and peer certificates. */
  readonly certSans: readonly string[];
}

export interface ApiEndpoint {
  readonly address: string;
  readonly port: number;
  /** `https://<address>:<port>`, with IPv6 addresses bracketed. */
  readonly url: string;
  /** True when a load balancer fronts several API servers. */
  readonly loadBalanced: boolean;
}

/** etcd needs a majority of members: floor(n/2)+1. */
export function etcdQuorum(members: number): number {
  return Math.floor(members / 2) + 1;
}

/** Members that may fail while a majority remains: floor((n-1)/2). */
export function toleratedFailures(members: number): number {
  return Math.floor((members - 1) / 2);
}

/** kind's HA load balancer container: `<cluster>-external-load-balancer`. */
export function kindLoadBalancerName(cluster: string): string {
  return `${cluster}-external-load-balancer`;
}

/**
 * The order a rolling change takes the control planes in: followers first, the etcd leader last
 * (so leadership moves once at most); topology order when the leader is unknown.
 */
export function controlPlaneRollOrder(t: Topology, leader: string | undefined): string[] {
  const names = t.controlPlanes.map((n) => n.name);
  return leader && names.includes(leader) ? [...names.filter((n) => n !== leader), leader] : names;
}

/** `<container cli> <args>` that lists every container kind made for a cluster (nodes and load balancer), one name a line. */
export function kindClusterPsArgs(cluster: string): string[] {
  return ["ps", "-a", "--filter", `label=io.x-k8s.kind.cluster=${cluster}`, "--format", "{{.Names}}"];
}

/** Sum of budgets. */
export function totalBudget(nodes: readonly { budget: NodeBudget }[]): NodeBudget {
  return nodes.reduce((sum, n) => ({ cpu: sum.cpu + n.budget.cpu, memoryGiB: sum.memoryGiB + n.budget.memoryGiB }), {
    cpu: 0,
    memoryGiB: 0,
  });
}

/** kind's node names: `<cluster>-control-plane`, `<cluster>-control-plane2`, `<cluster>-worker`, ... */
export function kindNodeName(cluster: string, kindRole: "control-plane" | "worker", index: number): string {
  return `${cluster}-${kindRole}${index === 0 ? "" : index + 1}`;
}

/** The taints a worker of this role carries: dedicated infrastructure nodes repel workloads. */
export function taintsFor(role: NodeRole): readonly Taint[] {
  return role === "infrastructure" ? [{ key: ROLE_LABEL, value: "infrastructure", effect: "NoSchedule" }] : [];
}

/** etcd certificate SANs: always localhost and 127.0.0.1, plus the API address when it differs. */
export function etcdCertSans(apiServerAddress: string): string[] {
  const sans = [...ETCD_BASE_SANS];
  if (!sans.includes(apiServerAddress) && apiServerAddress !== "0.0.0.0" && apiServerAddress !== "::") {
    sans.push(apiServerAddress);
  }
  return sans;
}
