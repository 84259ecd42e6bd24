/**
 * The same topology as Cluster API objects, for clusters beyond one machine: a `Cluster` with its
 * infrastructure cluster, a `KubeadmControlPlane` (replicas = control planes, etcd's SANs, kubelet
 * labelled with the node's role) and, per worker group, a `MachineDeployment` with its bootstrap
 * and machine templates (role label and taints as the kind stacks plan them). Pure: the objects
 * are plain data; a stack applies them to a management cluster.
 *
 * API versions are Cluster API v1.13's storage versions (`v1beta2`). The infrastructure provider
 * is a parameter: CAPD (Docker) by default, any other provider by its own templates. Over 250
 * lines because the objects, their settings' rules and CAPD's provider are one model.
 */
import { createHash } from "node:crypto";
import { ROLE_LABEL } from "./defaults";
import { DNS_LABEL, imageTag, MAX_DNS_LABEL } from "./grammar";
import type { NodeBudget, NodeRole, PlannedNode, Topology, WorkerRole } from "./topology";
import type { Violation } from "./validation";

/** A Kubernetes object as plain data. */
export interface KubeObject {
  readonly apiVersion: string;
  readonly kind: string;
  readonly metadata: { readonly name: string; readonly namespace: string; readonly labels?: Readonly<Record<string, string>> };
  readonly spec: Readonly<Record<string, unknown>>;
}

/** What a machine of a role asks of its infrastructure provider. */
export interface MachineRequest {
  readonly role: NodeRole;
  readonly budget: NodeBudget;
  /** The node image of the stack (a provider may use or ignore it). */
  readonly image: string;
}

/** An infrastructure provider's templates: the kinds it serves and the spec of each object. */
export interface InfrastructureProvider {
  /** e.g. `infrastructure.cluster.x-k8s.io/v1beta2`. */
  readonly apiVersion: string;
  /** The infrastructure cluster's kind, e.g. `DockerCluster`. */
  readonly clusterKind: string;
  /** The machine template's kind, e.g. `DockerMachineTemplate`. */
  readonly machineTemplateKind: string;
  /** Spec of the infrastructure cluster. */
  clusterSpec(t: Topology): Readonly<Record<string, unknown>>;
  /**
   * The API endpoint the Cluster names, where the provider does not make one itself (an external
   * load balancer in front of the control planes).
   * @default - none: the provider's own load balancer sets it (CAPD does)
   */
  controlPlaneEndpoint?(t: Topology): { readonly host: string; readonly port: number } | undefined;
  /** `spec.template.spec` of a role's machine template: where budgets become machine sizes. */
  machineSpec(m: MachineRequest): Readonly<Record<string, unknown>>;
}

/** Settings of CAPD. */
export interface CapdOptions {
  /**
   * Image of the workload cluster's API load balancer: `<repository>/haproxy:<tag>` (CAPD names
   * the image `haproxy` and takes the repository and tag).
   * @default - CAPD's own, kindest/haproxy:v20230606-42a2262b
   */
  readonly loadBalancerImage?: string;
}

/** What CAPD accepts as its load balancer's image: the repository, `/haproxy:`, a tag. */
const CAPD_LB_IMAGE = /^([a-z0-9][a-z0-9._/:-]{0,200})\/haproxy:([A-Za-z0-9_][A-Za-z0-9_.-]{0,127})$/;

/** What is wrong with CAPD's settings (empty when nothing). */
export function capdViolations(o: CapdOptions, prefix: string): Violation[] {
  if (o.loadBalancerImage === undefined || (typeof o.loadBalancerImage === "string" && CAPD_LB_IMAGE.test(o.loadBalancerImage))) return [];
  return [
    {
      field: `${prefix}.loadBalancerImage`,
      value: o.loadBalancerImage,
      rule: "must be <repository>/haproxy:<tag> (CAPD names its load balancer image haproxy), e.g. kindest/haproxy:v20230606-42a2262b",
    },
  ];
}

/**
 * CAPD, Cluster API's Docker provider: machines are containers of the stack's node image on the
 * management cluster's Docker engine, behind an haproxy container. Containers have no size, so
 * budgets are not enforced (as with kind).
 */
export function capd(o: CapdOptions = {}): InfrastructureProvider {
  const lb = o.loadBalancerImage === undefined ? undefined : CAPD_LB_IMAGE.exec(o.loadBalancerImage);
  return {
    apiVersion: "infrastructure.cluster.x-k8s.io/v1beta2",
    clusterKind: "DockerCluster",
    machineTemplateKind: "DockerMachineTemplate",
    clusterSpec: () => (lb ? { loadBalancer: { imageRepository: lb[1], imageTag: lb[2] } } : {}),
    machineSpec: (m) => ({ customImage: m.image }),
  };
}

/** CAPD with its defaults. */
export const CAPD: InfrastructureProvider = capd();

/** Settings of a Cluster API stack. */
export interface ClusterApiOptions {
  /**
   * Kubernetes version of every machine, e.g. `v1.36.1`.
   * @default - the tag of the stack's node image (`kindest/node:v1.36.1` gives v1.36.1)
   */
  readonly kubernetesVersion?: string;
  /**
   * Namespace of the objects in the management cluster.
   * @default "default"
   */
  readonly namespace?: string;
  /**
   * The infrastructure provider's templates.
   * @default CAPD
   */
  readonly infrastructure?: InfrastructureProvider;
}

export const CLUSTER_API_DEFAULTS = { namespace: "default", podCidr: "10.244.0.0/16", serviceCidr: "10.96.0.0/12" } as const;

const CORE = "cluster.x-k8s.io";
const CONTROL_PLANE = "controlplane.cluster.x-k8s.io";
const BOOTSTRAP = "bootstrap.cluster.x-k8s.io";
/** The label Cluster API puts on every object of a cluster. */
export const CLUSTER_NAME_LABEL = `${CORE}/cluster-name`;
const VERSION = /^v\d+\.\d+\.\d+$/;

/** The Kubernetes version a node image's tag names (`…:v1.36.1@sha256:…` gives `v1.36.1`), if any. */
export function versionOfImage(image: string): string | undefined {
  const tag = imageTag(image);
  return tag && VERSION.test(tag) ? tag : undefined;
}

/** What is wrong with a stack's Cluster API settings (empty when nothing). */
export function clusterApiViolations(t: Topology, o: ClusterApiOptions, prefix = "clusterApi"): Violation[] {
  const v: Violation[] = [];
  if (o.kubernetesVersion !== undefined && (typeof o.kubernetesVersion !== "string" || !VERSION.test(o.kubernetesVersion))) {
    v.push({
      field: `${prefix}.kubernetesVersion`,
      value: o.kubernetesVersion,
      rule: "must be a Kubernetes version: v, then major.minor.patch (e.g. v1.36.1)",
    });
  } else if (o.kubernetesVersion === undefined && versionOfImage(t.nodeImage) === undefined) {
    v.push({
      field: `${prefix}.kubernetesVersion`,
      value: t.nodeImage,
      rule: "is needed: the node image's tag names no version (e.g. kindest/node:v1.36.1)",
    });
  }
  if (
    o.namespace !== undefined &&
    (typeof o.namespace !== "string" || !DNS_LABEL.test(o.namespace) || o.namespace.length > MAX_DNS_LABEL)
  ) {
    v.push({ field: `${prefix}.namespace`, value: o.namespace, rule: "must be a DNS-1123 label (a Kubernetes namespace)" });
  }
  return v;
}

/**
 * A template's name: its pool's, then a hash of its spec. Cluster API's templates are immutable;
 * a changed spec is a new template, and the reference to it rolls the machines.
 */
function templateName(pool: string, spec: unknown): string {
  return `${pool}-${createHash("sha256").update(JSON.stringify(spec)).digest("hex").slice(0, 8)}`;
}

/** kubelet's flags for a node: its role label, and on cgroup v1 hosts the switch kubelet v1.35+ needs. */
function kubeletArgs(t: Topology, role: NodeRole): { name: string; value: string }[] {
  return [{ name: "node-labels", value: `${ROLE_LABEL}=${role}` }, ...(t.allowCgroupV1 ? [{ name: "fail-cgroupv1", value: "false" }] : [])];
}

/** One MachineDeployment per run of workers of the same role and budget, named after the role. */
export interface WorkerPool {
  readonly name: string;
  readonly role: WorkerRole;
  readonly replicas: number;
  readonly node: PlannedNode;
}

/** The topology's workers as pools: consecutive workers of one role and budget form one. */
export function workerPools(t: Topology): WorkerPool[] {
  const pools: { role: WorkerRole; node: PlannedNode; replicas: number }[] = [];
  for (const w of t.workers) {
    const last = pools[pools.length - 1];
    const same = last && last.role === w.role && last.node.budget.cpu === w.budget.cpu && last.node.budget.memoryGiB === w.budget.memoryGiB;
    if (same) last.replicas += 1;
    else pools.push({ role: w.role as WorkerRole, node: w, replicas: 1 });
  }
  const seen = new Map<string, number>();
  return pools.map((p) => {
    const n = (seen.get(p.role) ?? 0) + 1;
    seen.set(p.role, n);
    return { ...p, name: `${t.clusterName}-${p.role}${n === 1 ? "" : `-${n}`}` };
  });
}

/** Every Cluster API object of a topology, in the order they are applied. */
export function clusterApiObjects(t: Topology, o: ClusterApiOptions = {}): KubeObject[] {
  const infra = o.infrastructure ?? CAPD;
  const namespace = o.namespace ?? CLUSTER_API_DEFAULTS.namespace;
  const version = o.kubernetesVersion ?? versionOfImage(t.nodeImage) ?? "";
  const group = infra.apiVersion.split("/")[0];
  const labels = { [CLUSTER_NAME_LABEL]: t.clusterName };
  const meta = (name: string) => ({ name, namespace, labels });
  const ref = (apiGroup: string, kind: string, name: string) => ({ apiGroup, kind, name });
  const cpName = `${t.clusterName}-control-plane`;
  const cpMachine = {
    template: { spec: infra.machineSpec({ role: "control-plane", budget: t.controlPlanes[0].budget, image: t.nodeImage }) },
  };
  const cpMachineName = templateName(cpName, cpMachine);
  const endpoint = infra.controlPlaneEndpoint?.(t);
  const sans = [
    "localhost",
    "127.0.0.1",
    ...(t.api.address === "0.0.0.0" || t.api.address === "::" || t.api.address === "127.0.0.1" ? [] : [t.api.address]),
  ];

  const objects: KubeObject[] = [
    {
      apiVersion: `${CORE}/v1beta2`,
      kind: "Cluster",
      metadata: meta(t.clusterName),
      spec: {
        clusterNetwork: {
          pods: { cidrBlocks: [CLUSTER_API_DEFAULTS.podCidr] },
          services: { cidrBlocks: [CLUSTER_API_DEFAULTS.serviceCidr] },
        },
        ...(endpoint ? { controlPlaneEndpoint: endpoint } : {}),
        infrastructureRef: ref(group, infra.clusterKind, t.clusterName),
        controlPlaneRef: ref(CONTROL_PLANE, "KubeadmControlPlane", cpName),
      },
    },
    { apiVersion: infra.apiVersion, kind: infra.clusterKind, metadata: meta(t.clusterName), spec: infra.clusterSpec(t) },
    { apiVersion: infra.apiVersion, kind: infra.machineTemplateKind, metadata: meta(cpMachineName), spec: cpMachine },
    {
      apiVersion: `${CONTROL_PLANE}/v1beta2`,
      kind: "KubeadmControlPlane",
      metadata: meta(cpName),
      spec: {
        replicas: t.controlPlanes.length,
        version,
        machineTemplate: { spec: { infrastructureRef: ref(group, infra.machineTemplateKind, cpMachineName) } },
        kubeadmConfigSpec: {
          clusterConfiguration: {
            apiServer: { certSANs: sans },
            etcd: { local: { serverCertSANs: [...t.etcd.certSans], peerCertSANs: [...t.etcd.certSans] } },
          },
          initConfiguration: { nodeRegistration: { kubeletExtraArgs: kubeletArgs(t, "control-plane") } },
          joinConfiguration: { nodeRegistration: { kubeletExtraArgs: kubeletArgs(t, "control-plane") } },
        },
        // One machine at a time, a new one first: what kindha's own roll does on one host.
        rollout: { strategy: { type: "RollingUpdate", rollingUpdate: { maxSurge: 1 } } },
      },
    },
  ];
  for (const pool of workerPools(t)) {
    const machine = { template: { spec: infra.machineSpec({ role: pool.role, budget: pool.node.budget, image: t.nodeImage }) } };
    const bootstrap = {
      template: {
        spec: {
          joinConfiguration: {
            nodeRegistration: {
              kubeletExtraArgs: kubeletArgs(t, pool.role),
              taints: pool.node.taints.map((x) => ({ key: x.key, value: x.value, effect: x.effect })),
            },
          },
        },
      },
    };
    const [machineName, bootstrapName] = [templateName(pool.name, machine), templateName(pool.name, bootstrap)];
    objects.push(
      { apiVersion: infra.apiVersion, kind: infra.machineTemplateKind, metadata: meta(machineName), spec: machine },
      { apiVersion: `${BOOTSTRAP}/v1beta2`, kind: "KubeadmConfigTemplate", metadata: meta(bootstrapName), spec: bootstrap },
      {
        apiVersion: `${CORE}/v1beta2`,
        kind: "MachineDeployment",
        metadata: meta(pool.name),
        spec: {
          clusterName: t.clusterName,
          replicas: pool.replicas,
          selector: { matchLabels: { ...labels, [ROLE_LABEL]: pool.role } },
          template: {
            metadata: { labels: { ...labels, [ROLE_LABEL]: pool.role } },
            spec: {
              clusterName: t.clusterName,
              version,
              bootstrap: { configRef: ref(BOOTSTRAP, "KubeadmConfigTemplate", bootstrapName) },
              infrastructureRef: ref(group, infra.machineTemplateKind, machineName),
            },
          },
        },
      },
    );
  }
  return objects;
}
