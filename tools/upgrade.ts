/**
 * `npm run upgrade -- <stack> --to <image>`: rolls a live cluster to the Kubernetes version of
 * another kind node image, one node at a time (steps in lib/ops/upgrade/), with /readyz and
 * write probes through the stack's API address the whole time; prints how long each was
 * unavailable. The stack's roll resource runs it during `cdktf deploy` (scripts/upgrade-hook.sh,
 * `--terraform-hook`).
 */
import { imageReference } from "../lib/model/grammar";
import { runUpgrade } from "../lib/ops/upgrade/run";
import {
  hostPath,
  clusterOpsContext,
  EXIT,
  parseToolArgs,
  plannedStack,
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

export const USAGE = `Usage: npm run upgrade -- <stack> [--to IMAGE] [--kubeconfig FILE] [--wait SECONDS]

Rolls the stack's live cluster to the Kubernetes version of kind node image IMAGE (default: the
stack's nodeImage), without re-creating it, stopping at the first failure:
  1. pre-checks (every node Ready; no downgrade; one minor at a time; every kubelet within the
     version skew policy; quorum with a member to spare, or the single control plane's outage
     named) and verify
  2. copy the new kubeadm, kubelet, kubectl and the images its kubeadm lists out of IMAGE
  3. snapshot etcd into the backup directory (the way back)
  4. load the images into every node's containerd, one node at a time (nothing is pulled)
  5. each control plane, followers first and the etcd leader last: drain, etcd leadership away,
     out of the load balancer (HA), kubeadm upgrade apply (the first) or node (the others),
     kubelet, waited for until Ready on the new version with its static pods on the new images
     and every etcd member healthy, uncordon, back into the load balancer
  6. each worker: drain, kubeadm upgrade node, kubelet, Ready on the new version, uncordon
  7. verify, kept passing for 30 s
Each node's progress (cordoned, out of the load balancer, upgraded) is recorded in
~/.kindha/locks/<cluster>.roll.json until it is back. A stopped upgrade (a failure, Ctrl-C)
continues where it stopped: the node it left half-way first, then the nodes not yet on the new
version; a cluster that runs it everywhere, with no node left half-way, is left alone. One
operation at a time: another that holds the cluster's lock is waited for. Meanwhile /readyz and a write (ConfigMap
default/kindha-upgrade-probe) are probed through the stack's API address every second; the time
each was unavailable during the roll (steps 5 to 7) is printed, then apart the time during the
preparation (steps 1 to 4, which change no node but load the host's disk).

Options:
  --to IMAGE         the node image to roll to (default: the stack's nodeImage)
  --kubeconfig FILE  default: ~/.kube/kindha-<cluster>.yaml
  --wait SECONDS     bound of each wait (default 300, at most 1800)
  --terraform-hook   take the stack, image and kubeconfig from KINDHA_STACK, KINDHA_NODE_IMAGE and
                     KINDHA_KUBECONFIG, and the planned topology and paths from KINDHA_PLANNED_STACK
                     (the roll resource's provisioner), never from kindha.config.yaml
  -h, --help         this help`;

export async function main(argv: readonly string[], io: Io = processIo, given: Partial<ToolDeps> = {}): Promise<number> {
  return runTool(io, USAGE, argv, async () => {
    const { values, positionals } = parseToolArgs(argv, {
      to: { type: "string" },
      kubeconfig: { type: "string" },
      wait: { type: "string" },
      "terraform-hook": { type: "boolean" },
    });
    const deps = toolDeps(given);
    const hook = values["terraform-hook"] === true;
    if (hook && (positionals.length > 0 || values.to || values.kubeconfig))
      throw new UsageError("--terraform-hook takes its values from the environment only");
    const stack = hook ? plannedStack(deps.env) : singleStack(positionals);
    const image = (hook ? deps.env.KINDHA_NODE_IMAGE : values.to) ?? stack.topology.nodeImage;
    const bad = imageReference(hook ? "KINDHA_NODE_IMAGE" : "--to", image);
    if (bad.length > 0) throw new UsageError(`${bad[0].field}: ${JSON.stringify(bad[0].value)} ${bad[0].rule}`);
    const wait = waitSeconds(values.wait, 300);
    return underLock(stack, "upgrade", deps, io, async () => {
      const ok = await runUpgrade(clusterOpsContext(stack, hook ? deps.env.KINDHA_KUBECONFIG || undefined : values.kubeconfig, deps, io), {
        stack,
        image,
        waitMs: wait * 1000,
        backupDir: hostPath(stack.paths.backups, deps),
        logDir: hostPath(stack.paths.logs, deps),
        env: deps.env,
      });
      return ok ? EXIT.ok : EXIT.failed;
    });
  });
}

if (require.main === module) runMain(main);
