/**
 * What the rolling operations (renew-certs, upgrade) do around each control plane: etcd leadership
 * moved off it, and kind's load balancer given the backends that may serve meanwhile.
 */
import { kindLbConfig } from "../model/kind-lb-config";
import { kindLoadBalancerName, type Topology } from "../model/topology";
import type { CommandResult } from "../io/exec";
import type { ClusterClient } from "./client";
import { writeLbConfig } from "./lb";
import type { Clock } from "./steps";

/** Hands etcd leadership from `node` to another control plane when `node` leads; what was done, or undefined. */
export async function leadershipAway(k: ClusterClient, t: Topology, node: string): Promise<string | undefined> {
  const others = t.controlPlanes.map((n) => n.name).filter((n) => n !== node);
  if (others.length === 0) return undefined;
  const etcd = k.etcd(others[0], { timeoutMs: 60_000 });
  if ((await etcd.leader()).name !== node) return undefined;
  return `etcd leadership ${node} -> ${(await etcd.moveLeader(others[0])).name}`;
}

/**
 * Writes kind's load-balancer configuration with these control planes as its backends, then gives
 * the load balancer `settleMs` to read it (kind's Envoy and the stand-in poll about once a second).
 */
export async function setBackends(
  k: ClusterClient,
  t: Topology,
  names: readonly string[],
  c: { readonly clock: Clock; readonly lbSettleMs: number },
): Promise<CommandResult> {
  const r = await writeLbConfig(k, kindLoadBalancerName(t.clusterName), kindLbConfig(names));
  if (r.code === 0) await c.clock.sleep(c.lbSettleMs);
  return r;
}
