/**
 * The few fields of kubectl's JSON output the operations read, parsed defensively: a missing
 * field becomes "unknown", never a crash, so a check can say what it did not find.
 */
import { isRecord } from "../util";

/** A node as the checks see it. */
export interface NodeInfo {
  readonly name: string;
  readonly controlPlane: boolean;
  readonly ready: boolean;
  /** Reason and message of the Ready condition when it is not True. */
  readonly readyDetail: string;
  readonly internalIp?: string;
}

/** A pod as the checks see it. */
export interface PodInfo {
  readonly name: string;
  readonly nodeName: string;
  readonly phase: string;
  /** Every container reports ready. */
  readonly ready: boolean;
  /** Host of the client URL kubeadm wrote into an etcd pod (its member's address), if any. */
  readonly etcdAddress?: string;
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
/** Where kubeadm writes the client URL an etcd member advertises, on its static pod. */
const ETCD_ADVERTISE_ANNOTATION = "kubeadm.kubernetes.io/etcd.advertise-client-urls";

/** The host of a URL without IPv6 brackets, or undefined when it is not one. */
function urlHost(url: string): string | undefined {
  try {
    return new URL(url).hostname.replace(/^\[(.*)\]$/, "$1") || undefined;
  } catch {
    return undefined;
  }
}

/** `kubectl get nodes -o json`. */
export function parseNodes(text: string): NodeInfo[] {
  return listItems(text, "kubectl get nodes").map((n) => {
    const meta = isRecord(n.metadata) ? n.metadata : {};
    const status = isRecord(n.status) ? n.status : {};
    const labels = isRecord(meta.labels) ? meta.labels : {};
    const ready = arr(status.conditions).filter(isRecord).find((c) => c.type === "Ready");
    const ip = arr(status.addresses).filter(isRecord).find((a) => a.type === "InternalIP");
    return {
      name: str(meta.name),
      controlPlane: CONTROL_PLANE_LABEL in labels,
      ready: ready?.status === "True",
      readyDetail: ready ? [str(ready.reason), str(ready.message)].filter(Boolean).join(": ") || `Ready=${str(ready.status)}` : "no Ready condition",
      ...(ip && str(ip.address) ? { internalIp: str(ip.address) } : {}),
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
    const annotations = isRecord(meta.annotations) ? meta.annotations : {};
    const etcdAddress = urlHost(str(annotations[ETCD_ADVERTISE_ANNOTATION]));
    return {
      name: str(meta.name),
      nodeName: str(spec.nodeName),
      phase: str(status.phase) || "Unknown",
      ready: containers.length > 0 && containers.every((c) => c.ready === true),
      ...(etcdAddress ? { etcdAddress } : {}),
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
        ...arr(s.addresses).filter(isRecord).map((a) => ({ ip: str(a.ip), ready: true })),
        ...arr(s.notReadyAddresses).filter(isRecord).map((a) => ({ ip: str(a.ip), ready: false })),
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
