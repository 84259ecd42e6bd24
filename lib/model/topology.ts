/**
 * Topology maths and validation: pure functions, no cdktf. Constructs translate the result
 * into resources; tests exercise it directly.
 */
import { DEFAULTS, ETCD_BASE_SANS, ROLE_LABEL } from "./defaults";
import { apiAddress, imageReference, port, wholeNumber } from "./grammar";
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

/** Control planes at most: etcd members beyond 7 slow every write and add no useful tolerance. */
export const MAX_CONTROL_PLANES = 7;
/** The odd control-plane counts a stack may have: 1, 3, 5, 7. */
const ODD_COUNTS = Array.from({ length: (MAX_CONTROL_PLANES + 1) / 2 }, (_, i) => 2 * i + 1).join(", ");
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

function budgetViolations(field: string, budget: NodeBudget, minMemoryGiB: number = BUDGET_LIMITS.memoryGiB.min): Violation[] {
  return [
    ...wholeNumber(`${field}.cpu`, budget.cpu, BUDGET_LIMITS.cpu.min, BUDGET_LIMITS.cpu.max, "CPUs"),
    ...wholeNumber(`${field}.memoryGiB`, budget.memoryGiB, minMemoryGiB, BUDGET_LIMITS.memoryGiB.max, "GiB"),
  ];
}

function resolveBudget(given: Partial<NodeBudget> | undefined, fallback: NodeBudget): NodeBudget {
  return { cpu: given?.cpu ?? fallback.cpu, memoryGiB: given?.memoryGiB ?? fallback.memoryGiB };
}

/** The taints a worker of this role carries: dedicated infrastructure nodes repel workloads. */
export function taintsFor(role: NodeRole): readonly Taint[] {
  return role === "infrastructure" ? [{ key: ROLE_LABEL, value: "infrastructure", effect: "NoSchedule" }] : [];
}

/** A spec with every default applied, before any rule is checked. */
interface ResolvedSpec {
  readonly availability: Availability;
  readonly clusterName: string;
  readonly controlPlanes: number;
  readonly controlPlaneBudget: NodeBudget;
  readonly workers: readonly (WorkerGroup & { readonly count: number; readonly budget: NodeBudget })[];
  readonly apiServerAddress: string;
  readonly apiServerPort: number;
  readonly nodeImage: string;
  readonly allowCgroupV1: boolean;
}

/** Defaults, in one place: DEFAULTS, and the availability's control-plane count. */
function resolveSpec(availability: Availability, spec: TopologySpec): ResolvedSpec {
  return {
    availability,
    clusterName: spec.clusterName ?? DEFAULTS.clusterName,
    controlPlanes: spec.controlPlanes ?? (availability === "ha" ? DEFAULTS.haControlPlanes : 1),
    controlPlaneBudget: resolveBudget(spec.controlPlaneBudget, DEFAULTS.controlPlaneBudget),
    workers: (spec.workers ?? [{ role: "combined" as const }]).map((g) => ({
      ...g,
      count: g.count ?? 1,
      budget: resolveBudget(g.budget, DEFAULTS.workerBudgets[g.role] ?? { cpu: 1, memoryGiB: 1 }),
    })),
    apiServerAddress: spec.apiServerAddress ?? DEFAULTS.apiServerAddress,
    apiServerPort: spec.apiServerPort ?? DEFAULTS.apiServerPort,
    nodeImage: spec.nodeImage ?? DEFAULTS.nodeImage,
    allowCgroupV1: spec.allowCgroupV1 ?? DEFAULTS.allowCgroupV1,
  };
}

/** One rule of a topology, as aws-cdk's queue rules: broken when `condition` holds, then `message`. */
interface TopologyRule<T> {
  readonly condition: (x: T) => boolean;
  readonly message: (x: T) => Violation;
}

const wholeCount = (n: number) => Number.isInteger(n) && n >= 1;
const workerTotal = (r: ResolvedSpec) => r.workers.reduce((n, g) => n + (Number.isInteger(g.count) ? g.count : 0), 0);

/** The control planes' count. */
const CONTROL_PLANE_RULES: readonly TopologyRule<ResolvedSpec>[] = [
  {
    condition: (r) => !Number.isInteger(r.controlPlanes) || r.controlPlanes < 1 || r.controlPlanes > MAX_CONTROL_PLANES,
    message: (r) => ({ field: "controlPlanes", value: r.controlPlanes, rule: `must be a whole number from 1 to ${MAX_CONTROL_PLANES}` }),
  },
  {
    condition: (r) => Number.isInteger(r.controlPlanes) && r.controlPlanes >= 1 && r.controlPlanes <= MAX_CONTROL_PLANES && r.controlPlanes % 2 === 0,
    message: (r) => ({ field: "controlPlanes", value: r.controlPlanes, rule: `is even; etcd quorum needs an odd count (${ODD_COUNTS})` }),
  },
  {
    condition: (r) => r.availability === "ha" && Number.isInteger(r.controlPlanes) && r.controlPlanes < DEFAULTS.haControlPlanes,
    message: (r) => ({ field: "controlPlanes", value: r.controlPlanes, rule: `is too few for HA; an HA stack needs at least ${DEFAULTS.haControlPlanes} control planes` }),
  },
  {
    condition: (r) => r.availability === "single" && r.controlPlanes !== 1,
    message: (r) => ({ field: "controlPlanes", value: r.controlPlanes, rule: "must be 1 in a single stack; use an HA stack for more" }),
  },
];

/** The workers as a whole. */
const WORKERS_RULES: readonly TopologyRule<ResolvedSpec>[] = [
  {
    condition: (r) => workerTotal(r) > MAX_WORKERS,
    message: (r) => ({
      field: "workers",
      value: workerTotal(r),
      rule: `are too many: at most ${MAX_WORKERS} workers, because kind runs every node as a container on one host (each needs at least ~0.5 GiB)`,
    }),
  },
  {
    condition: (r) => !r.workers.some((g) => g.role !== "infrastructure" && wholeCount(g.count)),
    message: (r) => ({ field: "workers", value: r.workers.map((g) => g.role), rule: "has no schedulable worker; add a workload or combined worker (infrastructure nodes are tainted)" }),
  },
];

/** The cluster's other settings. */
const CLUSTER_RULES: readonly TopologyRule<ResolvedSpec>[] = [
  {
    condition: (r) => typeof r.allowCgroupV1 !== "boolean",
    message: (r) => ({ field: "allowCgroupV1", value: r.allowCgroupV1, rule: "must be true or false" }),
  },
  {
    condition: (r) => typeof r.clusterName !== "string" || !DNS_LABEL.test(r.clusterName),
    message: (r) => ({ field: "clusterName", value: r.clusterName, rule: "must be a DNS-1123 label: lowercase letters, digits and '-', starting and ending with a letter or digit" }),
  },
];

/** The rules of each worker group (`workers[i]`). */
const WORKER_RULES: readonly TopologyRule<{ readonly g: ResolvedSpec["workers"][number]; readonly field: string }>[] = [
  {
    condition: ({ g }) => !WORKER_ROLES.includes(g.role),
    message: ({ g, field }) => ({ field: `${field}.role`, value: g.role, rule: `must be one of ${WORKER_ROLES.join(", ")}` }),
  },
  {
    condition: ({ g }) => !wholeCount(g.count),
    message: ({ g, field }) => ({ field: `${field}.count`, value: g.count, rule: "must be a whole number of at least 1" }),
  },
];

const broken = <T>(rules: readonly TopologyRule<T>[], x: T): Violation[] => rules.filter((r) => r.condition(x)).map((r) => r.message(x));

/** Every violation of a resolved spec, in a stable order: control planes, their budget, workers, the API, the image, the rest. */
function specViolations(r: ResolvedSpec): Violation[] {
  return [
    ...broken(CONTROL_PLANE_RULES, r),
    // etcd, the API server, the controller manager and the scheduler: kubeadm wants 1.7 GB at least.
    ...budgetViolations("controlPlaneBudget", r.controlPlaneBudget, BUDGET_LIMITS.controlPlaneMemoryGiB.min),
    ...r.workers.flatMap((g, i) => [...broken(WORKER_RULES, { g, field: `workers[${i}]` }), ...budgetViolations(`workers[${i}].budget`, g.budget)]),
    ...broken(WORKERS_RULES, r),
    ...port("apiServerPort", r.apiServerPort),
    ...apiAddress("apiServerAddress", r.apiServerAddress).violations,
    ...imageReference("nodeImage", r.nodeImage),
    ...broken(CLUSTER_RULES, r),
  ];
}

/** The nodes of a valid spec, in kind's order and with kind's names. */
function planNodes(r: ResolvedSpec): { controlPlanes: PlannedNode[]; workers: PlannedNode[] } {
  const controlPlanes = Array.from({ length: r.controlPlanes }, (_, i): PlannedNode => ({
    name: kindNodeName(r.clusterName, "control-plane", i),
    role: "control-plane",
    kindRole: "control-plane",
    budget: r.controlPlaneBudget,
    labels: { [ROLE_LABEL]: "control-plane" },
    taints: [],
  }));
  const workers: PlannedNode[] = [];
  for (const g of r.workers) {
    for (let c = 0; c < g.count; c++) {
      workers.push({
        name: kindNodeName(r.clusterName, "worker", workers.length),
        role: g.role,
        kindRole: "worker",
        budget: g.budget,
        labels: { [ROLE_LABEL]: g.role },
        taints: taintsFor(g.role),
      });
    }
  }
  return { controlPlanes, workers };
}

/** A rule only the planned names can break: every node name is a DNS label. */
function nameViolations(r: ResolvedSpec, nodes: readonly PlannedNode[]): Violation[] {
  const longest = nodes.map((n) => n.name).sort((a, b) => b.length - a.length)[0];
  return longest.length > MAX_DNS_LABEL
    ? [{ field: "clusterName", value: r.clusterName, rule: `is too long: node name "${longest}" has ${longest.length} characters; node names must be at most ${MAX_DNS_LABEL}` }]
    : [];
}

/**
 * Resolves a spec against the defaults and checks every rule; throws one {@link ValidationError}
 * naming each violation.
 *
 * @param scope what the error names, e.g. `stack "ha-option-a"`
 */
export function planTopology(availability: Availability, spec: TopologySpec, scope: string): Topology {
  const r = resolveSpec(availability, spec);
  const v = specViolations(r);
  if (v.length > 0) throw new ValidationError(`topology for ${scope}`, v);
  const { controlPlanes, workers } = planNodes(r);
  const nodes = [...controlPlanes, ...workers];
  const named = nameViolations(r, nodes);
  if (named.length > 0) throw new ValidationError(`topology for ${scope}`, named);

  const members = controlPlanes.map((n) => n.name);
  const warning = apiAddress("apiServerAddress", r.apiServerAddress).warning;
  return {
    availability,
    clusterName: r.clusterName,
    controlPlanes,
    workers,
    nodes,
    etcd: {
      members,
      quorum: etcdQuorum(members.length),
      toleratedFailures: toleratedFailures(members.length),
      certSans: etcdCertSans(r.apiServerAddress),
    },
    api: {
      address: r.apiServerAddress,
      port: r.apiServerPort,
      url: `https://${hostPort(r.apiServerAddress, r.apiServerPort)}`,
      loadBalanced: controlPlanes.length > 1,
    },
    nodeImage: r.nodeImage,
    allowCgroupV1: r.allowCgroupV1,
    totals: totalBudget(nodes),
    warnings: warning ? [warning] : [],
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
