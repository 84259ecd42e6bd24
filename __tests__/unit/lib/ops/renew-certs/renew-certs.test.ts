/**
 * Certificate renewal over a fake cluster: the order of control planes (followers first, the etcd
 * leader last), the order of steps on each node (leadership away, out of the load balancer,
 * renew, etcd -> kube-apiserver -> kube-controller-manager -> kube-scheduler, back in), one node
 * at a time, and stopping at the first failure with what state the cluster is in.
 */
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { kindLbConfig } from "../../../../../lib/model/kind-lb-config";
import { readProgress, recordProgress } from "../../../../../lib/ops/roll-progress";
import { COMPONENTS, renewSteps, type RenewContext } from "../../../../../lib/ops/renew-certs/renew-certs";
import { controlPlaneRollOrder } from "../../../../../lib/model/topology";
import { runSteps } from "../../../../../lib/ops/steps";
import { findStack } from "../../../../../lib/io/config-file";
import { main as renewMain } from "../../../../../tools/renew-certs";
import {
  capture,
  certValidFor,
  clusterFixtures,
  fakeClock,
  fakeExec,
  fakeOpsContext,
  line,
  okResult,
  failResult,
} from "../../../../fixtures/recorded/load";

const C = "data-platform-local";
const ha = findStack("ha-option-a").topology;
const single = findStack("single").topology;
const [CP1, CP2, CP3] = ha.controlPlanes.map((n) => n.name);
const LB = `${C}-external-load-balancer`;

/** A cluster whose etcd leader is `leader`; certificates expire in 20 days until kubeadm renews them (365). */
function world(leader = CP1, fail: { renewOn?: string } = {}) {
  let current = leader;
  const renewed = new Set<string>();
  const ids = new Map<string, number>();
  const backends: string[][] = [];
  const healthy = clusterFixtures();
  const fake = fakeExec((file, args) => {
    const a = [...args];
    if (file === "bash" && a.includes("leader")) return okResult(`{"name":"${current}","id":"aa"}\n`);
    if (file === "bash" && a.includes("move-leader"))
      return ((current = a[a.indexOf("--to") + 1]), okResult(`{"name":"${current}","id":"bb"}\n`));
    if (file === "bash" && a.includes("backup")) return okResult(`/b/${C}-ha-option-a-20261201T000000Z.db\n`);
    if (file === "docker" && a[0] === "exec" && a[1] === LB && a[2] === "sh") {
      backends.push([...a[6].matchAll(/address: (\S+)\n\s+port_value: 6443/g)].map((m) => m[1]));
      return okResult();
    }
    // The node's etcd serving certificate (verify reads its address from it) and one that expires.
    if (file === "docker" && a[0] === "exec" && a[2] === "sh" && a[3] === "-c")
      return okResult(`${healthy(file, args)?.stdout ?? ""}== pki/apiserver.crt\n${certValidFor(renewed.has(a[1]) ? 365 : 20)}`);
    // kubeadm runs bounded inside the node: timeout --kill-after=10s <s>s kubeadm ...
    if (file === "docker" && a[0] === "exec" && a[2] === "timeout" && a[5] === "kubeadm") {
      expect(a.slice(2, 5)).toEqual(["timeout", "--kill-after=10s", "120s"]);
      if (fail.renewOn === a[1]) return failResult("error: failed to renew certificate apiserver");
      return (renewed.add(a[1]), okResult("certificates renewed"));
    }
    if (file === "docker" && a[0] === "exec" && a[2] === "crictl" && a[3] === "ps") {
      const key = `${a[1]} ${a[6].slice(1, -1)}`;
      return okResult(`${key.replace(/\W/g, "")}-${ids.get(key) ?? 0}\n`);
    }
    if (file === "docker" && a[0] === "exec" && a[2] === "crictl" && a[3] === "stop") {
      const key = [...ids.keys()].find((k) => a[4].startsWith(k.replace(/\W/g, ""))) ?? "";
      return (ids.set(key, (ids.get(key) ?? 0) + 1), okResult());
    }
    if (file === "docker" && a[0] === "exec" && a[2] === "curl") return okResult("ok");
    if (file === "kind") return okResult();
    if (file === "kubectl" && a.includes("configmap")) return okResult();
    return healthy(file, args);
  });
  // crictl ps keys: seed every node and component so stop can find them.
  for (const n of ha.controlPlanes) for (const comp of COMPONENTS) ids.set(`${n.name} ${comp}`, 0);
  return { ...fake, backends, renewed, leader: () => current };
}

const context = (w: ReturnType<typeof world>, log: string[], topology = ha): RenewContext => ({
  ...fakeOpsContext(topology, w.exec, log),
  stackId: "ha-option-a",
  waitMs: 60_000,
  backupDir: "/b",
  lbSettleMs: 3_000,
});

test("renews followers first and the etcd leader last; with no leader known, in topology order", () => {
  expect(controlPlaneRollOrder(ha, CP1)).toEqual([CP2, CP3, CP1]);
  expect(controlPlaneRollOrder(ha, CP2)).toEqual([CP1, CP3, CP2]);
  expect(controlPlaneRollOrder(ha, undefined)).toEqual([CP1, CP2, CP3]);
  expect(controlPlaneRollOrder(single, `${C}-control-plane`)).toEqual([`${C}-control-plane`]);
});

test("one node at a time: leadership away, out of the load balancer, renew, the four components in order, back in", async () => {
  const w = world(CP1);
  const log: string[] = [];
  const ctx = context(w, log);
  const report = await runSteps(renewSteps(ctx, [CP2, CP3, CP1]), ctx, (l) => void log.push(l));
  expect(report.failed).toBeUndefined();
  expect(w.renewed).toEqual(new Set([CP1, CP2, CP3]));
  // The load balancer lost one backend at a time and got all three back after each node.
  expect(w.backends).toEqual([
    [CP1, CP3],
    [CP1, CP2, CP3],
    [CP1, CP2],
    [CP1, CP2, CP3],
    [CP2, CP3],
    [CP1, CP2, CP3],
  ]);
  // Leadership moved once, off CP1 before it was touched.
  expect(w.leader()).toBe(CP2);
  const onCp2 = w.calls.map(line).filter((l) => l.startsWith(`docker exec ${CP2} `) && /kubeadm certs renew|crictl stop/.test(l));
  expect(
    onCp2.map((l) =>
      l.includes("kubeadm") ? "renew" : l.replace(/.*crictl stop \S*(etcd|kubeapiserver|kubecontrollermanager|kubescheduler)-\d+$/, "$1"),
    ),
  ).toEqual(["renew", "etcd", "kubeapiserver", "kubecontrollermanager", "kubescheduler"]);
  const order = w.calls
    .map(line)
    .filter((l) => /kubeadm certs renew all|crictl stop/.test(l))
    .map((l) => /exec (\S+)/.exec(l)![1]);
  expect(order).toEqual([...Array(5).fill(CP2), ...Array(5).fill(CP3), ...Array(5).fill(CP1)]);
  expect(w.calls.map(line).some((l) => l.includes(`--to ${CP2}`))).toBe(true);
  expect(log.join("\n")).toContain(`etcd leadership ${CP1} -> ${CP2}; out of the load balancer; certificates renewed`);
  expect(w.calls.map(line)).toContain(`kind export kubeconfig --name ${C} --kubeconfig /k`);
});

test("stops at the first failure, saying which nodes are done and that the others serve", async () => {
  const w = world(CP1, { renewOn: CP3 });
  const log: string[] = [];
  const ctx = context(w, log);
  const report = await runSteps(renewSteps(ctx, [CP2, CP3, CP1]), ctx, (l) => void log.push(l));
  expect(report.failed?.step).toBe(`renew ${CP3}: certificates, then etcd, kube-apiserver, kube-controller-manager, kube-scheduler`);
  expect(report.failed?.reason).toContain("failed to renew certificate apiserver");
  expect(report.failed?.next).toContain(`the snapshot taken first is /b/${C}-ha-option-a-20261201T000000Z.db`);
  expect(w.renewed).toEqual(new Set([CP2]));
  expect(w.calls.map(line).some((l) => l.includes(`exec ${CP1} kubeadm`))).toBe(false);
});

test("refuses a cluster that verify fails for another reason than its certificates", async () => {
  const w = world();
  const exec: typeof w.exec = (file, args, opts) =>
    file === "kubectl" && args.includes("/readyz") ? Promise.resolve(failResult("connection refused")) : w.exec(file, args, opts);
  const log: string[] = [];
  const ctx = { ...context(w, log), exec };
  const report = await runSteps(renewSteps(ctx, [CP2, CP3, CP1]), ctx, (l) => void log.push(l));
  expect(report.failed?.step).toBe("verify stack ha-option-a before touching it");
  expect(report.failed?.reason).toContain("API through load balancer");
  expect(w.renewed.size).toBe(0);
});

test("npm run renew-certs probes the API and writes throughout and prints their outage", async () => {
  const w = world(CP1);
  const c = capture();
  expect(
    await renewMain(["ha-option-a", "--kubeconfig", "/k"], c.io, {
      exec: w.exec,
      env: { KINDHA_LOCK_DIR: process.env.KINDHA_LOCK_DIR },
      clock: fakeClock(),
      exists: () => true,
    }),
  ).toBe(0);
  expect(c.out[0]).toBe(`renew-certs: stack ha-option-a, control planes in this order: ${CP2}, ${CP3}, ${CP1}`);
  expect(c.out.join("\n")).toMatch(/^writes unavailable for 0\.0 s in total \(longest 0\.0 s; 0 of [1-9]\d* failed\)$/m);
  expect(c.out.join("\n")).toMatch(/^API unavailable for 0\.0 s in total \(longest 0\.0 s; 0 of [1-9]\d* \/readyz probes failed\)$/m);
  expect(c.out[c.out.length - 1]).toMatch(/^renew-certs: done in \d+ s; stack ha-option-a verified$/);
  const calls = w.calls.map(line);
  expect(calls.filter((l) => / patch configmap kindha-renew-probe /.test(l)).length).toBeGreaterThan(0);
  expect(calls.filter((l) => / delete configmap kindha-renew-probe /.test(l))).toHaveLength(1);
});

test("a rerun after an interruption renews the node it left out of the load balancer first, the verify before it tolerating that, and records each node while it is out", async () => {
  const dir = mkdtempSync(join(tmpdir(), "kindha-renew-"));
  try {
    const env = { KINDHA_LOCK_DIR: dir };
    recordProgress(C, env, { operation: "renew-certs", node: CP3, stage: "out of the load balancer", since: "2026-12-06T05:00:00.000Z" });
    const w = world(CP1);
    // kind's load balancer as the interrupted run left it: without CP3 until this run writes it.
    const exec: typeof w.exec = (file, args, opts) =>
      file === "docker" && args[0] === "exec" && args[1] === LB && args[2] === "cat"
        ? Promise.resolve(okResult(kindLbConfig(w.backends.length > 0 ? w.backends[w.backends.length - 1] : [CP1, CP2]).cds))
        : w.exec(file, args, opts);
    const c = capture();
    expect(await renewMain(["ha-option-a", "--kubeconfig", "/k"], c.io, { exec, env, clock: fakeClock(), exists: () => true })).toBe(0);
    expect(c.out[0]).toBe(
      `renew-certs: an interrupted run left ${CP3} out of the load balancer (since 2026-12-06T05:00:00.000Z); renewing it first`,
    );
    expect(c.out[1]).toBe(`renew-certs: stack ha-option-a, control planes in this order: ${CP3}, ${CP2}, ${CP1}`);
    expect(w.backends[w.backends.length - 1]).toEqual([CP1, CP2, CP3]);
    expect(readProgress(C, env)).toBeUndefined();
    // An interrupted upgrade is finished by upgrade, not renewed over.
    recordProgress(C, env, {
      operation: "upgrade",
      target: "v1.37.2",
      image: "kindha.local/node:v1.37.2",
      node: CP1,
      stage: "upgraded",
      since: "2026-12-06T05:00:00.000Z",
    });
    const d = capture();
    expect(await renewMain(["ha-option-a", "--kubeconfig", "/k"], d.io, { exec, env, clock: fakeClock(), exists: () => true })).toBe(1);
    expect(d.err[0]).toBe(
      `error: an interrupted upgrade to v1.37.2 left ${CP1} upgraded (since 2026-12-06T05:00:00.000Z); finish it first: npm run upgrade -- ha-option-a --to kindha.local/node:v1.37.2`,
    );
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
