/**
 * Every default of the program, in one place. Constructs and stacks resolve optional props
 * against these with `??`; nothing else hard-codes them.
 */
import type { NodeBudget, WorkerRole } from "./types";

/** The kind release the generated config is written and tested for. */
export const KIND_VERSION = "v0.32.0";

/** Node image released with {@link KIND_VERSION}, pinned by digest. */
export const NODE_IMAGE = "kindest/node:v1.36.1@sha256:3489c7674813ba5d8b1a9977baea8a6e553784dab7b84759d1014dbd78f7ebd5";

/** The API server's default --service-node-port-range: where a NodePort (and a `ports` mapping's target) lies. */
export const NODE_PORT_RANGE = { min: 30000, max: 32767 } as const;

/** The machine's kindha directory: backups, data, logs and locks of the clusters, the registry's storage (lib/model/paths.ts). */
export const KINDHA_DIR = "~/.kindha";

export const DEFAULTS = {
  clusterName: "data-platform-local",
  apiServerAddress: "127.0.0.1",
  apiServerPort: 6443,
  /** Where a `ports` mapping listens unless it says: this host only. */
  portListenAddress: "127.0.0.1",
  nodeImage: NODE_IMAGE,
  /** kubelet refuses cgroup v1 hosts unless a stack allows them. */
  allowCgroupV1: false,
  /** A kind cluster is not a Cluster API management cluster (no Docker socket in its nodes). */
  clusterApiManagement: false,
  /** The Docker socket a management cluster's nodes mount for CAPD (the same path inside). */
  dockerSocket: "/var/run/docker.sock",
  /** Stacks create their Kubernetes objects (namespaces, taints, backup CronJob) after the cluster. */
  platformObjects: true,
  /** Volumes live in a host directory per cluster (lib/model/paths.ts dataDir), kept across re-creation. */
  persistentData: true,
  /** A plan looks at the cluster first and recovers it when it does not answer (constructs/kind-cluster.ts). */
  recoverOnPlan: true,
  /** Bound of each wait of a recovery (recover, the plan's hook, the restart drill), in seconds. */
  recoverWaitSeconds: 300,
  /** kind stacks use the machine's local image registry (lib/model/registry.ts). */
  registry: true,
  /** Its host port: images are named `localhost:5001/<name>`, as in kind's own recipe. */
  registryPort: 5001,
  /** Host directory of its storage, shared by every cluster and kept when they go. */
  registryDir: `${KINDHA_DIR}/registry`,
  /** How long `kind create cluster --wait` waits for the control plane. */
  waitTimeout: "5m",
  haControlPlanes: 3,
  controlPlaneBudget: { cpu: 2, memoryGiB: 4 } as NodeBudget,
  workerBudgets: {
    infrastructure: { cpu: 4, memoryGiB: 8 },
    workload: { cpu: 8, memoryGiB: 16 },
    combined: { cpu: 8, memoryGiB: 16 },
  } as Record<WorkerRole, NodeBudget>,
  /** Namespaces created after the cluster: platform services and data workloads. */
  namespaces: { infrastructure: "data-platform", workloads: "workloads" },
  /** etcd backups kept by the in-cluster CronJob of HA stacks. */
  backupSchedule: "0 */6 * * *",
  backupRetention: 8,
  /**
   * Image with etcdctl for scheduled snapshots: the etcd image the cluster itself runs (kubeadm
   * v1.36.1's, `kubeadm config images list`), so every control plane already holds it.
   */
  backupEtcdImage: "registry.k8s.io/etcd:3.6.8-0",
  /**
   * Image with a POSIX shell for naming, permissions and retention of scheduled snapshots; pulled
   * by the nodes on first use (the etcd image has no shell). Offline, name one the nodes hold.
   */
  backupShellImage: "busybox:1.37",
} as const;

/** Label key that carries a node's role; also the taint key of dedicated infrastructure nodes. */
export const ROLE_LABEL = "kindha.io/role";

/** etcd always serves certificates for these names; the LB address is added when it differs. */
export const ETCD_BASE_SANS: readonly string[] = ["localhost", "127.0.0.1"];
