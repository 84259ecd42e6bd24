/**
 * The few fields of kubectl's JSON output the operations read, parsed defensively: a missing
 * field becomes "unknown", never a crash, so a check can say what it did not find.
 * Over 300 lines because it holds one short parser per kind of object the tools list, side by side.
 */
import { isRecord } from "../model/util";

/** A node as the checks see it. */
export interface NodeInfo {
  readonly name: string;
  readonly controlPlane: boolean;
  readonly ready: boolean;
  /** Reason and message of the Ready condition when it is not True. */
  readonly readyDetail: string;
  readonly internalIp?: string;
  /** What the kubelet reports of its version (`v1.36.1`); empty when unknown. */
  readonly kubeletVersion: string;
  /** Cordoned (`spec.unschedulable`). */
  readonly unschedulable: boolean;
}

/** A pod as the checks see it. */
export interface PodInfo {
  readonly name: string;
  readonly nodeName: string;
  readonly phase: string;
  /** Every container reports ready. */
  readonly ready: boolean;
  readonly uid: string;
  /** The first container's image. */
  readonly image: string;
  readonly annotations: Readonly<Record<string, string>>;
}

/** An API server address behind the `kubernetes` service. */
export interface ApiAddress {
  readonly ip: string;
  /** False only when the EndpointSlice marks the endpoint not ready. */
  readonly ready: boolean;
}

/** kubectl output that is not the expected JSON; the message names the object kind. */
export class KubeOutputError extends Error {
  constructor(what: string, problem: string) {
    super(`${what}: ${problem}`);
    this.name = "KubeOutputError";
  }
}

type Json = Record<string, unknown>;
const arr = (x: unknown): unknown[] => (Array.isArray(x) ? x : []);
const str = (x: unknown): string => (typeof x === "string" ? x : "");

/** Parses a `kubectl get ... -o json` List and returns its items. */
export function listItems(text: string, what: string): Json[] {
  let data: unknown;
  try {
    data = JSON.parse(text);
  } catch {
    throw new KubeOutputError(what, "kubectl output is not JSON");
  }
  if (!isRecord(data) || !Array.isArray(data.items)) throw new KubeOutputError(what, "expected a List with items");
  return data.items.filter(isRecord);
}

export const CONTROL_PLANE_LABEL = "node-role.kubernetes.io/control-plane";

/** `kubectl get nodes -o json`. */
export function parseNodes(text: string): NodeInfo[] {
  return listItems(text, "kubectl get nodes").map((n) => {
    const meta = isRecord(n.metadata) ? n.metadata : {};
    const status = isRecord(n.status) ? n.status : {};
    const labels = isRecord(meta.labels) ? meta.labels : {};
    const ready = arr(status.conditions)
      .filter(isRecord)
      .find((c) => c.type === "Ready");
    const ip = arr(status.addresses)
      .filter(isRecord)
      .find((a) => a.type === "InternalIP");
    const info = isRecord(status.nodeInfo) ? status.nodeInfo : {};
    const spec = isRecord(n.spec) ? n.spec : {};
    return {
      name: str(meta.name),
      controlPlane: CONTROL_PLANE_LABEL in labels,
      ready: ready?.status === "True",
      readyDetail: ready
        ? [str(ready.reason), str(ready.message)].filter(Boolean).join(": ") || `Ready=${str(ready.status)}`
        : "no Ready condition",
      ...(ip && str(ip.address) ? { internalIp: str(ip.address) } : {}),
      kubeletVersion: str(info.kubeletVersion),
      unschedulable: spec.unschedulable === true,
    };
  });
}

/** `kubectl get pods -o json`. */
export function parsePods(text: string): PodInfo[] {
  return listItems(text, "kubectl get pods").map((p) => {
    const meta = isRecord(p.metadata) ? p.metadata : {};
    const spec = isRecord(p.spec) ? p.spec : {};
    const status = isRecord(p.status) ? p.status : {};
    const containers = arr(status.containerStatuses).filter(isRecord);
    const first = arr(spec.containers).filter(isRecord)[0] ?? {};
    const annotations = isRecord(meta.annotations) ? meta.annotations : {};
    return {
      name: str(meta.name),
      nodeName: str(spec.nodeName),
      phase: str(status.phase) || "Unknown",
      ready: containers.length > 0 && containers.every((c) => c.ready === true),
      uid: str(meta.uid),
      image: str(first.image),
      annotations: Object.fromEntries(Object.entries(annotations).map(([k, v]) => [k, str(v)])),
    };
  });
}

/**
 * Addresses of the `kubernetes` service: from `kubectl get endpointslices -o json` (an
 * EndpointSliceList) or, for older clusters, `kubectl get endpoints kubernetes -o json`.
 */
export function parseApiAddresses(text: string): ApiAddress[] {
  let data: unknown;
  try {
    data = JSON.parse(text);
  } catch {
    throw new KubeOutputError("kubernetes service endpoints", "kubectl output is not JSON");
  }
  if (isRecord(data) && data.kind === "Endpoints") {
    return arr(data.subsets)
      .filter(isRecord)
      .flatMap((s) => [
        ...arr(s.addresses)
          .filter(isRecord)
          .map((a) => ({ ip: str(a.ip), ready: true })),
        ...arr(s.notReadyAddresses)
          .filter(isRecord)
          .map((a) => ({ ip: str(a.ip), ready: false })),
      ]);
  }
  return listItems(text, "kubernetes service endpointslices").flatMap((slice) =>
    arr(slice.endpoints)
      .filter(isRecord)
      .flatMap((e) => {
        const ready = !(isRecord(e.conditions) && e.conditions.ready === false);
        return arr(e.addresses).map((ip) => ({ ip: str(ip), ready }));
      }),
  );
}

/** A PersistentVolumeClaim as the checks see it. */
export interface ClaimInfo {
  readonly namespace: string;
  readonly name: string;
  readonly phase: string;
  readonly storageClass: string;
  readonly volume: string;
}

/** `kubectl get pvc -A -o json`. */
export function parseClaims(text: string): ClaimInfo[] {
  return listItems(text, "kubectl get pvc").map((c) => {
    const meta = isRecord(c.metadata) ? c.metadata : {};
    const spec = isRecord(c.spec) ? c.spec : {};
    const status = isRecord(c.status) ? c.status : {};
    return {
      namespace: str(meta.namespace),
      name: str(meta.name),
      phase: str(status.phase) || "Unknown",
      storageClass: str(spec.storageClassName),
      volume: str(spec.volumeName),
    };
  });
}

/** A Deployment, StatefulSet or DaemonSet: how many pods it wants and how many are available. */
export interface WorkloadInfo {
  readonly kind: string;
  readonly namespace: string;
  readonly name: string;
  readonly desired: number;
  readonly available: number;
  /**
   * Pods still to move to the current template (a rollout under way, as `kubectl rollout status`
   * sees it); 0 when none, or when the strategy is OnDelete (nothing rolls by itself).
   */
  readonly outdated: number;
  /** Names of the claims its pods mount (template volumes and StatefulSet claim templates). */
  readonly claims: readonly string[];
}

const num = (x: unknown, fallback = 0): number => (typeof x === "number" && Number.isFinite(x) ? x : fallback);

/** `kubectl get deployments,statefulsets,daemonsets -A -o json` (a List of mixed kinds). */
export function parseWorkloads(text: string): WorkloadInfo[] {
  return listItems(text, "kubectl get deployments,statefulsets,daemonsets").map((w) => {
    const meta = isRecord(w.metadata) ? w.metadata : {};
    const spec = isRecord(w.spec) ? w.spec : {};
    const status = isRecord(w.status) ? w.status : {};
    const kind = str(w.kind);
    const template = isRecord(spec.template) && isRecord(spec.template.spec) ? spec.template.spec : {};
    const claims = [
      ...arr(template.volumes)
        .filter(isRecord)
        .flatMap((v) => (isRecord(v.persistentVolumeClaim) ? [str(v.persistentVolumeClaim.claimName)] : [])),
      ...arr(spec.volumeClaimTemplates)
        .filter(isRecord)
        .map((t) => (isRecord(t.metadata) ? str(t.metadata.name) : "")),
    ].filter(Boolean);
    const daemon = kind === "DaemonSet";
    const strategy = isRecord(spec.updateStrategy) ? spec.updateStrategy : {};
    const onDelete = strategy.type === "OnDelete";
    const desired = daemon ? num(status.desiredNumberScheduled) : num(spec.replicas, 1);
    // A status not yet written for the latest spec counts everything as still to roll.
    const seen = num(status.observedGeneration) >= num(meta.generation);
    const updated = daemon ? num(status.updatedNumberScheduled) : num(status.updatedReplicas);
    const old = kind === "Deployment" ? Math.max(0, num(status.replicas) - updated) : 0;
    // A StatefulSet's partition keeps that many pods on the old template on purpose.
    const partition = kind === "StatefulSet" && isRecord(strategy.rollingUpdate) ? num(strategy.rollingUpdate.partition) : 0;
    const toUpdate = Math.max(0, desired - partition);
    const outdated = onDelete ? 0 : !seen ? Math.max(desired, 1) : Math.max(0, toUpdate - updated) + old;
    return {
      kind,
      namespace: str(meta.namespace),
      name: str(meta.name),
      // Deployments and StatefulSets default to 1 replica when spec.replicas is absent.
      desired,
      available: daemon ? num(status.numberAvailable) : num(status.availableReplicas),
      outdated,
      claims,
    };
  });
}

/** A pod that mounts claims, with the kind of its owner ("" for a bare pod). */
export interface ClaimPod {
  readonly namespace: string;
  readonly name: string;
  readonly owner: string;
  readonly phase: string;
}

/** Pods of `kubectl get pods -A -o json` that mount a PersistentVolumeClaim. */
export function podsWithClaims(text: string): ClaimPod[] {
  return listItems(text, "kubectl get pods").flatMap((p) => {
    const meta = isRecord(p.metadata) ? p.metadata : {};
    const spec = isRecord(p.spec) ? p.spec : {};
    const volumes = arr(spec.volumes).filter(isRecord);
    if (!volumes.some((v) => isRecord(v.persistentVolumeClaim))) return [];
    const owners = arr(meta.ownerReferences).filter(isRecord);
    const status = isRecord(p.status) ? p.status : {};
    return [{ namespace: str(meta.namespace), name: str(meta.name), owner: str(owners[0]?.kind), phase: str(status.phase) }];
  });
}

/** The controllers whose pods restore re-creates: a Deployment's (through its ReplicaSet), a DaemonSet's, a StatefulSet's. */
const RESTARTED_OWNERS = new Set(["ReplicaSet", "DaemonSet", "StatefulSet"]);

/**
 * The pods of `kubectl get pods -A -o json` by what re-creates them: `restarted`, those a
 * ReplicaSet, DaemonSet or StatefulSet controls and that are not already terminating; `bare`
 * (`namespace/name`), those no controller owns and that are not static (mirror) pods: nothing
 * re-creates them when they are deleted.
 */
export function podsByOwner(text: string): { restarted: { namespace: string; name: string }[]; bare: string[] } {
  const restarted: { namespace: string; name: string }[] = [];
  const bare: string[] = [];
  for (const p of listItems(text, "kubectl get pods")) {
    const meta = isRecord(p.metadata) ? p.metadata : {};
    const owners = arr(meta.ownerReferences).filter(isRecord);
    const controller = owners.find((o) => o.controller === true);
    const annotations = isRecord(meta.annotations) ? meta.annotations : {};
    if (controller && RESTARTED_OWNERS.has(str(controller.kind)) && !meta.deletionTimestamp)
      restarted.push({ namespace: str(meta.namespace), name: str(meta.name) });
    else if (owners.length === 0 && !("kubernetes.io/config.mirror" in annotations)) bare.push(`${str(meta.namespace)}/${str(meta.name)}`);
  }
  return { restarted, bare };
}

/** A PersistentVolume as the data checks see it. */
export interface VolumeInfo {
  readonly name: string;
  readonly phase: string;
  /** `<namespace>/<claim>` it is (or was) bound to; empty when none. */
  readonly claim: string;
  readonly reclaimPolicy: string;
  /** Its directory as the nodes see it (hostPath or local path); empty when neither. */
  readonly path: string;
  /** No node affinity: the same directory on every node (kindha's shared host data directory). */
  readonly shared: boolean;
}

/** `kubectl get pv -o json`. */
export function parseVolumes(text: string): VolumeInfo[] {
  return listItems(text, "kubectl get pv").map((v) => {
    const meta = isRecord(v.metadata) ? v.metadata : {};
    const spec = isRecord(v.spec) ? v.spec : {};
    const status = isRecord(v.status) ? v.status : {};
    const ref = isRecord(spec.claimRef) ? spec.claimRef : undefined;
    const dir = isRecord(spec.hostPath) ? spec.hostPath : isRecord(spec.local) ? spec.local : {};
    return {
      name: str(meta.name),
      phase: str(status.phase) || "Unknown",
      claim: ref ? `${str(ref.namespace)}/${str(ref.name)}` : "",
      reclaimPolicy: str(spec.persistentVolumeReclaimPolicy),
      path: str(dir.path),
      shared: spec.nodeAffinity === undefined,
    };
  });
}
