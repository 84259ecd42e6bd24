/**
 * The pure half of a restore (restore.ts beside it runs the steps): its context, the per-member
 * etcdutl command with the full --initial-cluster, the nodes to drop and the marks each node gets.
 */
import type { Topology } from "../../model/topology";
import { ROLE_LABEL } from "../../model/defaults";
import { hostPort } from "../../model/util";
import type { ClusterOpsContext } from "../client";
import { NODE_RESTORE_DIR } from "../data";
import { CONTROL_PLANE_LABEL, parseNodes } from "../kube";

export const ETCD_DATA_DIR = "/var/lib/etcd";

export interface RestoreContext extends ClusterOpsContext {
  readonly stackId: string;
  /** Local snapshot file (absolute). */
  readonly snapshot: string;
  /** UTC stamp naming the previous data dir kept on each node. */
  readonly stamp: string;
  /** Bound of each wait, in ms. */
  readonly waitMs: number;
  /** Archive of the volumes to put back into the host data directory first (backup --with-data). */
  readonly dataArchive?: { readonly archive: string; readonly dataDir: string };
  /** Filled by the steps. */
  readonly ips: Map<string, string>;
  image?: string;
}

/** `name=https://ip:2380,...` of every control plane, in topology order. */
export function initialCluster(t: Topology, ips: ReadonlyMap<string, string>): string {
  return t.controlPlanes.map((cp) => `${cp.name}=${peerUrl(ips.get(cp.name) ?? "")}`).join(",");
}

function peerUrl(ip: string): string {
  return `https://${hostPort(ip, 2380)}`;
}

/** `ctr run` of the etcd image on a node: etcdutl snapshot restore into NODE_RESTORE_DIR/etcd. */
export function restoreCommand(c: RestoreContext, index: number): string[] {
  const node = c.topology.controlPlanes[index].name;
  const ip = c.ips.get(node) ?? "";
  return [
    "exec",
    node,
    "ctr",
    "-n",
    "k8s.io",
    "run",
    "--rm",
    "--mount",
    `type=bind,src=${NODE_RESTORE_DIR},dst=${NODE_RESTORE_DIR},options=rbind:rw`,
    c.image ?? "",
    `kindha-restore-${index}-${c.stamp.toLowerCase()}`,
    "etcdutl",
    "snapshot",
    "restore",
    `${NODE_RESTORE_DIR}/snapshot.db`,
    "--name",
    node,
    "--initial-cluster",
    initialCluster(c.topology, c.ips),
    "--initial-advertise-peer-urls",
    peerUrl(ip),
    "--data-dir",
    `${NODE_RESTORE_DIR}/etcd`,
    // Revisions jump past any a client has seen and old ones read as compacted, so every watch
    // and cache re-lists instead of trusting revisions from before the restore.
    "--bump-revision",
    "1000000000",
    "--mark-compacted",
  ];
}

/** Node names the API lists that the stack's topology does not have. */
export function staleNodes(t: Topology, nodesJson: string): string[] {
  const want = new Set(t.nodes.map((n) => n.name));
  return parseNodes(nodesJson)
    .map((n) => n.name)
    .filter((n) => !want.has(n));
}

/** The kubectl commands that mark each node as the stack plans it; pure. */
export function nodeMarks(t: Topology): { node: string; label: string[]; taint?: string[]; untaint?: string[] }[] {
  // A snapshot of another topology holds the node objects (labels and taints) of that topology:
  // ha-option-a's infrastructure worker restored into single would keep repelling every pod.
  // kubelet sets labels only when it registers a new node, and kubeadm marks control planes only
  // when they join.
  return t.nodes.map((n) => ({
    node: n.name,
    label: [
      "label",
      "node",
      n.name,
      `${ROLE_LABEL}=${n.role}`,
      ...(n.role === "control-plane" ? [`${CONTROL_PLANE_LABEL}=`] : []),
      "--overwrite",
    ],
    // kind keeps control planes tainted when the cluster has workers (every stack here does).
    ...(n.role === "control-plane" && t.workers.length > 0
      ? { taint: ["taint", "node", n.name, `${CONTROL_PLANE_LABEL}:NoSchedule`, "--overwrite"] }
      : {}),
    // The infrastructure taint is the stack's NodeTaint's (Terraform, field manager kindha):
    // restore only removes one the stack does not plan, and `cdktf deploy` puts back its own.
    ...(!n.taints.some((x) => x.key === ROLE_LABEL) ? { untaint: ["taint", "node", n.name, `${ROLE_LABEL}-`] } : {}),
  }));
}
