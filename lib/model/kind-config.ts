/**
 * Renders the kind cluster config (kind.x-k8s.io/v1alpha4) for a topology, with the yaml library.
 */
import { createHash } from "node:crypto";
import { stringify } from "yaml";
import { DEFAULTS } from "./defaults";
import type { PlannedNode, PlannedPort, Topology } from "./topology";

export const KIND_API_VERSION = "kind.x-k8s.io/v1alpha4";

/** A node entry of the kind config. */
export interface KindNode {
  readonly role: "control-plane" | "worker";
  readonly image: string;
  readonly labels: Readonly<Record<string, string>>;
  readonly extraMounts?: readonly KindMount[];
  readonly extraPortMappings?: readonly KindPortMapping[];
}

/** A host port published by a node container (kind's extraPortMappings). */
export interface KindPortMapping {
  readonly containerPort: number;
  readonly hostPort: number;
  readonly listenAddress: string;
  readonly protocol: string;
}

/** A mapping's host side, `address:port/protocol`: what the preflight checks and the review names. */
export function hostPortLabel(m: Pick<KindPortMapping, "listenAddress" | "hostPort" | "protocol">): string {
  return `${m.listenAddress}:${m.hostPort}/${m.protocol}`;
}

/** A host directory mounted into a node container. */
export interface KindMount {
  readonly hostPath: string;
  readonly containerPath: string;
}

/** The kind config as data, before rendering. */
export interface KindConfig {
  readonly kind: "Cluster";
  readonly apiVersion: typeof KIND_API_VERSION;
  readonly name: string;
  readonly networking: { readonly apiServerAddress: string; readonly apiServerPort: number };
  readonly kubeadmConfigPatches: readonly string[];
  readonly nodes: readonly KindNode[];
}

export function kindNode(
  node: PlannedNode,
  image: string,
  extraMounts: readonly KindMount[] = [],
  ports: readonly PlannedPort[] = [],
): KindNode {
  const mappings = ports.map((p) => ({
    containerPort: p.nodePort,
    hostPort: p.hostPort,
    listenAddress: p.listenAddress,
    protocol: p.protocol,
  }));
  return {
    role: node.kindRole,
    image,
    labels: { ...node.labels },
    ...(extraMounts.length > 0 ? { extraMounts: [...extraMounts] } : {}),
    ...(mappings.length > 0 ? { extraPortMappings: mappings } : {}),
  };
}

/**
 * The kubeadm ClusterConfiguration patch that gives etcd its certificate SANs.
 *
 * It names `kind` only, no `apiVersion`: kind skips a patch whose apiVersion differs from the
 * kubeadm API it uses (v1beta3 below Kubernetes 1.36, v1beta4 from 1.36), and both spell
 * `etcd.local.serverCertSANs`/`peerCertSANs` the same. The lists are complete because kind
 * replaces, not merges, lists other than certSANs/extraArgs.
 */
export function etcdSansPatch(certSans: readonly string[]): string {
  return stringify({
    kind: "ClusterConfiguration",
    etcd: { local: { serverCertSANs: [...certSans], peerCertSANs: [...certSans] } },
  });
}

/**
 * The KubeletConfiguration patch that lets kubelet v1.35+ start on a cgroup v1 host. Like the etcd
 * patch it names `kind` only; kubeadm hands it to every node's kubelet.
 */
export const CGROUP_V1_PATCH = stringify({ kind: "KubeletConfiguration", failCgroupV1: false });

export function kindConfig(topology: Topology, nodes: readonly KindNode[]): KindConfig {
  return {
    kind: "Cluster",
    apiVersion: KIND_API_VERSION,
    name: topology.clusterName,
    networking: { apiServerAddress: topology.api.address, apiServerPort: topology.api.port },
    kubeadmConfigPatches: [etcdSansPatch(topology.etcd.certSans), ...(topology.allowCgroupV1 ? [CGROUP_V1_PATCH] : [])],
    nodes,
  };
}

/**
 * The cluster's identity: the config with every node's image set to the default one. A new image
 * is a rolling upgrade of the same cluster (constructs/rolling-upgrade.ts), not another cluster,
 * and clusters deployed with the default image keep the hash they were created with.
 */
export function identityConfig(config: KindConfig): KindConfig {
  return { ...config, nodes: config.nodes.map((n) => ({ ...n, image: DEFAULTS.nodeImage })) };
}

export function renderKindConfig(config: KindConfig): string {
  return stringify(config, { lineWidth: 0, aliasDuplicateObjects: false });
}

export function sha256(text: string): string {
  return createHash("sha256").update(text).digest("hex");
}
