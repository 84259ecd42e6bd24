import type { Construct } from "constructs";
import { ClusterStack, type ClusterStackProps } from "./cluster-stack";

/** HA stacks take every cluster setting; `controlPlanes` must be odd and at least 3. */
export type HaStackProps = ClusterStackProps;

/**
 * Several control planes behind a load balancer, with stacked etcd (options A and B): survives
 * floor((n-1)/2) control-plane failures.
 */
export class HaStack extends ClusterStack {
  constructor(scope: Construct, id: string, props: HaStackProps = {}) {
    super(scope, id, "ha", props);
  }
}
