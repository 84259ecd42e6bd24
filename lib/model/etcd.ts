import { etcdQuorum, toleratedFailures } from "./topology";
import type { HealthJudgement } from "./types";
import { isRecord } from "./util";

export type { HealthState } from "./types";
/**
 * Parsers of etcdctl's JSON output (`-w json`) and of scripts/etcd.sh's health counts, and the
 * verdict on those counts.
 *
 * etcd prints 64-bit member and cluster ids as bare JSON numbers, which JSON.parse would round;
 * they are quoted before parsing and returned as hex strings, as `etcdctl member list` shows them.
 */

/** One line of `etcdctl endpoint health -w json`. */
export interface EndpointHealth {
  readonly endpoint: string;
  readonly healthy: boolean;
  /** Round-trip time as etcdctl prints it, e.g. "3.8ms". */
  readonly took: string;
  readonly error?: string;
}

/** One entry of `etcdctl endpoint status -w json`. */
export interface EndpointStatus {
  readonly endpoint: string;
  readonly memberId: string;
  readonly clusterId: string;
  readonly leaderId: string;
  readonly isLeader: boolean;
  readonly version: string;
  readonly dbSize: number;
  readonly raftTerm: number;
  readonly raftIndex: number;
  readonly revision: number;
}

/** `etcdctl snapshot status -w json` (or `etcdutl`). */
export interface SnapshotStatus {
  readonly hash: number;
  readonly revision: number;
  readonly totalKey: number;
  readonly totalSize: number;
}

/** `scripts/etcd.sh health`'s counts with their verdict. */
export interface HealthReport extends HealthJudgement {
  readonly endpoints: readonly EndpointHealth[];
}

/** Output that is not what the etcdctl command prints; the message names the command. */
export class EtcdOutputError extends Error {
  constructor(what: string, problem: string, text: string) {
    const shown = text.trim().length > 120 ? `${text.trim().slice(0, 117)}...` : text.trim();
    super(`${what}: ${problem} (got ${JSON.stringify(shown)})`);
    this.name = "EtcdOutputError";
  }
}

/** Quotes integers of 16+ digits so JSON.parse keeps every digit. */
function parseBigJson(text: string, what: string): unknown {
  try {
    return JSON.parse(text.replace(/(:\s*)(\d{16,})(?=\s*[,}\]])/g, '$1"$2"'));
  } catch {
    throw new EtcdOutputError(what, "is not JSON", text);
  }
}

/** Decimal id (string or number) to lowercase hex. */
function hexId(x: unknown): string {
  if (typeof x === "string" && /^\d+$/.test(x)) return BigInt(x).toString(16);
  if (typeof x === "number" && Number.isSafeInteger(x)) return x.toString(16);
  return "";
}

function num(x: unknown): number {
  return typeof x === "number" ? x : typeof x === "string" && /^\d+$/.test(x) ? Number(x) : NaN;
}

/** `etcdctl endpoint health -w json`: an array of {endpoint, health, took, error?}. */
export function parseEndpointHealth(text: string): EndpointHealth[] {
  const what = "etcdctl endpoint health -w json";
  const data = parseBigJson(text, what);
  if (!Array.isArray(data)) throw new EtcdOutputError(what, "expected a JSON array", text);
  return data.map((e, i) => {
    if (!isRecord(e) || typeof e.endpoint !== "string" || typeof e.health !== "boolean") {
      throw new EtcdOutputError(what, `entry ${i} lacks endpoint or health`, JSON.stringify(e));
    }
    return {
      endpoint: e.endpoint,
      healthy: e.health,
      took: typeof e.took === "string" ? e.took : "",
      ...(typeof e.error === "string" && e.error !== "" ? { error: e.error } : {}),
    };
  });
}

/** `etcdctl endpoint status -w json`: an array of {Endpoint, Status: {header, leader, ...}}. */
export function parseEndpointStatus(text: string): EndpointStatus[] {
  const what = "etcdctl endpoint status -w json";
  const data = parseBigJson(text, what);
  if (!Array.isArray(data)) throw new EtcdOutputError(what, "expected a JSON array", text);
  return data.map((e, i) => {
    const s = isRecord(e) ? e.Status : undefined;
    const h = isRecord(s) ? s.header : undefined;
    if (!isRecord(e) || typeof e.Endpoint !== "string" || !isRecord(s) || !isRecord(h)) {
      throw new EtcdOutputError(what, `entry ${i} lacks Endpoint, Status or Status.header`, JSON.stringify(e));
    }
    const memberId = hexId(h.member_id);
    const leaderId = hexId(s.leader);
    return {
      endpoint: e.Endpoint,
      memberId,
      clusterId: hexId(h.cluster_id),
      leaderId,
      isLeader: memberId !== "" && memberId === leaderId,
      version: typeof s.version === "string" ? s.version : "",
      dbSize: num(s.dbSize),
      raftTerm: num(s.raftTerm),
      raftIndex: num(s.raftIndex),
      revision: num(h.revision),
    };
  });
}

/** `etcdctl snapshot status -w json` / `etcdutl snapshot status -w json`. */
export function parseSnapshotStatus(text: string): SnapshotStatus {
  const what = "snapshot status -w json";
  const data = parseBigJson(text.trim(), what);
  if (!isRecord(data)) throw new EtcdOutputError(what, "expected a JSON object", text);
  const out = { hash: num(data.hash), revision: num(data.revision), totalKey: num(data.totalKey), totalSize: num(data.totalSize) };
  for (const [k, v] of Object.entries(out)) {
    if (!Number.isFinite(v)) throw new EtcdOutputError(what, `lacks a numeric ${k}`, text);
  }
  return out;
}

/**
 * Healthy when every member answers, degraded when a majority (the quorum) still does, quorum lost
 * otherwise: the one verdict on etcd's health.
 */
export function judgeEtcdHealth(healthy: number, members: number): HealthJudgement {
  const quorum = etcdQuorum(members);
  const tolerated = toleratedFailures(members);
  const counts = { healthy, members, quorum, tolerated };
  if (healthy >= members)
    return {
      state: "healthy",
      ...counts,
      message: `healthy: ${members} of ${members} members healthy, quorum ${quorum}, tolerates ${tolerated} failed`,
    };
  if (healthy >= quorum)
    return {
      state: "degraded",
      ...counts,
      message: `degraded: ${healthy} of ${members} members healthy, quorum needs ${quorum} (held); ${healthy - quorum} more failures tolerated`,
    };
  return { state: "quorum-lost", ...counts, message: `quorum lost: ${healthy} of ${members} members healthy, quorum needs ${quorum}` };
}

/**
 * The report in the output of an `etcd.sh health` run: the parsed and judged counts, or the reason
 * there are none. The one place that reads health output.
 */
export function healthReportOf(r: { readonly stdout: string }): { report: HealthReport } | { reason: string } {
  if (!printedHealthReport(r.stdout)) return { reason: "etcd.sh health printed no report" };
  try {
    return { report: parseHealthReport(r.stdout) };
  } catch (e) {
    return { reason: (e as Error).message };
  }
}

/** Whether an `etcd.sh health` run printed its report at all (it stops before counting when etcdctl cannot run). */
export function printedHealthReport(stdout: string): boolean {
  return stdout.includes('"members"');
}

/** The JSON object `scripts/etcd.sh health` prints on stdout (its last non-empty line), judged. */
export function parseHealthReport(text: string): HealthReport {
  const what = "etcd.sh health";
  const line =
    text
      .trim()
      .split("\n")
      .filter((l) => l.trim() !== "")
      .pop() ?? "";
  const data = parseBigJson(line, what);
  if (!isRecord(data)) throw new EtcdOutputError(what, "expected an object with healthy, members and endpoints", text);
  const n = (k: string) => {
    const v = num(data[k]);
    if (!Number.isInteger(v) || v < 0) throw new EtcdOutputError(what, `lacks a whole number ${k}`, text);
    return v;
  };
  const members = n("members");
  const healthy = n("healthy");
  if (members < 1 || healthy > members) throw new EtcdOutputError(what, `counts ${healthy} healthy of ${members} members`, text);
  return { ...judgeEtcdHealth(healthy, members), endpoints: parseEndpointHealth(JSON.stringify(data.endpoints ?? [])) };
}
