/**
 * planTopology: a spec resolved against DEFAULTS, checked against the topology rules (tables of
 * {condition, message}, as aws-cdk's queue rules) and planned into nodes with kind's names.
 */
import { DEFAULTS, ROLE_LABEL } from "./defaults";
import { planPorts, portViolations, portWarnings } from "./ports";
import { apiAddress, DNS_LABEL, imageReference, MAX_DNS_LABEL, port, wholeNumber } from "./grammar";
import {
  etcdCertSans,
  etcdQuorum,
  kindNodeName,
  taintsFor,
  toleratedFailures,
  totalBudget,
  WORKER_ROLES,
  type Availability,
  type NodeBudget,
  type PlannedNode,
  type PortMapping,
  type Topology,
  type TopologySpec,
  type WorkerGroup,
} from "./topology";
import { hostPort } from "./util";
import { ValidationError, type Violation } from "./validation";

/** Control planes at most: etcd members beyond 7 slow every write and add no useful tolerance. */
export const MAX_CONTROL_PLANES = 7;
/** The odd control-plane counts a stack may have: 1, 3, 5, 7. */
const ODD_COUNTS = Array.from({ length: (MAX_CONTROL_PLANES + 1) / 2 }, (_, i) => 2 * i + 1).join(", ");
/**
 * kind runs every node as a container on one host, each at least ~0.5 GiB with its own systemd,
 * kubelet and containerd: beyond this many workers no single host runs the cluster.
 */
export const MAX_WORKERS = 100;

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
  readonly ports: readonly PortMapping[];
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
    ports: spec.ports ?? [],
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
    condition: (r) =>
      Number.isInteger(r.controlPlanes) && r.controlPlanes >= 1 && r.controlPlanes <= MAX_CONTROL_PLANES && r.controlPlanes % 2 === 0,
    message: (r) => ({ field: "controlPlanes", value: r.controlPlanes, rule: `is even; etcd quorum needs an odd count (${ODD_COUNTS})` }),
  },
  {
    condition: (r) => r.availability === "ha" && Number.isInteger(r.controlPlanes) && r.controlPlanes < DEFAULTS.haControlPlanes,
    message: (r) => ({
      field: "controlPlanes",
      value: r.controlPlanes,
      rule: `is too few for HA; an HA stack needs at least ${DEFAULTS.haControlPlanes} control planes`,
    }),
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
    message: (r) => ({
      field: "workers",
      value: r.workers.map((g) => g.role),
      rule: "has no schedulable worker; add a workload or combined worker (infrastructure nodes are tainted)",
    }),
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
    message: (r) => ({
      field: "clusterName",
      value: r.clusterName,
      rule: "must be a DNS-1123 label: lowercase letters, digits and '-', starting and ending with a letter or digit",
    }),
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
    ...r.workers.flatMap((g, i) => [
      ...broken(WORKER_RULES, { g, field: `workers[${i}]` }),
      ...budgetViolations(`workers[${i}].budget`, g.budget),
    ]),
    ...broken(WORKERS_RULES, r),
    ...port("apiServerPort", r.apiServerPort),
    ...apiAddress("apiServerAddress", r.apiServerAddress).violations,
    ...imageReference("nodeImage", r.nodeImage),
    ...broken(CLUSTER_RULES, r),
    ...portViolations(
      r.ports,
      r.workers.map((g) => g.role),
      r.apiServerPort,
    ),
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
    ? [
        {
          field: "clusterName",
          value: r.clusterName,
          rule: `is too long: node name "${longest}" has ${longest.length} characters; node names must be at most ${MAX_DNS_LABEL}`,
        },
      ]
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
  const warnings = [...(warning ? [warning] : []), ...portWarnings(r.ports)];
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
    ports: planPorts(r.ports, workers),
    warnings,
  };
}
