/**
 * `npm run drill -- <stack>`: stops one control plane of an HA stack and shows the API and etcd
 * keep serving; always starts it again. Refuses a single control plane.
 */
import { DEFAULTS } from "../lib/model/defaults";
import { drillRefusal, runDrill } from "../lib/ops/drill/drill";
import { runRestartDrill } from "../lib/ops/drill/restart-drill";
import {
  clusterOpsContext,
  EXIT,
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
} from "./cli";

export const USAGE = `Usage: npm run drill -- <stack> [--observe SECONDS] [--interval SECONDS] [--kubeconfig FILE]
       npm run drill -- <stack> --docker-restart [--kubeconfig FILE]

Failure drill for a stack with at least 3 control planes:
  1. verify the cluster (refuses to drill an unhealthy one)
  2. <container cli> stop <cluster>-control-plane2 (never the first control plane)
  3. probe, for --observe seconds and independently of each other: /readyz through the load
     balancer and a write (patch of ConfigMap default/kindha-drill), each every --interval
     seconds with a 2 s request timeout; etcd health (expect "degraded", quorum held) every 5 s.
     Prints how long writes and the API were each unavailable
  4. <container cli> start it again (always, even after an error), wait Ready, verify

With --docker-restart, any stack: what a restart of Docker or of the host does, done to this
cluster's containers only: verify, stop every container, start them again in the reverse of the
order the nodes need (the load balancer first; it empties its configuration on every start),
then npm run recover; passes when the cluster verifies with every container at its address.
Prints the time from the restart to a verified cluster.

Options:
  --docker-restart    the restart drill above
  --observe SECONDS   how long to watch with the member down (default 45, at most 120)
  --interval SECONDS  between API and write probes (default 1)
  --kubeconfig FILE   default: ~/.kube/kindha-<cluster>.yaml
  -h, --help          this help

Exit: 0 drill passed, 1 it failed or was refused, 2 bad arguments or unknown stack.`;

export async function main(argv: readonly string[], io: Io = processIo, given: Partial<ToolDeps> = {}): Promise<number> {
  return runTool(io, USAGE, argv, async () => {
    const { values, positionals } = parseToolArgs(argv, {
      observe: { type: "string" },
      interval: { type: "string" },
      kubeconfig: { type: "string" },
      "docker-restart": { type: "boolean" },
    });
    const stack = singleStack(positionals);
    if (values["docker-restart"]) {
      if (values.observe !== undefined || values.interval !== undefined)
        throw new UsageError("--observe and --interval belong to the control-plane drill, not --docker-restart");
      const deps = toolDeps(given);
      const outcome = await underLock(stack, "drill --docker-restart", deps, io, () =>
        runRestartDrill(recoverContext(stack, values.kubeconfig, deps, io, DEFAULTS.recoverWaitSeconds)),
      );
      (outcome.ok ? io.out : io.err)(`drill: ${outcome.message}`);
      return outcome.ok ? EXIT.ok : EXIT.failed;
    }
    const refusal = drillRefusal(stack.id, stack.topology);
    if (refusal) {
      io.err(`drill: ${refusal}`);
      return EXIT.failed;
    }
    const observe = Number(values.observe ?? "45");
    const interval = Number(values.interval ?? "1");
    if (!Number.isFinite(observe) || observe < 5 || observe > 120)
      throw new UsageError("--observe must be a number of seconds from 5 to 120");
    if (!Number.isFinite(interval) || interval < 1 || interval > observe)
      throw new UsageError("--interval must be at least 1 second and at most --observe");
    const deps = toolDeps(given);
    const outcome = await underLock(stack, "drill", deps, io, () =>
      runDrill({
        ...clusterOpsContext(stack, values.kubeconfig, deps, io),
        stackId: stack.id,
        observeMs: observe * 1000,
        intervalMs: interval * 1000,
      }),
    );
    if (outcome.ok) io.out(`drill: ${outcome.message}`);
    else io.err(`drill: ${outcome.message}`);
    return outcome.ok ? EXIT.ok : EXIT.failed;
  });
}

if (require.main === module) runMain(main);
