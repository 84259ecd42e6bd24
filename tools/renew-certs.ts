/**
 * `npm run renew-certs -- <stack>`: renews kubeadm's certificates on a live cluster, one control
 * plane at a time (steps in lib/ops/renew-certs/), with /readyz and write probes through the
 * stack's API address the whole time; prints how long each was unavailable.
 */
import { LB_SETTLE_MS } from "../lib/ops/lb";
import { ClusterClient } from "../lib/ops/client";
import { outageLines, probeDuring, stepMarks } from "../lib/ops/probes";
import { renewSteps, type RenewContext } from "../lib/ops/renew-certs/renew-certs";
import { pendingRoll, readProgress, recordProgress } from "../lib/ops/roll-progress";
import { controlPlaneRollOrder } from "../lib/model/topology";
import { runSteps } from "../lib/ops/steps";
import {
  hostPath,
  clusterOpsContext,
  EXIT,
  parseToolArgs,
  processIo,
  runMain,
  runTool,
  singleStack,
  toolDeps,
  underLock,
  type Io,
  type ToolDeps,
  waitSeconds,
} from "./cli";

export const USAGE = `Usage: npm run renew-certs -- <stack> [--kubeconfig FILE] [--wait SECONDS]

Renews every certificate kubeadm wrote (they last a year; npm run verify warns 30 days ahead) on
a live cluster, one control plane at a time, each checked, stopping at the first failure:
  1. verify the stack (the certificate check may fail: that is what this mends)
  2. snapshot etcd into the backup directory
  3. per control plane, followers first and the etcd leader last: move etcd leadership away,
     take the node out of the load balancer (HA), kubeadm certs renew all, restart etcd,
     kube-apiserver, kube-controller-manager and kube-scheduler (each waited for: etcd healthy
     with every member, the others' health endpoints ok), put the node back
  4. refresh the kubeconfig's client certificate (kind export kubeconfig)
  5. verify
Meanwhile /readyz and a write (ConfigMap default/kindha-renew-probe) are probed through the
stack's API address every second; the time each was unavailable is printed. HA stacks keep
serving; a single control plane cannot (its API server restarts), and the figure says how long.

Options:
  --kubeconfig FILE  default: ~/.kube/kindha-<cluster>.yaml
  --wait SECONDS     bound of each wait (default 180, at most 1800)
  -h, --help         this help

Certificates that have already expired stop the API; renew those by hand (docker exec <node>
kubeadm certs renew all on each control plane, then restart them).`;

/** Time the load balancer gets to read a changed configuration (it polls about once a second). */

export async function main(argv: readonly string[], io: Io = processIo, given: Partial<ToolDeps> = {}): Promise<number> {
  return runTool(io, USAGE, argv, async () => {
    const { values, positionals } = parseToolArgs(argv, { kubeconfig: { type: "string" }, wait: { type: "string" } });
    const stack = singleStack(positionals);
    const wait = waitSeconds(values.wait, 180);
    const deps = toolDeps(given);
    return underLock(stack, "renew-certs", deps, io, async () => {
      const t = stack.topology;
      // A node an interrupted run left out of the load balancer is renewed first; an interrupted upgrade is finished by upgrade.
      const pending = readProgress(t.clusterName, deps.env);
      if (pending && pending.operation !== "renew-certs") throw new Error(pendingRoll(pending, stack.id));
      if (pending)
        io.out(`renew-certs: an interrupted run left ${pending.node} ${pending.stage} (since ${pending.since}); renewing it first`);
      const ctx: RenewContext = {
        ...clusterOpsContext(stack, values.kubeconfig, deps, io),
        stackId: stack.id,
        waitMs: wait * 1000,
        backupDir: hostPath(stack.paths.backups, deps),
        lbSettleMs: LB_SETTLE_MS,
        ...(pending ? { resuming: pending.node } : {}),
        progress: (node, out) =>
          recordProgress(
            t.clusterName,
            deps.env,
            out
              ? { operation: "renew-certs", node, stage: "out of the load balancer", since: new Date(deps.clock.now()).toISOString() }
              : undefined,
          ),
      };
      const t0 = deps.clock.now();
      const ordered = controlPlaneRollOrder(t, await new ClusterClient(ctx).etcdLeader(t));
      const order = pending ? [pending.node, ...ordered.filter((n) => n !== pending.node)] : ordered;
      io.out(`renew-certs: stack ${stack.id}, control planes in this order: ${order.join(", ")}`);
      const steps = stepMarks(ctx.clock, (l) => io.out(l));
      const probed = await probeDuring(ctx, "kindha-renew-probe", 1_000, () => runSteps(renewSteps(ctx, order), ctx, steps.log, ctx.clock));
      const report = probed.result;
      for (const l of outageLines(probed, steps.marks)) io.out(l);
      const seconds = ((deps.clock.now() - t0) / 1000).toFixed(0);
      io.out(
        report.ok
          ? `renew-certs: done in ${seconds} s; stack ${stack.id} verified`
          : `renew-certs: stopped at "${report.failed?.step}" after ${seconds} s`,
      );
      return report.ok ? EXIT.ok : EXIT.failed;
    });
  });
}

if (require.main === module) runMain(main);
