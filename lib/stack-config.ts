/**
 * Which stacks the app synthesizes: the three presets, adjusted or extended by an optional
 * config file, so a topology beyond the seed needs no code change. The file is read strictly:
 * an unknown key at any depth is refused, and every problem of the file and of every stack comes
 * back in one {@link ValidationError} that names the file.
 */
import { existsSync, readFileSync } from "node:fs";
import { resolve } from "node:path";
import { LineCounter, parseDocument } from "yaml";
import { preset, TOPOLOGY_OPTIONS } from "./presets";
import { planTopology, type Availability, type Topology, type TopologySpec } from "./topology";
import type { ScheduledBackupOptions } from "./model";
import { isRecord } from "./util";
import { ValidationError, type Violation } from "./validation";

/** Default config file, looked up in the working directory; `KINDHA_CONFIG` names another. */
export const CONFIG_FILE = "kindha.config.yaml";
/** The same file with the other YAML extension, read when CONFIG_FILE is absent. */
export const CONFIG_FILE_YML = "kindha.config.yml";

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

export type { ScheduledBackupOptions } from "./model";

const BACKUP_KEYS: Record<keyof ScheduledBackupOptions, "string" | "number"> = { schedule: "string", retention: "number", etcdImage: "string", shellImage: "string" };

const SPEC_KEYS = ["clusterName", "controlPlanes", "workers", "controlPlaneBudget", "apiServerAddress", "apiServerPort", "nodeImage", "allowCgroupV1"];
const WORKER_KEYS = ["role", "count", "budget"];
const BUDGET_KEYS = ["cpu", "memoryGiB"];
const STACK_KEYS = ["availability", "platformObjects", "scheduledBackups", ...SPEC_KEYS];
const STACK_ID = /^[a-z][a-z0-9-]*$/;

/**
 * The stacks to synthesize: presets first, then the config file's entries (same id: merged over
 * the preset; new id: a new stack, `availability` required). Every stack is validated.
 *
 * @param file config file path (absent: presets only); default `KINDHA_CONFIG`, which must exist,
 *   else kindha.config.yaml (or kindha.config.yml) in the working directory
 */
export function loadStackDefinitions(file?: string): StackDefinition[] {
  if (file !== undefined) return stackDefinitionsFromYaml(existsSync(resolve(file)) ? readFileSync(resolve(file), "utf8") : undefined, file);
  const named = process.env.KINDHA_CONFIG;
  if (named) {
    if (!existsSync(resolve(named))) throw new ValidationError("configuration", [{ field: "KINDHA_CONFIG", value: named, rule: "names a file that does not exist" }]);
    return stackDefinitionsFromYaml(readFileSync(resolve(named), "utf8"), named);
  }
  const [yaml, yml] = [existsSync(CONFIG_FILE), existsSync(CONFIG_FILE_YML)];
  if (yaml && yml) {
    throw new ValidationError("configuration", [{ field: CONFIG_FILE_YML, value: CONFIG_FILE_YML, rule: `exists beside ${CONFIG_FILE}; keep one of the two` }]);
  }
  const found = yaml ? CONFIG_FILE : yml ? CONFIG_FILE_YML : undefined;
  return stackDefinitionsFromYaml(found === undefined ? undefined : readFileSync(found, "utf8"), found ?? "(presets)");
}

/**
 * The presets adjusted or extended by a config document's text (none: presets only), validated:
 * YAML errors (with line and column), unknown or mistyped settings, and every stack's topology
 * rules, all in one error naming `source`.
 */
export function stackDefinitionsFromYaml(text: string | undefined, source: string): StackDefinition[] {
  const defs = new Map<string, StackDefinition>(
    TOPOLOGY_OPTIONS.map((id) => [id, { id, availability: preset(id).availability, spec: preset(id).spec }]),
  );
  const v: Violation[] = [];
  if (text !== undefined) readStacks(text, defs, v);
  v.push(...topologyViolations([...defs.values()]));
  if (v.length > 0) throw new ValidationError(text === undefined ? "stack presets" : `config file ${source}`, v);
  return [...defs.values()];
}

function readStacks(text: string, defs: Map<string, StackDefinition>, v: Violation[]): void {
  const lineCounter = new LineCounter();
  const doc = parseDocument(text, { prettyErrors: false, uniqueKeys: true, lineCounter });
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
  const raw = doc.toJS() as unknown;
  const stacks = isRecord(raw) ? raw.stacks : undefined;
  if (!isRecord(raw) || !isRecord(stacks)) {
    v.push({ field: "stacks", value: stacks ?? null, rule: "must be a map of stack id to stack settings" });
    return;
  }
  unknownKeys("", raw, ["stacks"], v);
  for (const [id, entry] of Object.entries(stacks)) {
    const at = `stacks.${id}`;
    if (!STACK_ID.test(id)) v.push({ field: at, value: id, rule: "is not a valid stack id (lowercase letters, digits, '-')" });
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
    if (entry.workers !== undefined && !Array.isArray(entry.workers)) {
      wrongShape(`${at}.workers`, entry.workers, "must be a list of worker groups ({ role, count, budget })");
    }
    if (Array.isArray(entry.workers)) {
      entry.workers.forEach((w: unknown, i: number) => {
        if (!isRecord(w)) return wrongShape(`${at}.workers[${i}]`, w, "must be a map of role, count, budget");
        unknownKeys(`${at}.workers[${i}]`, w, WORKER_KEYS, v);
        budget(`${at}.workers[${i}].budget`, w.budget);
      });
    }
    if (entry.platformObjects !== undefined && typeof entry.platformObjects !== "boolean") {
      v.push({ field: `${at}.platformObjects`, value: entry.platformObjects, rule: "must be true or false" });
    }
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
    defs.set(id, {
      id,
      availability,
      spec: spec as TopologySpec,
      ...(typeof entry.platformObjects === "boolean" ? { platformObjects: entry.platformObjects } : {}),
      ...(entry.scheduledBackups !== undefined ? { scheduledBackups: scheduledBackups(`${at}.scheduledBackups`, entry.scheduledBackups, v) } : {}),
    });
  }
}

function unknownKeys(at: string, map: Record<string, unknown>, known: readonly string[], v: Violation[]): void {
  for (const key of Object.keys(map)) {
    if (!known.includes(key)) v.push({ field: at ? `${at}.${key}` : key, value: map[key], rule: `is not a known setting (${known.join(", ")})` });
  }
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
    else if (key === "retention" && (!Number.isInteger(given) || (given as number) < 1)) v.push({ field: `${field}.${key}`, value: given, rule: "must be a whole number of at least 1" });
  }
  return value as ScheduledBackupOptions;
}


/**
 * Plans every stack given in code, collecting the problems of all of them into one
 * {@link ValidationError}, so the app can refuse bad input before it creates anything (cdktf's App
 * creates its output directory on construction).
 */
export function validateDefinitions(defs: readonly StackDefinition[]): void {
  const v = topologyViolations(defs);
  if (v.length > 0) throw new ValidationError("stacks", v);
}

/** Every topology rule the stacks break, each field prefixed with `stacks.<id>.`. */
function topologyViolations(defs: readonly StackDefinition[]): Violation[] {
  return defs.flatMap((d) => {
    try {
      planTopology(d.availability, d.spec, `stack "${d.id}"`);
      return [];
    } catch (e) {
      if (!(e instanceof ValidationError)) throw e;
      return e.violations.map((x) => ({ ...x, field: `stacks.${d.id}.${x.field}` }));
    }
  });
}
