/**
 * What operations on a deployed cluster share; the command runner itself is lib/exec.ts.
 */
import type { Executor } from "../exec";
import type { Topology } from "../topology";
import type { Clock } from "./steps";

export { execFileExecutor, lastLine, showCommand, type CommandResult, type Executor, type RunOptions } from "../exec";

/** What every operation on a deployed cluster needs: its topology, access and a command runner. */
export interface ClusterOpsContext {
  readonly topology: Topology;
  readonly kubeconfig: string;
  /** Path of scripts/etcd.sh. */
  readonly etcdScript: string;
  readonly exec: Executor;
  /** docker, podman or nerdctl: what kind created the node containers with. */
  readonly containerCli: string;
  readonly clock: Clock;
  readonly log: (line: string) => void;
  readonly env?: NodeJS.ProcessEnv;
}
