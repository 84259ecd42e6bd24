/**
 * Persistent volumes on the host: the local-path provisioner's configuration for a cluster whose
 * volumes live in one host directory mounted into every node. Pure: rendered here, applied by
 * scripts/create-cluster.sh right after kind creates the cluster.
 */
import { stringify } from "yaml";
import type { Violation } from "./validation";

/** Where every node sees the cluster's data directory (the local-path provisioner's own default). */
export const NODE_DATA_DIR = "/var/local-path-provisioner";

/**
 * Volume directories named `<namespace>/<claim>`: stable across clusters, so a re-created or
 * restored cluster finds a claim's bytes where it left them (the provisioner's default name holds
 * the volume's uid, which changes).
 */
export const PATH_PATTERN = "{{ .PVC.Namespace }}/{{ .PVC.Name }}";

/** File in the data directory naming the cluster it belongs to (written at create, checked by the preflight). */
export const DATA_OWNER_FILE = ".kindha-cluster";

/** The local-path provisioner's namespace, ConfigMap and Deployment, as kind installs them. */
export const LOCAL_PATH = {
  namespace: "local-path-storage",
  configMap: "local-path-config",
  deployment: "local-path-provisioner",
  provisioner: "rancher.io/local-path",
} as const;

/** The default StorageClass name kind users write in their claims. */
export const STORAGE_CLASS = "standard";

/** The provisioner's config.json in shared mode: no node affinity, every node sees the same files. */
export function provisionerConfig(): { sharedFileSystemPath: string } {
  return { sharedFileSystemPath: NODE_DATA_DIR };
}

/**
 * The merge patch create-cluster.sh gives the provisioner's ConfigMap: config.json only, so the
 * node image's helper pod and setup/teardown scripts stay. (A server-side apply would take over
 * the fields kind's client-side apply owns and drop them.)
 */
export function provisionerConfigPatch(): string {
  return `${JSON.stringify({ data: { "config.json": JSON.stringify(provisionerConfig(), null, 2) } }, null, 2)}\n`;
}

/**
 * The default StorageClass with stable directory names, which create-cluster.sh applies after
 * deleting kind's `standard` (its parameters are immutable).
 */
export function storageClassManifest(): string {
  const storageClass = {
    apiVersion: "storage.k8s.io/v1",
    kind: "StorageClass",
    metadata: {
      name: STORAGE_CLASS,
      annotations: { "storageclass.kubernetes.io/is-default-class": "true" },
      labels: { "app.kubernetes.io/managed-by": "kindha" },
    },
    provisioner: LOCAL_PATH.provisioner,
    volumeBindingMode: "WaitForFirstConsumer",
    // A deleted claim (or namespace: cdktf destroy deletes kindha's own) keeps its directory, and
    // a new claim of that name finds the bytes; only remove-data deletes them.
    reclaimPolicy: "Retain",
    parameters: { pathPattern: PATH_PATTERN },
  };
  return stringify(storageClass, { lineWidth: 0 });
}

/**
 * A host path a setting names: absolute or `~/`-relative, made of letters, digits and `._@+-/`
 * only, without `..` segments. The path reaches the kind config and Terraform expressions; this
 * grammar keeps it data (no `$`, `%`, quotes, backslashes, spaces or control characters).
 */
const HOST_PATH = /^(~\/|\/)[A-Za-z0-9._@+/-]*$/;

/** The violations of a host-path setting (none when it is fine). */
export function hostPathViolations(field: string, value: unknown): Violation[] {
  if (typeof value !== "string" || !HOST_PATH.test(value) || value.split("/").includes("..")) {
    return [
      { field, value, rule: "must be an absolute or ~/ path of letters, digits and . _ @ + - / (no '..', spaces or other characters)" },
    ];
  }
  if (value === "/" || value === "~/") return [{ field, value, rule: "must name a directory of its own, not / or ~/ itself" }];
  return [];
}
