/**
 * What every operations tool shares: argument parsing with --help, stack lookup, paths, exit codes.
 *
 * Tools export `main(argv, io, deps)` returning the exit code, so tests call them in-process with
 * a fake executor; the compiled file runs `main` only when node starts it directly.
 */
import { withLock } from "../lib/ops/lock";
import { existsSync } from "node:fs";
import { parseArgs, type ParseArgsConfig } from "node:util";
import { execFileExecutor, type Executor } from "../lib/io/exec";
import type { ClusterAccess, ClusterOpsContext } from "../lib/ops/client";
import { realClock, type Clock } from "../lib/ops/steps";
import { expandHome } from "../lib/io/home";
import { parsePlannedStack } from "../lib/io/planned-stack";
import type { RecoverContext } from "../lib/ops/recover/recover";
import { etcdScriptPath } from "../lib/ops/etcd-script";
import { containerCli } from "../lib/io/container-cli";
import { findStack } from "../lib/io/config-file";
import type { ResolvedStack } from "../lib/model/resolved-stack";

/** Where a tool prints: stdout for results, stderr for errors. */
export interface Io {
  out(text: string): void;
  err(text: string): void;
}

export const processIo: Io = {
  out: (t) => void process.stdout.write(`${t}\n`),
  err: (t) => void process.stderr.write(`${t}\n`),
};

/** Exit codes: 0 done, 1 a check or step failed, 2 the command line was wrong. */
export const EXIT = { ok: 0, failed: 1, usage: 2 } as const;

/** A wrong command line: printed with a pointer to --help, exit 2. */
export class UsageError extends Error {
  constructor(message: string) {
    super(message);
    this.name = "UsageError";
  }
}

/** What tools run commands, wait and look for files with; tests replace them. */
export interface ToolDeps {
  readonly exec: Executor;
  readonly clock: Clock;
  readonly env: NodeJS.ProcessEnv;
  readonly exists: (path: string) => boolean;
}

/** Runs an operation on the stack's cluster holding the cluster's lock (lib/ops/lock.ts); the lock's lines go to io.out. */
export function underLock<T>(stack: ResolvedStack, operation: string, deps: ToolDeps, io: Io, body: () => Promise<T>): Promise<T> {
  return withLock(stack.topology.clusterName, `${operation} ${stack.id}`, deps, (l) => io.out(l), body);
}

export function toolDeps(given: Partial<ToolDeps> = {}): ToolDeps {
  return {
    exec: given.exec ?? execFileExecutor,
    clock: given.clock ?? realClock,
    env: given.env ?? process.env,
    exists: given.exists ?? existsSync,
  };
}

/**
 * A deployed stack writes its kubeconfig; without one there is no cluster to work on. Throws the
 * one line the tools print for it (exit 1).
 */
export function requireCluster(stackId: string, kubeconfig: string, deps: ToolDeps): void {
  if (!deps.exists(kubeconfig))
    throw new Error(
      `no cluster for stack ${stackId}: deploy it first (npx cdktf deploy ${stackId}); there is no kubeconfig at ${kubeconfig}`,
    );
}

type Options = NonNullable<ParseArgsConfig["options"]>;

/** Parses argv strictly (runTool has answered `--help` before). */
export function parseToolArgs<O extends Options>(argv: readonly string[], options: O) {
  try {
    return parseArgs({ args: [...argv], options, allowPositionals: true, strict: true });
  } catch (e) {
    throw new UsageError((e as Error).message.replace(/\. To specify a positional argument.*$/s, ""));
  }
}

/** Resolves a stack id; an unknown id is a usage error that lists the known stacks. */
export function loadStack(id: string | undefined, what = "<stack>", configFile?: string): ResolvedStack {
  if (!id) throw new UsageError(`missing ${what}`);
  try {
    return findStack(id, configFile);
  } catch (e) {
    throw new UsageError((e as Error).message);
  }
}

/** The bound of every tool's `--wait SECONDS`: each wait of an operation (not the whole). */
export const WAIT_BOUNDS = { min: 10, max: 1800 } as const;

/** Reads `--wait SECONDS` (the tool's default when absent); anything but a whole number within WAIT_BOUNDS is a usage error. */
export function waitSeconds(given: string | undefined, defaultSeconds: number): number {
  if (given === undefined) return defaultSeconds;
  const wait = /^\d+$/.test(given) ? Number(given) : NaN;
  if (!(wait >= WAIT_BOUNDS.min && wait <= WAIT_BOUNDS.max))
    throw new UsageError(`--wait must be a whole number of seconds from ${WAIT_BOUNDS.min} to ${WAIT_BOUNDS.max}`);
  return wait;
}

/**
 * The stack a provisioner's plan saw (KINDHA_PLANNED_STACK, see lib/io/planned-stack.ts): its
 * topology and paths as planned, whatever kindha.config.yaml holds by the time the hook runs.
 */
export function plannedStack(env: NodeJS.ProcessEnv): ResolvedStack {
  const text = env.KINDHA_PLANNED_STACK;
  if (!text) throw new UsageError("KINDHA_PLANNED_STACK is not set (the roll resource's provisioner sets it)");
  const p = parsePlannedStack(text);
  if (env.KINDHA_STACK !== undefined && env.KINDHA_STACK !== p.id)
    throw new UsageError(`KINDHA_STACK=${env.KINDHA_STACK} but KINDHA_PLANNED_STACK is stack ${p.id}`);
  return p;
}

/** Exactly one positional: the stack id of a kind stack (the tools work on kind clusters). */
export function singleStack(positionals: readonly string[]): ResolvedStack {
  if (positionals.length > 1) throw new UsageError(`expected one stack, got ${positionals.join(" ")}`);
  const stack = loadStack(positionals[0]);
  if (stack.definition.target === "cluster-api") {
    throw new UsageError(
      `stack ${stack.id} targets cluster-api: Cluster API runs its machines (kubectl get cluster,machines in the management cluster); this tool works on kind stacks`,
    );
  }
  return stack;
}

/** How the tools reach a stack's cluster, whether or not it exists yet (migrate's target). */
export function clusterAccessOf(
  stack: ResolvedStack,
  kubeconfig: string | undefined,
  deps: ToolDeps,
): ClusterAccess & { readonly containerCli: string } {
  const registry = stack.registry;
  return { ...accessThrough(hostPath(kubeconfig ?? stack.paths.kubeconfig, deps), deps), ...(registry ? { registry } : {}) };
}

/** How the tools reach the cluster of a kubeconfig (a cluster-api stack's: its management cluster). */
export function accessThrough(kubeconfig: string, deps: ToolDeps): ClusterAccess & { readonly containerCli: string } {
  return { kubeconfig, etcdScript: etcdScriptPath(deps.env), exec: deps.exec, env: deps.env, containerCli: containerCli(deps.env) };
}

/** How the tools reach a deployed stack's cluster; no cluster (no kubeconfig) is the one-line error. */
export function clusterAccess(
  stack: ResolvedStack,
  kubeconfig: string | undefined,
  deps: ToolDeps,
): ClusterAccess & { readonly containerCli: string } {
  const access = clusterAccessOf(stack, kubeconfig, deps);
  requireCluster(stack.id, access.kubeconfig, deps);
  return access;
}

/** What drill and restore share: the cluster's access, its topology, the clock and the log. */
export function clusterOpsContext(stack: ResolvedStack, kubeconfig: string | undefined, deps: ToolDeps, io: Io): ClusterOpsContext {
  return { ...clusterAccess(stack, kubeconfig, deps), topology: stack.topology, clock: deps.clock, log: (l) => io.out(l) };
}

/** What recover and the restart drill share: the ops context, the cluster's network and the bound of each wait. */
export function recoverContext(
  stack: ResolvedStack,
  kubeconfig: string | undefined,
  deps: ToolDeps,
  io: Io,
  waitSeconds: number,
): RecoverContext {
  return {
    ...clusterOpsContext(stack, kubeconfig, deps, io),
    stackId: stack.id,
    network: kindNetwork(deps.env),
    waitMs: waitSeconds * 1000,
  };
}

/**
 * The data directory of a stack, `~/` expanded; a usage error naming the option and what it would
 * have done (`to archive`) when the stack keeps its volumes in the nodes.
 */
export function requireDataDir(stack: ResolvedStack, option: string, purpose: string, deps: Pick<ToolDeps, "env">): string {
  const dir = stack.paths.data;
  if (dir === undefined)
    throw new UsageError(
      `${option}: stack ${stack.id} keeps its volumes inside the nodes (dataDir: false); there is no data directory ${purpose}`,
    );
  return hostPath(dir, deps);
}

/** A `~/`-path (a stack's, or an option's) as this tool's environment sees it: deps.env.HOME, else the process's home. */
export function hostPath(path: string, deps: Pick<ToolDeps, "env">): string {
  return expandHome(path, deps.env);
}

/** The Docker network kind puts nodes on: KIND_EXPERIMENTAL_DOCKER_NETWORK, else kind. */
export function kindNetwork(env: NodeJS.ProcessEnv = process.env): string {
  return env.KIND_EXPERIMENTAL_DOCKER_NETWORK || "kind";
}

/**
 * Runs a tool body: prints usage for --help (exit 0), turns a UsageError into its message plus a
 * pointer to --help (exit 2), and any other error into its message (exit 1).
 */
export async function runTool(io: Io, usage: string, argv: readonly string[], body: () => Promise<number>): Promise<number> {
  if (argv.includes("--help") || argv.includes("-h")) {
    io.out(usage);
    return EXIT.ok;
  }
  try {
    return await body();
  } catch (e) {
    if (e instanceof UsageError) {
      io.err(`error: ${e.message}`);
      io.err(usage.split("\n")[0]);
      io.err("Run with --help for details.");
      return EXIT.usage;
    }
    io.err(`error: ${(e as Error).message}`);
    return EXIT.failed;
  }
}

/** For the compiled entry point: runs main with the process's arguments and sets the exit code. */
export function runMain(main: (argv: readonly string[], io: Io) => Promise<number>): void {
  main(process.argv.slice(2), processIo).then(
    (code) => {
      process.exitCode = code;
    },
    (e: unknown) => {
      process.stderr.write(`error: ${(e as Error).stack ?? String(e)}\n`);
      process.exitCode = EXIT.failed;
    },
  );
}
