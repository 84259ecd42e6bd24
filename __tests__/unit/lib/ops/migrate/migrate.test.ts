/**
 * Migration single <-> HA: step order and stop-on-first-failure, driven by a fake executor.
 * The old cluster is never destroyed before a verified snapshot exists.
 */
import { errorCause, migrateSteps, type Files, type MigrateContext } from "../../../../../lib/ops/migrate/migrate";
import { runSteps, type StepReport } from "../../../../../lib/ops/steps";
import type { CheckResult } from "../../../../../lib/ops/verify";
import { VOLUME_DIRS_SCRIPT } from "../../../../../lib/ops/data";
import { findStack } from "../../../../../lib/io/config-file";
import { main as migrateMain } from "../../../../../tools/migrate";
import { capture, failResult, fakeClock, fakeExec, okResult, recorded, type Call } from "../../../../fixtures/recorded/load";

const SNAPSHOT = "/backups/data-platform-local-single-20260102T030405Z.db";

/** A fake world: one cluster that answers until destroyed, and answers again after deploy. */
function world(
  fail: Partial<
    Record<"backup" | "status" | "emptySnapshot" | "destroy" | "deploy" | "restore" | "verify" | "export" | "scale" | "volumeDir", boolean>
  > = {},
) {
  let up = true;
  // The PostgreSQL StatefulSet of the workloads fixture: its pod runs until it is scaled to 0.
  let postgresReplicas = 1;
  const files = new Map<string, string>();
  const moves: string[] = [];
  const fake = fakeExec((file, args) => {
    const a = args.join(" ");
    if (file === "kubectl" && a.includes("get deployments,statefulsets,daemonsets")) return recorded("kubectl-workloads-available");
    if (file === "kubectl" && a.includes("scale statefulset/postgres")) {
      if (fail.scale) return failResult("error: no objects passed to scale");
      postgresReplicas = Number(/--replicas=(\d+)/.exec(a)?.[1]);
      return okResult("statefulset.apps/postgres scaled");
    }
    if (file === "kubectl" && a.includes("get pods -A -o json")) {
      const pod = {
        metadata: { namespace: "workloads", name: "postgres-0", ownerReferences: [{ kind: "StatefulSet" }] },
        spec: { volumes: [{ name: "data", persistentVolumeClaim: { claimName: "data-postgres-0" } }] },
      };
      return okResult(JSON.stringify({ kind: "List", items: postgresReplicas > 0 ? [pod] : [] }));
    }
    if (file === "kubectl" && a.includes("/readyz")) return up ? okResult("ok") : recorded("kubectl-readyz-refused");
    if (file === "kubectl" && a.endsWith("get pv -o json")) return recorded("kubectl-pv-bound");
    if (file === "docker" && args[4] === VOLUME_DIRS_SCRIPT) return okResult(fail.volumeDir ? "" : "workloads/data-postgres-0\n");
    if (file === "kubectl" && a.includes("api-resources"))
      return okResult("configmaps\nsecrets\nevents\nevents.events.k8s.io\ndeployments.apps\n");
    if (file === "kubectl" && a.includes("-o yaml"))
      return fail.export ? failResult("error: timeout") : okResult("apiVersion: v1\nitems: []\nkind: List\nmetadata: {}\n");
    if (file === "bash" && args.includes("backup")) {
      if (fail.backup)
        return failResult("etcd.sh: error: backup of cluster data-platform-local (stack single) failed: snapshot save failed");
      files.set(SNAPSHOT, "db");
      return okResult(`${SNAPSHOT}\n`);
    }
    if (file === "bash" && args.includes("snapshot-status")) {
      if (fail.status) return failResult("etcd.sh: error: etcdutl snapshot status failed: invalid database");
      return fail.emptySnapshot ? okResult('{"hash":1,"revision":1,"totalKey":0,"totalSize":20480}') : recorded("etcd-snapshot-status");
    }
    if (file === "npx" && args[1] === "destroy") return fail.destroy ? failResult("Error: exit status 1") : ((up = false), okResult());
    if (file === "npx" && args[1] === "deploy") return fail.deploy ? failResult("Error: kind create failed") : ((up = true), okResult());
    return undefined;
  });
  // The target's restore and verify, run in-process by the migrate tool: recorded among the calls.
  const restore = async (snapshot: string): Promise<StepReport> => {
    fake.calls.push({ file: "restore", args: [snapshot] });
    return fail.restore
      ? { ok: false, completed: [], failed: { step: "wait for the API and a healthy etcd", reason: "API: connection refused", next: "" } }
      : { ok: true, completed: [] };
  };
  const verify = async (): Promise<CheckResult[]> => {
    fake.calls.push({ file: "verify", args: [] });
    return [
      { check: "control planes Ready", ok: true, reason: "3 Ready" },
      { check: "workloads available", ok: !fail.verify, reason: fail.verify ? "kube-system/coredns 1 of 2 available" : "all available" },
    ];
  };
  const fs: Files = {
    exists: (p) => files.has(p),
    write: (p, t) => void files.set(p, t),
    move: (from, to) => void moves.push(`${from} -> ${to}`),
  };
  return { ...fake, files, fs, moves, restore, verify, replicas: () => postgresReplicas };
}

/** Each call as a short label, so the order reads like the plan. */
function labels(calls: readonly Call[]): string[] {
  return calls.map((c) => {
    const a = c.args.join(" ");
    if (a.includes("/readyz")) return `readyz`;
    if (a.includes("get deployments,statefulsets,daemonsets")) return "list workloads";
    if (a.includes(" scale ")) return `scale ${c.args[c.args.length - 1]}`;
    if (a.includes("get pods")) return "list pods";
    if (a.includes("api-resources")) return "api-resources";
    if (a.includes("-o yaml")) return "export";
    if (c.file === "bash") return c.args.includes("backup") ? "backup" : "snapshot-status";
    if (c.file === "npx") return `cdktf ${c.args[1]} ${c.args[2]}`;
    return c.file === "restore" || c.file === "verify" ? c.file : (c.args[0].split("/").pop() ?? c.file);
  });
}

function context(from: string, to: string, w: ReturnType<typeof world>): MigrateContext {
  const f = findStack(from).topology;
  const t = findStack(to).topology;
  return {
    from: {
      id: from,
      topology: f,
      access: { kubeconfig: "/home/u/.kube/kindha-data-platform-local.yaml", etcdScript: "/repo/scripts/etcd.sh", exec: w.exec },
    },
    to: {
      id: to,
      topology: t,
      access: { kubeconfig: "/home/u/.kube/kindha-data-platform-local.yaml", etcdScript: "/repo/scripts/etcd.sh", exec: w.exec },
    },
    backupDir: "/backups",
    exec: w.exec,
    files: w.fs,
    cwd: "/repo",
    env: { TERRAFORM_BINARY_NAME: "tofu", KINDHA_LOCK_DIR: process.env.KINDHA_LOCK_DIR },
    restore: w.restore,
    verify: w.verify,
    stamp: "20260102T030405Z",
  };
}

const run = async (ctx: MigrateContext) => {
  const log: string[] = [];
  const report = await runSteps(migrateSteps(ctx), ctx, (l) => void log.push(l));
  return { report, log };
};

describe("migrate single -> ha-option-a", () => {
  test("runs export, snapshot, snapshot check, destroy, deploy, restore, verify in that order", async () => {
    const w = world();
    const { report } = await run(context("single", "ha-option-a", w));
    expect(report.ok).toBe(true);
    expect(labels(w.calls)).toEqual([
      "readyz",
      "api-resources",
      "export",
      "backup",
      "snapshot-status",
      "list workloads",
      "scale --replicas=0",
      "list pods",
      "cdktf destroy single",
      "readyz",
      "cdktf deploy ha-option-a",
      "readyz",
      "restore",
      "verify",
    ]);
    expect([...w.files.keys()]).toEqual(["/backups/data-platform-local-single-20260102T030405Z-objects.yaml", SNAPSHOT]);
  });

  test("exports every namespaced kind but events, and restores the snapshot the backup printed", async () => {
    const w = world();
    await run(context("single", "ha-option-a", w));
    const exp = w.calls.find((c) => c.args.includes("-A"));
    expect(exp?.args).toContain("configmaps,secrets,deployments.apps");
    const restore = w.calls.find((c) => c.file === "restore");
    expect(restore?.args).toEqual([SNAPSHOT]);
  });

  test("runs cdktf with the engine from TERRAFORM_BINARY_NAME and --auto-approve", async () => {
    const w = world();
    await run(context("single", "ha-option-a", w));
    const destroy = w.calls.find((c) => c.file === "npx");
    expect(destroy?.args).toEqual(["cdktf", "destroy", "single", "--auto-approve"]);
    expect(destroy?.opts?.env?.TERRAFORM_BINARY_NAME).toBe("tofu");
    expect(destroy?.opts?.cwd).toBe("/repo");
  });

  test.each([
    ["export", "export namespaced objects (kubectl get -A -o yaml)"],
    ["backup", "snapshot etcd of single (scripts/etcd.sh backup)"],
    ["status", "verify the snapshot (snapshot-status, non-zero keys)"],
    ["emptySnapshot", "verify the snapshot (snapshot-status, non-zero keys)"],
  ] as const)("fails when %s fails: stops there and never destroys the old cluster", async (what, step) => {
    const w = world({ [what]: true });
    const { report, log } = await run(context("single", "ha-option-a", w));
    expect(report.ok).toBe(false);
    expect(report.failed?.step).toBe(step);
    expect(w.calls.some((c) => c.file === "npx")).toBe(false);
    expect(log.join("\n")).toContain("next: nothing was");
  });

  test("fails when destroy fails: stops, deploys nothing, and says where the snapshot is", async () => {
    const w = world({ destroy: true });
    const { report } = await run(context("single", "ha-option-a", w));
    expect(report.failed?.step).toBe("destroy stack single");
    expect(labels(w.calls)).not.toContain("cdktf deploy ha-option-a");
    expect(report.failed?.next).toContain(`the snapshot ${SNAPSHOT}`);
    expect(report.failed?.next).toContain(`npm run restore -- ha-option-a --snapshot ${SNAPSHOT}`);
  });

  test("fails when destroy fails: the reason is the engine's error behind cdktf's exit line", async () => {
    const base = world();
    const cdktfOutput = {
      code: 1,
      stdout:
        "single  \u001b[31m│\u001b[0m Error: Could not retrieve providers for locking\nsingle  │ registry.opentofu.org/hashicorp/null: could not connect\n",
      stderr: "Error: non-zero exit code 1\n",
    };
    const w = {
      ...base,
      exec: ((file: string, args: readonly string[], opts?: any) =>
        file === "npx" ? Promise.resolve(cdktfOutput) : base.exec(file, args, opts)) as typeof base.exec,
    };
    const { report } = await run(context("single", "ha-option-a", w));
    expect(report.failed?.reason).toBe(
      "npx cdktf destroy single --auto-approve failed (exit 1): single  │ Error: Could not retrieve providers for locking",
    );
    expect(errorCause({ code: 1, stdout: "", stderr: "plain failure\n" })).toBe("plain failure");
  });

  test("passes the engine flags the user's deploy needs, e.g. --skip-provider-lock", async () => {
    const w = world();
    await run({ ...context("single", "ha-option-a", w), cdktfFlags: ["--skip-provider-lock"] });
    expect(w.calls.filter((c) => c.file === "npx").map((c) => c.args.join(" "))).toEqual([
      "cdktf destroy single --auto-approve --skip-provider-lock",
      "cdktf deploy ha-option-a --auto-approve --skip-provider-lock",
    ]);
  });

  test("fails when deploy fails: stops before restore", async () => {
    const w = world({ deploy: true });
    const { report } = await run(context("single", "ha-option-a", w));
    expect(report.failed?.step).toBe("deploy stack ha-option-a");
    expect(labels(w.calls)).not.toContain("restore");
  });

  test("fails when the final verify fails", async () => {
    const w = world({ verify: true });
    const { report } = await run(context("single", "ha-option-a", w));
    expect(report).toMatchObject({
      ok: false,
      failed: { step: "verify stack ha-option-a", reason: "workloads available FAIL kube-system/coredns 1 of 2 available" },
    });
    expect(report.completed).toHaveLength(8);
  });

  test("fails when the destroy step runs without a verified snapshot: it refuses and runs nothing", async () => {
    const w = world();
    const ctx = context("single", "ha-option-a", w);
    const destroy = migrateSteps(ctx).find((s) => s.name === "destroy stack single");
    expect(await destroy?.run(ctx)).toEqual({ ok: false, reason: "no verified snapshot; refusing to destroy the old cluster" });
    expect(w.calls).toEqual([]);
  });
});

describe("migrate and the cluster's volumes", () => {
  test("stops the workloads that mount volumes after the snapshot, before the destroy; the snapshot keeps their counts", async () => {
    const w = world();
    const { log } = await run(context("single", "ha-option-a", w));
    const order = labels(w.calls);
    expect(order.indexOf("backup")).toBeLessThan(order.indexOf("scale --replicas=0"));
    expect(order.indexOf("list pods")).toBeLessThan(order.indexOf("cdktf destroy single"));
    expect(w.replicas()).toBe(0);
    expect(log).toContain("      ok in 0.0 s: 1 scaled to 0");
  });

  test("fails when scaling fails: nothing is destroyed", async () => {
    const w = world({ scale: true });
    const { report } = await run(context("single", "ha-option-a", w));
    expect(report.failed?.step).toBe("stop the workloads that mount volumes (scaled to 0; the snapshot keeps their counts)");
    expect(report.failed?.reason).toContain("scaling StatefulSet workloads/postgres to 0 failed");
    expect(w.calls.some((c) => c.file === "npx")).toBe(false);
  });

  test("fails when destroy fails after the workloads stopped, saying how to scale them back", async () => {
    const w = world({ destroy: true });
    const { report } = await run(context("single", "ha-option-a", w));
    expect(report.failed?.next).toContain(
      "to keep the old cluster instead, scale back: kubectl -n workloads scale statefulset/postgres --replicas=1",
    );
  });

  test("refuses before anything changes when a Bound volume's directory is missing from the host, naming it", async () => {
    const w = world({ volumeDir: true });
    const { report } = await run({
      ...context("single", "ha-option-a", w),
      fromDataDir: "/h/.kindha/data/x",
      toDataDir: "/h/.kindha/data/x",
    });
    expect(report.ok).toBe(false);
    expect(report.failed?.step).toBe("preflight: single -> ha-option-a, the single cluster answers");
    expect(report.failed?.reason).toBe(
      "1 of 1 volume(s) have no directory in /h/.kindha/data/x: workloads/data-postgres-0 (workloads/data-postgres-0); nothing was changed: put them back, or delete those claims, then migrate again",
    );
    expect(w.calls.filter((c) => c.file === "npx" || (c.file === "bash" && c.args.includes("backup")))).toEqual([]);
  });

  test("keeps the data directory in place when both clusters share it, and moves nothing", async () => {
    const w = world();
    const { report, log } = await run({
      ...context("single", "ha-option-a", w),
      fromDataDir: "/h/.kindha/data/x",
      toDataDir: "/h/.kindha/data/x",
    });
    expect(report.ok).toBe(true);
    expect(w.moves).toEqual([]);
    expect(log[1]).toContain("volumes stay in /h/.kindha/data/x");
  });

  test("moves (renames) the data directory after the destroy when the new cluster's differs, and marks it as the new cluster's", async () => {
    const w = world();
    const { report } = await run({ ...context("single", "ha-option-a", w), fromDataDir: "/h/a", toDataDir: "/h/b" });
    expect(report.ok).toBe(true);
    expect(w.moves).toEqual(["/h/a -> /h/b"]);
    expect(w.files.get("/h/b/.kindha-cluster")).toBe("data-platform-local\n");
    const order = report.completed;
    expect(order.indexOf("destroy stack single")).toBeLessThan(order.indexOf("move the volumes from /h/a to /h/b"));
    expect(order.indexOf("move the volumes from /h/a to /h/b")).toBeLessThan(order.indexOf("deploy stack ha-option-a"));
  });

  test.each([
    [
      { fromDataDir: "/h/a", toDataDir: undefined },
      "keeps volumes inside its nodes (dataDir: false), so the volumes in /h/a would not follow",
    ],
    [{ fromDataDir: "/h/a", toDataDir: "/h/taken" }, "/h/taken (the data directory of ha-option-a) exists already"],
  ])("fails in the preflight, before anything, when the volumes could not follow (%j)", async (dirs, reason) => {
    const w = world();
    w.files.set("/h/taken", "");
    const { report } = await run({ ...context("single", "ha-option-a", w), ...dirs });
    expect(report.failed?.step).toMatch(/^preflight/);
    expect(report.failed?.reason).toContain(reason);
    expect(w.calls).toEqual([]);
  });
});

describe("migrate ha-option-a -> single (and back)", () => {
  test("same order the other way", async () => {
    const w = world();
    const { report } = await run(context("ha-option-a", "single", w));
    expect(report.ok).toBe(true);
    expect(labels(w.calls).filter((l) => l.startsWith("cdktf"))).toEqual(["cdktf destroy ha-option-a", "cdktf deploy single"]);
  });
});

describe("npm run migrate (tools/migrate.ts)", () => {
  test("defaults the engine to tofu and prints each step", async () => {
    const w = world();
    const c = capture();
    const code = await migrateMain(["--from", "single", "--to", "ha-option-a", "--backup-dir", "/backups"], c.io, {
      exec: w.exec,
      env: { KINDHA_LOCK_DIR: process.env.KINDHA_LOCK_DIR },
      clock: fakeClock(),
      files: w.fs,
      cwd: "/repo",
      restore: w.restore,
      verify: w.verify,
    });
    expect(code).toBe(0);
    expect(c.out[0]).toBe("migrate: single (1 control plane(s)) -> ha-option-a (3), engine tofu");
    expect(c.out).toContain("[6/9] destroy stack single");
    expect(w.calls.find((x) => x.file === "npx")?.opts?.env?.TERRAFORM_BINARY_NAME).toBe("tofu");
  });

  test("restores in this process, with the restore tool's own steps printed under migrate's (no node process, no dist/)", async () => {
    const w = world();
    const c = capture();
    const code = await migrateMain(["--from", "single", "--to", "ha-option-a", "--backup-dir", "/backups"], c.io, {
      exec: w.exec,
      env: { KINDHA_LOCK_DIR: process.env.KINDHA_LOCK_DIR },
      clock: fakeClock(),
      files: w.fs,
      cwd: "/repo",
      exists: () => true,
    });
    // The snapshot exists only in the fake world: restore's first step, run here, refuses it.
    expect(code).toBe(1);
    expect(c.out).toContain(`      [1/${3 + 5 * 3 + 9}] check snapshot ${SNAPSHOT}`);
    expect(c.out).toContain(`            FAILED: ${SNAPSHOT} does not exist`);
    expect(c.out).toContain(`      FAILED: restore stopped at "check snapshot ${SNAPSHOT}": ${SNAPSHOT} does not exist`);
    expect(c.out[c.out.length - 1]).toBe('migrate: stopped at "restore the snapshot into ha-option-a"');
    expect(w.calls.filter((x) => x.file === process.execPath || x.file === "node")).toEqual([]);
  });

  test("fails when a step fails: exit 1 and the step named", async () => {
    const w = world({ status: true });
    const c = capture();
    expect(
      await migrateMain(["--from", "single", "--to", "ha-option-a"], c.io, {
        exec: w.exec,
        env: { KINDHA_LOCK_DIR: process.env.KINDHA_LOCK_DIR },
        files: w.fs,
        cwd: "/repo",
      }),
    ).toBe(1);
    expect(c.out[c.out.length - 1]).toBe('migrate: stopped at "verify the snapshot (snapshot-status, non-zero keys)"');
  });

  test("fails when --from and --to are the same stack", async () => {
    const c = capture();
    expect(await migrateMain(["--from", "single", "--to", "single"], c.io, { exec: fakeExec(() => undefined).exec })).toBe(2);
    expect(c.err[0]).toBe("error: --from and --to are both single");
  });

  test("fails when --to is not a known stack, listing the known ones", async () => {
    const c = capture();
    expect(await migrateMain(["--from", "single", "--to", "ha-option-z"], c.io)).toBe(2);
    expect(c.err[0]).toBe('error: stack: "ha-option-z" is not defined; known stacks: single, ha-option-b, ha-option-a');
  });
});
