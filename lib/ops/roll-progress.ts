/**
 * Where a roll (upgrade, renew-certs) stands on the node it is changing, kept beside the cluster's lock
 * (`<lockDir>/<cluster>.roll.json`, 0600): written as the node is cordoned, taken out of the load
 * balancer and upgraded, removed once it is back. A rerun after an interruption (Ctrl-C, a lost
 * terminal) finishes that node first.
 */
import { mkdirSync, readFileSync, renameSync, rmSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { isRecord } from "../model/util";
import { lockDir } from "./lock";

/** How far a node got: drained and cordoned, then out of the load balancer, then at the target. */
export const ROLL_STAGES = ["cordoned", "out of the load balancer", "upgraded"] as const;
export type RollStage = (typeof ROLL_STAGES)[number];

export interface RollProgress {
  readonly operation: "upgrade" | "renew-certs";
  /** An upgrade's Kubernetes version, and the node image it came from. */
  readonly target?: string;
  readonly image?: string;
  readonly node: string;
  readonly stage: RollStage;
  readonly since: string;
}

export function progressPath(cluster: string, env: NodeJS.ProcessEnv): string {
  return join(lockDir(env), `${cluster}.roll.json`);
}

export function readProgress(cluster: string, env: NodeJS.ProcessEnv): RollProgress | undefined {
  let r: unknown;
  try {
    r = JSON.parse(readFileSync(progressPath(cluster, env), "utf8"));
  } catch {
    return undefined;
  }
  const ok =
    isRecord(r) &&
    (r.operation === "upgrade" ? typeof r.target === "string" && typeof r.image === "string" : r.operation === "renew-certs") &&
    typeof r.node === "string" &&
    typeof r.since === "string" &&
    (ROLL_STAGES as readonly unknown[]).includes(r.stage);
  return ok ? (r as unknown as RollProgress) : undefined;
}

/** Records a node's stage; undefined removes the record (the node is back). */
export function recordProgress(cluster: string, env: NodeJS.ProcessEnv, p: RollProgress | undefined): void {
  const path = progressPath(cluster, env);
  if (!p) {
    rmSync(path, { force: true });
    return;
  }
  mkdirSync(lockDir(env), { recursive: true, mode: 0o700 });
  writeFileSync(`${path}.tmp`, `${JSON.stringify(p)}\n`, { mode: 0o600 });
  renameSync(`${path}.tmp`, path);
}

/** What a roll left half-way, in a sentence, with the command that finishes it. */
export function pendingRoll(p: RollProgress, stackId: string): string {
  const finish = p.operation === "upgrade" ? `npm run upgrade -- ${stackId} --to ${p.image}` : `npm run renew-certs -- ${stackId}`;
  return `an interrupted ${p.operation}${p.target ? ` to ${p.target}` : ""} left ${p.node} ${p.stage} (since ${p.since}); finish it first: ${finish}`;
}
