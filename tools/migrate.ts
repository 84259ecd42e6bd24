/**
 * `npm run migrate -- --from <stack> --to <stack>`: moves the cluster's state to another topology
 * (e.g. single -> ha-option-a and back), never destroying the old cluster before a verified
 * snapshot exists. Steps in lib/ops/migrate/.
 */
import { writePrivateFile } from "../lib/io/private-file";
import { withLock } from "../lib/ops/lock";
import { existsSync, mkdirSync, renameSync, statSync } from "node:fs";
import { dirname, join, resolve } from "node:path";
import { migrateSteps, type Files, type MigrateContext } from "../lib/ops/migrate/migrate";
import { runSteps } from "../lib/ops/steps";
import { restoreInto } from "../lib/ops/restore/restore";
import { waitForVerify } from "../lib/ops/verify";
import {
  hostPath,
  clusterAccess,
  clusterAccessOf,
  EXIT,
  loadStack,
  clusterOpsContext,
  parseToolArgs,
  processIo,
  runMain,
  runTool,
  toolDeps,
  UsageError,
  type Io,
  type ToolDeps,
} from "./cli";
import { utcStamp } from "../lib/model/util";
import { projectRoot } from "../lib/io/project";
import { CONFIG_FILE } from "../lib/io/config-file";

export const USAGE = `Usage: npm run migrate -- --from <stack> --to <stack> [--backup-dir DIR]

Moves a running cluster to another topology, e.g. --from single --to ha-option-a (and back).
Each step is checked; the first failure stops the run and prints what to do next:
  1. preflight: the --from cluster answers
  2. export namespaced objects: kubectl get -A -o yaml into the backup dir
  3. snapshot etcd (scripts/etcd.sh backup)
  4. verify the snapshot: snapshot status with a non-zero key count
  5. stop the workloads that mount volumes: Deployments and StatefulSets scaled to 0, so
     databases shut down cleanly (the snapshot keeps their replica counts)
  6. destroy --from: npx cdktf destroy <from> --auto-approve   (only after 4 passed)
  7. when the two clusters' data directories differ: move (rename) it to the new one's
  8. deploy --to:    npx cdktf deploy <to> --auto-approve
  9. restore the snapshot into --to (npm run restore)
 10. verify --to (npm run verify: nodes, etcd, API, every claim Bound, every workload available),
     until it passes, for at most 5 minutes

The volumes stay on this machine, in the data directory: never copied through the API.

Options:
  --from STACK      the deployed stack
  --to STACK        the stack to move to
  --backup-dir DIR  default: --from's backupDir (~/.kindha/backups/<cluster>)
  --project-dir DIR the directory holding cdktf.json (and kindha.config.yaml) where cdktf runs;
                    default: this checkout
  --skip-provider-lock  passed to cdktf deploy/destroy, as for a deploy whose providers come
                    from a filesystem mirror (cdktf's lock step wants a registry)
  -h, --help        this help

Environment: TERRAFORM_BINARY_NAME (engine cdktf runs; default tofu).`;

/** Real files: directory 0700, file 0600 (exports hold Secrets). */
const realFiles: Files = {
  exists: (p) => existsSync(p),
  write: (p, text) => void writePrivateFile(p, text),
  move: (from, to) => {
    mkdirSync(dirname(to), { recursive: true, mode: 0o700 });
    renameSync(from, to);
  },
};

/** --project-dir as given, resolved: an existing directory holding cdktf.json, or a usage error naming what it is. */
function checkedProjectDir(given: string): string {
  const dir = resolve(given);
  if (given === "") throw new UsageError("--project-dir needs a directory");
  if (!existsSync(dir)) throw new UsageError(`--project-dir: ${dir} does not exist`);
  if (!statSync(dir).isDirectory()) throw new UsageError(`--project-dir: ${dir} is a file, not a directory`);
  if (!existsSync(join(dir, "cdktf.json")))
    throw new UsageError(`--project-dir: ${dir} has no cdktf.json; name the directory of the kindha checkout (or project) to deploy from`);
  return dir;
}

const dataDirOf = (s: ReturnType<typeof loadStack>, deps: ToolDeps) =>
  s.paths.data === undefined ? undefined : hostPath(s.paths.data, deps);

/** How long migrate's last step waits for verify to pass. */
const VERIFY_WAIT_MS = 5 * 60_000;

/** The same printer, each line indented: a step's sub-steps under it. */
const indented = (io: Io): Io => ({ out: (t) => io.out(t.replace(/^/gm, "      ")), err: (t) => io.err(t.replace(/^/gm, "      ")) });

export async function main(
  argv: readonly string[],
  io: Io = processIo,
  given: Partial<ToolDeps & { files: Files; cwd: string } & Pick<MigrateContext, "restore" | "verify">> = {},
): Promise<number> {
  return runTool(io, USAGE, argv, async () => {
    const { values, positionals } = parseToolArgs(argv, {
      from: { type: "string" },
      to: { type: "string" },
      "backup-dir": { type: "string" },
      "skip-provider-lock": { type: "boolean" },
      "project-dir": { type: "string" },
    });
    if (positionals.length > 0) throw new UsageError(`unexpected ${positionals.join(" ")}; use --from and --to`);
    const deps = toolDeps(given);
    // The stacks cdktf will deploy: the project directory's config file, unless KINDHA_CONFIG names one.
    const projectDir = values["project-dir"] !== undefined ? checkedProjectDir(values["project-dir"]) : undefined;
    const config = deps.env.KINDHA_CONFIG || (projectDir ? join(projectDir, CONFIG_FILE) : undefined);
    const from = loadStack(values.from, "--from <stack>", config);
    const to = loadStack(values.to, "--to <stack>", config);
    if (from.id === to.id) throw new UsageError(`--from and --to are both ${from.id}`);
    // Both clusters' locks, in name order; cdktf's plan hooks run under them (KINDHA_LOCK).
    const [first, second] = [from, to].sort((a, b) => a.topology.clusterName.localeCompare(b.topology.clusterName));
    const lock = (s: typeof from, body: () => Promise<number>) =>
      withLock(s.topology.clusterName, `migrate ${from.id} -> ${to.id}`, deps, (l) => io.out(l), body);
    return lock(first, () => (first.topology.clusterName === second.topology.clusterName ? work() : lock(second, work)));
    async function work(): Promise<number> {
      const ctx: MigrateContext = {
        from: { id: from.id, topology: from.topology, access: clusterAccessOf(from, undefined, deps) },
        to: { id: to.id, topology: to.topology, access: clusterAccessOf(to, undefined, deps) },
        backupDir: hostPath(values["backup-dir"] ?? from.paths.backups, deps),
        exec: deps.exec,
        files: given.files ?? realFiles,
        cwd: projectDir ?? given.cwd ?? projectRoot(),
        env: { ...deps.env, TERRAFORM_BINARY_NAME: deps.env.TERRAFORM_BINARY_NAME || "tofu" },
        stamp: utcStamp(new Date(deps.clock.now())),
        cdktfFlags: values["skip-provider-lock"] ? ["--skip-provider-lock"] : [],
        fromDataDir: dataDirOf(from, deps),
        toDataDir: dataDirOf(to, deps),
        clock: deps.clock,
        // The target's steps and checks run here, indented under migrate's own; its kubeconfig exists once deployed.
        restore:
          given.restore ?? ((snapshot) => restoreInto(clusterOpsContext(to, undefined, deps, indented(io)), { stackId: to.id, snapshot })),
        // Pods the restore re-created may still be settling: verify until it passes, bounded.
        verify:
          given.verify ??
          (async () =>
            (
              await waitForVerify(to.topology, clusterAccess(to, undefined, deps), {
                timeoutMs: VERIFY_WAIT_MS,
                intervalMs: 5_000,
                clock: deps.clock,
              })
            ).results),
      };
      io.out(
        `migrate: ${from.id} (${from.topology.controlPlanes.length} control plane(s)) -> ${to.id} (${to.topology.controlPlanes.length}), engine ${ctx.env.TERRAFORM_BINARY_NAME}`,
      );
      const report = await runSteps(migrateSteps(ctx), ctx, (l) => io.out(l));
      io.out(
        report.ok ? `migrate: done; stack ${to.id} runs with the state of ${from.id}` : `migrate: stopped at "${report.failed?.step}"`,
      );
      return report.ok ? EXIT.ok : EXIT.failed;
    }
  });
}

if (require.main === module) runMain(main);
