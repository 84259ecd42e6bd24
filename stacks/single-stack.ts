import type { Construct } from "constructs";
import { ClusterStack, type ClusterStackProps } from "./cluster-stack";

/** SingleStack takes every cluster setting; `controlPlanes`, if given, must be 1. */
export type SingleStackProps = ClusterStackProps;

/**
 * One control plane and its workers (option C): the smallest footprint, no tolerance for a
 * control-plane failure.
 */
export class SingleStack extends ClusterStack {
  constructor(scope: Construct, id: string, props: SingleStackProps = {}) {
    super(scope, id, "single", { controlPlanes: 1, ...props });
  }
}
