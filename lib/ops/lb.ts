/**
 * kind's load-balancer container: writing its configuration as kind does (beside, then moved over,
 * so the proxy never reads half a file). kind's Envoy and this project's stand-in both pick the
 * files up by themselves.
 */
import type { CommandResult } from "../io/exec";
import { LB_CONFIG_PATHS, type KindLbConfig } from "../model/kind-lb-config";
import type { ClusterClient } from "./client";

/** How long a node's removal from the load balancer is given to take hold before the node is touched. */
export const LB_SETTLE_MS = 3_000;

/** The cluster configuration (cds) the load balancer holds now. */
export function readLbConfig(k: ClusterClient, lb: string): Promise<CommandResult> {
  return k.containers(["exec", lb, "cat", LB_CONFIG_PATHS.cds], 30_000);
}

export function writeLbConfig(k: ClusterClient, lb: string, config: KindLbConfig): Promise<CommandResult> {
  const script =
    'printf "%s" "$1" >"$3.tmp" && printf "%s" "$2" >"$4.tmp" && chmod 666 "$3.tmp" "$4.tmp" && mv "$3.tmp" "$3" && mv "$4.tmp" "$4"';
  return k.containers(["exec", lb, "sh", "-c", script, "-", config.cds, config.lds, LB_CONFIG_PATHS.cds, LB_CONFIG_PATHS.lds], 30_000);
}
