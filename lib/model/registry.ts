/**
 * The machine's local image registry, as kind documents it: one registry container shared by every
 * kindha cluster, answering at localhost:<port> on the host and by its container name on kind's
 * network; each node's containerd maps `localhost:<port>` to it (a certs.d host entry), and the
 * cluster publishes where it is in `kube-public/local-registry-hosting` (KEP-1755). Pure: what the
 * stack writes and scripts/registry.sh applies.
 */
import { stringify } from "yaml";
import { DEFAULTS } from "./defaults";
import { port } from "./grammar";
import { hostPathViolations } from "./storage";
import { isRecord } from "./util";
import type { Topology } from "./topology";
import type { Violation } from "./validation";

/** What a stack may set of the registry. */
export interface RegistrySettings {
  /**
   * Host port of the registry: images are pushed to and named as `localhost:<port>/<name>`.
   * @default 5001
   */
  readonly port?: number;
  /**
   * Host directory of the registry's storage (0700), kept when clusters and the registry go.
   * @default "~/.kindha/registry"
   */
  readonly dir?: string;
}

/** The registry a stack uses. */
export interface PlannedRegistry {
  readonly port: number;
  /** Host directory of its storage, `~/` unexpanded. */
  readonly dir: string;
  /** How the host and the nodes name it in image references: `localhost:<port>`. */
  readonly host: string;
}

/** The registry's container, image and the port it listens on inside its container. */
export const REGISTRY = {
  containerName: "kindha-registry",
  /** Distribution 2.8 from Debian's docker-registry package (e2e/node-image.sh builds it). */
  image: "kindha.local/registry:2.8.2",
  containerPort: 5000,
  /** Where containerd looks for per-registry host entries (its default config_path). */
  certsDir: "/etc/containerd/certs.d",
} as const;

const REGISTRY_KEYS: readonly (keyof RegistrySettings)[] = ["port", "dir"];

/** The violations of a `registry` setting: true, false, or a map of port and dir. */
export function registryViolations(field: string, value: unknown): Violation[] {
  if (value === undefined || typeof value === "boolean") return [];
  if (!isRecord(value)) return [{ field, value, rule: `must be true, false or a map of ${REGISTRY_KEYS.join(", ")}` }];
  return Object.entries(value).flatMap(([key, given]): Violation[] => {
    const at = `${field}.${key}`;
    if (key === "port") return port(at, given);
    if (key === "dir") return hostPathViolations(at, given);
    return [{ field: at, value: given, rule: `is not a known setting (${REGISTRY_KEYS.join(", ")})` }];
  });
}

/** The registry a (valid) setting asks for; undefined when it is off. */
export function planRegistry(given: RegistrySettings | boolean | undefined): PlannedRegistry | undefined {
  if (given === false || (given === undefined && !DEFAULTS.registry)) return undefined;
  const s: RegistrySettings = typeof given === "object" ? given : {};
  const p = s.port ?? DEFAULTS.registryPort;
  return { port: p, dir: s.dir ?? DEFAULTS.registryDir, host: `localhost:${p}` };
}

/** What scripts/registry.sh (and the preflight through it) reads of the registry; `dir` as the script should see it. */
export function registryEnv(r: PlannedRegistry, dir: string): Record<string, string> {
  return {
    KINDHA_REGISTRY_NAME: REGISTRY.containerName,
    KINDHA_REGISTRY_IMAGE: REGISTRY.image,
    KINDHA_REGISTRY_PORT: String(r.port),
    KINDHA_REGISTRY_CONTAINER_PORT: String(REGISTRY.containerPort),
    KINDHA_REGISTRY_DIR: dir,
  };
}

/**
 * The registry's host port may be neither the API's nor a `ports` mapping's: one listener per port.
 * A setting of the wrong shape has its own violations ({@link registryViolations}) and none here.
 */
export function registryPortViolations(
  given: RegistrySettings | boolean | undefined,
  t: Pick<Topology, "api" | "ports">,
  field: string,
): Violation[] {
  const r = registryViolations(field, given).length === 0 ? planRegistry(given) : undefined;
  if (!r) return [];
  const taken =
    r.port === t.api.port
      ? "the API server's port"
      : t.ports.some((p) => p.hostPort === r.port)
        ? "a ports mapping's host port"
        : undefined;
  return taken ? [{ field: `${field}.port`, value: r.port, rule: `is ${taken}; the registry needs a host port of its own` }] : [];
}

/** Where the nodes reach the registry: by its container name on kind's network. */
export function registryEndpoint(): string {
  return `http://${REGISTRY.containerName}:${REGISTRY.containerPort}`;
}

/** The directory of containerd's host entry for the registry in a node: `<certs.d>/localhost:<port>`. */
export function hostsEntryDir(r: PlannedRegistry): string {
  return `${REGISTRY.certsDir}/${r.host}`;
}

/** containerd's hosts.toml for `localhost:<port>`: pulls go to the registry container, over HTTP. */
export function containerdHostsToml(): string {
  return `[host."${registryEndpoint()}"]\n  capabilities = ["pull", "resolve"]\n`;
}

/**
 * KEP-1755's LocalRegistryHostingV1, the value of `localRegistryHosting.v1` in
 * `kube-public/local-registry-hosting`: where tools (Tilt, Skaffold) push images for this cluster.
 */
export function localRegistryHosting(r: PlannedRegistry): string {
  return stringify({ host: r.host, help: "https://kind.sigs.k8s.io/docs/user/local-registry/" });
}

/** The ConfigMap KEP-1755 names. */
export const LOCAL_REGISTRY_HOSTING = { namespace: "kube-public", name: "local-registry-hosting", key: "localRegistryHosting.v1" } as const;
