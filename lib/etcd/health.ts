/**
 * Judges etcd health from per-member results: the same rule scripts/etcd.sh applies, in TypeScript
 * so tools and tests can reason about it without running etcd.
 */
import { etcdQuorum, toleratedFailures } from "../topology";
import type { HealthJudgement } from "../model";

export type { HealthJudgement } from "../model";

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
    return { state: "healthy", healthy, members, quorum, tolerated, message: `healthy: ${members} of ${members} members healthy, quorum ${quorum}, tolerates ${tolerated} failed` };
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
  return { state: "quorum-lost", healthy, members, quorum, tolerated, message: `quorum lost: ${healthy} of ${members} members healthy, quorum needs ${quorum}` };
}
