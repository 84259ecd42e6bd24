/**
 * Topology maths and validation: pure functions, no cdktf. Constructs translate the result
 * into resources; tests exercise it directly.
 */
import { DEFAULTS, ETCD_BASE_SANS, ROLE_LABEL } from "./defaults";
import { apiAddress, imageReference, wholeNumber } from "./grammar";
import { hostPort } from "./util";
import { ValidationError, type Violation } from "./validation";

export { WORKER_ROLES, type NodeBudget, type NodeRole, type Taint, type WorkerRole } from "./types";
import { WORKER_ROLES, type NodeBudget, type NodeRole, type Taint, type WorkerRole } from "./types";

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
  return nodes.reduce(
    (sum, n) => ({ cpu: sum.cpu + n.budget.cpu, memoryGiB: sum.memoryGiB + n.budget.memoryGiB }),
    { cpu: 0, memoryGiB: 0 },
  );
}

const MAX_CONTROL_PLANES = 7;
/**
 * kind runs every node as a container on one host, each at least ~0.5 GiB with its own systemd,
 * kubelet and containerd: beyond this many workers no single host runs the cluster.
 */
export const MAX_WORKERS = 100;
const DNS_LABEL = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/;
const MAX_DNS_LABEL = 63;

/** kind's node names: `<cluster>-control-plane`, `<cluster>-control-plane2`, `<cluster>-worker`, ... */
export function kindNodeName(cluster: string, kindRole: "control-plane" | "worker", index: number): string {
  return `${cluster}-${kindRole}${index === 0 ? "" : index + 1}`;
}

/** Bounds of a node's budget: whole CPUs and GiB (the preflight compares whole numbers). */
export const BUDGET_LIMITS = { cpu: { min: 1, max: 1024 }, memoryGiB: { min: 1, max: 4096 }, controlPlaneMemoryGiB: { min: 2 } } as const;

function checkBudget(field: string, budget: NodeBudget, out: Violation[], minMemoryGiB: number = BUDGET_LIMITS.memoryGiB.min): void {
  out.push(...wholeNumber(`${field}.cpu`, budget.cpu, BUDGET_LIMITS.cpu.min, BUDGET_LIMITS.cpu.max, "CPUs"));
  out.push(...wholeNumber(`${field}.memoryGiB`, budget.memoryGiB, minMemoryGiB, BUDGET_LIMITS.memoryGiB.max, "GiB"));
}

function resolveBudget(given: Partial<NodeBudget> | undefined, fallback: NodeBudget): NodeBudget {
  return { cpu: given?.cpu ?? fallback.cpu, memoryGiB: given?.memoryGiB ?? fallback.memoryGiB };
}

/** The taints a worker of this role carries: dedicated infrastructure nodes repel workloads. */
export function taintsFor(role: NodeRole): readonly Taint[] {
  return role === "infrastructure" ? [{ key: ROLE_LABEL, value: "infrastructure", effect: "NoSchedule" }] : [];
}

/**
 * Resolves a spec against the defaults and checks every rule; throws one {@link ValidationError}
 * naming each violation.
 *
 * @param scope what the error names, e.g. `stack "ha-option-a"`
 */
export function planTopology(availability: Availability, spec: TopologySpec, scope: string): Topology {
  const v: Violation[] = [];
  const clusterName = spec.clusterName ?? DEFAULTS.clusterName;
  const cpCount = spec.controlPlanes ?? (availability === "ha" ? DEFAULTS.haControlPlanes : 1);
  const workerGroups = spec.workers ?? [{ role: "combined" as const }];
  const address = spec.apiServerAddress ?? DEFAULTS.apiServerAddress;
  const port = spec.apiServerPort ?? DEFAULTS.apiServerPort;
  const nodeImage = spec.nodeImage ?? DEFAULTS.nodeImage;
  const allowCgroupV1 = spec.allowCgroupV1 ?? DEFAULTS.allowCgroupV1;

  if (!Number.isInteger(cpCount) || cpCount < 1 || cpCount > MAX_CONTROL_PLANES) {
    v.push({ field: "controlPlanes", value: cpCount, rule: "must be a whole number from 1 to 7" });
  } else if (cpCount % 2 === 0) {
    v.push({ field: "controlPlanes", value: cpCount, rule: "is even; etcd quorum needs an odd count (1, 3, 5, 7)" });
  }
  if (availability === "ha" && Number.isInteger(cpCount) && cpCount < 3) {
    v.push({ field: "controlPlanes", value: cpCount, rule: "is too few for HA; an HA stack needs at least 3 control planes" });
  }
  if (availability === "single" && cpCount !== 1) {
    v.push({ field: "controlPlanes", value: cpCount, rule: "must be 1 in a single stack; use an HA stack for more" });
  }

  const cpBudget = resolveBudget(spec.controlPlaneBudget, DEFAULTS.controlPlaneBudget);
  // etcd, the API server, the controller manager and the scheduler: kubeadm wants 1.7 GB at least.
  checkBudget("controlPlaneBudget", cpBudget, v, BUDGET_LIMITS.controlPlaneMemoryGiB.min);

  let schedulable = 0;
  workerGroups.forEach((g, i) => {
    const field = `workers[${i}]`;
    if (!WORKER_ROLES.includes(g.role)) {
      v.push({ field: `${field}.role`, value: g.role, rule: `must be one of ${WORKER_ROLES.join(", ")}` });
    }
    const count = g.count ?? 1;
    if (!Number.isInteger(count) || count < 1) {
      v.push({ field: `${field}.count`, value: count, rule: "must be a whole number of at least 1" });
    } else if (g.role !== "infrastructure") {
      schedulable += count;
    }
    checkBudget(`${field}.budget`, resolveBudget(g.budget, DEFAULTS.workerBudgets[g.role] ?? { cpu: 1, memoryGiB: 1 }), v);
  });
  const workerTotal = workerGroups.reduce((n, g) => n + (Number.isInteger(g.count ?? 1) ? (g.count ?? 1) : 0), 0);
  if (workerTotal > MAX_WORKERS) {
    v.push({
      field: "workers",
      value: workerTotal,
      rule: `are too many: at most ${MAX_WORKERS} workers, because kind runs every node as a container on one host (each needs at least ~0.5 GiB)`,
    });
  }
  if (schedulable === 0) {
    v.push({
      field: "workers",
      value: workerGroups.map((g) => g.role),
      rule: "has no schedulable worker; add a workload or combined worker (infrastructure nodes are tainted)",
    });
  }

  if (!Number.isInteger(port) || port < 1 || port > 65535) {
    v.push({ field: "apiServerPort", value: port, rule: "must be a whole number from 1 to 65535" });
  }
  const addressCheck = apiAddress("apiServerAddress", address);
  v.push(...addressCheck.violations);
  v.push(...imageReference("nodeImage", nodeImage));

  if (typeof allowCgroupV1 !== "boolean") {
    v.push({ field: "allowCgroupV1", value: allowCgroupV1, rule: "must be true or false" });
  }
  if (typeof clusterName !== "string" || !DNS_LABEL.test(clusterName)) {
    v.push({
      field: "clusterName",
      value: clusterName,
      rule: "must be a DNS-1123 label: lowercase letters, digits and '-', starting and ending with a letter or digit",
    });
  }

  const controlPlanes: PlannedNode[] = [];
  const workers: PlannedNode[] = [];
  if (v.length === 0) {
    for (let i = 0; i < cpCount; i++) {
      controlPlanes.push({
        name: kindNodeName(clusterName, "control-plane", i),
        role: "control-plane",
        kindRole: "control-plane",
        budget: cpBudget,
        labels: { [ROLE_LABEL]: "control-plane" },
        taints: [],
      });
    }
    for (const g of workerGroups) {
      for (let c = 0; c < (g.count ?? 1); c++) {
        workers.push({
          name: kindNodeName(clusterName, "worker", workers.length),
          role: g.role,
          kindRole: "worker",
          budget: resolveBudget(g.budget, DEFAULTS.workerBudgets[g.role]),
          labels: { [ROLE_LABEL]: g.role },
          taints: taintsFor(g.role),
        });
      }
    }
    const longest = [...controlPlanes, ...workers].map((n) => n.name).sort((a, b) => b.length - a.length)[0];
    if (longest.length > MAX_DNS_LABEL) {
      v.push({
        field: "clusterName",
        value: clusterName,
        rule: `is too long: node name "${longest}" has ${longest.length} characters; node names must be at most ${MAX_DNS_LABEL}`,
      });
    }
  }
  if (v.length > 0) throw new ValidationError(`topology for ${scope}`, v);

  const members = controlPlanes.map((n) => n.name);
  const nodes = [...controlPlanes, ...workers];
  return {
    availability,
    clusterName,
    controlPlanes,
    workers,
    nodes,
    etcd: {
      members,
      quorum: etcdQuorum(members.length),
      toleratedFailures: toleratedFailures(members.length),
      certSans: etcdCertSans(address),
    },
    api: {
      address,
      port,
      url: `https://${hostPort(address, port)}`,
      loadBalanced: controlPlanes.length > 1,
    },
    nodeImage,
    allowCgroupV1,
    totals: totalBudget(nodes),
    warnings: addressCheck.warning ? [addressCheck.warning] : [],
  };
}

/** etcd certificate SANs: always localhost and 127.0.0.1, plus the API address when it differs. */
export function etcdCertSans(apiServerAddress: string): string[] {
  const sans = [...ETCD_BASE_SANS];
  if (!sans.includes(apiServerAddress) && apiServerAddress !== "0.0.0.0" && apiServerAddress !== "::") {
    sans.push(apiServerAddress);
  }
  return sans;
}
