/**
 * The operations tools' command lines: --help of each exits 0 with its usage, bad arguments and
 * unknown stacks exit 2 naming the problem; plus the step runner and bounded polling they share.
 */
import { homedir } from "node:os";
import { join } from "node:path";
import { pollUntil, runSteps, ok, failed, type Step } from "../../../lib/ops/steps";
import { renderTable } from "../../../lib/ops/table";
import { showCommand } from "../../../lib/io/exec";
import { main as backupMain } from "../../../tools/backup";
import { utcStamp } from "../../../lib/model/util";
import { main as drillMain } from "../../../tools/drill";
import { main as migrateMain } from "../../../tools/migrate";
import { main as restoreMain } from "../../../tools/restore";
import { main as verifyMain } from "../../../tools/verify";
import { main as recoverMain } from "../../../tools/recover";
import { main as removeDataMain } from "../../../tools/remove-data";
import { main as renewCertsMain } from "../../../tools/renew-certs";
import { main as upgradeMain } from "../../../tools/upgrade";
import { main as clusterApiMain } from "../../../tools/cluster-api";
import { existsSync, mkdirSync, mkdtempSync, rmSync, symlinkSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { capture, fakeClock, fakeExec, failResult, okResult, recorded } from "../../fixtures/recorded/load";
import { clusterAccessOf, loadStack, plannedStack, toolDeps } from "../../../tools/cli";
import { resources, synthPreset } from "../../../test-support/synth";

const TOOLS = [
  ["verify", verifyMain],
  ["backup", backupMain],
  ["restore", restoreMain],
  ["drill", drillMain],
  ["migrate", migrateMain],
  ["recover", recoverMain],
  ["remove-data", removeDataMain],
  ["renew-certs", renewCertsMain],
  ["upgrade", upgradeMain],
  ["cluster-api", clusterApiMain],
] as const;

describe.each(TOOLS)("npm run %s", (name, main) => {
  test("--help exits 0 and prints the usage", async () => {
    const c = capture();
    expect(await main(["--help"], c.io)).toBe(0);
    expect(c.out.join("\n")).toMatch(new RegExp(`^Usage: npm run ${name} -- `));
    expect(c.err).toEqual([]);
  });

  test("-h is --help", async () => {
    const c = capture();
    expect(await main(["-h"], c.io)).toBe(0);
    expect(c.out[0]).toContain(`npm run ${name}`);
  });

  test("fails when given an unknown option: exit 2 naming it", async () => {
    const c = capture();
    expect(await main(["--bogus"], c.io)).toBe(2);
    expect(c.err[0]).toBe("error: Unknown option '--bogus'");
    expect(c.err).toContain("Run with --help for details.");
  });
});

describe.each([
  ["verify", verifyMain],
  ["backup", backupMain],
  ["drill", drillMain],
  ["upgrade", upgradeMain],
] as const)("npm run %s <stack>", (_name, main) => {
  test("fails when the stack is unknown: exit 2 listing the known stacks, and nothing runs", async () => {
    const c = capture();
    const { exec, calls } = fakeExec(() => okResult());
    expect(await main(["ha-option-z"], c.io, { exec })).toBe(2);
    expect(c.err[0]).toBe('error: stack: "ha-option-z" is not defined; known stacks: single, ha-option-b, ha-option-a');
    expect(calls).toEqual([]);
  });

  test("fails when no stack is given", async () => {
    const c = capture();
    expect(await main([], c.io)).toBe(2);
    expect(c.err[0]).toBe("error: missing <stack>");
  });
});

describe.each([
  ["backup", backupMain],
  ["drill", drillMain],
  ["upgrade", upgradeMain],
] as const)("npm run %s <cluster-api stack>", (_name, main) => {
  test("fails when the stack targets cluster-api: exit 2 saying where its machines are, and nothing runs", async () => {
    await withConfig("stacks:\n  prod:\n    availability: ha\n    target: cluster-api\n", async () => {
      const c = capture();
      const { exec, calls } = fakeExec(() => okResult());
      expect(await main(["prod"], c.io, { exec })).toBe(2);
      expect(c.err[0]).toBe(
        "error: stack prod targets cluster-api: Cluster API runs its machines (kubectl get cluster,machines in the management cluster); this tool works on kind stacks",
      );
      expect(calls).toEqual([]);
    });
  });
});

describe("npm run verify -- <cluster-api stack>", () => {
  const main = verifyMain;

  test("a cluster-api stack is checked through its management cluster; without that cluster's kubeconfig, exit 1 naming it and nothing runs", async () => {
    await withConfig(
      "stacks:\n  prod:\n    availability: ha\n    target: cluster-api\n    clusterApi: { managementKubeconfig: /m/kubeconfig.yaml }\n",
      async () => {
        const c = capture();
        const { exec, calls } = fakeExec(() => okResult());
        expect(await main(["prod"], c.io, { exec, exists: () => false })).toBe(1);
        expect(c.err[0]).toBe(
          "error: no cluster for stack prod: deploy it first (npx cdktf deploy prod); there is no kubeconfig at /m/kubeconfig.yaml",
        );
        expect(calls).toEqual([]);
        const ran = capture();
        const fake = fakeExec((_file, args) => (args.includes("secret") ? { code: 1, stdout: "", stderr: "not found" } : okResult("{}")));
        expect(await main(["prod"], ran.io, { exec: fake.exec, exists: () => true })).toBe(1);
        expect(ran.out[0]).toBe(
          "verify: stack prod (cluster-api), cluster data-platform-local: 3 control plane(s), 1 worker(s), through the management cluster of /m/kubeconfig.yaml",
        );
        expect(fake.calls.every((x) => x.args.includes("/m/kubeconfig.yaml"))).toBe(true);
        expect(ran.out.join("\n")).toContain("no workload kubeconfig yet");
      },
    );
  });

  test("--workload-server is for cluster-api stacks only: exit 2 on a kind stack", async () => {
    const c = capture();
    expect(await main(["single", "--workload-server", "https://127.0.0.1:1"], c.io, { exec: fakeExec(() => okResult()).exec })).toBe(2);
    expect(c.err[0]).toBe("error: --workload-server applies to cluster-api stacks only");
  });
});

describe("npm run cluster-api -- install <stack>", () => {
  test("fails unless the command is install and the stack is a management cluster: exit 2 naming the setting, and nothing runs", async () => {
    const { exec, calls } = fakeExec(() => okResult());
    const bad = capture();
    expect(await clusterApiMain(["uninstall", "single"], bad.io, { exec })).toBe(2);
    expect(bad.err[0]).toBe("error: unknown command uninstall (install)");
    const plain = capture();
    expect(await clusterApiMain(["install", "single"], plain.io, { exec })).toBe(2);
    expect(plain.err[0]).toBe(
      "error: stack single is not a management cluster: set clusterApiManagement: true for it in kindha.config.yaml and re-create it (its nodes need the Docker socket CAPD uses)",
    );
    const target = capture();
    await withConfig("stacks:\n  prod:\n    availability: ha\n    target: cluster-api\n", async () => {
      expect(await clusterApiMain(["install", "prod"], target.io, { exec })).toBe(2);
    });
    expect(target.err[0]).toContain("error: stack prod targets cluster-api");
    expect(calls).toEqual([]);
  });
});

/** Runs `body` with KINDHA_CONFIG naming a config file of `text`. */
async function withConfig(text: string, body: () => Promise<void>): Promise<void> {
  const dir = mkdtempSync(join(tmpdir(), "kindha-capi-tool-"));
  const before = process.env.KINDHA_CONFIG;
  try {
    writeFileSync(join(dir, "kindha.config.yaml"), text);
    process.env.KINDHA_CONFIG = join(dir, "kindha.config.yaml");
    await body();
  } finally {
    if (before === undefined) delete process.env.KINDHA_CONFIG;
    else process.env.KINDHA_CONFIG = before;
    rmSync(dir, { recursive: true, force: true });
  }
}

describe("npm run backup -- <stack>", () => {
  test("runs scripts/etcd.sh backup for the stack's cluster into ~/.kindha/backups/<cluster> and prints the path", async () => {
    const c = capture();
    const { exec, calls } = fakeExec(() => okResult("/b/data-platform-local-single-20260102T030405Z.db\n"));
    expect(await backupMain(["single"], c.io, { exec, env: {}, exists: () => true })).toBe(0);
    expect(c.out).toEqual(["/b/data-platform-local-single-20260102T030405Z.db"]);
    expect(calls).toHaveLength(1);
    expect(calls[0].file).toBe("bash");
    expect(calls[0].args[0]).toMatch(/scripts\/etcd\.sh$/);
    expect(calls[0].args.slice(1)).toEqual([
      "backup",
      "--cluster",
      "data-platform-local",
      "--stack",
      "single",
      "--kubeconfig",
      join(homedir(), ".kube/kindha-data-platform-local.yaml"),
      "--backup-dir",
      join(homedir(), ".kindha/backups/data-platform-local"),
      "--node",
      "data-platform-local-control-plane",
    ]);
  });

  test("a stack's own backupDir and kubeconfigPath in kindha.config.yaml: backup uses them", async () => {
    const c = capture();
    const { exec, calls } = fakeExec(() => okResult("/srv/snapshots/data-platform-local-single-20260102T030405Z.db\n"));
    await withConfig("stacks:\n  single:\n    backupDir: /srv/snapshots\n    kubeconfigPath: ~/kc/single.yaml\n", async () => {
      expect(await backupMain(["single"], c.io, { exec, env: {}, exists: () => true })).toBe(0);
    });
    const args = calls[0].args;
    expect({ kubeconfig: args[args.indexOf("--kubeconfig") + 1], backupDir: args[args.indexOf("--backup-dir") + 1] }).toEqual({
      kubeconfig: join(homedir(), "kc/single.yaml"),
      backupDir: "/srv/snapshots",
    });
  });

  test("fails when the stack has no cluster: one line, exit 1, nothing run", async () => {
    const c = capture();
    const { exec, calls } = fakeExec(() => okResult());
    expect(await backupMain(["single"], c.io, { exec, env: {}, exists: () => false })).toBe(1);
    expect(c.err).toEqual([
      `error: no cluster for stack single: deploy it first (npx cdktf deploy single); there is no kubeconfig at ${join(homedir(), ".kube/kindha-data-platform-local.yaml")}`,
    ]);
    expect(calls).toEqual([]);
  });

  test("fails when etcd.sh writes no snapshot, and never lets KINDHA_SKIP_BACKUP make it a success", async () => {
    const c = capture();
    const { exec, calls } = fakeExec(() => okResult(""));
    expect(await backupMain(["single"], c.io, { exec, env: { KINDHA_SKIP_BACKUP: "1" }, exists: () => true })).toBe(1);
    expect(c.err).toEqual(["backup: FAILED: etcd.sh wrote no snapshot"]);
    expect(calls[0].opts?.env?.KINDHA_SKIP_BACKUP).toBe("");
  });

  test("fails when the script fails: exit 1 with its error", async () => {
    const c = capture();
    const { exec } = fakeExec(() =>
      failResult("etcd.sh: error: backup of cluster data-platform-local (stack single) failed: kubeconfig /x does not exist"),
    );
    expect(await backupMain(["single"], c.io, { exec, env: {}, exists: () => true })).toBe(1);
    expect(c.err).toEqual([
      "etcd.sh: error: backup of cluster data-platform-local (stack single) failed: kubeconfig /x does not exist",
      "backup: FAILED (exit 1)",
    ]);
  });
});

describe("the tools and the cluster's volumes", () => {
  /** A config in which `single` keeps its volumes inside the nodes. */
  const noDataDir = () => {
    const dir = mkdtempSync(join(tmpdir(), "kindha-tools-"));
    writeFileSync(join(dir, "k.yaml"), "stacks:\n  single: { dataDir: false }\n");
    return { dir, env: { KINDHA_CONFIG: join(dir, "k.yaml") } };
  };
  const withConfig = async <T>(env: Record<string, string>, f: () => Promise<T>): Promise<T> => {
    const saved = process.env.KINDHA_CONFIG;
    process.env.KINDHA_CONFIG = env.KINDHA_CONFIG;
    try {
      return await f();
    } finally {
      if (saved === undefined) delete process.env.KINDHA_CONFIG;
      else process.env.KINDHA_CONFIG = saved;
    }
  };

  test("backup --with-data fails when the stack keeps its volumes in the nodes: exit 2, nothing run", async () => {
    const t = noDataDir();
    const { exec, calls } = fakeExec(() => okResult());
    const c = capture();
    expect(await withConfig(t.env, () => backupMain(["single", "--with-data"], c.io, { exec, env: {}, exists: () => true }))).toBe(2);
    expect(c.err[0]).toBe(
      "error: --with-data: stack single keeps its volumes inside the nodes (dataDir: false); there is no data directory to archive",
    );
    expect(calls).toEqual([]);
    rmSync(t.dir, { recursive: true, force: true });
  });

  test("restore --with-data fails when the archive is not beside the snapshot, naming where it looked", async () => {
    const dir = mkdtempSync(join(tmpdir(), "kindha-tools-"));
    const snapshot = join(dir, "c-single-20260101T000000Z.db");
    writeFileSync(snapshot, "x");
    const c = capture();
    expect(
      await restoreMain(["single", "--snapshot", snapshot, "--with-data"], c.io, {
        exec: fakeExec(() => okResult()).exec,
        env: {},
        exists: () => true,
      }),
    ).toBe(2);
    expect(c.err[0]).toBe(
      `error: --with-data: ${join(dir, "c-single-20260101T000000Z.data.tar.gz")} does not exist (npm run backup -- <stack> --with-data writes it beside the snapshot)`,
    );
    rmSync(dir, { recursive: true, force: true });
  });

  test("remove-data refuses while the cluster's containers exist, and without --yes lists what would go", async () => {
    const home = mkdtempSync(join(tmpdir(), "kindha-tools-"));
    const data = join(home, ".kindha", "data", "data-platform-local");
    mkdirSync(join(data, "db", "data-postgres-0"), { recursive: true });
    writeFileSync(join(data, ".kindha-cluster"), "data-platform-local\n");
    try {
      const running = fakeExec(() => okResult("data-platform-local-control-plane\n"));
      const c1 = capture();
      expect(await removeDataMain(["single", "--yes"], c1.io, { exec: running.exec, env: { HOME: home } })).toBe(1);
      expect(c1.err[0]).toBe(`error: cluster data-platform-local exists and uses ${data}; destroy it first (npx cdktf destroy single)`);
      const gone = fakeExec(() => okResult(""));
      const c2 = capture();
      expect(await removeDataMain(["single"], c2.io, { exec: gone.exec, env: { HOME: home } })).toBe(2);
      expect(c2.err[0]).toBe(`error: add --yes to delete ${data} (1 volume(s): db/data-postgres-0)`);
      expect(existsSync(join(data, "db", "data-postgres-0"))).toBe(true);
      writeFileSync(join(data, ".kindha-cluster"), "another\n");
      const c3 = capture();
      expect(await removeDataMain(["single", "--yes"], c3.io, { exec: gone.exec, env: { HOME: home } })).toBe(1);
      expect(c3.err[0]).toBe(`error: ${data} belongs to cluster "another", not data-platform-local; not touching it`);
      writeFileSync(join(data, ".kindha-cluster"), "data-platform-local\n");
      const c4 = capture();
      expect(await removeDataMain(["single", "--yes"], c4.io, { exec: gone.exec, env: { HOME: home } })).toBe(0);
      expect(existsSync(data)).toBe(false);
    } finally {
      rmSync(home, { recursive: true, force: true });
    }
  });
});

describe("remove-data refuses what kindha did not make", () => {
  test("a directory without the file naming its cluster, a symbolic link, and one that holds the backups", async () => {
    const home = mkdtempSync(join(tmpdir(), "kindha-tools-"));
    const data = join(home, ".kindha", "data", "data-platform-local");
    const gone = fakeExec(() => okResult(""));
    const refused = async () => {
      const c = capture();
      expect(await removeDataMain(["single", "--yes"], c.io, { exec: gone.exec, env: { HOME: home } })).toBe(1);
      return c.err[0];
    };
    try {
      mkdirSync(join(data, "workloads", "lake"), { recursive: true });
      expect(await refused()).toBe(
        `error: ${data} has no .kindha-cluster file naming its cluster, so kindha did not make it; not touching it`,
      );
      expect(existsSync(join(data, "workloads", "lake"))).toBe(true);
      // A link: the target stays.
      const target = join(home, "elsewhere");
      mkdirSync(target);
      writeFileSync(join(target, ".kindha-cluster"), "data-platform-local\n");
      rmSync(data, { recursive: true });
      symlinkSync(target, data);
      expect(await refused()).toBe(
        `error: ${data} is a symbolic link (to ${target}); not touching it: set dataDir to the directory itself`,
      );
      expect(existsSync(join(target, ".kindha-cluster"))).toBe(true);
      // A data directory that holds the backup directory.
      writeFileSync(join(home, ".kindha", ".kindha-cluster"), "data-platform-local\n");
      const c = capture();
      await withConfig("stacks:\n  single:\n    dataDir: ~/.kindha\n", async () => {
        expect(await removeDataMain(["single", "--yes"], c.io, { exec: gone.exec, env: { HOME: home } })).toBe(1);
      });
      expect(existsSync(join(home, ".kindha", ".kindha-cluster"))).toBe(true);
      expect(c.err[0]).toBe(
        `error: ${join(home, ".kindha")} overlaps the backup directory ${join(home, ".kindha", "backups", "data-platform-local")}; deleting it would delete snapshots: not touching it`,
      );
      // A data directory that holds another cluster's, by the config and by that one's owner file.
      const mine = join(home, "lakes");
      const theirs = join(mine, "team-b");
      mkdirSync(theirs, { recursive: true });
      writeFileSync(join(mine, ".kindha-cluster"), "data-platform-local\n");
      writeFileSync(join(theirs, ".kindha-cluster"), "team-b\n");
      const d = capture();
      await withConfig(
        "stacks:\n  single:\n    dataDir: ~/lakes\n  other:\n    availability: single\n    clusterName: team-b\n    dataDir: ~/lakes/team-b\n",
        async () => {
          expect(await removeDataMain(["single", "--yes"], d.io, { exec: gone.exec, env: { HOME: home } })).toBe(1);
        },
      );
      expect(d.err[0]).toBe(
        `error: ${mine} overlaps ${theirs}, the data directory of cluster team-b (stack other); deleting it would delete another cluster's volumes: not touching it`,
      );
      // The other way round: a data directory inside another cluster's, found by its owner file.
      writeFileSync(join(theirs, ".kindha-cluster"), "data-platform-local\n");
      writeFileSync(join(mine, ".kindha-cluster"), "team-b\n");
      const e = capture();
      await withConfig("stacks:\n  single:\n    dataDir: ~/lakes/team-b\n", async () => {
        expect(await removeDataMain(["single", "--yes"], e.io, { exec: gone.exec, env: { HOME: home } })).toBe(1);
      });
      expect(e.err[0]).toBe(
        `error: ${theirs} overlaps ${mine}, the data directory of cluster "team-b"; deleting it would delete another cluster's volumes: not touching it`,
      );
      expect(existsSync(join(theirs, ".kindha-cluster"))).toBe(true);
    } finally {
      rmSync(home, { recursive: true, force: true });
    }
  });
});

describe("remove-data --claim", () => {
  test("deletes one claim's directory and nothing else; in a running cluster only once the claim is gone, with its released volume", async () => {
    const home = mkdtempSync(join(tmpdir(), "kindha-tools-"));
    const data = join(home, ".kindha", "data", "data-platform-local");
    for (const claim of ["workloads/lake", "workloads/other", "data-platform/lake"]) mkdirSync(join(data, claim), { recursive: true });
    writeFileSync(join(data, "workloads", "lake", "bytes"), "x");
    writeFileSync(join(data, ".kindha-cluster"), "data-platform-local\n");
    const pv = JSON.parse(recorded("kubectl-pv-bound").stdout);
    pv.items[0] = { ...pv.items[0], metadata: { ...pv.items[0].metadata, name: "pvc-lake" }, status: { phase: "Released" } };
    pv.items[0].spec = {
      ...pv.items[0].spec,
      claimRef: { namespace: "workloads", name: "lake" },
      hostPath: { path: "/var/local-path-provisioner/workloads/lake" },
    };
    try {
      const bad = capture();
      expect(
        await removeDataMain(["single", "--claim", "../x", "--yes"], bad.io, {
          exec: fakeExec(() => okResult("")).exec,
          env: { HOME: home },
        }),
      ).toBe(2);
      expect(bad.err[0]).toBe('error: --claim: "../x" must be <namespace>/<claim>, each a lower-case Kubernetes name');
      // The cluster runs and the claim still exists: refused.
      const claimThere = fakeExec((file, args) =>
        file === "kubectl" && args.includes("pvc")
          ? okResult("persistentvolumeclaim/lake\n")
          : okResult("data-platform-local-control-plane\n"),
      );
      const c1 = capture();
      expect(
        await removeDataMain(["single", "--claim", "workloads/lake", "--yes"], c1.io, {
          exec: claimThere.exec,
          env: { HOME: home },
          exists: () => true,
        }),
      ).toBe(1);
      expect(c1.err[0]).toBe(
        "error: claim workloads/lake exists in cluster data-platform-local; delete it first (kubectl -n workloads delete pvc lake), then run this again",
      );
      expect(existsSync(join(data, "workloads", "lake", "bytes"))).toBe(true);
      // The claim is gone: its directory and its released volume go, the rest stays.
      const claimGone = fakeExec((file, args) => {
        if (file === "kubectl" && args.includes("pvc")) return okResult("");
        if (file === "kubectl" && args.includes("pv") && args.includes("get")) return okResult(JSON.stringify(pv));
        if (file === "kubectl" && args.includes("delete")) return okResult('persistentvolume "pvc-lake" deleted');
        return okResult("data-platform-local-control-plane\n");
      });
      const c2 = capture();
      expect(
        await removeDataMain(["single", "--claim", "workloads/lake"], c2.io, {
          exec: claimGone.exec,
          env: { HOME: home },
          exists: () => true,
        }),
      ).toBe(2);
      expect(c2.err[0]).toBe(`error: add --yes to delete ${join(data, "workloads", "lake")} and the released volume pvc-lake`);
      const c3 = capture();
      expect(
        await removeDataMain(["single", "--claim", "workloads/lake", "--yes"], c3.io, {
          exec: claimGone.exec,
          env: { HOME: home },
          exists: () => true,
        }),
      ).toBe(0);
      expect(c3.out).toEqual([
        `remove-data: deleted ${join(data, "workloads", "lake")} (volume workloads/lake), and its released volume pvc-lake`,
      ]);
      expect(claimGone.calls.some((c) => c.file === "kubectl" && c.args.join(" ").endsWith("delete pv pvc-lake"))).toBe(true);
      expect(existsSync(join(data, "workloads", "lake"))).toBe(false);
      expect(existsSync(join(data, "workloads", "other"))).toBe(true);
      expect(existsSync(join(data, "data-platform", "lake"))).toBe(true);
    } finally {
      rmSync(home, { recursive: true, force: true });
    }
  });
});

describe("step runner", () => {
  const step = (name: string, result: boolean, seen: string[]): Step<unknown> => ({
    name,
    next: `fix ${name}`,
    run: async () => {
      seen.push(name);
      return result ? ok() : failed(`${name} broke`);
    },
  });

  test("runs steps in order, reports them completed, and prints each step's time", async () => {
    const seen: string[] = [];
    const log: string[] = [];
    const clock = fakeClock();
    const timed: Step<unknown> = { name: "slow", next: "n", run: async () => (await clock.sleep(2500), { ok: true }) };
    const report = await runSteps([step("a", true, seen), timed, step("b", true, seen)], {}, (l) => void log.push(l), clock);
    expect(report).toEqual({ ok: true, completed: ["a", "slow", "b"] });
    expect(seen).toEqual(["a", "b"]);
    expect(log).toEqual([
      "[1/3] a",
      "      ok in 0.0 s",
      "[2/3] slow",
      "      ok in 2.5 s",
      "[3/3] b",
      "      ok in 0.0 s",
      "done: 3 steps in 3 s",
    ]);
  });

  test("fails when a step fails: later steps never run, and the log says what to do next", async () => {
    const seen: string[] = [];
    const log: string[] = [];
    const report = await runSteps(
      [step("a", true, seen), step("b", false, seen), step("c", true, seen)],
      {},
      (l) => void log.push(l),
      fakeClock(),
    );
    expect(seen).toEqual(["a", "b"]);
    expect(report.failed).toEqual({ step: "b", reason: "b broke", next: "fix b" });
    expect(log).toEqual(["[1/3] a", "      ok in 0.0 s", "[2/3] b", "      FAILED: b broke", "      next: fix b", "      not run: c"]);
  });

  test("fails when a step throws: the error becomes the failure reason", async () => {
    const boom: Step<unknown> = {
      name: "boom",
      next: "n",
      run: async () => {
        throw new Error("kaput");
      },
    };
    expect((await runSteps([boom], {}, () => undefined)).failed?.reason).toBe("kaput");
  });
});

describe("pollUntil", () => {
  test("stops as soon as the probe is done", async () => {
    let n = 0;
    const r = await pollUntil(async () => ({ done: ++n === 3 }), { timeoutMs: 60_000, intervalMs: 1_000, clock: fakeClock() });
    expect(r.done).toBe(true);
    expect(n).toBe(3);
  });

  test("fails when the probe never succeeds: gives up after timeout/interval + 1 probes", async () => {
    let n = 0;
    const r = await pollUntil(async () => ({ done: (n++, false) }), { timeoutMs: 10_000, intervalMs: 1_000, clock: fakeClock() });
    expect(r.done).toBe(false);
    expect(n).toBe(11);
  });

  test("is bounded by probe count even when the clock does not move", async () => {
    let n = 0;
    const frozen = { now: () => 0, sleep: async () => undefined };
    await pollUntil(async () => ({ done: (n++, false) }), { timeoutMs: 5_000, intervalMs: 1_000, clock: frozen });
    expect(n).toBe(6);
  });
});

describe("small helpers", () => {
  test("utcStamp is yyyymmddThhmmssZ in UTC", () => {
    expect(utcStamp(new Date("2026-11-25T03:04:05.999Z"))).toBe("20261125T030405Z");
  });

  test("showCommand quotes what a shell would split, for display only", () => {
    expect(showCommand("kubectl", ["patch", "-p", '{"data":{"a":"b c"}}'])).toBe(`kubectl patch -p '{"data":{"a":"b c"}}'`);
  });

  test("renderTable pads every column but the last", () => {
    expect(renderTable(["a", "bb"], [["xyz", "1"]])).toBe("a    bb\n---  --\nxyz  1");
  });
});

describe("--wait SECONDS: one grammar and one bound in every tool that waits", () => {
  const tools: [string, (argv: readonly string[], io: any, deps: any) => Promise<number>, string[]][] = [
    ["backup", backupMain, ["single"]],
    ["cluster-api", clusterApiMain, ["install", "single"]],
    ["recover", recoverMain, ["single"]],
    ["renew-certs", renewCertsMain, ["single"]],
    ["restore", restoreMain, ["single", "--snapshot", __filename]],
    ["upgrade", upgradeMain, ["single"]],
  ];
  test.each(
    tools.flatMap(([name, main, args]) => ["5", "1801", "1.5", "1e3", "0x20", "ten"].map((wait) => [name, wait, main, args] as const)),
  )("%s --wait %s: exit 2 with the one rule, nothing run", async (_name, wait, main, args) => {
    const c = capture();
    const { exec, calls } = fakeExec(() => okResult());
    expect(
      await main([...args, "--wait", wait], c.io, { exec, env: { KINDHA_LOCK_DIR: process.env.KINDHA_LOCK_DIR }, exists: () => true }),
    ).toBe(2);
    expect(c.err[0]).toBe("error: --wait must be a whole number of seconds from 10 to 1800");
    expect(calls).toEqual([]);
  });
});

describe("the registry the tools check", () => {
  const plannedOf = (props: Record<string, unknown>) =>
    Object.values(resources(synthPreset("single", props).json, "null_resource")).find((r) => r.triggers?.node_image !== undefined)
      .provisioner[0]["local-exec"].environment.KINDHA_PLANNED_STACK as string;
  const deps = { exec: fakeExec(() => okResult()).exec, env: {}, clock: fakeClock(), exists: () => true };

  test("is the stack's setting, and from the roll's hook the setting the plan saw", () => {
    expect(clusterAccessOf(loadStack("single"), undefined, toolDeps(deps)).registry).toEqual({
      port: 5001,
      dir: "~/.kindha/registry",
      host: "localhost:5001",
    });
    const own = plannedStack({ KINDHA_PLANNED_STACK: plannedOf({ registry: { port: 5002, dir: "/srv/registry" } }) });
    expect(clusterAccessOf(own, undefined, toolDeps(deps)).registry).toEqual({ port: 5002, dir: "/srv/registry", host: "localhost:5002" });
    const off = plannedStack({ KINDHA_PLANNED_STACK: plannedOf({ registry: false }) });
    expect(clusterAccessOf(off, undefined, toolDeps(deps)).registry).toBeUndefined();
  });
});
