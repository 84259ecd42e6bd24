/**
 * `npm run upgrade`'s run: reads the image's version and the cluster's, orders the nodes (an
 * interrupted roll's node first, the etcd leader last), rolls them one at a time with /readyz and
 * write probes throughout, and says how long each was unavailable.
 */
import { join } from "node:path";
import { lastLine } from "../../io/exec";
import { writePrivateFile } from "../../io/private-file";
import { withPrivateTempDir } from "../../io/temp";
import type { ResolvedStack } from "../../model/resolved-stack";
import { utcStamp } from "../../model/util";
import { ClusterClient, type ClusterOpsContext } from "../client";
import { parseNodes } from "../kube";
import { LB_SETTLE_MS } from "../lb";
import { outageLines, probeDuring, splitProbes, stepMarks } from "../probes";
import { pendingRoll, readProgress, recordProgress } from "../roll-progress";
import { runSteps } from "../steps";
import { clusterConfigVersion, parseKubeVersion, rollOrder, serverVersion, type KubeVersion, type UpgradeFacts } from "./plan";
import { upgradeSteps, type UpgradeContext } from "./upgrade";

/** What the preparation's outage lines start with; the roll's lines come first and bare. */
export const PREPARING = "while preparing (payload, snapshot, images; no node changed yet): ";

/** containerd's name of this machine's platform. */
const PLATFORM = `linux/${process.arch === "x64" ? "amd64" : process.arch}`;

export interface RunUpgradeOptions {
  readonly stack: ResolvedStack;
  /** The kind node image to roll to. */
  readonly image: string;
  readonly waitMs: number;
  /** The stack's backup and log directories, `~/` expanded. */
  readonly backupDir: string;
  readonly logDir: string;
  /** Where the roll's progress is recorded (KINDHA_LOCK_DIR, HOME). */
  readonly env: NodeJS.ProcessEnv;
}

/** Rolls the stack's cluster to the image's version; true when done and verified, or nothing was to do. */
export async function runUpgrade(base: ClusterOpsContext, o: RunUpgradeOptions): Promise<boolean> {
  const { stack, image } = o;
  const say = base.log;
  const k = new ClusterClient(base);
  const t = stack.topology;
  const t0 = base.clock.now();

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
  const pending = readProgress(t.clusterName, o.env);
  if (pending && (pending.operation !== "upgrade" || pending.target !== target.text)) throw new Error(pendingRoll(pending, stack.id));
  if (pending) say(`upgrade: an interrupted roll left ${pending.node} ${pending.stage} (since ${pending.since}); finishing it first`);
  else if (clusterAtTarget && t.nodes.every((n) => done.has(n.name))) {
    say(`upgrade: stack ${stack.id} already runs ${target.text} on every node; nothing to do`);
    return true;
  }
  const order = rollOrder(t, {
    leader: await k.etcdLeader(t),
    done,
    clusterAtTarget,
    ...(pending ? { interrupted: { node: pending.node, stage: pending.stage } } : {}),
  });

  return withPrivateTempDir("kindha-upgrade-", async (workDir) => {
    // The steps' lines and the sub-steps' (the context's log) both mark when an outage fell.
    const steps = stepMarks(base.clock, say);
    const ctx: UpgradeContext = {
      ...base,
      log: steps.log,
      stackId: stack.id,
      image,
      target,
      workDir,
      platform: PLATFORM,
      waitMs: o.waitMs,
      backupDir: o.backupDir,
      lbSettleMs: LB_SETTLE_MS,
      keepKubeadmLog: (node, output) =>
        writePrivateFile(join(o.logDir, `kubeadm-${node}-${utcStamp(new Date(base.clock.now()))}.log`), output),
      progress: (node, stage) =>
        recordProgress(
          t.clusterName,
          o.env,
          stage && { operation: "upgrade", target: target.text, image, node, stage, since: new Date(base.clock.now()).toISOString() },
        ),
    };
    say(
      `upgrade: stack ${stack.id}, ${facts.server.text} -> ${target.text} from ${image}; nodes in this order: ${order.map((r) => r.node).join(", ")}`,
    );
    const list = upgradeSteps(ctx, facts, order);
    const probed = await probeDuring(ctx, "kindha-upgrade-probe", 1_000, () => runSteps(list, ctx, steps.log, ctx.clock));
    // The roll (first node's drain to the steady verify) apart from the preparation before it,
    // which changes no node: copying the payload and images loads only the host's disk.
    const firstRoll = `[${list.findIndex((s) => s.name.startsWith("upgrade ")) + 1}/${list.length}]`;
    const { before, from } = splitProbes(probed, steps.marks.find((m) => m.label === firstRoll)?.at);
    for (const l of outageLines(from, steps.marks)) say(l);
    for (const l of outageLines(before, steps.marks)) say(`${PREPARING}${l}`);
    const seconds = ((base.clock.now() - t0) / 1000).toFixed(0);
    const report = probed.result;
    say(
      report.ok
        ? `upgrade: done in ${seconds} s; stack ${stack.id} runs ${target.text} and verified`
        : `upgrade: stopped at "${report.failed?.step}" after ${seconds} s`,
    );
    return report.ok;
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
