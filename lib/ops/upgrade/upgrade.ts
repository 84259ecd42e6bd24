/**
 * `upgrade`: a rolling Kubernetes upgrade of a live kind cluster to the version of another node
 * image, the way Cluster API's KubeadmControlPlane rolls: the new binaries and images come out of
 * that image (no pull), an etcd snapshot first, then one control plane at a time (drain, etcd
 * leadership away, out of the load balancer, kubeadm, kubelet, waited for until Ready on the target
 * with its static pods and every etcd member healthy, uncordon, back in), then each worker with a
 * drain. Stops at the first failure, saying where the cluster is and how to continue or go back.
 * The pure half (versions, pre-checks, order, kubeadm's command) is plan.ts beside it. Over
 * 300 lines: the payload's extraction and each node's roll are steps of their own.
 */
import { join } from "node:path";
import { kindLoadBalancerName } from "../../model/topology";
import { lastLine, type CommandResult } from "../../io/exec";
import { ClusterClient, type ClusterOpsContext } from "../client";
import { parseNodes, parsePods } from "../kube";
import { leadershipAway, setBackends } from "../roll";
import { commandFailure, failed, ok, pollUntil, type Step, type StepResult } from "../steps";
import type { RollStage } from "../roll-progress";
import {
  kubeadmUpgradeArgs,
  preChecks,
  staticPodImages,
  staticPodProblems,
  type KubeVersion,
  type NodeRoll,
  type UpgradeFacts,
} from "./plan";
import {
  LB_BACKENDS_CHECK,
  NO_CORDON_CHECK,
  renderChecks,
  STEADY_MS,
  verifyStepResult,
  waitForSteadyVerify,
  waitForVerify,
} from "../verify";

/** Where a node keeps the payload of a roll: /kind/upgrade/<version>/. */
export const NODE_PAYLOAD_DIR = "/kind/upgrade";
/** The binaries a roll installs into every node, from the target image's /usr/bin. */
export const BINARIES = ["kubeadm", "kubelet", "kubectl"] as const;

/** What the target image holds for the roll, copied to the host. */
export interface Payload {
  readonly version: KubeVersion;
  /** The images the target's kubeadm lists, exported to `dir/images.tar`. */
  readonly images: readonly string[];
  /** Host directory holding images.tar and {@link BINARIES}. */
  readonly dir: string;
}

export interface UpgradeContext extends ClusterOpsContext {
  readonly stackId: string;
  /** The node image rolled to. */
  readonly image: string;
  readonly target: KubeVersion;
  /** Host directory (0700, the tool's own) the payload is copied into. */
  readonly workDir: string;
  /** containerd's platform of this machine's images, e.g. linux/amd64. */
  readonly platform: string;
  /** Bound of each wait, in ms. */
  readonly waitMs: number;
  readonly backupDir: string;
  /** How long the load balancer gets to read a changed configuration. */
  readonly lbSettleMs: number;
  /** Records how far the node being rolled got (undefined: it is back); see roll-progress.ts. */
  readonly progress?: (node: string, stage: RollStage | undefined) => void;
  /** Keeps kubeadm's own log of a node's upgrade (its `--v=5` lines, with their times); returns where. */
  readonly keepKubeadmLog?: (node: string, output: string) => string;
  /** Filled by the steps. */
  snapshot?: string;
  payload?: Payload;
}

/** Starts containerd inside a container of a node image, as its build does, and waits for it. */
const START_CONTAINERD =
  "nohup containerd >/tmp/kindha-containerd.log 2>&1 & for i in $(seq 1 60); do ctr version >/dev/null 2>&1 && exit 0; sleep 1; done; echo 'containerd did not start' >&2; exit 1";

/** Installs binaries from the node's payload directory over /usr/bin (renamed into place: a running kubelet's file is busy). */
const INSTALL =
  'set -e; for b in "${@:2}"; do install -m 0755 "$1/$b" "/usr/bin/$b.kindha-new"; mv -f "/usr/bin/$b.kindha-new" "/usr/bin/$b"; done';

/** The payload container of a cluster's roll (one at a time per cluster). */
export const payloadContainer = (cluster: string) => `kindha-upgrade-payload-${cluster}`;

/**
 * Copies the payload out of the target image: its /kind/version, the images its kubeadm lists
 * (exported by the image's own containerd, in a container that is removed afterwards) and its
 * kubeadm, kubelet and kubectl. Files go through `cp`, never streamed through `exec -i`.
 */
export async function extractPayload(c: UpgradeContext, k: ClusterClient): Promise<Payload> {
  const name = payloadContainer(c.topology.clusterName);
  const must = async (what: string, r: Promise<CommandResult>): Promise<string> => {
    const got = await r;
    if (got.code !== 0) throw new Error(commandFailure(what, got));
    return got.stdout.trim();
  };
  await k.containers(["rm", "-f", name], 60_000);
  try {
    await must(
      `starting a container of ${c.image}`,
      k.containers(["run", "-d", "--privileged", "--name", name, "--entrypoint", "sleep", c.image, "infinity"], 120_000),
    );
    await must(`containerd in ${name}`, k.inNode(name, ["sh", "-c", START_CONTAINERD], 120_000));
    const images = (
      await must(
        "kubeadm config images list",
        k.inNode(name, ["kubeadm", "config", "images", "list", "--kubernetes-version", c.target.text], 60_000),
      )
    )
      .split("\n")
      .filter(Boolean);
    await must(
      "ctr images export",
      k.inNode(name, ["ctr", "-n", "k8s.io", "images", "export", "--platform", c.platform, "/kindha-images.tar", ...images], 600_000),
    );
    await must("copying the images out", k.containers(["cp", `${name}:/kindha-images.tar`, join(c.workDir, "images.tar")], 600_000));
    for (const b of BINARIES) await must(`copying ${b} out`, k.containers(["cp", `${name}:/usr/bin/${b}`, join(c.workDir, b)], 120_000));
    return { version: c.target, images, dir: c.workDir };
  } finally {
    await k.containers(["rm", "-f", name], 60_000);
  }
}

/** Copies the payload into a node and imports its images into the node's containerd; the reason when it fails. */
async function loadPayload(k: ClusterClient, node: string, p: Payload): Promise<string | undefined> {
  const dir = `${NODE_PAYLOAD_DIR}/${p.version.text}`;
  const steps: [string, () => Promise<CommandResult>][] = [
    ["mkdir", () => k.inNode(node, ["mkdir", "-p", dir], 30_000)],
    ["copy", () => k.containers(["cp", `${p.dir}/.`, `${node}:${dir}/`], 600_000)],
    // Not unpacked, as kind pre-loads its images: containerd unpacks an image when a container first needs it.
    [
      "ctr images import",
      () =>
        k.inNode(
          node,
          ["ctr", "-n", "k8s.io", "images", "import", "--no-unpack", "--label=io.cri-containerd.pinned=pinned", `${dir}/images.tar`],
          600_000,
        ),
    ],
    ["rm images.tar", () => k.inNode(node, ["rm", "-f", `${dir}/images.tar`], 30_000)],
  ];
  for (const [what, run] of steps) {
    const r = await run();
    if (r.code !== 0) return commandFailure(`${what} on ${node}`, r);
  }
  const listed = await k.inNode(node, ["ctr", "-n", "k8s.io", "images", "ls", "-q"], 60_000);
  const missing = p.images.filter((i) => !listed.stdout.split("\n").includes(i));
  return missing.length > 0 ? `not in ${node}'s containerd after the import: ${missing.join(", ")}` : undefined;
}

/** The steps, in order. Pure: nothing runs until runSteps calls them. */
export function upgradeSteps(c: UpgradeContext, facts: UpgradeFacts, order: readonly NodeRoll[]): Step<UpgradeContext>[] {
  const k = new ClusterClient(c);
  const t = c.topology;
  const v = c.target.text;
  const back = (ctx: UpgradeContext) =>
    ctx.snapshot ? `; to go back instead, create the stack's cluster at its old image and restore ${ctx.snapshot}` : "";
  return [
    {
      name: `pre-checks for ${facts.server.text} -> ${v}, and verify stack ${c.stackId}`,
      next: `fix what the checks name first (npm run verify -- ${c.stackId}); nothing has been changed`,
      run: async () => {
        const rows = preChecks(t, facts);
        for (const r of rows) c.log(`      ${r.ok ? "pass" : "FAIL"}  ${r.rule}: ${r.detail}`);
        const bad = rows.filter((r) => !r.ok);
        if (bad.length > 0) return failed(bad.map((r) => `${r.rule}: ${r.detail}`).join("; "));
        // A node an interrupted roll left cordoned and out of the load balancer is what this run finishes.
        const finishing = order[0]?.interrupted ? new Set([NO_CORDON_CHECK, LB_BACKENDS_CHECK]) : new Set<string>();
        const last = await waitForVerify(t, c, { timeoutMs: c.waitMs, intervalMs: 3_000, clock: c.clock, tolerate: finishing });
        if (!last.done) {
          c.log(renderChecks(last.results).replace(/^/gm, "      "));
          return failed(
            `verify: ${last.results
              .filter((r) => !r.ok && !finishing.has(r.check))
              .map((r) => `${r.check}: ${r.reason}`)
              .join("; ")}`,
          );
        }
        return ok(
          `${rows.length} pre-checks and verify passed${finishing.size > 0 ? ` (but ${order[0].node}, which this run finishes first)` : ""}`,
        );
      },
    },
    {
      name: `copy ${v}'s binaries and images out of ${c.image}`,
      next: `make sure ${c.image} is a kind node image of ${v} on this machine (${c.containerCli} image inspect ${c.image}); nothing has been changed`,
      run: async (ctx) => {
        ctx.payload = await extractPayload(c, k);
        return ok(`${ctx.payload.images.length} images, ${BINARIES.join(", ")}`);
      },
    },
    {
      name: "snapshot etcd first (scripts/etcd.sh backup)",
      next: `free space in the backup directory or check the first control plane's etcd, then run the upgrade again; nothing has been changed`,
      run: async (ctx) => {
        ctx.snapshot = (
          await k.backup({ cluster: t.clusterName, stack: c.stackId, backupDir: c.backupDir, node: t.controlPlanes[0].name })
        ).path;
        return ok(ctx.snapshot);
      },
    },
    {
      name: `load ${v}'s images into every node, one node at a time`,
      next: (ctx) => `the cluster still runs ${facts.server.text} unchanged; free disk on the nodes and run the upgrade again${back(ctx)}`,
      run: async (ctx) => {
        for (const n of t.nodes) {
          const why = await loadPayload(k, n.name, ctx.payload!);
          if (why) return failed(why);
        }
        return ok(`${t.nodes.length} nodes`);
      },
    },
    ...order.map((roll): Step<UpgradeContext> => ({
      name: `upgrade ${roll.kind} ${roll.node} to ${v} (kubeadm upgrade ${roll.command})`,
      next: (ctx) =>
        `nodes rolled before ${roll.node} run ${v}, the others ${facts.server.text}; look at ${roll.node} (${c.containerCli} exec ${roll.node} crictl ps -a; journalctl -u kubelet), ` +
        `then run the upgrade again: it skips nodes at ${v} and continues here (kubectl uncordon ${roll.node} if it stays cordoned` +
        `${t.api.loadBalanced && roll.kind === "control-plane" ? `; npm run recover -- ${c.stackId} puts it back into the load balancer` : ""})${back(ctx)}`,
      run: (ctx) => rollNode(ctx, k, roll),
    })),
    {
      name: `verify stack ${c.stackId} (kept passing for ${STEADY_MS / 1000} s)`,
      next: `every node runs ${v}; run npm run verify -- ${c.stackId} again in a minute`,
      run: async () => {
        const last = await waitForSteadyVerify(t, c, { timeoutMs: c.waitMs, intervalMs: 3_000, holdMs: STEADY_MS, clock: c.clock });
        return verifyStepResult(last, c.log);
      },
    },
  ];
}

/** One node's roll; every sub-step it got through is named in a failure. */
async function rollNode(c: UpgradeContext, k: ClusterClient, roll: NodeRoll): Promise<StepResult> {
  const t = c.topology;
  const node = roll.node;
  const cps = t.controlPlanes.map((n) => n.name);
  const lb = kindLoadBalancerName(t.clusterName);
  const inLb = t.api.loadBalanced && roll.kind === "control-plane";
  const done: string[] = [];
  const t0 = c.clock.now();
  // Each sub-step is logged as it completes, so an outage the probes saw can be placed.
  const note = (what: string) => {
    done.push(what);
    c.log(`      · ${what} (${((c.clock.now() - t0) / 1000).toFixed(1)} s)`);
  };
  const stop = (why: string) => failed(done.length > 0 ? `${why} (done on ${node}: ${done.join("; ")})` : why);
  const must = async (what: string, r: Promise<CommandResult>) => {
    const got = await r;
    return got.code === 0 ? undefined : commandFailure(what, got);
  };
  const dir = `${NODE_PAYLOAD_DIR}/${c.target.text}`;
  const record = (stage: RollStage | undefined) => c.progress?.(node, stage);
  let why: string | undefined;

  if (roll.interrupted === "upgraded") {
    note(`an interrupted roll left ${node} upgraded, cordoned${inLb ? " and out of the load balancer" : ""}: finishing it`);
  } else {
    if (roll.interrupted) note(`an interrupted roll left ${node} ${roll.interrupted}: rolling it again`);
    if ((why = await upgradeOnNode())) return stop(why);
  }

  const settled = await pollUntil(() => nodeAtTarget(c, k, roll), { timeoutMs: c.waitMs, intervalMs: 3_000, clock: c.clock });
  if (!settled.done) return stop(`not steady at ${c.target.text}: ${settled.why}`);
  if ((why = await must("kubectl uncordon", k.kubectl(["uncordon", node])))) return stop(why);
  note("uncordoned");
  if (inLb) {
    if ((why = await must(`putting ${node} back into ${lb}`, setBackends(k, t, cps, c)))) return stop(why);
    note("back in the load balancer");
  }
  record(undefined);
  return ok(done.join("; "));

  /** Drain, out of the load balancer, kubeadm, kubelet: what stands between the node and the target. */
  async function upgradeOnNode(): Promise<string | undefined> {
    let why: string | undefined;
    if (
      (why = await must(
        "kubectl drain",
        k.kubectl(["drain", node, "--ignore-daemonsets", "--delete-emptydir-data", "--timeout=300s"], {
          timeoutMs: 330_000,
          requestTimeout: "0",
        }),
      ))
    )
      return why;
    note("drained");
    record("cordoned");
    if (roll.kind === "control-plane") {
      const moved = await leadershipAway(k, t, node);
      if (moved) note(moved);
    }
    if (inLb) {
      if (
        (why = await must(
          `taking ${node} out of ${lb}`,
          setBackends(
            k,
            t,
            cps.filter((n) => n !== node),
            c,
          ),
        ))
      )
        return why;
      note("out of the load balancer");
      record("out of the load balancer");
    }
    if ((why = await must("installing kubeadm", k.inNode(node, ["bash", "-c", INSTALL, "-", dir, "kubeadm"], 60_000)))) return why;
    const args = kubeadmUpgradeArgs(roll, c.target, t.allowCgroupV1);
    const kubeadm = await k.inNodeBounded(node, args, 15 * 60_000);
    const kept = c.keepKubeadmLog?.(node, `${kubeadm.stdout}${kubeadm.stderr}`);
    if ((why = kubeadm.code === 0 ? undefined : commandFailure(args.slice(0, 3).join(" "), kubeadm)))
      return kept ? `${why} (kubeadm's log: ${kept})` : why;
    note(`${args.slice(0, 3).join(" ")}${kept ? ` (log: ${kept})` : ""}`);
    if (
      (why = await must("installing kubelet and kubectl", k.inNode(node, ["bash", "-c", INSTALL, "-", dir, "kubelet", "kubectl"], 60_000)))
    )
      return why;
    if (
      (why = await must(
        "restarting kubelet",
        k.inNode(node, ["sh", "-c", "systemctl daemon-reload && systemctl restart kubelet"], 120_000),
      ))
    )
      return why;
    note("kubelet restarted");
    record("upgraded");
    return undefined;
  }
}

/**
 * The node Ready at the target; a control plane's static pods on the target's images, re-created
 * by the new kubelet and ready, and etcd healthy with every member.
 */
async function nodeAtTarget(c: UpgradeContext, k: ClusterClient, roll: NodeRoll): Promise<{ done: boolean; why: string }> {
  const node = roll.node;
  const kc = k.kubectlWith(30_000);
  const r = await kc("get", "nodes", "--field-selector", `metadata.name=${node}`, "-o", "json");
  if (r.code !== 0) return { done: false, why: `kubectl get nodes: ${lastLine(r)}` };
  const n = parseNodes(r.stdout)[0];
  if (n?.kubeletVersion !== c.target.text) return { done: false, why: `kubelet reports ${n?.kubeletVersion || "no version"}` };
  if (!n.ready) return { done: false, why: "not Ready" };
  if (roll.kind === "worker") return { done: true, why: "" };
  const pods = await kc("-n", "kube-system", "get", "pods", "--field-selector", `spec.nodeName=${node}`, "-o", "json");
  if (pods.code !== 0) return { done: false, why: `kubectl get pods: ${lastLine(pods)}` };
  const held = await kc("get", "--raw", `/api/v1/nodes/${node}/proxy/pods`);
  if (held.code !== 0) return { done: false, why: `the kubelet's pods: ${lastLine(held)}` };
  const wrong = staticPodProblems(parsePods(pods.stdout), node, staticPodImages(c.payload!.images), parsePods(held.stdout));
  if (wrong.length > 0) return { done: false, why: wrong.join("; ") };
  const etcd = await k.etcdUnhealthy(node, c.topology.etcd.members.length);
  return etcd ? { done: false, why: etcd } : { done: true, why: "" };
}
