/**
 * A test oracle: etcd health judged from per-member results in TypeScript, to check the verdict
 * scripts/etcd.sh owns (the tools only parse the script's JSON).
 */
import { join } from "node:path";
import { etcdQuorum, toleratedFailures } from "../lib/model/topology";
import { utcStamp } from "../lib/model/util";
import type { HealthJudgement } from "../lib/model/types";

export type { HealthJudgement } from "../lib/model/types";

/**
 * Healthy when every member answers, degraded when a majority still does, quorum lost otherwise.
 *
 * Members absent from `results` (no answer at all) count as unhealthy; an endpoint listed twice
 * counts once, so a duplicated line cannot fake a majority.
 *
 * @param memberCount members the cluster should have (the topology's control-plane count)
 */
export function judgeEtcdHealth(
  results: readonly { readonly endpoint: string; readonly healthy: boolean }[],
  memberCount: number,
): HealthJudgement {
  if (!Number.isInteger(memberCount) || memberCount < 1) {
    throw new RangeError(`memberCount must be a whole number of at least 1, got ${memberCount}`);
  }
  const healthyEndpoints = new Set(results.filter((r) => r.healthy).map((r) => r.endpoint));
  const members = Math.max(memberCount, new Set(results.map((r) => r.endpoint)).size);
  const healthy = Math.min(healthyEndpoints.size, members);
  const quorum = etcdQuorum(members);
  const tolerated = toleratedFailures(members);
  if (healthy >= members) {
    return {
      state: "healthy",
      healthy,
      members,
      quorum,
      tolerated,
      message: `healthy: ${members} of ${members} members healthy, quorum ${quorum}, tolerates ${tolerated} failed`,
    };
  }
  if (healthy >= quorum) {
    return {
      state: "degraded",
      healthy,
      members,
      quorum,
      tolerated,
      message: `degraded: ${healthy} of ${members} members healthy, quorum needs ${quorum} (held); ${healthy - quorum} more failures tolerated`,
    };
  }
  return {
    state: "quorum-lost",
    healthy,
    members,
    quorum,
    tolerated,
    message: `quorum lost: ${healthy} of ${members} members healthy, quorum needs ${quorum}`,
  };
}

/** The name `etcd.sh backup` gives a snapshot, which the script owns: `<dir>/<cluster>-<stack>-<UTC yyyymmddThhmmssZ>.db`. */
export function snapshotFileName(dir: string, cluster: string, stack: string, at: Date): string {
  return join(dir, `${cluster}-${stack}-${utcStamp(at)}.db`);
}
