/**
 * The grammars user settings must match. Every string that reaches cdk.tf.json goes through one
 * of these (or is built by this program from values that did), and none admits `$`, `%`, `{`,
 * quotes, newlines or control characters: a setting can never become a Terraform template or
 * a new YAML key. Each function returns the violations of one field (none: the value is fine).
 */
import { isIP } from "node:net";
import type { Violation } from "./validation";

const v = (field: string, value: unknown, rule: string): Violation[] => [{ field, value, rule }];

// OCI distribution reference (github.com/distribution/reference, the grammar Docker and containerd
// parse): [domain[:port]/]path-component(/path-component)*[:tag][@digest], path lowercase.
const DOMAIN_COMPONENT = "(?:[a-zA-Z0-9]|[a-zA-Z0-9][a-zA-Z0-9-]*[a-zA-Z0-9])";
const DOMAIN = `(?:${DOMAIN_COMPONENT}(?:\\.${DOMAIN_COMPONENT})*|\\[[0-9a-fA-F:.]+\\])(?::[0-9]+)?`;
const PATH_COMPONENT = "[a-z0-9]+(?:(?:[_.]|__|-+)[a-z0-9]+)*";
const TAG = "[\\w][\\w.-]{0,127}";
const DIGEST = "[A-Za-z][A-Za-z0-9]*(?:[-_+.][A-Za-z][A-Za-z0-9]*)*:[0-9a-fA-F]{32,}";
const REFERENCE = new RegExp(`^(?:${DOMAIN}/)?${PATH_COMPONENT}(?:/${PATH_COMPONENT})*(?::(${TAG}))?(?:@(${DIGEST}))?$`);
/** Docker's bound on a repository name (NameTotalLengthMax). */
const MAX_NAME = 255;

/**
 * An image reference by the OCI distribution grammar, with a tag or a digest (an image with
 * neither floats with whatever `latest` is).
 */
export function imageReference(field: string, value: unknown): Violation[] {
  const rule =
    "must be an image reference (OCI distribution grammar: lowercase repository path, :tag and/or @digest), e.g. kindest/node:v1.36.1";
  if (typeof value !== "string" || value === "") return v(field, value, rule);
  const m = REFERENCE.exec(value);
  if (!m) return v(field, value, rule);
  if (m[1] === undefined && m[2] === undefined)
    return v(field, value, "must name a tag or a digest (e.g. :v1.36.1 or @sha256:...), so the image cannot change under the stack");
  const name = value.replace(/@.*$/, "").replace(/:[\w][\w.-]*$/, "");
  if (name.length > MAX_NAME) return v(field, value, `has a repository name of ${name.length} characters; at most ${MAX_NAME}`);
  return [];
}

const MACROS = new Set(["@yearly", "@annually", "@monthly", "@weekly", "@daily", "@midnight", "@hourly"]);
const MONTHS = ["JAN", "FEB", "MAR", "APR", "MAY", "JUN", "JUL", "AUG", "SEP", "OCT", "NOV", "DEC"];
const DAYS = ["SUN", "MON", "TUE", "WED", "THU", "FRI", "SAT"];
/** minute, hour, day of month, month, day of week: bounds and names (Kubernetes' cron parser). */
const CRON_FIELDS: readonly { name: string; min: number; max: number; names?: readonly string[] }[] = [
  { name: "minute", min: 0, max: 59 },
  { name: "hour", min: 0, max: 23 },
  { name: "day of month", min: 1, max: 31 },
  { name: "month", min: 1, max: 12, names: MONTHS },
  { name: "day of week", min: 0, max: 6, names: DAYS },
];

/** Why one cron field is wrong, or undefined. */
function cronFieldProblem(text: string, f: (typeof CRON_FIELDS)[number]): string | undefined {
  const value = (t: string): number | undefined => {
    if (/^\d{1,2}$/.test(t)) return Number(t);
    const i = f.names?.indexOf(t.toUpperCase()) ?? -1;
    return i < 0 ? undefined : i + f.min;
  };
  for (const item of text.split(",")) {
    const m = /^(\*|[A-Za-z0-9]+(?:-[A-Za-z0-9]+)?|\?)(?:\/(\d{1,2}))?$/.exec(item);
    if (!m) return `${f.name} "${item}" is not *, a value, a range or a list`;
    const [, range, step] = m;
    if (step !== undefined && (Number(step) < 1 || Number(step) > f.max)) return `${f.name} step ${step} is outside 1-${f.max}`;
    if (range === "*" || range === "?") continue;
    const [lo, hi] = range.split("-").map(value);
    if (lo === undefined || (range.includes("-") && hi === undefined))
      return `${f.name} "${range}" is not a number${f.names ? " or a name" : ""}`;
    for (const n of [lo, hi]) if (n !== undefined && (n < f.min || n > f.max)) return `${f.name} ${n} is outside ${f.min}-${f.max}`;
    if (hi !== undefined && hi < lo) return `${f.name} range ${range} runs backwards`;
  }
  return undefined;
}

/** A CronJob schedule: five fields (ranges, lists, steps, month and day names) or an @-macro. */
export function cronSchedule(field: string, value: unknown): Violation[] {
  const rule =
    'must be a cron schedule of 5 fields (minute hour day-of-month month day-of-week), e.g. "0 */6 * * *", or @hourly, @daily, @weekly, @monthly, @yearly';
  if (typeof value !== "string") return v(field, value, rule);
  if (MACROS.has(value)) return [];
  const parts = value.split(" ");
  if (parts.length !== 5 || parts.some((p) => p === "")) return v(field, value, rule);
  for (const [i, part] of parts.entries()) {
    const problem = cronFieldProblem(part, CRON_FIELDS[i]);
    if (problem) return v(field, value, `is not a cron schedule: ${problem}`);
  }
  return [];
}

/** A whole number within bounds. */
export function wholeNumber(field: string, value: unknown, min: number, max: number, unit = ""): Violation[] {
  if (typeof value !== "number" || !Number.isInteger(value) || value < min || value > max) {
    return v(field, value, `must be a whole number${unit ? ` of ${unit}` : ""} from ${min} to ${max}`);
  }
  return [];
}

/** A DNS-1123 label (a cluster, node or namespace name): lowercase letters, digits, '-' inside; at most MAX_DNS_LABEL. */
export const DNS_LABEL = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/;
export const MAX_DNS_LABEL = 63;

/** TCP ports a setting may name. */
export const PORT_RANGE = { min: 1, max: 65535 } as const;

/** A TCP port: a whole number from 1 to 65535. */
export function port(field: string, value: unknown): Violation[] {
  return wholeNumber(field, value, PORT_RANGE.min, PORT_RANGE.max);
}

/**
 * Where the API (or `what`, e.g. a host port) may listen: a unicast address this host can bind, or
 * every address (with a warning).
 */
export function apiAddress(field: string, value: unknown, what = "the API"): { violations: Violation[]; warning?: string } {
  const rule = "must be a unicast IPv4 or IPv6 address without a zone (e.g. 127.0.0.1), or 0.0.0.0 / :: for every address";
  if (typeof value !== "string" || isIP(value) === 0) return { violations: v(field, value, rule) };
  if (value.includes("%")) return { violations: v(field, value, `${rule}: a zone id (%...) names an interface, not an address`) };
  if (value === "0.0.0.0" || value === "::") {
    return { violations: [], warning: `${field}: ${value} publishes ${what} on every address of this host, to every network it is on` };
  }
  if (isIP(value) === 4) {
    const [a, , , d] = value.split(".").map(Number);
    if (a >= 224 || value === "255.255.255.255")
      return { violations: v(field, value, `${rule}: ${a >= 240 ? "broadcast or reserved" : "multicast"} addresses cannot be bound`) };
    if (a === 0 || d === 255)
      return {
        violations: v(
          field,
          value,
          `${rule}: ${a === 0 ? "0.x addresses" : "an address ending in .255 (a broadcast address)"} cannot be bound`,
        ),
      };
  } else if (/^ff/i.test(value)) {
    return { violations: v(field, value, `${rule}: multicast addresses cannot be bound`) };
  }
  return { violations: [] };
}

/** The last path component of an image reference (`gcr.io/x/capd-manager:main` -> `capd-manager`). */
export function imageBaseName(reference: string): string {
  return (
    reference
      .replace(/@.*$/, "")
      .replace(/:[^:/]*$/, "")
      .split("/")
      .pop() ?? reference
  );
}

/** The tag of an image reference (`kindest/node:v1.36.1@sha256:…` -> `v1.36.1`); undefined when it has none. */
export function imageTag(reference: string): string | undefined {
  const m = REFERENCE.exec(reference);
  return m?.[1];
}
