/**
 * `npm run recover -- <stack>`: brings the stack's kind cluster back after a Docker restart, a host
 * reboot or containers stopped by hand (steps in lib/ops/recover/).
 */
import { appendFileSync, mkdirSync, readFileSync } from "node:fs";
import { dirname, join } from "node:path";
import { clusterCondition, recoverSteps } from "../lib/ops/recover/recover";
import { DEFAULTS } from "../lib/model/defaults";
import { runSteps } from "../lib/ops/steps";
import { isRecord } from "../lib/model/util";
import {
  hostPath,
  EXIT,
  loadStack,
  parseToolArgs,
  recoverContext,
  processIo,
  runMain,
  runTool,
  singleStack,
  toolDeps,
  underLock,
  UsageError,
  type Io,
  type ToolDeps,
  waitSeconds,
} from "./cli";

export const USAGE = `Usage: npm run recover -- <stack> [--kubeconfig FILE] [--wait SECONDS]

Brings the stack's kind cluster back after a restart of Docker or of this machine (or containers
stopped by hand). Steps, each checked, stopping at the first failure with what to do:
  1. find the cluster's containers (nodes and, in HA, kind's load balancer)
  2. plan the addresses: each container where etcd and kubeadm expect it (the address create
     fixed it at; for older clusters, the one its etcd certificate names); an address another
     container holds is named, with how to free it
  3. stop what runs at a wrong address, fix it at its own, start everything that is down,
     control planes first
  4. HA: write kind's load-balancer configuration back (its restart empties it)
  5. wait for etcd quorum and the API, then verify

Options:
  --kubeconfig FILE  default: ~/.kube/kindha-<cluster>.yaml
  --wait SECONDS     bound of each wait (default 300, at most 1800)
  --terraform-hook   the step a plan runs (Terraform's external data source: {"stack", "kubeconfig",
                     "create_id"} as JSON on stdin, {"state", "detail"} on stdout): recovers only a
                     cluster whose nodes carry the stack's mark and whose API does not answer, up to
                     etcd quorum and the API (no verify); logs to ~/.kindha/logs/<cluster>/recover.log
  -h, --help         this help

Environment: KINDHA_CONTAINER_CLI, else KIND_EXPERIMENTAL_PROVIDER (default docker), KIND_EXPERIMENTAL_DOCKER_NETWORK (default kind),
KINDHA_RECOVER_ON_PLAN=0 or false: the hook only reports (1 or true: it recovers; anything else is refused).`;

/** KINDHA_RECOVER_ON_PLAN: unset, 1/true (recover) or 0/false (report only); anything else is refused. */
export function recoverOnPlan(value: string | undefined): boolean {
  if (value === undefined || value === "" || value === "1" || value === "true") return true;
  if (value === "0" || value === "false") return false;
  throw new UsageError(`KINDHA_RECOVER_ON_PLAN=${JSON.stringify(value)}: must be 1, true, 0 or false`);
}

/**
 * The plan's step: finds the cluster's condition and, when its nodes carry the mark of this
 * stack's state and its API does not answer, recovers it, so that a plan after a reboot reads a
 * live cluster instead of failing on it. Absent, other-topology, not-ours and no-engine leave the
 * plan to Terraform.
 */
export async function terraformHook(input: string, io: Io, given: Partial<ToolDeps> = {}): Promise<number> {
  const deps = toolDeps(given);
  let query: unknown;
  try {
    query = JSON.parse(input);
  } catch {
    io.err("recover --terraform-hook: stdin is not JSON (Terraform's external data source sends its query there)");
    return EXIT.usage;
  }
  if (
    !isRecord(query) ||
    typeof query.stack !== "string" ||
    typeof query.kubeconfig !== "string" ||
    typeof query.create_id !== "string" ||
    query.create_id === ""
  ) {
    io.err('recover --terraform-hook: the query must hold "stack", "kubeconfig" and "create_id" as strings');
    return EXIT.usage;
  }
  const recovering = recoverOnPlan(deps.env.KINDHA_RECOVER_ON_PLAN);
  const answer = (state: string, detail: string) => {
    io.out(JSON.stringify({ state, detail }));
    return EXIT.ok;
  };
  const stack = loadStack(query.stack);
  if (!deps.exists(query.kubeconfig)) return answer("absent", `no kubeconfig at ${query.kubeconfig}`);
  const log = join(hostPath(stack.paths.logs, deps), "recover.log");
  // Line by line, so `tail -f` shows a recovery while the plan waits for it.
  const say = (line: string) => {
    mkdirSync(dirname(log), { recursive: true, mode: 0o700 });
    appendFileSync(log, `${line}\n`, { mode: 0o600 });
    io.err(line);
  };
  const ctx = recoverContext(stack, query.kubeconfig, deps, { out: say, err: say }, DEFAULTS.recoverWaitSeconds);
  const want = { stack: stack.id, create: query.create_id };
  const condition = await clusterCondition(ctx, want);
  if (condition.state !== "unhealthy") return answer(condition.state, condition.why);
  if (!recovering)
    return answer("unhealthy", `${condition.why} (KINDHA_RECOVER_ON_PLAN=${deps.env.KINDHA_RECOVER_ON_PLAN}: not recovered)`);
  const t0 = deps.clock.now();
  say(`recover: ${new Date(t0).toISOString()} plan of stack ${stack.id}: ${condition.why}; recovering`);
  // Under the cluster's lock: an operation that holds it (a roll, a restore) is waited for, and
  // what it left is looked at again before anything is done.
  const outcome = await underLock(stack, "the plan's recover", deps, { out: say, err: say }, async () => {
    const now = await clusterCondition(ctx, want);
    if (now.state !== "unhealthy") return now;
    return runSteps(recoverSteps(ctx, { verify: false }), ctx, say, ctx.clock);
  });
  const seconds = ((deps.clock.now() - t0) / 1000).toFixed(0);
  if ("state" in outcome) return answer(outcome.state, `${outcome.why} (after waiting for the cluster's lock)`);
  say(
    outcome.ok
      ? `recover: done in ${seconds} s`
      : `recover: stopped at "${outcome.failed?.step}" after ${seconds} s; the plan stops here (the cluster is not replaced)`,
  );
  if (!outcome.ok) return EXIT.failed;
  return answer("recovered", `${condition.why}; recovered in ${seconds} s (log: ${log})`);
}

export async function main(argv: readonly string[], io: Io = processIo, given: Partial<ToolDeps> = {}): Promise<number> {
  return runTool(io, USAGE, argv, async () => {
    if (argv[0] === "--terraform-hook" && argv.length === 1) return terraformHook(readFileSync(0, "utf8"), io, given);
    const { values, positionals } = parseToolArgs(argv, { kubeconfig: { type: "string" }, wait: { type: "string" } });
    const stack = singleStack(positionals);
    const wait = waitSeconds(values.wait, DEFAULTS.recoverWaitSeconds);
    const deps = toolDeps(given);
    const ctx = recoverContext(stack, values.kubeconfig, deps, io, wait);
    const t0 = deps.clock.now();
    io.out(
      `recover: stack ${stack.id} (${stack.topology.nodes.length} nodes${stack.topology.api.loadBalanced ? " and a load balancer" : ""})`,
    );
    const report = await underLock(stack, "recover", deps, io, () => runSteps(recoverSteps(ctx), ctx, (l) => io.out(l), ctx.clock));
    const seconds = ((deps.clock.now() - t0) / 1000).toFixed(0);
    io.out(
      report.ok
        ? `recover: done in ${seconds} s; stack ${stack.id} verified`
        : `recover: stopped at "${report.failed?.step}" after ${seconds} s`,
    );
    return report.ok ? EXIT.ok : EXIT.failed;
  });
}

if (require.main === module) runMain(main);
