/**
 * The rolling upgrade: its pure half (versions, pre-checks, order, kubeadm's command, the static
 * pods' images) and its steps over a fake cluster: the payload out of the image, a snapshot, the
 * images in every node before any node rolls, one node at a time in the safe order, and stopping
 * at the first failure with where the cluster is and the way back.
 */
import { readProgress, recordProgress } from "../../../../../lib/ops/roll-progress";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { resources, synthPreset } from "../../../../../test-support/synth";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { kindLbConfig } from "../../../../../lib/model/kind-lb-config";
import { parseNodes, parsePods } from "../../../../../lib/ops/kube";
import { outageLines, splitProbes, stepMarks } from "../../../../../lib/ops/probes";
import { runSteps } from "../../../../../lib/ops/steps";
import { upgradeSteps, type UpgradeContext } from "../../../../../lib/ops/upgrade/upgrade";
import {
  clusterConfigVersion,
  kubeadmUpgradeArgs,
  parseKubeVersion,
  preChecks,
  rollOrder,
  staticPodImages,
  staticPodProblems,
  type KubeVersion,
  type UpgradeFacts,
} from "../../../../../lib/ops/upgrade/plan";
import { findStack } from "../../../../../lib/io/config-file";
import { rollFigures } from "../../../../../test-support/cluster";
import { main as upgradeMain } from "../../../../../tools/upgrade";
import { PREPARING } from "../../../../../lib/ops/upgrade/run";
import {
  capture,
  clusterFixtures,
  fakeClock,
  fakeExec,
  fakeOpsContext,
  failResult,
  line,
  okResult,
  recorded,
} from "../../../../fixtures/recorded/load";

const C = "data-platform-local";
const ha = findStack("ha-option-a").topology;
const single = findStack("single").topology;
const [CP1, CP2, CP3] = ha.controlPlanes.map((n) => n.name);
const [W1, W2] = ha.workers.map((n) => n.name);
const LB = `${C}-external-load-balancer`;
const v = (text: string) => parseKubeVersion(text)!;
const OLD = "v1.36.1";
const NEW = "v1.37.2";
const IMAGES = [
  `registry.k8s.io/kube-apiserver:${NEW}`,
  `registry.k8s.io/kube-controller-manager:${NEW}`,
  `registry.k8s.io/kube-scheduler:${NEW}`,
  `registry.k8s.io/kube-proxy:${NEW}`,
  "registry.k8s.io/coredns/coredns:v1.14.6",
  "registry.k8s.io/pause:3.10.2",
  "registry.k8s.io/etcd:3.7.0-0",
];

const facts = (over: Partial<UpgradeFacts> = {}, t = ha): UpgradeFacts => ({
  target: v(NEW),
  server: v(OLD),
  kubelets: new Map(t.nodes.map((n) => [n.name, OLD])),
  notReady: [],
  ...over,
});
const failing = (rows: ReturnType<typeof preChecks>) => rows.filter((r) => !r.ok).map((r) => r.rule);

describe("versions and pre-checks", () => {
  test("parses release versions and orders them", () => {
    expect(parseKubeVersion("v1.37.2")).toEqual({ major: 1, minor: 37, patch: 2, text: "v1.37.2" });
    expect(parseKubeVersion("v1.37.0-rc.1")?.minor).toBe(37);
    for (const bad of ["1.37.2", "v1.37", "latest", ""]) expect(parseKubeVersion(bad)).toBeUndefined();
  });

  test("a one-minor upgrade of a Ready HA cluster passes every check", () => {
    const rows = preChecks(ha, facts());
    expect(failing(rows)).toEqual([]);
    expect(rows.find((r) => r.rule.startsWith("etcd quorum"))?.detail).toBe("3 members: 2 keep quorum while one restarts");
  });

  test("a single control plane passes, its outage named", () => {
    const rows = preChecks(single, facts({}, single));
    expect(failing(rows)).toEqual([]);
    expect(rows.find((r) => r.rule.startsWith("etcd quorum"))?.detail).toContain("the API is unavailable while it rolls");
  });

  test("fails when the target is older than the cluster (no downgrade)", () => {
    const rows = preChecks(ha, facts({ target: v("v1.35.4") }));
    expect(failing(rows)).toContain("no downgrade");
    expect(rows.find((r) => r.rule === "no downgrade")?.detail).toContain("kubeadm cannot downgrade");
  });

  test("fails when a minor is skipped", () => {
    const rows = preChecks(ha, facts({ target: v("v1.38.0") }));
    expect(failing(rows)).toEqual(["one minor version at a time"]);
    expect(rows.find((r) => r.rule === "one minor version at a time")?.detail).toBe(
      "v1.36.1 -> v1.38.0 skips 1 minor version(s); upgrade through each minor in turn",
    );
  });

  test("fails when a kubelet is more than three minors behind the target, or newer than it", () => {
    const old = facts({ server: v("v1.36.9"), kubelets: new Map([...facts().kubelets, [W2, "v1.33.5"]]) });
    expect(failing(preChecks(ha, old))).toEqual(["every kubelet within 3 minors of v1.37.2 (version skew policy)"]);
    const within = facts({ kubelets: new Map([...facts().kubelets, [W2, "v1.34.0"]]) });
    expect(failing(preChecks(ha, within))).toEqual([]);
    const newer = facts({ kubelets: new Map([...facts().kubelets, [W1, "v1.38.0"]]) });
    expect(failing(preChecks(ha, newer))).toContain("no downgrade");
  });

  test("fails when a node is not Ready or not registered", () => {
    expect(failing(preChecks(ha, facts({ notReady: [`${W1} (KubeletNotReady)`] })))).toEqual([
      "every node of the topology registered and Ready",
    ]);
    const missing = new Map(facts().kubelets);
    missing.delete(CP3);
    expect(preChecks(ha, facts({ kubelets: missing })).find((r) => !r.ok)?.detail).toBe(`not registered: ${CP3}`);
  });

  test("reads the kubelet versions and kubeadm's configured version", () => {
    const json = JSON.stringify({
      items: [
        { metadata: { name: CP1 }, status: { nodeInfo: { kubeletVersion: OLD } } },
        { metadata: { name: W1 }, status: {} },
      ],
    });
    expect(new Map(parseNodes(json).map((n) => [n.name, n.kubeletVersion]))).toEqual(
      new Map([
        [CP1, OLD],
        [W1, ""],
      ]),
    );
    expect(clusterConfigVersion("apiServer: {}\nkubernetesVersion: v1.36.1\nnetworking: {}\n")).toBe("v1.36.1");
    expect(clusterConfigVersion("apiServer: {}\n")).toBeUndefined();
  });
});

describe("order and commands", () => {
  test("control planes first, followers before the etcd leader, then workers; apply once, on the first", () => {
    expect(rollOrder(ha, { leader: CP1, done: new Set(), clusterAtTarget: false })).toEqual([
      { node: CP2, kind: "control-plane", command: "apply" },
      { node: CP3, kind: "control-plane", command: "node" },
      { node: CP1, kind: "control-plane", command: "node" },
      { node: W1, kind: "worker", command: "node" },
      { node: W2, kind: "worker", command: "node" },
    ]);
  });

  test("a stopped roll continues: nodes at the target are left out, and apply is not run again", () => {
    expect(rollOrder(ha, { leader: CP1, done: new Set([CP2, CP3]), clusterAtTarget: true }).map((r) => `${r.node} ${r.command}`)).toEqual([
      `${CP1} node`,
      `${W1} node`,
      `${W2} node`,
    ]);
    // Stopped after apply's node but before its kubelet: the configuration names the target already.
    expect(rollOrder(ha, { leader: undefined, done: new Set(), clusterAtTarget: true })[0]).toEqual({
      node: CP1,
      kind: "control-plane",
      command: "node",
    });
  });

  test("kubeadm's command line, skipping only SystemVerification on stacks that allow cgroup v1", () => {
    const apply = { node: CP2, kind: "control-plane", command: "apply" } as const;
    expect(kubeadmUpgradeArgs(apply, v(NEW), false)).toEqual(["kubeadm", "upgrade", "apply", NEW, "--yes", "--v=5"]);
    expect(kubeadmUpgradeArgs(apply, v(NEW), true)).toEqual([
      "kubeadm",
      "upgrade",
      "apply",
      NEW,
      "--yes",
      "--v=5",
      "--ignore-preflight-errors=SystemVerification",
    ]);
    expect(kubeadmUpgradeArgs({ node: W1, kind: "worker", command: "node" }, v(NEW), false)).toEqual([
      "kubeadm",
      "upgrade",
      "node",
      "--v=5",
    ]);
  });

  test("the static pods' target images come from the list kubeadm gives, and are checked per pod", () => {
    const want = staticPodImages(IMAGES);
    expect(want).toEqual({
      etcd: "registry.k8s.io/etcd:3.7.0-0",
      "kube-apiserver": `registry.k8s.io/kube-apiserver:${NEW}`,
      "kube-controller-manager": `registry.k8s.io/kube-controller-manager:${NEW}`,
      "kube-scheduler": `registry.k8s.io/kube-scheduler:${NEW}`,
    });
    const uids = parsePods(
      JSON.stringify({ items: Object.keys(want).map((c) => ({ metadata: { name: `${c}-${CP1}`, uid: `new-${c}` } })) }),
    );
    const pods = (image: (c: string) => string, ready = true, mirrors = (c: string) => `new-${c}`) =>
      parsePods(
        JSON.stringify({
          items: Object.keys(want).map((c) => ({
            metadata: { name: `${c}-${CP1}`, annotations: { "kubernetes.io/config.mirror": mirrors(c) } },
            spec: { containers: [{ image: image(c) }] },
            status: { containerStatuses: [{ ready }] },
          })),
        }),
      );
    const at = (c: string) => want[c as keyof typeof want]!;
    expect(staticPodProblems(pods(at), CP1, want, uids)).toEqual([]);
    expect(staticPodProblems(pods(at, false), CP1, want, uids)).toHaveLength(4);
    const stale = staticPodProblems(
      pods((c) => (c === "etcd" ? "registry.k8s.io/etcd:3.6.8-0" : at(c))),
      CP1,
      want,
      uids,
    );
    expect(stale).toEqual(["etcd runs registry.k8s.io/etcd:3.6.8-0, not registry.k8s.io/etcd:3.7.0-0"]);
    // Ready on the right image, but the old kubelet's pod: the new kubelet has yet to re-create it.
    const old = staticPodProblems(
      pods(at, true, (c) => (c === "kube-apiserver" ? "old-hash" : `new-${c}`)),
      CP1,
      want,
      uids,
    );
    expect(old).toEqual(["kube-apiserver: the API still shows a pod the kubelet no longer runs"]);
    expect(staticPodProblems([], CP1, want, uids)).toEqual([
      "no etcd pod",
      "no kube-apiserver pod",
      "no kube-controller-manager pod",
      "no kube-scheduler pod",
    ]);
  });
});

/** A cluster at v1.36.1 that kubeadm and kubelet move to v1.37.2 node by node. */
function world(o: { leader?: string; failOn?: string; topology?: typeof ha; at?: readonly string[]; lb?: readonly string[] } = {}) {
  const t = o.topology ?? ha;
  let leader = o.leader ?? CP1;
  const kubelet = new Map(t.nodes.map((n) => [n.name, o.at?.includes(n.name) ? NEW : OLD]));
  const staticAt = new Map(t.controlPlanes.map((n) => [n.name, o.at?.includes(n.name) ? NEW : OLD]));
  const kubeletInstalled = new Set<string>();
  /** After a kubelet restart the API shows the old kubelet's mirror pods for this many polls. */
  const staleFor = new Map<string, number>();
  const proxied: string[] = [];
  const loaded = new Set<string>();
  const backends: string[][] = [];
  let cds = kindLbConfig(o.lb ?? t.controlPlanes.map((n) => n.name)).cds;
  const events: string[] = [];
  const verify = clusterFixtures();
  const imageOf = (comp: string, node: string) =>
    staticAt.get(node) === NEW
      ? staticPodImages(IMAGES)[comp as "etcd"]!
      : comp === "etcd"
        ? "registry.k8s.io/etcd:3.6.8-0"
        : `registry.k8s.io/${comp}:${OLD}`;
  const fake = fakeExec((file, args) => {
    const a = [...args];
    if (file === "bash" && a.includes("leader")) return okResult(`{"name":"${leader}","id":"aa"}\n`);
    if (file === "bash" && a.includes("move-leader"))
      return ((leader = a[a.indexOf("--to") + 1]), events.push(`leader ${leader}`), okResult(`{"name":"${leader}","id":"bb"}\n`));
    if (file === "bash" && a.includes("backup")) return (events.push("snapshot"), okResult(`/b/${C}-ha-option-a-20261201T000000Z.db\n`));
    if (file === "docker" && a[0] === "exec" && a[1] === LB && a[2] === "cat") return okResult(cds);
    if (file === "docker" && a[0] === "exec" && a[1] === LB) {
      cds = a[6];
      backends.push([...a[6].matchAll(/address: (\S+)\n\s+port_value: 6443/g)].map((m) => m[1]));
      return okResult();
    }
    const payload = `kindha-upgrade-payload-${C}`;
    if (file === "docker" && (a[0] === "rm" || a[0] === "run" || a[0] === "cp"))
      return (events.push(`${a[0]} ${a.some((x) => x.startsWith(payload)) ? "payload" : a[a.length - 1].split(":")[0]}`), okResult());
    if (file === "docker" && a[0] === "exec" && a[1] === payload) return okResult(a.includes("list") ? `${IMAGES.join("\n")}\n` : "");
    if (file === "docker" && a[0] === "exec") {
      const node = a[1];
      // What runs bounded inside the node (timeout --kill-after=10s <s>s ...) is judged as itself.
      const cmd = a[2] === "timeout" ? (events.push(`bounded ${a[4]} ${a[5]}`), a.slice(5)) : a.slice(2);
      if (cmd[0] === "mkdir" || cmd[0] === "rm") return okResult();
      if (cmd[0] === "ctr" && cmd.includes("import")) return (loaded.add(node), events.push(`import ${node}`), okResult());
      if (cmd[0] === "ctr" && cmd.includes("ls")) return okResult(loaded.has(node) ? `${IMAGES.join("\n")}\n` : "");
      if (cmd[0] === "bash" && cmd.includes("kubeadm")) return (events.push(`install kubeadm ${node}`), okResult());
      if (cmd[0] === "bash" && cmd.includes("kubelet")) return (kubeletInstalled.add(node), okResult());
      if (cmd[0] === "kubeadm") {
        events.push(`kubeadm ${cmd[2]} ${node}`);
        if (o.failOn === node)
          return failResult(
            "[upgrade/apply] FATAL: couldn't upgrade control plane. kubeadm has tried to recover everything into the earlier state.",
          );
        if (staticAt.has(node)) staticAt.set(node, NEW);
        return okResult(`I1206 08:00:00.000000 kubeadm ${cmd[2]} on ${node}\n[upgrade] SUCCESS!\n`);
      }
      if (cmd[0] === "sh" && cmd[2].includes("restart kubelet")) {
        if (kubeletInstalled.has(node)) kubelet.set(node, NEW);
        staleFor.set(node, 2);
        return (events.push(`kubelet ${node}`), okResult());
      }
    }
    if (file === "kubectl" && (a.includes("drain") || a.includes("uncordon")))
      return (
        events.push(`${a.includes("drain") ? "drain" : "uncordon"} ${a[a.indexOf(a.includes("drain") ? "drain" : "uncordon") + 1]}`),
        okResult()
      );
    const nodeSelector = a.find((x) => x.startsWith("metadata.name="));
    if (file === "kubectl" && nodeSelector) {
      const node = nodeSelector.slice("metadata.name=".length);
      return okResult(
        JSON.stringify({
          items: [
            {
              metadata: { name: node },
              status: { nodeInfo: { kubeletVersion: kubelet.get(node) }, conditions: [{ type: "Ready", status: "True" }] },
            },
          ],
        }),
      );
    }
    const uid = (c: string, node: string) => `${c}-${node}-${kubelet.get(node)}`;
    if (file === "kubectl" && a.includes("--raw") && a[a.indexOf("--raw") + 1].endsWith("/proxy/pods")) {
      const node = a[a.indexOf("--raw") + 1].split("/")[4];
      proxied.push(node);
      return okResult(
        JSON.stringify({
          items: ["etcd", "kube-apiserver", "kube-controller-manager", "kube-scheduler"].map((c) => ({
            metadata: { name: `${c}-${node}`, uid: uid(c, node) },
          })),
        }),
      );
    }
    if (file === "kubectl" && a.includes("--field-selector")) {
      const node = a[a.indexOf("--field-selector") + 1].replace("spec.nodeName=", "");
      const stale = (staleFor.get(node) ?? 0) > 0;
      staleFor.set(node, (staleFor.get(node) ?? 0) - 1);
      const items = ["etcd", "kube-apiserver", "kube-controller-manager", "kube-scheduler"].map((c) => ({
        metadata: { name: `${c}-${node}`, annotations: { "kubernetes.io/config.mirror": stale ? `${c}-${node}-${OLD}` : uid(c, node) } },
        spec: { containers: [{ image: imageOf(c, node) }] },
        status: { containerStatuses: [{ ready: true }] },
      }));
      return okResult(JSON.stringify({ items }));
    }
    return verify(file, args);
  });
  return { ...fake, backends, events, kubelet, proxied, leader: () => leader };
}

const context = (w: ReturnType<typeof world>, log: string[], topology = ha): UpgradeContext => ({
  ...fakeOpsContext(topology, w.exec, log),
  stackId: "ha-option-a",
  image: `kindha.local/node:${NEW}`,
  target: v(NEW) as KubeVersion,
  workDir: "/tmp/kindha-upgrade-x",
  platform: "linux/amd64",
  waitMs: 60_000,
  backupDir: "/b",
  lbSettleMs: 3_000,
});

describe("the roll over a fake cluster", () => {
  const order = rollOrder(ha, { leader: CP1, done: new Set(), clusterAtTarget: false });

  test("payload, snapshot, images in every node, then one node at a time in the safe order", async () => {
    const w = world();
    const log: string[] = [];
    const ctx = context(w, log);
    const report = await runSteps(upgradeSteps(ctx, facts(), order), ctx, (l) => void log.push(l), ctx.clock);
    expect(report.failed).toBeUndefined();
    expect([...w.kubelet.values()]).toEqual(Array(5).fill(NEW));
    const e = w.events;
    // The payload container is started, copied from and removed before anything touches the cluster.
    expect(e.slice(0, 3)).toEqual(["rm payload", "run payload", "cp payload"]);
    expect(e.indexOf("rm payload", 3)).toBeLessThan(e.indexOf("snapshot"));
    // Every node holds the images before the first kubeadm runs.
    const lastImport = Math.max(...ha.nodes.map((n) => e.indexOf(`import ${n.name}`)));
    expect(e.indexOf("snapshot")).toBeLessThan(e.indexOf(`import ${CP1}`));
    expect(lastImport).toBeLessThan(e.findIndex((x) => x.startsWith("kubeadm")));
    // Per node: drain, kubeadm, kubelet, uncordon, and the next node only after.
    const perNode = e.filter((x) => /^(drain|install kubeadm|kubeadm|kubelet|uncordon) /.test(x));
    const expected = order.flatMap((r) => [
      `drain ${r.node}`,
      `install kubeadm ${r.node}`,
      `kubeadm ${r.command} ${r.node}`,
      `kubelet ${r.node}`,
      `uncordon ${r.node}`,
    ]);
    expect(perNode).toEqual(expected);
    // kubeadm is bounded where it runs, so a step's timeout stops it in the node too.
    expect(e.filter((x) => x.startsWith("bounded "))).toEqual(order.map(() => "bounded 900s kubeadm"));
    // Each control plane was uncordoned only once the API showed the new kubelet's pods: two stale polls, then the third.
    expect(w.proxied.filter((n) => n === CP2)).toHaveLength(3);
    // Leadership moved off CP1 once, after its drain and before its kubeadm.
    expect(e.filter((x) => x.startsWith("leader "))).toEqual([`leader ${CP2}`]);
    expect(e.indexOf(`leader ${CP2}`)).toBeGreaterThan(e.indexOf(`drain ${CP1}`));
    expect(e.indexOf(`leader ${CP2}`)).toBeLessThan(e.indexOf(`kubeadm node ${CP1}`));
    // The load balancer lost one control plane at a time and got all three back after each; workers leave it alone.
    expect(w.backends).toEqual([
      [CP1, CP3],
      [CP1, CP2, CP3],
      [CP1, CP2],
      [CP1, CP2, CP3],
      [CP2, CP3],
      [CP1, CP2, CP3],
    ]);
    expect(log.join("\n")).toContain(
      `drained; etcd leadership ${CP1} -> ${CP2}; out of the load balancer; kubeadm upgrade node; kubelet restarted; uncordoned; back in the load balancer`,
    );
  });

  test("records each node's stage as it goes (cordoned, out of the load balancer, upgraded) and clears it once the node is back", async () => {
    const w = world();
    const ctx = {
      ...context(w, []),
      progress: (node: string, stage: string | undefined) => void records.push(`${node} ${stage ?? "back"}`),
    };
    const records: string[] = [];
    expect((await runSteps(upgradeSteps(ctx, facts(), order), ctx, () => undefined, ctx.clock)).ok).toBe(true);
    expect(records).toEqual(
      order.flatMap((r) => [
        `${r.node} cordoned`,
        ...(r.kind === "control-plane" ? [`${r.node} out of the load balancer`] : []),
        `${r.node} upgraded`,
        `${r.node} back`,
      ]),
    );
  });

  test("finishes a node an interrupted roll left upgraded, cordoned and out of the load balancer: first, without kubeadm again; then the rest", async () => {
    // CP3 was interrupted after its kubelet restart: at the new version, out of the load balancer.
    const w = world({ at: [CP3], lb: [CP1, CP2] });
    const log: string[] = [];
    const ctx = context(w, log);
    const resumed = rollOrder(ha, {
      leader: CP1,
      done: new Set([CP3]),
      clusterAtTarget: true,
      interrupted: { node: CP3, stage: "upgraded" },
    });
    expect(resumed.map((r) => [r.node, r.command, r.interrupted])).toEqual([
      [CP3, "node", "upgraded"],
      [CP2, "node", undefined],
      [CP1, "node", undefined],
      [W1, "node", undefined],
      [W2, "node", undefined],
    ]);
    const report = await runSteps(upgradeSteps(ctx, facts(), resumed), ctx, (l) => void log.push(l), ctx.clock);
    expect(report.failed).toBeUndefined();
    const e = w.events.filter((x) => /^(drain|kubeadm|kubelet|uncordon) /.test(x));
    expect(e[0]).toBe(`uncordon ${CP3}`);
    expect(e.filter((x) => x.endsWith(` ${CP3}`))).toEqual([`uncordon ${CP3}`]);
    expect(w.backends[0]).toEqual([CP1, CP2, CP3]);
    expect(log.join("\n")).toContain(`an interrupted roll left ${CP3} upgraded, cordoned and out of the load balancer: finishing it`);
    expect(log.join("\n")).toContain(`(but ${CP3}, which this run finishes first)`);
  });

  test("keeps kubeadm's own log of each node, failed or not, and names where", async () => {
    const kept: string[] = [];
    const keepKubeadmLog = (node: string, output: string) => (kept.push(`${node}: ${output}`), `/logs/kubeadm-${node}.log`);
    const log: string[] = [];
    const w = world({ failOn: CP1 });
    const ctx = { ...context(w, log), keepKubeadmLog };
    const report = await runSteps(upgradeSteps(ctx, facts(), order), ctx, (l) => void log.push(l), ctx.clock);
    expect(kept).toEqual([
      `${CP2}: I1206 08:00:00.000000 kubeadm apply on ${CP2}\n[upgrade] SUCCESS!\n`,
      `${CP3}: I1206 08:00:00.000000 kubeadm node on ${CP3}\n[upgrade] SUCCESS!\n`,
      `${CP1}: [upgrade/apply] FATAL: couldn't upgrade control plane. kubeadm has tried to recover everything into the earlier state.`,
    ]);
    expect(log.join("\n")).toMatch(new RegExp(`· kubeadm upgrade apply \\(log: /logs/kubeadm-${CP2}\\.log\\) \\(`));
    expect(report.failed?.reason).toContain(`(kubeadm's log: /logs/kubeadm-${CP1}.log)`);
  });

  test("stops at the first failure: later nodes untouched, where the cluster is and the snapshot named", async () => {
    const w = world({ failOn: CP3 });
    const log: string[] = [];
    const ctx = context(w, log);
    const report = await runSteps(upgradeSteps(ctx, facts(), order), ctx, (l) => void log.push(l), ctx.clock);
    expect(report.failed?.step).toBe(`upgrade control-plane ${CP3} to ${NEW} (kubeadm upgrade node)`);
    expect(report.failed?.reason).toContain("kubeadm upgrade node failed (exit 1): [upgrade/apply] FATAL");
    expect(report.failed?.reason).toContain(`(done on ${CP3}: drained; out of the load balancer)`);
    expect(report.failed?.next).toContain(`nodes rolled before ${CP3} run ${NEW}, the others ${OLD}`);
    expect(report.failed?.next).toContain("it skips nodes at v1.37.2 and continues here");
    expect(report.failed?.next).toContain(`restore /b/${C}-ha-option-a-20261201T000000Z.db`);
    expect(w.events.some((x) => x.endsWith(CP1) && x.startsWith("kubeadm"))).toBe(false);
    expect(w.events.some((x) => x.startsWith("drain ") && x.includes("worker"))).toBe(false);
    expect(w.kubelet.get(CP2)).toBe(NEW);
    expect(w.kubelet.get(CP3)).toBe(OLD);
  });

  test("fails the pre-checks before anything is copied, snapshotted or changed", async () => {
    const w = world();
    const log: string[] = [];
    const ctx = context(w, log);
    const report = await runSteps(upgradeSteps(ctx, facts({ target: v("v1.38.1") }), order), ctx, (l) => void log.push(l), ctx.clock);
    expect(report.failed?.step).toBe(`pre-checks for ${OLD} -> ${NEW}, and verify stack ha-option-a`);
    expect(report.failed?.reason).toContain("one minor version at a time");
    expect(report.failed?.next).toContain("nothing has been changed");
    expect(w.events).toEqual([]);
  });

  test("single: the one control plane and the worker, no load balancer and no leadership to move", async () => {
    const w = world({ topology: single });
    const log: string[] = [];
    const ctx = context(w, log, single);
    const o = rollOrder(single, { done: new Set(), clusterAtTarget: false });
    // The fixtures verify reads are an HA cluster's: the roll's own steps only, without the two verify steps.
    const report = await runSteps(upgradeSteps(ctx, facts({}, single), o).slice(1, -1), ctx, (l) => void log.push(l), ctx.clock);
    expect(report.failed).toBeUndefined();
    expect(w.backends).toEqual([]);
    expect(w.events.filter((x) => x.startsWith("kubeadm"))).toEqual([
      `kubeadm apply ${single.controlPlanes[0].name}`,
      `kubeadm node ${single.workers[0].name}`,
    ]);
  });
});

describe("npm run upgrade", () => {
  /** The tool over the fake world, with the image's version and the cluster's configuration answered. */
  const toolExec = (w: ReturnType<typeof world>, clusterVersion = OLD, allAt?: string) => {
    const exec: typeof w.exec = (file, args, opts) => {
      const a = [...args];
      if (file === "docker" && a[0] === "image") return Promise.resolve(okResult("[]"));
      if (file === "docker" && a[0] === "run" && a.includes("--rm")) return Promise.resolve(okResult(`${NEW}\n`));
      if (file === "kubectl" && a.includes("version"))
        return Promise.resolve(okResult(JSON.stringify({ serverVersion: { gitVersion: clusterVersion } })));
      if (file === "kubectl" && a.includes("kubeadm-config")) return Promise.resolve(okResult(`kubernetesVersion: ${clusterVersion}\n`));
      // The write probe's ConfigMap.
      if (file === "kubectl" && a.some((x) => x.includes("kindha-upgrade-probe"))) return Promise.resolve(okResult());
      if (allAt && file === "kubectl" && a.includes("nodes")) {
        // The recorded nodes (roles, addresses), every kubelet at `allAt`.
        const nodes = JSON.parse(recorded("kubectl-nodes-ha-option-a").stdout);
        for (const n of nodes.items) n.status.nodeInfo = { ...n.status.nodeInfo, kubeletVersion: allAt };
        return Promise.resolve(okResult(JSON.stringify(nodes)));
      }
      return w.exec(file, args, opts);
    };
    return exec;
  };

  test("leaves a cluster alone that runs the image's version everywhere", async () => {
    const w = world();
    const c = capture();
    expect(
      await upgradeMain(["ha-option-a", "--to", `kindha.local/node:${NEW}`, "--kubeconfig", "/k"], c.io, {
        exec: toolExec(w, NEW, NEW),
        env: { KINDHA_LOCK_DIR: process.env.KINDHA_LOCK_DIR },
        clock: fakeClock(),
        exists: () => true,
      }),
    ).toBe(0);
    expect(c.out).toEqual([`upgrade: stack ha-option-a already runs ${NEW} on every node; nothing to do`]);
    expect(w.calls.map(line).some((l) => /configmap|drain|kubeadm/.test(l))).toBe(false);
  });

  test("a rerun after an interruption on the last node finishes it instead of saying there is nothing to do", async () => {
    const dir = mkdtempSync(join(tmpdir(), "kindha-roll-"));
    try {
      const env = { KINDHA_LOCK_DIR: dir };
      recordProgress(C, env, {
        operation: "upgrade",
        target: NEW,
        image: `kindha.local/node:${NEW}`,
        node: W2,
        stage: "upgraded",
        since: "2026-12-06T05:00:00.000Z",
      });
      const w = world({ at: ha.nodes.map((n) => n.name) });
      const c = capture();
      const code = await upgradeMain(["ha-option-a", "--to", `kindha.local/node:${NEW}`, "--kubeconfig", "/k"], c.io, {
        exec: toolExec(w, NEW, NEW),
        env,
        clock: fakeClock(),
        exists: () => true,
      });
      expect({ code, out: c.out.filter((l) => /FAILED|stopped at|^error/.test(l)), err: c.err }).toEqual({ code: 0, out: [], err: [] });
      expect(c.out).toContain(`upgrade: an interrupted roll left ${W2} upgraded (since 2026-12-06T05:00:00.000Z); finishing it first`);
      expect(c.out.join("\n")).not.toContain("nothing to do");
      expect(w.events.filter((x) => /^(drain|kubeadm|uncordon) /.test(x))).toEqual([`uncordon ${W2}`]);
      expect(readProgress(C, env)).toBeUndefined();
      // An interruption on the way to another version is finished with that version's image first.
      recordProgress(C, env, {
        operation: "upgrade",
        target: "v1.38.0",
        image: "kindha.local/node:v1.38.0",
        node: CP1,
        stage: "cordoned",
        since: "2026-12-06T05:00:00.000Z",
      });
      const d = capture();
      expect(
        await upgradeMain(["ha-option-a", "--to", `kindha.local/node:${NEW}`, "--kubeconfig", "/k"], d.io, {
          exec: toolExec(world(), NEW, NEW),
          env,
          clock: fakeClock(),
          exists: () => true,
        }),
      ).toBe(1);
      expect(d.err[0]).toBe(
        `error: an interrupted upgrade to v1.38.0 left ${CP1} cordoned (since 2026-12-06T05:00:00.000Z); finish it first: npm run upgrade -- ha-option-a --to kindha.local/node:v1.38.0`,
      );
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  test("--terraform-hook takes the stack, image and kubeconfig from the environment, and the topology and paths the plan saw, not a kindha.config.yaml edited since", async () => {
    const roll = Object.values(resources(synthPreset("ha-option-a").json, "null_resource")).find(
      (r) => r.triggers?.node_image !== undefined,
    );
    const planned: string = roll.provisioner[0]["local-exec"].environment.KINDHA_PLANNED_STACK;
    expect(JSON.parse(planned)).toMatchObject({ id: "ha-option-a", availability: "ha", spec: { controlPlanes: 3 } });
    const dir = mkdtempSync(join(tmpdir(), "kindha-hook-"));
    const saved = process.env.KINDHA_CONFIG;
    // After the plan: five control planes. The plan (and the cluster) has three; the world below, too.
    writeFileSync(join(dir, "kindha.config.yaml"), "stacks:\n  ha-option-a:\n    controlPlanes: 5\n");
    process.env.KINDHA_CONFIG = join(dir, "kindha.config.yaml");
    try {
      const env = {
        KINDHA_STACK: "ha-option-a",
        KINDHA_NODE_IMAGE: `kindha.local/node:${NEW}`,
        KINDHA_KUBECONFIG: "/k",
        KINDHA_PLANNED_STACK: planned,
        KINDHA_LOCK_DIR: process.env.KINDHA_LOCK_DIR,
      };
      const c = capture();
      expect(
        await upgradeMain(["--terraform-hook"], c.io, {
          exec: toolExec(world(), NEW, NEW),
          env,
          clock: fakeClock(),
          exists: (p) => p === "/k",
        }),
      ).toBe(0);
      expect(c.out[0]).toContain("already runs v1.37.2");
      const d = capture();
      expect(
        await upgradeMain(["--terraform-hook"], d.io, {
          exec: toolExec(world(), NEW, NEW),
          env: { ...env, KINDHA_PLANNED_STACK: "" },
          clock: fakeClock(),
          exists: () => true,
        }),
      ).toBe(2);
      expect(d.err[0]).toBe("error: KINDHA_PLANNED_STACK is not set (the roll resource's provisioner sets it)");
    } finally {
      if (saved === undefined) delete process.env.KINDHA_CONFIG;
      else process.env.KINDHA_CONFIG = saved;
      rmSync(dir, { recursive: true, force: true });
    }
  });

  test("fails when --to is not an image reference, or --terraform-hook is given values: exit 2", async () => {
    const c = capture();
    expect(await upgradeMain(["single", "--to", "Not An Image"], c.io, { exists: () => true })).toBe(2);
    expect(c.err[0]).toContain('error: --to: "Not An Image" must be an image reference');
    const d = capture();
    expect(await upgradeMain(["--terraform-hook", "single"], d.io, { exists: () => true })).toBe(2);
    expect(d.err[0]).toBe("error: --terraform-hook takes its values from the environment only");
  });

  test("fails with one line when the image is not on this machine and cannot be pulled", async () => {
    const c = capture();
    const { exec } = fakeExec((file, args) =>
      file === "docker" && args[0] === "image"
        ? failResult("No such image")
        : file === "docker" && args[0] === "pull"
          ? failResult("dial tcp: lookup registry-1.docker.io: no such host")
          : undefined,
    );
    expect(
      await upgradeMain(["single", "--to", "kindest/node:v1.37.2"], c.io, {
        exec,
        env: { KINDHA_LOCK_DIR: process.env.KINDHA_LOCK_DIR },
        exists: () => true,
      }),
    ).toBe(1);
    expect(c.err).toEqual([
      "error: kindest/node:v1.37.2 is not on this machine and docker pull failed: dial tcp: lookup registry-1.docker.io: no such host",
    ]);
  });
});

describe("where an outage fell", () => {
  test("each window of failed probes is named with the step, or sub-step, then running", () => {
    const clock = fakeClock(1_000);
    const printed: string[] = [];
    const steps = stepMarks(clock, (l) => void printed.push(l));
    steps.log("[5/9] upgrade control-plane x");
    // A sub-step 12 s after the probes started.
    steps.marks.push({ at: 13_000, label: "[5/9] after drained" });
    const sample = (sec: number, ok: boolean) => ({ at: sec * 1000, ok });
    const lines = outageLines(
      { startedAt: 1_000, api: [sample(10, true), sample(13, false), sample(16, true)], write: [sample(1, true), sample(2, true)] },
      steps.marks,
    );
    expect(printed).toEqual(["[5/9] upgrade control-plane x"]);
    expect(lines).toEqual([
      "writes unavailable for 0.0 s in total (longest 0.0 s; 0 of 2 failed)",
      "API unavailable for 3.0 s in total (longest 3.0 s; 1 of 3 /readyz probes failed): +13.0 s for 3.0 s in [5/9] after drained",
    ]);
  });

  test("the roll's outage is told apart from the preparation's: samples before the first node's step, and from it", () => {
    const sample = (sec: number, ok: boolean) => ({ at: sec * 1000, ok });
    const p = {
      startedAt: 1_000,
      api: [sample(1, true), sample(5, false), sample(8, true), sample(20, false), sample(21, true)],
      write: [sample(1, true), sample(5, true), sample(20, true)],
    };
    const { before, from } = splitProbes(p, 1_000 + 10_000);
    expect(before.api.map((s) => s.at)).toEqual([1_000, 5_000, 8_000]);
    expect(from.api.map((s) => s.at)).toEqual([20_000, 21_000]);
    expect(outageLines(before)[1]).toBe(
      "API unavailable for 3.0 s in total (longest 3.0 s; 1 of 3 /readyz probes failed): +5.0 s for 3.0 s",
    );
    expect(outageLines(from)[1]).toBe(
      "API unavailable for 1.0 s in total (longest 1.0 s; 1 of 2 /readyz probes failed): +20.0 s for 1.0 s",
    );
    // No roll step started (a failure while preparing): everything is preparation.
    expect(splitProbes(p, undefined).from.api).toEqual([]);
  });

  test("a sub-step line a step logs becomes a mark after its step's", () => {
    const clock = fakeClock(0);
    const steps = stepMarks(clock, () => undefined);
    steps.log("[6/9] upgrade control-plane y");
    steps.log("      · drained (4.0 s)");
    steps.log("      · out of the load balancer (7.5 s)");
    expect(steps.marks.map((m) => m.label)).toEqual(["[6/9]", "[6/9] after drained", "[6/9] after out of the load balancer"]);
  });
});

test("the cluster tier and the bench read each node's roll time and the outage from what upgrade printed", () => {
  const printed = [
    "[5/7] upgrade control-plane c-control-plane to v1.37.2 (kubeadm upgrade apply)",
    "      · drained (6.2 s)",
    "      · kubeadm upgrade apply (171.1 s)",
    "      ok in 199.6 s: drained; kubeadm upgrade apply",
    "[6/7] upgrade worker c-worker to v1.37.2 (kubeadm upgrade node)",
    "      ok in 18.7 s: drained",
    // The preparation's figures, prefixed: never read as the roll's, wherever they stand.
    `${PREPARING}writes unavailable for 3.0 s in total (longest 3.0 s; 1 of 60 failed): +20.0 s for 3.0 s in [4/7]`,
    `${PREPARING}API unavailable for 5.0 s in total (longest 5.0 s; 2 of 60 /readyz probes failed): +20.0 s for 5.0 s in [4/7]`,
    "writes unavailable for 120.0 s in total (longest 118.0 s; 117 of 300 failed): +60.1 s for 118.0 s in [5/7] after drained",
    "API unavailable for 121.0 s in total (longest 121.0 s; 118 of 300 /readyz probes failed)",
  ].join("\n");
  expect(rollFigures(printed)).toEqual({
    nodes: [
      ["c-control-plane", 199.6],
      ["c-worker", 18.7],
    ],
    writesS: 120,
    apiS: 121,
  });
});
