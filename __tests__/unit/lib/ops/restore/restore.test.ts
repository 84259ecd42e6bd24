/**
 * Restore into a fresh kind cluster: the step plan, the per-member etcdutl command, and a run over
 * a fake node runtime (docker exec/cp, crictl, ctr) answering with recorded kubectl output.
 */
import { mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from "node:fs";
import { setAsideData } from "../../../../../lib/ops/data";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { restoreSteps } from "../../../../../lib/ops/restore/restore";
import { nodeMarks, restoreCommand, staleNodes, type RestoreContext } from "../../../../../lib/ops/restore/plan";
import { runSteps } from "../../../../../lib/ops/steps";
import { findStack } from "../../../../../lib/io/config-file";
import { main as restoreMain } from "../../../../../tools/restore";
import { capture, clusterFixtures, fakeClock, fakeExec, failResult, line, okResult, recorded } from "../../../../fixtures/recorded/load";

const ha = findStack("ha-option-a").topology;
const single = findStack("single").topology;
const C = "data-platform-local";
const CPS = [`${C}-control-plane`, `${C}-control-plane2`, `${C}-control-plane3`];

let dir: string;
let snapshot: string;
beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), "kindha-restore-"));
  snapshot = join(dir, "snap.db");
  writeFileSync(snapshot, "not a real snapshot: the fake executor answers snapshot-status", { mode: 0o600 });
});
afterAll(() => rmSync(dir, { recursive: true, force: true }));

/**
 * Node containers with a kubelet: a static pod's container stays stopped only while kubelet is
 * stopped (a running kubelet starts it again), and kubelet starts them all when it starts. `ctr`
 * can fail on one node.
 */
function fakeNodes(opts: { ctrFailsOn?: string; noCrictl?: boolean; staleCa?: boolean; volumes?: string; volumeDirs?: string } = {}) {
  const kubeletDown = new Set<string>();
  const stopped = new Map<string, Set<string>>();
  const stoppedOn = (node: string) => stopped.get(node) ?? stopped.set(node, new Set()).get(node)!;
  return fakeExec((file, args) => {
    if (file === "bash" && args.includes("snapshot-status")) return recorded("etcd-snapshot-status");
    if (file === "kubectl" && args.includes("jsonpath={.spec.containers[0].image}")) return okResult("registry.k8s.io/etcd:3.6.8-0");
    // Removing a taint a node does not have fails as kubectl does; restore takes that as done.
    if (file === "kubectl" && args.includes("taint") && args[args.length - 1].endsWith("-") && !args.includes(`${C}-worker2`)) {
      return { code: 1, stdout: "", stderr: `error: taint "kindha.io/role" not found` };
    }
    if (file === "kubectl" && (args.includes("delete") || args.includes("label") || args.includes("taint") || args.includes("patch")))
      return okResult();
    if (file === "kubectl" && opts.volumes && args.includes("pv") && args.includes("get")) return okResult(opts.volumes);
    // The controller manager has published this cluster's CA; one bare pod has no controller.
    if (file === "kubectl" && args.includes("kube-root-ca.crt")) return okResult(opts.staleCa ? "OLD CA" : "THIS CA");
    if (file === "kubectl" && args.includes("pods") && args.includes("-A")) {
      return okResult(
        JSON.stringify({
          kind: "List",
          items: [
            { metadata: { namespace: "default", name: "debug" } },
            { metadata: { namespace: "kube-system", name: "coredns-1", ownerReferences: [{ kind: "ReplicaSet", controller: true }] } },
            { metadata: { namespace: "kube-system", name: "kube-proxy-a", ownerReferences: [{ kind: "DaemonSet", controller: true }] } },
            { metadata: { namespace: "workloads", name: "postgres-0", ownerReferences: [{ kind: "StatefulSet", controller: true }] } },
            // Already going, a Job's, and a static pod's mirror: none of them is deleted.
            {
              metadata: {
                namespace: "kube-system",
                name: "coredns-old",
                deletionTimestamp: "2026-12-06T10:00:00Z",
                ownerReferences: [{ kind: "ReplicaSet", controller: true }],
              },
            },
            { metadata: { namespace: "data-platform", name: "backup-1-x", ownerReferences: [{ kind: "Job", controller: true }] } },
            {
              metadata: {
                namespace: "kube-system",
                name: "etcd-cp",
                annotations: { "kubernetes.io/config.mirror": "x" },
                ownerReferences: [{ kind: "Node", controller: true }],
              },
            },
          ],
        }),
      );
    }
    if (file === "docker" && args[2] === "cat" && args[3] === "/etc/kubernetes/pki/ca.crt") return okResult("THIS CA\n");
    const known = clusterFixtures({}, opts.volumeDirs)(file, args);
    if (known) return known;
    if (file !== "docker") return undefined;
    if (args[0] === "cp") return okResult();
    const [, node, cmd, ...rest] = args;
    if (cmd === "crictl" && opts.noCrictl)
      return { code: 127, stdout: "", stderr: 'OCI runtime exec failed: exec: "crictl": executable file not found in $PATH' };
    if (cmd === "crictl" && rest[0] === "ps") {
      const name = rest[rest.indexOf("--name") + 1].replace(/^\^|\$$/g, "");
      return okResult(stoppedOn(node).has(name) ? "" : `id-${name}\n`);
    }
    if (cmd === "crictl" && rest[0] === "stop") {
      if (kubeletDown.has(node)) stoppedOn(node).add(rest[1].replace(/^id-/, ""));
      return okResult();
    }
    if (cmd === "systemctl" && rest[0] === "stop") return (kubeletDown.add(node), okResult());
    if (cmd === "systemctl" && rest[0] === "start") return (kubeletDown.delete(node), stoppedOn(node).clear(), okResult());
    if (cmd === "ctr")
      return node === opts.ctrFailsOn ? failResult("ctr: failed to create shim task: OCI runtime create failed") : okResult();
    if (["mv", "rm", "mkdir", "systemctl"].includes(cmd)) return okResult();
    return undefined;
  });
}

function context(exec: RestoreContext["exec"], log: string[] = []): RestoreContext {
  return {
    stackId: "ha-option-a",
    topology: ha,
    snapshot,
    kubeconfig: "/k",
    etcdScript: "/repo/scripts/etcd.sh",
    exec,
    containerCli: "docker",
    stamp: "20260102T030405Z",
    clock: fakeClock(),
    log: (l) => void log.push(l),
    waitMs: 60_000,
    ips: new Map(),
  };
}

describe("restore plan for a 3-control-plane stack", () => {
  const names = restoreSteps(context(fakeNodes().exec)).map((s) => s.name);
  const firstIndex = (re: RegExp) => names.findIndex((n) => re.test(n));
  const lastIndex = (re: RegExp) => names.length - 1 - [...names].reverse().findIndex((n) => re.test(n));

  test("stops etcd everywhere before restoring any member, and swaps every data dir before starting any", () => {
    expect(lastIndex(/^stop kubelet, etcd/)).toBeLessThan(firstIndex(/^restore member/));
    expect(lastIndex(/^restore member/)).toBeLessThan(firstIndex(/^swap data dirs/));
    expect(lastIndex(/^swap data dirs/)).toBeLessThan(firstIndex(/^start kubelet/));
    expect(names.slice(-2)).toEqual([
      "verify stack ha-option-a, passing for 30 s in a row",
      "remove the snapshot's copies and the previous data dirs (/var/lib/kindha-restore) from the control planes",
    ]);
    expect(names.filter((n) => n.startsWith("restore member"))).toEqual(CPS.map((n) => `restore member ${n} from the snapshot`));
  });

  test("each member restores with every member in --initial-cluster and its own peer URL", () => {
    const ctx = context(fakeNodes().exec);
    ctx.image = "registry.k8s.io/etcd:3.6.8-0";
    ["172.18.0.4", "172.18.0.6", "172.18.0.5"].forEach((ip, i) => ctx.ips.set(CPS[i], ip));
    const cmd = restoreCommand(ctx, 1);
    expect(cmd.slice(0, 3)).toEqual(["exec", `${C}-control-plane2`, "ctr"]);
    expect(cmd).toContain("registry.k8s.io/etcd:3.6.8-0");
    const flag = (f: string) => cmd[cmd.indexOf(f) + 1];
    expect(flag("--name")).toBe(`${C}-control-plane2`);
    expect(flag("--initial-cluster")).toBe(
      `${CPS[0]}=https://172.18.0.4:2380,${CPS[1]}=https://172.18.0.6:2380,${CPS[2]}=https://172.18.0.5:2380`,
    );
    expect(flag("--initial-advertise-peer-urls")).toBe("https://172.18.0.6:2380");
    expect(flag("--data-dir")).toBe("/var/lib/kindha-restore/etcd");
  });

  test("nodes of another topology are found for removal (ha-option-a state restored into single)", () => {
    expect(staleNodes(single, recorded("kubectl-nodes-ha-option-a").stdout)).toEqual([
      `${C}-control-plane2`,
      `${C}-control-plane3`,
      `${C}-worker2`,
    ]);
    expect(staleNodes(ha, recorded("kubectl-nodes-single").stdout)).toEqual([]);
  });
});

describe("the marks restore gives each node", () => {
  test("every node gets its role label; control planes the control-plane label and taint; a kindha.io/role taint comes off every node the stack does not taint", () => {
    const marks = Object.fromEntries(nodeMarks(ha).map((m) => [m.node.replace(`${C}-`, ""), m]));
    expect(marks["control-plane"]).toEqual({
      node: `${C}-control-plane`,
      label: [
        "label",
        "node",
        `${C}-control-plane`,
        "kindha.io/role=control-plane",
        "node-role.kubernetes.io/control-plane=",
        "--overwrite",
      ],
      taint: ["taint", "node", `${C}-control-plane`, "node-role.kubernetes.io/control-plane:NoSchedule", "--overwrite"],
      untaint: ["taint", "node", `${C}-control-plane`, "kindha.io/role-"],
    });
    // The infrastructure taint is Terraform's (NodeTaint): restore leaves it alone.
    expect(marks.worker).toEqual({
      node: `${C}-worker`,
      label: ["label", "node", `${C}-worker`, "kindha.io/role=infrastructure", "--overwrite"],
    });
    expect(marks.worker2).toEqual({
      node: `${C}-worker2`,
      label: ["label", "node", `${C}-worker2`, "kindha.io/role=workload", "--overwrite"],
      untaint: ["taint", "node", `${C}-worker2`, "kindha.io/role-"],
    });
    expect(nodeMarks(single).map((m) => m.label[3])).toEqual(["kindha.io/role=control-plane", "kindha.io/role=combined"]);
  });
});

describe("restore run over fake node containers", () => {
  test("runs every step: on each control plane kubelet stops before etcd and the API server, and starts after the swap; ends verified", async () => {
    const { exec, calls } = fakeNodes();
    const log: string[] = [];
    const ctx = context(exec, log);
    const report = await runSteps(restoreSteps(ctx), ctx, (l) => void log.push(l));
    expect(report.failed).toBeUndefined();
    expect(report.ok).toBe(true);
    const docker = calls.filter((c) => c.file === "docker").map(line);
    for (const node of CPS) {
      const at = (l: string) => docker.indexOf(`docker exec ${node} ${l}`);
      const stopKubelet = at("systemctl stop kubelet");
      const swap = at("mv /var/lib/kindha-restore/etcd /var/lib/etcd");
      const startKubelet = at("systemctl start kubelet");
      expect(stopKubelet).toBeGreaterThanOrEqual(0);
      for (const pod of ["etcd", "kube-apiserver"]) {
        expect(at(`crictl stop id-${pod}`)).toBeGreaterThan(stopKubelet);
        expect(at(`crictl stop id-${pod}`)).toBeLessThan(swap);
      }
      expect(swap).toBeLessThan(startKubelet);
    }
    // Every member is restored and swapped before the first kubelet starts its etcd again.
    expect(docker.findIndex((l) => l.endsWith("systemctl start kubelet"))).toBeGreaterThan(
      docker.map((l) => l.endsWith("mv /var/lib/kindha-restore/etcd /var/lib/etcd")).lastIndexOf(true),
    );
    expect(docker.filter((l) => l.endsWith("systemctl restart kubelet"))).toEqual([
      `docker exec ${C}-worker systemctl restart kubelet`,
      `docker exec ${C}-worker2 systemctl restart kubelet`,
    ]);
    // Nodes end labelled as the stack plans them (a snapshot of another topology holds others).
    const kube = calls.filter((c) => c.file === "kubectl").map((c) => c.args.slice(4).join(" "));
    expect(kube).toContain(
      `label node ${C}-control-plane2 kindha.io/role=control-plane node-role.kubernetes.io/control-plane= --overwrite`,
    );
    // Every workload's pods are re-created at once, after the labels, so they trust the new
    // cluster's CA; a pod with no controller is named, never deleted.
    const deletes = kube.filter((a) => a.includes("delete pod"));
    expect(deletes).toEqual([
      "-n kube-system delete pod --wait=false --ignore-not-found coredns-1 kube-proxy-a",
      "-n workloads delete pod --wait=false --ignore-not-found postgres-0",
    ]);
    expect(kube.findIndex((a) => a.includes("delete pod"))).toBeGreaterThan(kube.findIndex((a) => a.startsWith("label node")));
    expect(log.join("\n")).toContain(
      "3 re-created; pods with no controller keep the old certificates until you re-create them: default/debug",
    );
    expect(kube.some((a) => a.includes("rollout"))).toBe(false);
    expect(kube).toContain(`taint node ${C}-control-plane3 node-role.kubernetes.io/control-plane:NoSchedule --overwrite`);
    expect(kube).toContain(`label node ${C}-worker kindha.io/role=infrastructure --overwrite`);
    // No node keeps a role taint the stack does not plan (a snapshot of another topology may hold
    // a tainted node of that name); the infrastructure taint itself is Terraform's NodeTaint's.
    expect(kube).toContain(`taint node ${C}-worker2 kindha.io/role-`);
    expect(kube).toContain(`taint node ${C}-control-plane kindha.io/role-`);
    expect(kube.filter((a) => a.startsWith(`taint node ${C}-worker `))).toEqual([]);
    expect(log.join("\n")).toContain("API through load balancer");
    // Verified, the snapshot's copies and the previous data dirs (every Secret) leave each control plane, last.
    expect(docker.slice(-CPS.length)).toEqual(CPS.map((n) => `docker exec ${n} rm -rf /var/lib/kindha-restore`));
  });

  test("keeps every volume of the data directory on delete (Retain), and stops before the workloads' pods are re-created when a volume's directory is missing, naming it", async () => {
    const pv = JSON.parse(recorded("kubectl-pv-bound").stdout);
    // A volume of a cluster made before kindha's class kept them: Delete.
    pv.items[0].spec.persistentVolumeReclaimPolicy = "Delete";
    const { exec, calls } = fakeNodes({ volumes: JSON.stringify(pv), volumeDirs: "" });
    const ctx = context(exec);
    const report = await runSteps(restoreSteps(ctx), ctx, () => undefined);
    expect(report.failed?.step).toBe("volumes: each kept on delete, each Bound one's directory on the host");
    expect(report.failed?.reason).toBe(
      "1 of 1 volume(s) have no directory on the host: workloads/data-postgres-0 (workloads/data-postgres-0)",
    );
    expect(report.failed?.next).toContain("--with-data");
    const kube = calls.filter((c) => c.file === "kubectl").map((c) => c.args.slice(4).join(" "));
    expect(kube).toContain(`patch pv ${pv.items[0].metadata.name} --type merge -p {"spec":{"persistentVolumeReclaimPolicy":"Retain"}}`);
    expect(kube.some((a) => a.includes("delete pod"))).toBe(false);
    // With its directory there, the step passes and says so; an empty directory is named.
    const there = fakeNodes({ volumeDirs: "workloads/data-postgres-0\t-\n" });
    const log: string[] = [];
    const again = context(there.exec);
    expect((await runSteps(restoreSteps(again), again, (l) => void log.push(l))).ok).toBe(true);
    expect(log.join("\n")).toContain("1 present; empty: workloads/data-postgres-0 (workloads/data-postgres-0)");
  });

  test("fails at once when a node's CRI cannot be asked: says so, never reads it as etcd still running", async () => {
    const { exec } = fakeNodes({ noCrictl: true });
    const ctx = context(exec);
    const report = await runSteps(restoreSteps(ctx), ctx, () => undefined, ctx.clock);
    expect(report.failed?.step).toBe(`stop kubelet, etcd and the API server on ${C}-control-plane`);
    expect(report.failed?.reason).toBe(
      `crictl ps on ${C}-control-plane failed (exit 127): OCI runtime exec failed: exec: "crictl": executable file not found in $PATH`,
    );
    expect(report.failed?.next).toContain("systemctl start kubelet");
    expect(ctx.clock.now() - 1_795_000_000_000).toBe(0);
  });

  test("fails when etcdutl restore fails on control-plane2: stops before any data dir is swapped, with how to undo", async () => {
    const { exec, calls } = fakeNodes({ ctrFailsOn: `${C}-control-plane2` });
    const log: string[] = [];
    const ctx = context(exec, log);
    const report = await runSteps(restoreSteps(ctx), ctx, (l) => void log.push(l));
    expect(report.failed?.step).toBe(`restore member ${C}-control-plane2 from the snapshot`);
    expect(report.failed?.reason).toContain("OCI runtime create failed");
    expect(report.failed?.next).toContain("docker exec <node> systemctl start kubelet");
    expect(calls.map(line).some((l) => l.includes("mv /var/lib/etcd"))).toBe(false);
  });

  test("fails when the cluster is not the stack's topology: nothing on the nodes is touched", async () => {
    const { exec, calls } = fakeExec((file, args) => {
      if (file === "bash") return recorded("etcd-snapshot-status");
      return clusterFixtures({ nodes: "kubectl-nodes-single" })(file, args);
    });
    const ctx = context(exec);
    const report = await runSteps(restoreSteps(ctx), ctx, () => undefined);
    expect(report.failed?.step).toBe("check the cluster is a fresh ha-option-a");
    expect(report.failed?.reason).toContain("control-plane nodes: found 1, topology has 3");
    expect(calls.some((c) => c.file === "docker")).toBe(false);
  });
});

describe("restore and the new cluster's certificates", () => {
  test("fails when the controller manager never publishes this cluster's CA: no pod is re-created with the old one", async () => {
    const { exec, calls } = fakeNodes({ staleCa: true });
    const ctx = context(exec);
    const report = await runSteps(restoreSteps(ctx), ctx, () => undefined);
    expect(report.failed?.step).toBe(
      "re-create the pods of every Deployment, DaemonSet and StatefulSet, so they trust this cluster's certificates",
    );
    expect(report.failed?.reason).toBe("kube-root-ca.crt in kube-system does not hold this cluster's CA after 60s");
    expect(calls.some((c) => c.args.includes("pod") && c.args.includes("delete"))).toBe(false);
  });
});

describe("npm run restore (tools/restore.ts)", () => {
  test("fails when --snapshot is missing", async () => {
    const c = capture();
    expect(await restoreMain(["ha-option-a"], c.io)).toBe(2);
    expect(c.err[0]).toBe("error: --snapshot FILE is required");
  });

  test("fails when the snapshot file does not exist", async () => {
    const c = capture();
    expect(await restoreMain(["ha-option-a", "--snapshot", join(dir, "nope.db")], c.io)).toBe(2);
    expect(c.err[0]).toContain("nope.db does not exist");
  });

  test("runs the steps and exits 0 over fake node containers", async () => {
    const c = capture();
    const { exec } = fakeNodes();
    expect(
      await restoreMain(["ha-option-a", "--snapshot", snapshot, "--kubeconfig", "/k"], c.io, {
        exec,
        clock: fakeClock(),
        env: { KINDHA_LOCK_DIR: process.env.KINDHA_LOCK_DIR },
        exists: () => true,
      }),
    ).toBe(0);
    expect(c.out[c.out.length - 1]).toBe(`restore: done; stack ha-option-a runs from ${snapshot}`);
  });
});

describe("restore --with-data", () => {
  test("moves what the host data directory held, but its owner file, into a 0700 sibling outside it; an empty one moves nothing", () => {
    const home = mkdtempSync(join(tmpdir(), "kindha-aside-"));
    try {
      const data = join(home, "data");
      mkdirSync(join(data, "workloads", "lake"), { recursive: true });
      writeFileSync(join(data, "workloads", "lake", "blob"), "bytes");
      writeFileSync(join(data, ".kindha-cluster"), "c\n");
      writeFileSync(join(data, ".hidden"), "h");
      const aside = setAsideData(data, "20261206T050000Z");
      expect(aside).toBe(`${data}.before-restore-20261206T050000Z`);
      expect(readdirSync(data)).toEqual([".kindha-cluster"]);
      expect(readFileSync(join(aside!, "workloads", "lake", "blob"), "utf8")).toBe("bytes");
      expect(readdirSync(aside!).sort()).toEqual([".hidden", "workloads"]);
      expect(statSync(aside!).mode & 0o777).toBe(0o700);
      expect(setAsideData(data, "20261206T050001Z")).toBeUndefined();
      expect(setAsideData(join(home, "none"), "x")).toBeUndefined();
    } finally {
      rmSync(home, { recursive: true, force: true });
    }
  });

  test("refuses while a pod uses a claim, naming it, before anything is changed", async () => {
    const users = JSON.stringify({
      items: [
        {
          metadata: { namespace: "workloads", name: "postgres-0", ownerReferences: [{ kind: "StatefulSet" }] },
          spec: { volumes: [{ persistentVolumeClaim: { claimName: "data-postgres-0" } }] },
          status: { phase: "Running" },
        },
        {
          metadata: { namespace: "workloads", name: "done" },
          spec: { volumes: [{ persistentVolumeClaim: { claimName: "x" } }] },
          status: { phase: "Succeeded" },
        },
      ],
    });
    const { exec, calls } = fakeNodes();
    const withUsers: typeof exec = (file, args, opts) =>
      file === "kubectl" && args.includes("pods") && args.includes("-A") && !args.includes("-l")
        ? Promise.resolve(okResult(users))
        : exec(file, args, opts);
    const ctx = { ...context(withUsers), dataArchive: { archive: "/b/x.data.tar.gz", dataDir: "/nonexistent/data" } };
    const report = await runSteps(restoreSteps(ctx), ctx, () => undefined);
    expect(report.failed?.step).toBe("put the volumes back from /b/x.data.tar.gz");
    expect(report.failed?.reason).toBe(
      "1 pod(s) use claims and would see their volumes change under them: workloads/postgres-0 (StatefulSet)",
    );
    expect(report.failed?.next).toMatch(/^nothing was changed: scale down/);
    expect(calls.some((c) => c.file === "docker" && c.args[0] === "cp")).toBe(false);
  });
});
