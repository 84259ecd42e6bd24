/**
 * `npm run recover -- <stack>`: brings the stack's kind cluster back after a Docker restart, a host
 * reboot or containers stopped by hand (steps in lib/ops/recover.ts).
 */
import { recoverSteps } from "../lib/ops/recover";
import { runSteps } from "../lib/ops/steps";
import { EXIT, parseToolArgs, recoverContext, processIo, runMain, runTool, singleStack, toolDeps, UsageError, type Io, type ToolDeps } from "./cli";

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
  --wait SECONDS     bound of each wait (default 300, at most 900)
  -h, --help         this help

Environment: KINDHA_CONTAINER_CLI (default docker), KIND_EXPERIMENTAL_DOCKER_NETWORK (default kind).`;

export async function main(argv: readonly string[], io: Io = processIo, given: Partial<ToolDeps> = {}): Promise<number> {
  return runTool(io, USAGE, argv, async () => {
    const { values, positionals } = parseToolArgs(argv, { kubeconfig: { type: "string" }, wait: { type: "string" } });
    const stack = singleStack(positionals);
    const wait = Number(values.wait ?? "300");
    if (!Number.isInteger(wait) || wait < 10 || wait > 900) throw new UsageError("--wait must be a whole number of seconds from 10 to 900");
    const deps = toolDeps(given);
    const ctx = recoverContext(stack, values.kubeconfig, deps, io, wait);
    const t0 = deps.clock.now();
    io.out(`recover: stack ${stack.id} (${stack.topology.nodes.length} nodes${stack.topology.api.loadBalanced ? " and a load balancer" : ""})`);
    const report = await runSteps(recoverSteps(ctx), ctx, (l) => io.out(l), ctx.clock);
    const seconds = ((deps.clock.now() - t0) / 1000).toFixed(0);
    io.out(report.ok ? `recover: done in ${seconds} s; stack ${stack.id} verified` : `recover: stopped at "${report.failed?.step}" after ${seconds} s`);
    return report.ok ? EXIT.ok : EXIT.failed;
  });
}

if (require.main === module) runMain(main);
