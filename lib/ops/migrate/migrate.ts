/**
 * Topology migration (e.g. single -> ha-option-a and back) as checked steps: export the objects,
 * snapshot etcd and verify the snapshot, and only then destroy the old stack, deploy the new one,
 * restore and verify. Stops at the first failure with what to do next.
 */
import { join } from "node:path";
import { backupArgs, EtcdCommandError } from "../etcd-script";
import type { Topology } from "../../model/topology";
import { lastLine, outputLines, showCommand, type CommandResult, type Executor } from "../../io/exec";
import { ClusterClient, type ClusterAccess } from "../client";
import { quiesce, readVolumesOnHost, type Scaled } from "../data";
import { failed, failedCommand, ok, realClock, type Clock, type Step, type StepReport } from "../steps";
import type { CheckResult } from "../verify";
import { DATA_OWNER_FILE } from "../../model/storage";

/** One side of a migration. */
export interface StackRef {
  readonly id: string;
  readonly topology: Topology;
  /** How the tools reach this side's cluster (its kubeconfig need not exist yet). */
  readonly access: ClusterAccess;
}

/** File operations of the export step, injectable for tests. */
export interface Files {
  exists(path: string): boolean;
  /** Writes a file 0600, creating its directory 0700. */
  write(path: string, text: string): void;
  /** Renames a directory (the same file system: nothing is copied). */
  move(from: string, to: string): void;
}

export interface MigrateContext {
  readonly from: StackRef;
  readonly to: StackRef;
  /** Backup directory of the old cluster (expanded). */
  readonly backupDir: string;
  readonly exec: Executor;
  readonly files: Files;
  /** The project directory (cdktf.json, kindha.config.yaml): where `npx cdktf` runs. */
  readonly cwd: string;
  /** Environment of `npx cdktf`; TERRAFORM_BINARY_NAME is set (default tofu). */
  readonly env: NodeJS.ProcessEnv;
  /** Restores a snapshot into the new cluster, in this process: the restore tool's steps and context. */
  readonly restore: (snapshot: string) => Promise<StepReport>;
  /** Verifies the new cluster, in this process: the verify tool's checks and context (the last results, once they pass or time runs out). */
  readonly verify: () => Promise<readonly CheckResult[]>;
  /** UTC yyyymmddThhmmssZ, naming the export file. */
  readonly stamp: string;
  /** Extra flags for `cdktf deploy` and `cdktf destroy`, e.g. `--skip-provider-lock`. */
  readonly cdktfFlags?: readonly string[];
  /** Data directories of the two clusters (expanded); undefined where volumes stay in the nodes. */
  readonly fromDataDir?: string;
  readonly toDataDir?: string;
  /** Bound of waiting for the volumes' pods to stop, in ms. @default 300000 */
  readonly quiesceWaitMs?: number;
  readonly clock?: Clock;
  /** Filled by the steps. */
  exportFile?: string;
  snapshot?: string;
  /** Set only after snapshot-status read a non-empty snapshot: the destroy step's precondition. */
  snapshotVerified?: boolean;
  /** The workloads scaled to zero before the destroy (the snapshot holds their counts). */
  quiesced?: readonly Scaled[];
}

/** Kinds never worth exporting: high churn, recreated by the cluster. */
const SKIP_KINDS = new Set(["events", "events.events.k8s.io", "pods.metrics.k8s.io"]);

const exec = (c: MigrateContext, file: string, args: readonly string[], timeoutMs = 120_000): Promise<CommandResult> =>
  c.exec(file, args, { env: c.env, cwd: c.cwd, timeoutMs });
const failedCmd = (file: string, args: readonly string[], r: CommandResult) => failedCommand(showCommand(file, args), r, errorCause);

/**
 * The lines of a failed command that say why: cdktf ends with "Error: non-zero exit code 1" and
 * prints the engine's own errors above it. At most the last 5, without colour codes.
 */
export function errorCause(r: CommandResult): string {
  const lines = outputLines(`${r.stdout}\n${r.stderr}`);
  const causes = [
    ...new Set(lines.filter((l) => /\b(Error|error|ERROR|FAILED)\b/.test(l) && !/non-zero exit code|^Command failed:/.test(l))),
  ];
  return causes.length > 0 ? causes.slice(-5).join(" | ") : lastLine(r);
}

const apiAnswers = (s: StackRef): Promise<CommandResult> => new ClusterClient(s.access).readyz(s.topology.api.url);

/** Commands that finish the migration by hand from a verified snapshot. */
function finishByHand(c: MigrateContext): string {
  const snap = c.snapshot ?? "<snapshot>";
  return `npx cdktf deploy ${c.to.id} --auto-approve && npm run restore -- ${c.to.id} --snapshot ${snap} && npm run verify -- ${c.to.id}`;
}

/** Why the volumes cannot follow the migration, or undefined when they can. */
export function dataPlanProblem(c: Pick<MigrateContext, "fromDataDir" | "toDataDir" | "files" | "to">): string | undefined {
  if (c.fromDataDir === undefined || c.fromDataDir === c.toDataDir) return undefined;
  if (c.toDataDir === undefined)
    return `stack ${c.to.id} keeps volumes inside its nodes (dataDir: false), so the volumes in ${c.fromDataDir} would not follow; give it a dataDir`;
  if (c.files.exists(c.toDataDir))
    return `${c.toDataDir} (the data directory of ${c.to.id}) exists already; the volumes in ${c.fromDataDir} would not fit in beside it: move one of them away`;
  return undefined;
}

const scaleBackHint = (c: MigrateContext) =>
  (c.quiesced ?? []).map((w) => `kubectl -n ${w.namespace} scale ${w.kind.toLowerCase()}/${w.name} --replicas=${w.replicas}`).join("; ");

/** The migration steps, in order. Pure: nothing runs until runSteps calls them. */
export function migrateSteps(c: MigrateContext): Step<MigrateContext>[] {
  const cdktf = (verb: "destroy" | "deploy", stack: string) => ["cdktf", verb, stack, "--auto-approve", ...(c.cdktfFlags ?? [])];
  const old = new ClusterClient(c.from.access);
  return [
    {
      name: `preflight: ${c.from.id} -> ${c.to.id}, the ${c.from.id} cluster answers`,
      next: `bring stack ${c.from.id} up (npx cdktf deploy ${c.from.id}) or migrate from the stack that is deployed`,
      run: async () => {
        if (c.from.id === c.to.id) return failed(`--from and --to are both ${c.from.id}`);
        const problem = dataPlanProblem(c);
        if (problem) return failed(problem);
        const r = await apiAnswers(c.from);
        if (r.code !== 0) return failed(`the ${c.from.id} API does not answer: ${lastLine(r)}`);
        if (c.fromDataDir !== undefined) {
          // A volume without its directory would come back empty in the new cluster, silently.
          const found = await readVolumesOnHost(old, c.from.topology.controlPlanes[0].name);
          if (found.missing.length > 0) {
            return failed(
              `${found.missing.length} of ${found.bound} volume(s) have no directory in ${c.fromDataDir}: ${found.missing.join(", ")}; nothing was changed: put them back, or delete those claims, then migrate again`,
            );
          }
        }
        const data =
          c.fromDataDir === undefined
            ? ""
            : c.fromDataDir === c.toDataDir
              ? `; volumes stay in ${c.fromDataDir}`
              : `; volumes move from ${c.fromDataDir} to ${c.toDataDir}`;
        return ok(`${c.from.topology.api.url}/readyz: ok${data}`);
      },
    },
    {
      name: "export namespaced objects (kubectl get -A -o yaml)",
      next: "nothing was changed; fix kubectl access and run migrate again",
      run: async () => {
        const kinds = await old.kubectl(["api-resources", "--namespaced=true", "--verbs=list,get", "-o", "name"], { timeoutMs: 120_000 });
        if (kinds.code !== 0) return failedCmd("kubectl", ["api-resources"], kinds);
        const names = kinds.stdout
          .split("\n")
          .map((l) => l.trim())
          .filter((l) => l !== "" && !SKIP_KINDS.has(l));
        if (names.length === 0) return failed("kubectl api-resources listed no namespaced kinds");
        const get = await old.kubectl(["get", names.join(","), "-A", "-o", "yaml"], { timeoutMs: 300_000 });
        if (get.code !== 0) return failedCmd("kubectl", ["get", `<${names.length} kinds>`, "-A", "-o", "yaml"], get);
        if (!/^kind: List$/m.test(get.stdout)) return failed("kubectl get -o yaml did not return a List");
        const file = join(c.backupDir, `${c.from.topology.clusterName}-${c.from.id}-${c.stamp}-objects.yaml`);
        c.files.write(file, get.stdout);
        c.exportFile = file;
        return ok(`${file} (${names.length} kinds)`);
      },
    },
    {
      name: `snapshot etcd of ${c.from.id} (scripts/etcd.sh backup)`,
      next: "nothing was destroyed; run `npm run backup -- " + c.from.id + "` to see the error, then migrate again",
      run: async () => {
        const request = { cluster: c.from.topology.clusterName, stack: c.from.id, backupDir: c.backupDir };
        // The client clears KINDHA_SKIP_BACKUP: this step is never a silent no-op.
        let path: string;
        try {
          path = (await old.backup(request, 300_000)).path;
        } catch (e) {
          if (!(e instanceof EtcdCommandError)) throw e;
          return failedCmd("etcd.sh", backupArgs({ ...request, kubeconfig: c.from.access.kubeconfig }), e.result);
        }
        if (!c.files.exists(path)) return failed(`etcd.sh backup printed ${path}, which does not exist`);
        c.snapshot = path;
        return ok(path);
      },
    },
    {
      name: "verify the snapshot (snapshot-status, non-zero keys)",
      next: "nothing was destroyed; take a new snapshot with npm run backup and migrate again",
      run: async () => {
        if (!c.snapshot) return failed("no snapshot was taken");
        const s = await old.snapshotStatus(c.snapshot, c.from.topology.controlPlanes[0].name);
        if (s.totalKey <= 0) return failed(`${c.snapshot} holds no keys`);
        c.snapshotVerified = true;
        return ok(`${s.totalKey} keys, revision ${s.revision}, ${s.totalSize} bytes`);
      },
    },
    {
      name: "stop the workloads that mount volumes (scaled to 0; the snapshot keeps their counts)",
      next: "nothing was destroyed; whatever was scaled down was scaled back; run migrate again",
      run: async () => {
        const q = await quiesce(old, { clock: c.clock ?? realClock, waitMs: c.quiesceWaitMs ?? 300_000, log: () => undefined });
        c.quiesced = q.scaled;
        const live = q.running.map((p) => `${p.namespace}/${p.name}`);
        return ok(`${q.scaled.length} scaled to 0${live.length > 0 ? `; still running (not scalable): ${live.join(", ")}` : ""}`);
      },
    },
    {
      name: `destroy stack ${c.from.id}`,
      next: (ctx) =>
        `the snapshot ${ctx.snapshot} and objects ${ctx.exportFile} are safe; check what is left (kind get clusters), run npx cdktf destroy ${ctx.from.id} --auto-approve, then: ${finishByHand(ctx)}` +
        (ctx.quiesced && ctx.quiesced.length > 0 ? `; to keep the old cluster instead, scale back: ${scaleBackHint(ctx)}` : ""),
      run: async () => {
        if (!c.snapshotVerified || !c.snapshot) return failed("no verified snapshot; refusing to destroy the old cluster");
        const r = await exec(c, "npx", cdktf("destroy", c.from.id), 1_800_000);
        if (r.code !== 0) return failedCmd("npx", cdktf("destroy", c.from.id), r);
        const still = await apiAnswers(c.from);
        return still.code === 0 ? failed(`the ${c.from.id} API still answers after destroy`) : ok();
      },
    },
    ...(c.fromDataDir !== undefined && c.toDataDir !== undefined && c.fromDataDir !== c.toDataDir
      ? [
          {
            name: `move the volumes from ${c.fromDataDir} to ${c.toDataDir}`,
            next: (ctx: MigrateContext) =>
              `move the directory by hand (mv ${ctx.fromDataDir} ${ctx.toDataDir}; echo ${ctx.to.topology.clusterName} > ${ctx.toDataDir}/${DATA_OWNER_FILE}), then: ${finishByHand(ctx)}`,
            run: async () => {
              c.files.move(c.fromDataDir!, c.toDataDir!);
              c.files.write(`${c.toDataDir}/${DATA_OWNER_FILE}`, `${c.to.topology.clusterName}\n`);
              return ok();
            },
          } satisfies Step<MigrateContext>,
        ]
      : []),
    {
      name: `deploy stack ${c.to.id}`,
      next: (ctx) => `fix the deploy error, then: ${finishByHand(ctx)}`,
      run: async () => {
        const r = await exec(c, "npx", cdktf("deploy", c.to.id), 1_800_000);
        if (r.code !== 0) return failedCmd("npx", cdktf("deploy", c.to.id), r);
        const api = await apiAnswers(c.to);
        return api.code === 0 ? ok() : failed(`the ${c.to.id} API does not answer after deploy: ${lastLine(api)}`);
      },
    },
    {
      name: `restore the snapshot into ${c.to.id}`,
      next: (ctx) =>
        `see the restore steps above; rerun: npm run restore -- ${ctx.to.id} --snapshot ${ctx.snapshot} (objects are also in ${ctx.exportFile}: kubectl apply -f)`,
      run: async () => {
        const report = await c.restore(c.snapshot ?? "");
        return report.ok ? ok() : failed(`restore stopped at "${report.failed?.step}": ${report.failed?.reason}`);
      },
    },
    {
      name: `verify stack ${c.to.id}`,
      next: (ctx) => `run npm run verify -- ${ctx.to.id} for the table; the snapshot is ${ctx.snapshot}`,
      run: async () => {
        // The failed checks, so the reason says which check and why.
        const bad = (await c.verify()).filter((r) => !r.ok);
        return bad.length === 0 ? ok() : failed(bad.map((r) => `${r.check} FAIL ${r.reason}`).join("; "));
      },
    },
  ];
}
