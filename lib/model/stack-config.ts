/**
 * Which stacks the app synthesizes: the three presets, adjusted or extended by the text of an
 * optional config file (lib/io/config-file.ts reads it), so a topology beyond the seed needs no
 * code change. The text is read strictly: an unknown key at any depth is a violation, and
 * resolved-stack.ts's stacksFromYaml reports those of the file and of every stack in one error
 * naming the file. Over 300 lines because the YAML's own limits (depth, size, tags, keys that read
 * alike) are checked here too, before any setting.
 */
import { isMap, isNode, isScalar, isSeq, LineCounter, parseDocument, type Scalar } from "yaml";
import { preset, TOPOLOGY_OPTIONS } from "./presets";
import { type Availability, type NodeBudget, type PortMapping, type TopologySpec, type WorkerGroup } from "./topology";
import type { ScheduledBackupOptions } from "./types";
import { cronSchedule, imageReference, wholeNumber } from "./grammar";
import { hostPathViolations } from "./storage";
import { isRecord } from "./util";
import { type Violation } from "./validation";
import { registryViolations, type RegistrySettings } from "./registry";
import { capdViolations, type CapdOptions, type ClusterApiOptions } from "./cluster-api";

/**
 * The settings of a kind stack beyond its topology, declared once: a config file's entry and
 * ClusterStack's props both take them.
 */
export interface ClusterSettings {
  /**
   * Create the Kubernetes objects (namespaces, taints, backup CronJob) after the cluster.
   * @default true
   */
  readonly platformObjects?: boolean;
  /**
   * Scheduled in-cluster etcd backups (schedule, retention, etcdImage, shellImage), or false.
   * @default - HA stacks: every 6 hours, keeping 8; single stacks: none
   */
  readonly scheduledBackups?: ScheduledBackupOptions | false;
  /**
   * Host directory of the cluster's persistent volumes, or false to keep them inside the nodes.
   * @default "~/.kindha/data/<clusterName>"
   */
  readonly dataDir?: string | false;
  /**
   * Directory of the cluster's etcd snapshots (0700): the destroy-time and scheduled snapshots, and
   * what `npm run backup`, renew-certs, upgrade and migrate take.
   * @default "~/.kindha/backups/<clusterName>"
   */
  readonly backupDir?: string;
  /**
   * Kubeconfig written for the cluster (0600), and the one the tools use.
   * @default "~/.kube/kindha-<clusterName>.yaml"
   */
  readonly kubeconfigPath?: string;
  /**
   * Make this kind cluster a Cluster API management cluster for CAPD: every node mounts this
   * machine's Docker socket (/var/run/docker.sock), which CAPD's controller uses to create the
   * workload cluster's machines. That gives the cluster's privileged pods root on this machine:
   * set it on a cluster that is only for this. Controllers: `npm run cluster-api -- install <id>`.
   * @default false
   */
  readonly clusterApiManagement?: boolean;
  /**
   * Every plan first looks at the stack's own cluster (marked with the stack's identity at create)
   * and, when its API does not answer, recovers it (a Docker restart, a reboot). false: no look.
   * `KINDHA_RECOVER_ON_PLAN=0` makes one run only report.
   * @default true
   */
  readonly recoverOnPlan?: boolean;
  /**
   * How long `kind create cluster` waits for the control plane: a whole number of s, m or h.
   * @default "5m"
   */
  readonly waitTimeout?: string;
  /**
   * The machine's local image registry (one container shared by every kindha cluster, its storage
   * in a host directory): push to `localhost:<port>/<name>` and every node pulls it from there.
   * `false`: the stack's nodes get no entry for it and the cluster no `local-registry-hosting`.
   * @default true: port 5001, storage in "~/.kindha/registry"
   */
  readonly registry?: RegistrySettings | boolean;
}

/** One stack to synthesize. */
export interface StackDefinition extends ClusterSettings {
  /** Stack id, as `cdktf deploy <id>` takes it. */
  readonly id: string;
  readonly availability: Availability;
  readonly spec: TopologySpec;
  /**
   * What the stack makes of its topology: a kind cluster on this machine, or the Cluster API
   * objects of it, applied to a management cluster (machines anywhere a provider reaches).
   * @default "kind"
   */
  readonly target?: Target;
  /**
   * The Cluster API settings of a `cluster-api` stack.
   * @default - the node image's version, namespace "default", the management kubeconfig of kindha's single stack
   */
  readonly clusterApi?: ClusterApiSettings;
}

/** Where a stack's topology goes: a kind cluster here, or Cluster API objects. */
export type Target = "kind" | "cluster-api";
export const TARGETS: readonly Target[] = ["kind", "cluster-api"];

/** What a config file may set of a Cluster API stack. */
export interface ClusterApiSettings extends Pick<ClusterApiOptions, "kubernetesVersion" | "namespace">, CapdOptions {
  /**
   * Kubeconfig of the management cluster the objects are applied to.
   * @default "~/.kube/kindha-data-platform-local.yaml" (kindha's single stack: see docs/production.md)
   */
  readonly managementKubeconfig?: string;
}

export type { ScheduledBackupOptions } from "./types";

const BACKUP_KEYS: Record<keyof ScheduledBackupOptions, "string" | "number"> = {
  schedule: "string",
  retention: "number",
  etcdImage: "string",
  shellImage: "string",
};
/** Scheduled snapshots kept at most: each is the whole etcd database. */
const MAX_RETENTION = 1000;

/**
 * The keys a config may set at each level, each list taken from its type's keys (a `Record` over
 * `keyof`: a field added to a type and not here fails to compile, so it is never silently refused).
 */
const keysOf = <T>(record: Record<keyof T, true>): string[] => Object.keys(record);
/** The settings of a stack that are its topology (what planTopology reads). */
export const SPEC_KEYS = keysOf<TopologySpec>({
  clusterName: true,
  controlPlanes: true,
  workers: true,
  controlPlaneBudget: true,
  apiServerAddress: true,
  apiServerPort: true,
  nodeImage: true,
  allowCgroupV1: true,
  ports: true,
});
const WORKER_KEYS = keysOf<WorkerGroup>({ role: true, count: true, budget: true });
const PORT_KEYS = keysOf<PortMapping>({ hostPort: true, nodePort: true, protocol: true, listenAddress: true, role: true });
const BUDGET_KEYS = keysOf<NodeBudget>({ cpu: true, memoryGiB: true });
/** The kind stacks' settings beyond the topology (what a cluster-api stack may not set). */
export const CLUSTER_SETTING_KEYS = keysOf<ClusterSettings>({
  platformObjects: true,
  scheduledBackups: true,
  dataDir: true,
  backupDir: true,
  kubeconfigPath: true,
  clusterApiManagement: true,
  recoverOnPlan: true,
  registry: true,
  waitTimeout: true,
}) as readonly (keyof ClusterSettings)[];
const STACK_KEYS = [
  ...keysOf<Omit<StackDefinition, "id" | "spec" | keyof ClusterSettings>>({ availability: true, target: true, clusterApi: true }),
  ...CLUSTER_SETTING_KEYS,
  ...SPEC_KEYS,
];
const CLUSTER_API_KEYS = keysOf<ClusterApiSettings>({
  kubernetesVersion: true,
  namespace: true,
  managementKubeconfig: true,
  loadBalancerImage: true,
});
/** The given ones among `keys` of `props`, in the order of `keys`. */
const pick = (props: object, keys: readonly string[]) =>
  Object.fromEntries(
    keys.filter((k) => (props as Record<string, unknown>)[k] !== undefined).map((k) => [k, (props as Record<string, unknown>)[k]]),
  );

/** The topology settings among a stack's props, in one order. */
export function topologySpecOf(props: TopologySpec): TopologySpec {
  return pick(props, SPEC_KEYS) as TopologySpec;
}

/** The definition of a stack given in code: its props split into the topology and the settings. */
export function definitionOf(id: string, availability: Availability, props: TopologySpec & ClusterSettings): StackDefinition {
  return { id, availability, spec: topologySpecOf(props), ...(pick(props, CLUSTER_SETTING_KEYS) as ClusterSettings) };
}

/** Bounds of a config file: size, and what its YAML may hold (resource use stays linear and small). */
export const CONFIG_LIMITS = { bytes: 1024 * 1024, aliases: 50, depth: 16, nodes: 20_000 } as const;
/** Stack ids name the state file (terraform.<id>.tfstate) and cdktf's output directory. */
export const STACK_ID = /^[a-z][a-z0-9-]{0,62}$/;
export const STACK_ID_RULE = "is not a valid stack id: a lowercase letter, then lowercase letters, digits and '-', at most 63 characters";

/**
 * The presets adjusted or extended by a config document's text (none: presets only), with what is
 * wrong in the text: YAML errors (with line and column), unknown or mistyped settings.
 * lib/model/resolved-stack.ts's stacksFromYaml adds every stack's topology rules.
 */
export function readStackDefinitions(text: string | undefined): { defs: StackDefinition[]; violations: Violation[] } {
  const defs = new Map<string, StackDefinition>(
    TOPOLOGY_OPTIONS.map((id) => [id, { id, availability: preset(id).availability, spec: preset(id).spec }]),
  );
  const violations: Violation[] = [];
  if (text !== undefined) readStacks(text, defs, violations);
  return { defs: [...defs.values()], violations };
}

function readStacks(text: string, defs: Map<string, StackDefinition>, v: Violation[]): void {
  const lineCounter = new LineCounter();
  let doc: ReturnType<typeof parseDocument>;
  try {
    doc = parseDocument(text, { prettyErrors: false, uniqueKeys: true, lineCounter });
  } catch (e) {
    // The parser recurses once per level of nesting: thousands of `[` exhaust the stack.
    if (!(e instanceof RangeError)) throw e;
    v.push({
      field: "yaml",
      value: "nesting",
      rule: `nests too deeply for the parser; a config may nest at most ${CONFIG_LIMITS.depth} levels`,
    });
    return;
  }
  if (doc.errors.length > 0) {
    const lines = text.split("\n");
    for (const e of doc.errors) {
      const at = lineCounter.linePos(e.pos[0]);
      v.push({
        field: at ? `line ${at.line}, column ${at.col}` : "yaml",
        value: at ? (lines[at.line - 1] ?? "").trim() : text.slice(0, 40),
        rule: `is not valid YAML: ${e.message.replace(/ at line \d+, column \d+.*$/s, "")}`,
      });
    }
    return;
  }
  const shape = yamlShapeViolations(doc.contents, lineCounter);
  if (shape.length > 0) {
    v.push(...shape);
    return;
  }
  let raw: unknown;
  try {
    raw = doc.toJS({ maxAliasCount: CONFIG_LIMITS.aliases });
  } catch (e) {
    v.push({
      field: "yaml",
      value: `${CONFIG_LIMITS.aliases}+ aliases`,
      rule: `uses too many aliases (${(e as Error).message.split(".")[0]}); at most ${CONFIG_LIMITS.aliases}`,
    });
    return;
  }
  const stacks = isRecord(raw) ? raw.stacks : undefined;
  if (!isRecord(raw) || !isRecord(stacks)) {
    v.push({ field: "stacks", value: stacks ?? null, rule: "must be a map of stack id to stack settings" });
    return;
  }
  unknownKeys("", raw, ["stacks"], v);
  for (const [id, entry] of Object.entries(stacks)) {
    const at = `stacks.${id}`;
    if (!STACK_ID.test(id)) v.push({ field: at, value: id, rule: STACK_ID_RULE });
    if (!isRecord(entry)) {
      v.push({ field: at, value: entry, rule: "must be a map of settings" });
      continue;
    }
    unknownKeys(at, entry, STACK_KEYS, v);
    // Settings of the wrong shape are reported here and keep the stack from being planned.
    let shapeOk = true;
    const wrongShape = (field: string, value: unknown, rule: string) => {
      v.push({ field, value, rule });
      shapeOk = false;
    };
    const budget = (field: string, value: unknown) => {
      if (value === undefined) return;
      if (isRecord(value)) unknownKeys(field, value, BUDGET_KEYS, v);
      else wrongShape(field, value, "must be a map of cpu and memoryGiB");
    };
    budget(`${at}.controlPlaneBudget`, entry.controlPlaneBudget);
    /** A list of maps with known keys: its shape, each item's keys, then `each` on every item. */
    const listOfMaps = (
      key: string,
      keys: readonly string[],
      what: string,
      each: (item: Record<string, unknown>, at: string) => void = () => {},
    ) => {
      const list = entry[key];
      if (list === undefined) return;
      if (!Array.isArray(list)) return wrongShape(`${at}.${key}`, list, `must be a list of ${what} ({ ${keys.join(", ")} })`);
      list.forEach((item: unknown, i: number) => {
        if (!isRecord(item)) return wrongShape(`${at}.${key}[${i}]`, item, `must be a map of ${keys.join(", ")}`);
        unknownKeys(`${at}.${key}[${i}]`, item, keys, v);
        each(item, `${at}.${key}[${i}]`);
      });
    };
    listOfMaps("workers", WORKER_KEYS, "worker groups", (w, field) => budget(`${field}.budget`, w.budget));
    listOfMaps("ports", PORT_KEYS, "port mappings");
    const base = defs.get(id);
    const availability = (entry.availability ?? base?.availability) as Availability | undefined;
    if (availability !== "single" && availability !== "ha") {
      v.push({ field: `${at}.availability`, value: entry.availability ?? null, rule: 'must be "single" or "ha"' });
    }
    if ((availability !== "single" && availability !== "ha") || !shapeOk) {
      defs.delete(id);
      continue;
    }
    const spec: Record<string, unknown> = { ...(base?.spec ?? {}) };
    for (const key of SPEC_KEYS) if (key in entry) spec[key] = entry[key];
    // Their types are checked by settingViolations, as for stacks given in code.
    defs.set(id, { id, availability, spec: spec as TopologySpec, ...pick(entry, [...CLUSTER_SETTING_KEYS, "target", "clusterApi"]) });
  }
}

/** Tags a config may carry: plain maps, lists and scalars (what toJS turns into data unchanged). */
const PLAIN_TAGS = new Set([
  "tag:yaml.org,2002:map",
  "tag:yaml.org,2002:seq",
  "tag:yaml.org,2002:str",
  "tag:yaml.org,2002:int",
  "tag:yaml.org,2002:float",
  "tag:yaml.org,2002:bool",
  "tag:yaml.org,2002:null",
]);

/**
 * What a config's YAML may not hold, found in one walk (linear in its size): nesting deeper than
 * CONFIG_LIMITS.depth, more than CONFIG_LIMITS.nodes nodes, tags other than plain maps, lists and
 * scalars (`!!omap`, `!!set`, `!custom`: never silently dropped), and two keys of one map that
 * read the same as text (`true` and `"true"`, `1` and `"1"`: they would merge).
 */
function yamlShapeViolations(root: unknown, lines: LineCounter): Violation[] {
  const v: Violation[] = [];
  let nodes = 0;
  const where = (node: { range?: [number, number, number] | null }) => {
    const at = node.range ? lines.linePos(node.range[0]) : undefined;
    return at ? `line ${at.line}, column ${at.col}` : "yaml";
  };
  const walk = (node: unknown, depth: number): boolean => {
    if (!isNode(node)) return true;
    nodes += 1;
    if (nodes > CONFIG_LIMITS.nodes) {
      v.push({
        field: "yaml",
        value: `${CONFIG_LIMITS.nodes}+ nodes`,
        rule: `has too many keys and values; a config may have at most ${CONFIG_LIMITS.nodes}`,
      });
      return false;
    }
    if (depth > CONFIG_LIMITS.depth) {
      v.push({
        field: where(node),
        value: `depth ${depth}`,
        rule: `nests too deep; a config may nest at most ${CONFIG_LIMITS.depth} levels`,
      });
      return false;
    }
    if (node.tag && !PLAIN_TAGS.has(node.tag)) {
      v.push({
        field: where(node),
        value: node.tag.replace(/^tag:yaml.org,2002:/, "!!"),
        rule: "is a YAML tag a config may not use: only plain maps, lists and scalars",
      });
    }
    if (isMap(node)) {
      const seen = new Set<string>();
      for (const pair of node.items) {
        const key = isScalar(pair.key) ? String(pair.key.value) : undefined;
        if (key !== undefined) {
          if (seen.has(key))
            v.push({
              field: where(pair.key as Scalar),
              value: key,
              rule: 'is a second key of this map that reads the same (e.g. true and "true"); keys must differ as text',
            });
          seen.add(key);
        }
        if (!walk(pair.key, depth + 1) || !walk(pair.value, depth + 1)) return false;
      }
    } else if (isSeq(node)) {
      for (const item of node.items) if (!walk(item, depth + 1)) return false;
    }
    return true;
  };
  walk(root, 1);
  return v;
}

function unknownKeys(at: string, map: Record<string, unknown>, known: readonly string[], v: Violation[]): void {
  for (const key of Object.keys(map)) {
    if (!known.includes(key))
      v.push({ field: at ? `${at}.${key}` : key, value: map[key], rule: `is not a known setting (${known.join(", ")})` });
  }
}

/** The violations of a scheduledBackups setting, from a file or from code. */
export function scheduledBackupViolations(field: string, value: unknown): Violation[] {
  if (value === false || value === undefined) return [];
  if (!isRecord(value)) return [{ field, value, rule: "must be false or a map of schedule, retention, etcdImage, shellImage" }];
  return Object.entries(value).flatMap(([key, given]): Violation[] => {
    const at = `${field}.${key}`;
    switch (key as keyof ScheduledBackupOptions) {
      case "schedule":
        return cronSchedule(at, given);
      case "retention":
        return wholeNumber(at, given, 1, MAX_RETENTION, "snapshots");
      case "etcdImage":
      case "shellImage":
        return imageReference(at, given);
      default:
        return [{ field: at, value: given, rule: `is not a known setting (${Object.keys(BACKUP_KEYS).join(", ")})` }];
    }
  });
}

/**
 * The violations of a stack's settings beyond its topology: the data directory, scheduled backups,
 * and combinations that would silently do nothing.
 */
export function settingViolations(s: ClusterSettings & Pick<StackDefinition, "target" | "clusterApi">, prefix = ""): Violation[] {
  const v: Violation[] = [];
  if (s.target !== undefined && !TARGETS.includes(s.target))
    v.push({ field: `${prefix}target`, value: s.target, rule: `must be one of ${TARGETS.join(", ")}` });
  if (s.target === "cluster-api") {
    // What only a kind cluster on this machine has: a host directory, the CronJob, the objects kindha creates after the cluster.
    for (const key of CLUSTER_SETTING_KEYS) {
      if (s[key] !== undefined)
        v.push({
          field: `${prefix}${key}`,
          value: s[key],
          rule: "applies to kind stacks only; a cluster-api stack's machines are the provider's",
        });
    }
  }
  if (s.clusterApi !== undefined) {
    if (s.target !== "cluster-api") v.push({ field: `${prefix}clusterApi`, value: s.clusterApi, rule: "needs target: cluster-api" });
    else if (!isRecord(s.clusterApi))
      v.push({ field: `${prefix}clusterApi`, value: s.clusterApi, rule: `must be a map of ${CLUSTER_API_KEYS.join(", ")}` });
    else {
      unknownKeys(`${prefix}clusterApi`, s.clusterApi, CLUSTER_API_KEYS, v);
      if (s.clusterApi.managementKubeconfig !== undefined)
        v.push(...hostPathViolations(`${prefix}clusterApi.managementKubeconfig`, s.clusterApi.managementKubeconfig));
      v.push(...capdViolations(s.clusterApi, `${prefix}clusterApi`));
    }
  }
  if (s.dataDir !== undefined && s.dataDir !== false) v.push(...hostPathViolations(`${prefix}dataDir`, s.dataDir));
  for (const key of ["backupDir", "kubeconfigPath"] as const)
    if (s[key] !== undefined) v.push(...hostPathViolations(`${prefix}${key}`, s[key]));
  v.push(...scheduledBackupViolations(`${prefix}scheduledBackups`, s.scheduledBackups));
  v.push(...registryViolations(`${prefix}registry`, s.registry));
  if (s.platformObjects === false && isRecord(s.scheduledBackups)) {
    v.push({
      field: `${prefix}scheduledBackups`,
      value: s.scheduledBackups,
      rule: "needs platformObjects: the backup CronJob is a platform object; set scheduledBackups: false, or platformObjects: true",
    });
  }
  if (s.waitTimeout !== undefined && (typeof s.waitTimeout !== "string" || !/^[1-9][0-9]{0,4}(s|m|h)$/.test(s.waitTimeout)))
    v.push({
      field: `${prefix}waitTimeout`,
      value: s.waitTimeout,
      rule: 'must be a duration kind takes, a whole number of s, m or h (e.g. "5m")',
    });
  for (const key of ["platformObjects", "clusterApiManagement", "recoverOnPlan"] as const) {
    if (s[key] !== undefined && typeof s[key] !== "boolean")
      v.push({ field: `${prefix}${key}`, value: s[key], rule: "must be true or false" });
  }
  return v;
}
