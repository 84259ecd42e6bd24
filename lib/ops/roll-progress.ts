/**
 * Where a roll stands on the node it is changing, kept beside the cluster's lock
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
  readonly operation: "upgrade";
  /** The Kubernetes version rolled to, and the node image it came from. */
  readonly target: string;
  readonly image: string;
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
  const ok = isRecord(r) && r.operation === "upgrade" && ["target", "image", "node", "since"].every((k) => typeof r[k] === "string") && (ROLL_STAGES as readonly unknown[]).includes(r.stage);
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
