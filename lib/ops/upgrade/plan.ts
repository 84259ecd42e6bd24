/**
 * The pure half of a rolling Kubernetes upgrade: versions, the pre-checks as a table of rules, the
 * order nodes are rolled in and the kubeadm command of each. Nothing here runs a process; the
 * steps that do are in upgrade.ts.
 */
import { controlPlaneRollOrder, type Topology } from "../../model/topology";
import type { PodInfo } from "../kube";

/** A Kubernetes release version, `vMAJOR.MINOR.PATCH`. */
export interface KubeVersion {
  readonly major: number;
  readonly minor: number;
  readonly patch: number;
  readonly text: string;
}

/** Parses `v1.37.2` (a pre-release or build suffix is kept in `text`, ignored in comparisons). */
export function parseKubeVersion(text: string): KubeVersion | undefined {
  const m = /^v(\d+)\.(\d+)\.(\d+)(?:[-+][0-9A-Za-z.+-]*)?$/.exec(text.trim());
  return m ? { major: Number(m[1]), minor: Number(m[2]), patch: Number(m[3]), text: text.trim() } : undefined;
}

/** Negative when a is older than b, 0 when equal, positive when newer. */
export function compareVersions(a: KubeVersion, b: KubeVersion): number {
  return a.major - b.major || a.minor - b.minor || a.patch - b.patch;
}

/**
 * Kubernetes' version skew policy: a kubelet may be up to three minors older than the API server,
 * never newer (https://kubernetes.io/releases/version-skew-policy/).
 */
export const KUBELET_MAX_SKEW = 3;

/** What the pre-checks judge, read from the cluster and the target image. */
export interface UpgradeFacts {
  readonly target: KubeVersion;
  /** The API server's version (`kubectl version`), the cluster's version. */
  readonly server: KubeVersion;
  /** Each node's kubelet version, by node name. */
  readonly kubelets: ReadonlyMap<string, string>;
  /** Nodes whose Ready condition is not True, with the reason. */
  readonly notReady: readonly string[];
}

/** One pre-check's verdict. */
export interface PreCheck {
  readonly rule: string;
  readonly ok: boolean;
  readonly detail: string;
}

/**
 * The pre-checks of a roll, one row per rule: every node Ready, no downgrade, one minor at a time,
 * every kubelet within the skew the target's API server allows, and etcd quorum with a member to
 * spare (a single control plane passes, with its outage named). Pure.
 */
export function preChecks(t: Topology, f: UpgradeFacts): PreCheck[] {
  const { target, server } = f;
  const kubelets = [...f.kubelets.entries()];
  const unparsed = kubelets.filter(([, v]) => !parseKubeVersion(v)).map(([n, v]) => `${n} (${v || "no version"})`);
  const tooOld = kubelets.filter(([, v]) => {
    const k = parseKubeVersion(v);
    return k !== undefined && (k.major !== target.major || target.minor - k.minor > KUBELET_MAX_SKEW);
  });
  const newer = kubelets.filter(([, v]) => {
    const k = parseKubeVersion(v);
    return k !== undefined && compareVersions(k, target) > 0;
  });
  const missing = t.nodes.map((n) => n.name).filter((n) => !f.kubelets.has(n));
  const members = t.controlPlanes.length;
  const spare = members >= 3;
  const rows: PreCheck[] = [
    {
      rule: "every node of the topology registered and Ready",
      ok: missing.length === 0 && f.notReady.length === 0,
      detail:
        missing.length > 0
          ? `not registered: ${missing.join(", ")}`
          : f.notReady.length > 0
            ? `not Ready: ${f.notReady.join("; ")}`
            : `${t.nodes.length} nodes Ready`,
    },
    {
      rule: "no downgrade",
      ok: compareVersions(target, server) >= 0 && newer.length === 0,
      detail:
        compareVersions(target, server) < 0
          ? `the cluster runs ${server.text}, newer than ${target.text}; kubeadm cannot downgrade (restore a snapshot into a cluster created at ${target.text} instead)`
          : newer.length > 0
            ? `kubelet newer than ${target.text} on ${newer.map(([n, v]) => `${n} (${v})`).join(", ")}`
            : `${server.text} -> ${target.text}`,
    },
    {
      rule: "one minor version at a time",
      ok: target.major === server.major && target.minor - server.minor <= 1,
      detail:
        target.major === server.major && target.minor - server.minor <= 1
          ? `${server.major}.${server.minor} -> ${target.major}.${target.minor}`
          : `${server.text} -> ${target.text} skips ${target.major === server.major ? target.minor - server.minor - 1 : "a major"} minor version(s); upgrade through each minor in turn`,
    },
    {
      rule: `every kubelet within ${KUBELET_MAX_SKEW} minors of ${target.text} (version skew policy)`,
      ok: unparsed.length === 0 && tooOld.length === 0,
      detail:
        unparsed.length > 0
          ? `unreadable kubelet version on ${unparsed.join(", ")}`
          : tooOld.length > 0
            ? `too old: ${tooOld.map(([n, v]) => `${n} (${v})`).join(", ")}`
            : `kubelets ${[...new Set(kubelets.map(([, v]) => v))].sort().join(", ")}`,
    },
    {
      rule: "etcd quorum with a member to spare while one control plane rolls",
      ok: true,
      detail: spare
        ? `${members} members: ${members - 1} keep quorum while one restarts`
        : `${members} control plane: its API server and etcd restart, so the API is unavailable while it rolls (measured and printed)`,
    },
  ];
  return rows;
}

/** What one node is rolled with. */
export type NodeRoll = (
  | { readonly node: string; readonly kind: "control-plane"; readonly command: "apply" | "node" }
  | { readonly node: string; readonly kind: "worker"; readonly command: "node" }
) & {
  /** An interrupted roll of this node got this far: at "upgraded" only its return is left. */
  readonly interrupted?: "cordoned" | "out of the load balancer" | "upgraded";
};

/**
 * The order of a roll, CAPI's: control planes one at a time, followers first and the etcd leader
 * last (leadership moves once at most), then workers; nodes already at the target are left out,
 * so a stopped roll continues where it stopped. `kubeadm upgrade apply` runs once, on the first
 * control plane rolled while the cluster's configuration still names an older version; every
 * other node runs `kubeadm upgrade node`. A node an interrupted roll left half-way comes first,
 * whatever its kubelet says. Pure.
 */
export function rollOrder(
  t: Topology,
  o: {
    readonly leader?: string;
    readonly done: ReadonlySet<string>;
    readonly clusterAtTarget: boolean;
    readonly interrupted?: { readonly node: string; readonly stage: NonNullable<NodeRoll["interrupted"]> };
  },
): NodeRoll[] {
  const first = o.interrupted?.node;
  const pending = (n: string) => n === first || !o.done.has(n);
  const cps = controlPlaneRollOrder(t, o.leader).filter(pending);
  const workers = t.workers.map((n) => n.name).filter(pending);
  const mark = (n: string) => (n === first ? { interrupted: o.interrupted!.stage } : {});
  let applied = o.clusterAtTarget || o.interrupted?.stage === "upgraded";
  const out: NodeRoll[] = [];
  for (const node of [...cps.filter((n) => n === first), ...cps.filter((n) => n !== first)]) {
    out.push({ node, kind: "control-plane", command: applied ? "node" : "apply", ...mark(node) });
    applied = true;
  }
  for (const w of [...workers.filter((n) => n === first), ...workers.filter((n) => n !== first)])
    out.push({ node: w, kind: "worker", command: "node", ...mark(w) });
  return out;
}

/**
 * kubeadm's command line for one node. kubeadm v1.37 refuses cgroup v1 hosts in its
 * SystemVerification preflight; a stack that allows them (allowCgroupV1) skips that one check, as
 * kind skips every preflight check at create.
 */
export function kubeadmUpgradeArgs(roll: NodeRoll, target: KubeVersion, allowCgroupV1: boolean): string[] {
  const ignore = allowCgroupV1 ? ["--ignore-preflight-errors=SystemVerification"] : [];
  // --v=5: kubeadm's steps with their times, for the log the roll keeps of each node.
  return roll.command === "apply"
    ? ["kubeadm", "upgrade", "apply", target.text, "--yes", "--v=5", ...ignore]
    : ["kubeadm", "upgrade", "node", "--v=5", ...ignore];
}

/** The static pods of a control plane and the image name each runs (kubeadm's names). */
export const STATIC_PODS = ["etcd", "kube-apiserver", "kube-controller-manager", "kube-scheduler"] as const;

/**
 * The image each static pod should run at the target, from the images the target's kubeadm lists
 * (`kubeadm config images list`). Undefined for a component the list does not name.
 */
export function staticPodImages(images: readonly string[]): Record<(typeof STATIC_PODS)[number], string | undefined> {
  const find = (name: string) => images.find((i) => i.replace(/[:@].*$/, "").endsWith(`/${name}`));
  return {
    etcd: find("etcd"),
    "kube-apiserver": find("kube-apiserver"),
    "kube-controller-manager": find("kube-controller-manager"),
    "kube-scheduler": find("kube-scheduler"),
  };
}

/** The API server's version from `kubectl version -o json`; undefined when it is not there. */
export function serverVersion(versionJson: string): KubeVersion | undefined {
  try {
    const git = (JSON.parse(versionJson) as { serverVersion?: { gitVersion?: string } }).serverVersion?.gitVersion;
    return git ? parseKubeVersion(git) : undefined;
  } catch {
    return undefined;
  }
}

/** The `kubernetesVersion` of kubeadm's ClusterConfiguration (the kubeadm-config ConfigMap's text). */
export function clusterConfigVersion(clusterConfiguration: string): string | undefined {
  return /^kubernetesVersion:\s*"?([^"\s]+)"?\s*$/m.exec(clusterConfiguration)?.[1];
}

/** The annotation a mirror pod carries: the UID (config hash) of the kubelet's static pod it mirrors. */
export const MIRROR_ANNOTATION = "kubernetes.io/config.mirror";

/**
 * What is wrong with a node's static pods (the API's pods on the node) against the images they
 * should run and the pods the node's kubelet holds (`nodes/<node>/proxy/pods`). A new kubelet
 * computes another hash (the static pod's UID) for the same manifest, and soon after it starts it
 * re-creates every static pod: the API meanwhile shows the old mirror pods, ready. A mirror pod
 * counts only once it mirrors the kubelet's current pod, or the node would go back into the load
 * balancer just before its API server restarts once more. Pure.
 */
export function staticPodProblems(
  pods: readonly PodInfo[],
  node: string,
  want: ReturnType<typeof staticPodImages>,
  kubeletPods: readonly PodInfo[],
): string[] {
  const out: string[] = [];
  for (const comp of STATIC_PODS) {
    const name = `${comp}-${node}`;
    const pod = pods.find((p) => p.name === name);
    if (!pod) out.push(`no ${comp} pod`);
    else if (want[comp] && pod.image !== want[comp]) out.push(`${comp} runs ${pod.image || "no image"}, not ${want[comp]}`);
    else if (pod.annotations[MIRROR_ANNOTATION] !== kubeletPods.find((p) => p.name === name)?.uid)
      out.push(`${comp}: the API still shows a pod the kubelet no longer runs`);
    else if (!pod.ready) out.push(`${comp} not ready`);
  }
  return out;
}
