/**
 * Which stacks the app synthesizes: the three presets, adjusted or extended by an optional
 * config file, so a topology beyond the seed needs no code change.
 */
import { existsSync, readFileSync } from "node:fs";
import { resolve } from "node:path";
import { parse } from "yaml";
import { preset, TOPOLOGY_OPTIONS } from "./presets";
import { planTopology, TopologyError, type Availability, type Topology, type TopologySpec, type Violation } from "./topology";

/** Default config file, looked up in the working directory; `KINDHA_CONFIG` names another. */
export const CONFIG_FILE = "kindha.config.yaml";

/** One stack to synthesize. */
export interface StackDefinition {
  /** Stack id, as `cdktf deploy <id>` takes it. */
  readonly id: string;
  readonly availability: Availability;
  readonly spec: TopologySpec;
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
}

/** The user's settings of scheduled backups (see EtcdCluster.scheduleBackups). */
export interface ScheduledBackupOptions {
  /** @default "0 *\/6 * * *" */
  readonly schedule?: string;
  /** @default 8 */
  readonly retention?: number;
  /** @default DEFAULTS.backupEtcdImage */
  readonly etcdImage?: string;
  /** @default DEFAULTS.backupShellImage */
  readonly shellImage?: string;
}

const BACKUP_KEYS: Record<keyof ScheduledBackupOptions, "string" | "number"> = { schedule: "string", retention: "number", etcdImage: "string", shellImage: "string" };

const SPEC_KEYS = ["clusterName", "controlPlanes", "workers", "controlPlaneBudget", "apiServerAddress", "apiServerPort", "nodeImage", "allowCgroupV1"];
const STACK_KEYS = ["availability", "platformObjects", "scheduledBackups", ...SPEC_KEYS];
const STACK_ID = /^[a-z][a-z0-9-]*$/;

/**
 * The stacks to synthesize: presets first, then the config file's entries (same id: merged over
 * the preset; new id: a new stack, `availability` required).
 *
 * @param file config file path; missing file means presets only
 */
export function loadStackDefinitions(file: string = process.env.KINDHA_CONFIG ?? CONFIG_FILE): StackDefinition[] {
  const path = resolve(file);
  if (!existsSync(path)) {
    if (process.env.KINDHA_CONFIG) throw new Error(`KINDHA_CONFIG: ${JSON.stringify(file)} does not exist`);
    return stackDefinitionsFromYaml(undefined, file);
  }
  return stackDefinitionsFromYaml(readFileSync(path, "utf8"), file);
}

/**
 * The presets adjusted or extended by a config document's text (none: presets only).
 *
 * @param source what error messages name, e.g. the file
 */
export function stackDefinitionsFromYaml(text: string | undefined, source: string): StackDefinition[] {
  const defs = new Map<string, StackDefinition>(
    TOPOLOGY_OPTIONS.map((id) => [id, { id, availability: preset(id).availability, spec: preset(id).spec }]),
  );
  if (text === undefined) return [...defs.values()];
  const raw = parse(text) as unknown;
  const v: Violation[] = [];
  const stacks = (raw as { stacks?: unknown } | null)?.stacks;
  if (!isRecord(raw) || !isRecord(stacks)) {
    throw new TopologyError(`config file ${source}`, [{ field: "stacks", value: stacks ?? null, rule: "must be a map of stack id to stack settings" }]);
  }
  for (const key of Object.keys(raw)) {
    if (key !== "stacks") v.push({ field: key, value: raw[key], rule: "is not a known setting (only `stacks`)" });
  }
  for (const [id, entry] of Object.entries(stacks)) {
    if (!STACK_ID.test(id)) v.push({ field: `stacks.${id}`, value: id, rule: "is not a valid stack id (lowercase letters, digits, '-')" });
    if (!isRecord(entry)) {
      v.push({ field: `stacks.${id}`, value: entry, rule: "must be a map of settings" });
      continue;
    }
    for (const key of Object.keys(entry)) {
      if (!STACK_KEYS.includes(key)) v.push({ field: `stacks.${id}.${key}`, value: entry[key], rule: `is not a known setting (${STACK_KEYS.join(", ")})` });
    }
    const base = defs.get(id);
    const availability = (entry.availability ?? base?.availability) as Availability | undefined;
    if (availability !== "single" && availability !== "ha") {
      v.push({ field: `stacks.${id}.availability`, value: entry.availability ?? null, rule: 'must be "single" or "ha"' });
      continue;
    }
    const spec: Record<string, unknown> = { ...(base?.spec ?? {}) };
    for (const key of SPEC_KEYS) if (key in entry) spec[key] = entry[key];
    defs.set(id, {
      id,
      availability,
      spec: spec as TopologySpec,
      ...(typeof entry.platformObjects === "boolean" ? { platformObjects: entry.platformObjects } : {}),
      ...(entry.scheduledBackups !== undefined ? { scheduledBackups: scheduledBackups(`stacks.${id}.scheduledBackups`, entry.scheduledBackups, v) } : {}),
    });
  }
  if (v.length > 0) throw new TopologyError(`config file ${source}`, v);
  return [...defs.values()];
}

/** The validated topology of one stack id, as the app would synthesize it. */
export function resolveStack(id: string, file?: string): { definition: StackDefinition; topology: Topology } {
  const defs = loadStackDefinitions(file);
  const definition = defs.find((d) => d.id === id);
  if (!definition) {
    throw new Error(`stack: ${JSON.stringify(id)} is not defined; known stacks: ${defs.map((d) => d.id).join(", ")}`);
  }
  return { definition, topology: planTopology(definition.availability, definition.spec, `stack "${id}"`) };
}

function scheduledBackups(field: string, value: unknown, v: Violation[]): ScheduledBackupOptions | false {
  if (value === false) return false;
  if (!isRecord(value)) {
    v.push({ field, value, rule: "must be false or a map of schedule, retention, etcdImage, shellImage" });
    return false;
  }
  for (const [key, given] of Object.entries(value)) {
    const type = BACKUP_KEYS[key as keyof ScheduledBackupOptions];
    if (!type) v.push({ field: `${field}.${key}`, value: given, rule: `is not a known setting (${Object.keys(BACKUP_KEYS).join(", ")})` });
    else if (typeof given !== type) v.push({ field: `${field}.${key}`, value: given, rule: `must be a ${type}` });
  }
  return value as ScheduledBackupOptions;
}

function isRecord(x: unknown): x is Record<string, unknown> {
  return typeof x === "object" && x !== null && !Array.isArray(x);
}

/**
 * Plans every stack, collecting the errors of all of them into one, so the app can refuse bad
 * input before it creates anything (cdktf's App creates its output directory on construction).
 */
export function validateDefinitions(defs: readonly StackDefinition[]): void {
  const errors: string[] = [];
  for (const d of defs) {
    try {
      planTopology(d.availability, d.spec, `stack "${d.id}"`);
    } catch (e) {
      errors.push(e instanceof Error ? e.message : String(e));
    }
  }
  if (errors.length > 0) throw new Error(errors.join("\n"));
}
