/**
 * `npm run upgrade -- <stack> --to <image>`: rolls a live cluster to the Kubernetes version of
 * another kind node image, one node at a time (steps in lib/ops/upgrade/), with /readyz and
 * write probes through the stack's API address the whole time; prints how long each was
 * unavailable. The stack's roll resource runs it during `cdktf deploy` (scripts/upgrade-hook.sh,
 * `--terraform-hook`).
 */
import { writePrivateFile } from "../lib/io/private-file";
import { pendingRoll, readProgress, recordProgress } from "../lib/ops/roll-progress";
import { lastLine } from "../lib/io/exec";
import { withPrivateTempDir } from "../lib/io/temp";
import { imageReference } from "../lib/model/grammar";
import { ClusterClient } from "../lib/ops/client";
import { parseNodes } from "../lib/ops/kube";
import { outageLines, probeDuring, splitProbes, stepMarks } from "../lib/ops/probes";
import { runSteps } from "../lib/ops/steps";
import { upgradeSteps, type UpgradeContext } from "../lib/ops/upgrade/upgrade";
import {
  clusterConfigVersion,
  parseKubeVersion,
  rollOrder,
  serverVersion,
  type KubeVersion,
  type UpgradeFacts,
} from "../lib/ops/upgrade/plan";
import { utcStamp } from "../lib/model/util";
import { join } from "node:path";
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

const LB_SETTLE_MS = 3_000;
/** What the preparation's outage lines start with; the roll's lines come first and bare. */
export const PREPARING = "while preparing (payload, snapshot, images; no node changed yet): ";

/** containerd's name of this machine's platform. */
const PLATFORM = `linux/${process.arch === "x64" ? "amd64" : process.arch}`;

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
      const base = clusterOpsContext(stack, hook ? deps.env.KINDHA_KUBECONFIG || undefined : values.kubeconfig, deps, io);
      const k = new ClusterClient(base);
      const t = stack.topology;
      const t0 = deps.clock.now();

      const target = parseKubeVersion(await imageVersion(k, image));
      if (!target) throw new Error(`${image} names no Kubernetes version in /kind/version; is it a kind node image?`);
      const facts = await readFacts(k, target);
      const clusterVersion = await k.kubectl([
        "-n",
        "kube-system",
        "get",
        "configmap",
        "kubeadm-config",
        "-o",
        "jsonpath={.data.ClusterConfiguration}",
      ]);
      const clusterAtTarget = clusterConfigVersion(clusterVersion.stdout) === target.text;
      const done = new Set([...facts.kubelets].filter(([, v]) => v === target.text).map(([n]) => n));
      // A node an interrupted roll left half-way (cordoned, out of the load balancer) comes first.
      const pending = readProgress(t.clusterName, deps.env);
      if (pending && (pending.operation !== "upgrade" || pending.target !== target.text)) throw new Error(pendingRoll(pending, stack.id));
      if (pending)
        io.out(`upgrade: an interrupted roll left ${pending.node} ${pending.stage} (since ${pending.since}); finishing it first`);
      else if (clusterAtTarget && t.nodes.every((n) => done.has(n.name))) {
        io.out(`upgrade: stack ${stack.id} already runs ${target.text} on every node; nothing to do`);
        return EXIT.ok;
      }
      const order = rollOrder(t, {
        leader: await k.etcdLeader(t),
        done,
        clusterAtTarget,
        ...(pending ? { interrupted: { node: pending.node, stage: pending.stage } } : {}),
      });

      return withPrivateTempDir("kindha-upgrade-", async (workDir) => {
        // The steps' lines and the sub-steps' (the context's log) both mark when an outage fell.
        const steps = stepMarks(deps.clock, (l) => io.out(l));
        const ctx: UpgradeContext = {
          ...base,
          log: steps.log,
          stackId: stack.id,
          image,
          target,
          workDir,
          platform: PLATFORM,
          waitMs: wait * 1000,
          backupDir: hostPath(stack.paths.backups, deps),
          lbSettleMs: LB_SETTLE_MS,
          keepKubeadmLog: (node, output) =>
            writePrivateFile(join(hostPath(stack.paths.logs, deps), `kubeadm-${node}-${utcStamp(new Date(deps.clock.now()))}.log`), output),
          progress: (node, stage) =>
            recordProgress(
              t.clusterName,
              deps.env,
              stage && { operation: "upgrade", target: target.text, image, node, stage, since: new Date(deps.clock.now()).toISOString() },
            ),
        };
        io.out(
          `upgrade: stack ${stack.id}, ${facts.server.text} -> ${target.text} from ${image}; nodes in this order: ${order.map((r) => r.node).join(", ")}`,
        );
        const list = upgradeSteps(ctx, facts, order);
        const probed = await probeDuring(ctx, "kindha-upgrade-probe", 1_000, () => runSteps(list, ctx, steps.log, ctx.clock));
        // The roll (first node's drain to the steady verify) apart from the preparation before it,
        // which changes no node: copying the payload and images loads only the host's disk.
        const firstRoll = `[${list.findIndex((s) => s.name.startsWith("upgrade ")) + 1}/${list.length}]`;
        const { before, from } = splitProbes(probed, steps.marks.find((m) => m.label === firstRoll)?.at);
        for (const l of outageLines(from, steps.marks)) io.out(l);
        for (const l of outageLines(before, steps.marks)) io.out(`${PREPARING}${l}`);
        const seconds = ((deps.clock.now() - t0) / 1000).toFixed(0);
        const report = probed.result;
        io.out(
          report.ok
            ? `upgrade: done in ${seconds} s; stack ${stack.id} runs ${target.text} and verified`
            : `upgrade: stopped at "${report.failed?.step}" after ${seconds} s`,
        );
        return report.ok ? EXIT.ok : EXIT.failed;
      });
    });
  });
}

/** The Kubernetes version a kind node image holds (its /kind/version); pulls the image when this machine lacks it. */
async function imageVersion(k: ClusterClient, image: string): Promise<string> {
  if ((await k.containers(["image", "inspect", image], 60_000)).code !== 0) {
    const pulled = await k.containers(["pull", image], 15 * 60_000);
    if (pulled.code !== 0) throw new Error(`${image} is not on this machine and ${k.containerCli} pull failed: ${lastLine(pulled)}`);
  }
  const r = await k.containers(["run", "--rm", "--entrypoint", "cat", image, "/kind/version"], 120_000);
  if (r.code !== 0) throw new Error(`cannot read /kind/version from ${image}: ${lastLine(r)}`);
  return r.stdout.trim();
}

/** The versions and node states the pre-checks judge. */
async function readFacts(k: ClusterClient, target: KubeVersion): Promise<UpgradeFacts> {
  const nodes = await k.kubectl(["get", "nodes", "-o", "json"]);
  if (nodes.code !== 0) throw new Error(`kubectl get nodes failed: ${lastLine(nodes)}`);
  const version = await k.kubectl(["version", "-o", "json"]);
  const server = serverVersion(version.stdout);
  if (!server) throw new Error(`cannot read the API server's version: ${lastLine(version) || version.stdout.trim()}`);
  const parsed = parseNodes(nodes.stdout);
  return {
    target,
    server,
    kubelets: new Map(parsed.map((n) => [n.name, n.kubeletVersion])),
    notReady: parsed.filter((n) => !n.ready).map((n) => `${n.name} (${n.readyDetail})`),
  };
}

if (require.main === module) runMain(main);
