import type { Construct } from "constructs";
import type { ResolvedStack } from "../lib/model/resolved-stack";
import { ClusterStack, type ClusterStackProps } from "./cluster-stack";

/** HA stacks take every cluster setting; `controlPlanes` must be odd and at least 3. */
export type HaStackProps = ClusterStackProps;

/**
 * Several control planes behind a load balancer, with stacked etcd (options A and B): survives
 * floor((n-1)/2) control-plane failures.
 */
export class HaStack extends ClusterStack {
  /** From props in code: validated and planned here. */
  constructor(scope: Construct, id: string, props?: HaStackProps);
  /** From a stack resolved already (main.ts: the config file's). */
  constructor(scope: Construct, stack: ResolvedStack);
  constructor(scope: Construct, idOrStack: string | ResolvedStack, props: HaStackProps = {}) {
    super(scope, "ha", idOrStack, props);
  }
}
