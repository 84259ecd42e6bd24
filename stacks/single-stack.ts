import type { Construct } from "constructs";
import type { ResolvedStack } from "../lib/model/resolved-stack";
import { ClusterStack, type ClusterStackProps } from "./cluster-stack";

/** SingleStack takes every cluster setting; `controlPlanes`, if given, must be 1. */
export type SingleStackProps = ClusterStackProps;

/**
 * One control plane and its workers (option C): the smallest footprint, no tolerance for a
 * control-plane failure.
 */
export class SingleStack extends ClusterStack {
  /** From props in code: validated and planned here. */
  constructor(scope: Construct, id: string, props?: SingleStackProps);
  /** From a stack resolved already (main.ts: the config file's). */
  constructor(scope: Construct, stack: ResolvedStack);
  constructor(scope: Construct, idOrStack: string | ResolvedStack, props: SingleStackProps = {}) {
    super(scope, "single", idOrStack, { controlPlanes: 1, ...props });
  }
}
