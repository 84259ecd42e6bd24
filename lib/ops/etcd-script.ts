/**
 * Runs scripts/etcd.sh (or etcdctl) through an {@link Executor} and parses what it prints.
 *
 * Arguments are built as arrays; nothing is concatenated into a shell string.
 */
import { join, resolve } from "node:path";
import { execFileExecutor, lastLine, type CommandResult, type Executor } from "../io/exec";
import { scriptsDir } from "../io/project";
import { parseHealthReport, parseSnapshotStatus, printedHealthReport, type HealthReport, type SnapshotStatus } from "../model/etcd";

/** Where etcdctl runs: on this machine, or inside a kind control plane's etcd pod. */
export type EtcdConnection =
  | {
      readonly mode: "local";
      readonly endpoints: readonly string[];
      readonly cacert?: string;
      readonly cert?: string;
      readonly key?: string;
    }
  | {
      readonly mode: "kind";
      readonly kubeconfig: string;
      /** Control plane whose etcd pod (etcd-<node>) runs etcdctl. */
      readonly node: string;
      /** Member client URLs as the pod reaches them; default: the member list. */
      readonly endpoints?: readonly string[];
    };

/** A failed etcd command, with its output for the message. */
export class EtcdCommandError extends Error {
  constructor(
    what: string,
    readonly result: CommandResult,
    message = `${what} failed (exit ${result.code}): ${lastLine(result)}`,
  ) {
    super(message);
    this.name = "EtcdCommandError";
  }
}

/** scripts/etcd.sh of this checkout, or KINDHA_ETCD_SCRIPT when set. */
export function etcdScriptPath(env: NodeJS.ProcessEnv = process.env): string {
  return env.KINDHA_ETCD_SCRIPT ? resolve(env.KINDHA_ETCD_SCRIPT) : join(scriptsDir(), "etcd.sh");
}

/** The script's connection flags for a connection. */
export function connectionArgs(c: EtcdConnection): string[] {
  if (c.mode === "kind") {
    return [
      "--mode",
      "kind",
      "--kubeconfig",
      c.kubeconfig,
      "--node",
      c.node,
      ...(c.endpoints && c.endpoints.length > 0 ? ["--endpoints", c.endpoints.join(",")] : []),
    ];
  }
  if (c.endpoints.length === 0) throw new Error("a local etcd connection needs at least one endpoint");
  return [
    "--mode",
    "local",
    "--endpoints",
    c.endpoints.join(","),
    ...(c.cacert ? ["--cacert", c.cacert] : []),
    ...(c.cert ? ["--cert", c.cert] : []),
    ...(c.key ? ["--key", c.key] : []),
  ];
}

/** One etcd member of a restore: its name, peer URL and new data dir. */
export interface RestoreTarget {
  readonly name: string;
  readonly initialCluster: string;
  readonly peerUrl: string;
  readonly dataDir: string;
  readonly token?: string;
}

/** What `etcd.sh backup` needs to snapshot a kind cluster before it is deleted. */
export interface BackupRequest {
  readonly cluster: string;
  readonly stack: string;
  readonly kubeconfig: string;
  readonly backupDir: string;
  readonly node?: string;
}

/** A snapshot `etcd.sh backup` wrote: its path, and the script's progress lines (its stderr). */
export interface Snapshot {
  readonly path: string;
  readonly log: string;
}

/** Arguments of `etcd.sh backup` (the same the destroy-time provisioner passes). */
export function backupArgs(b: BackupRequest): string[] {
  return [
    "backup",
    "--cluster",
    b.cluster,
    "--stack",
    b.stack,
    "--kubeconfig",
    b.kubeconfig,
    "--backup-dir",
    b.backupDir,
    ...(b.node ? ["--node", b.node] : []),
  ];
}

export interface EtcdScriptOptions {
  /**
   * Runs the script.
   * @default execFileExecutor
   */
  readonly exec?: Executor;
  /**
   * The script's path.
   * @default etcdScriptPath()
   */
  readonly script?: string;
  /**
   * Extra environment over process.env (e.g. KINDHA_ETCD_TIMEOUT, KINDHA_SKIP_BACKUP).
   * @default none
   */
  readonly env?: NodeJS.ProcessEnv;
  /**
   * Working directory of the script.
   * @default the current directory
   */
  readonly cwd?: string;
  /**
   * Kill the script after this long.
   * @default 5 minutes
   */
  readonly timeoutMs?: number;
}

/** scripts/etcd.sh bound to one connection. */
/** The etcd leader as etcd.sh prints it. */
export interface EtcdLeader {
  readonly name: string;
  readonly id: string;
}

function parseLeader(what: string, result: CommandResult): EtcdLeader {
  if (result.code !== 0) throw new EtcdCommandError(what, result);
  const parsed: unknown = JSON.parse(result.stdout.trim().split("\n").pop() ?? "");
  const o = (parsed ?? {}) as Record<string, unknown>;
  if (typeof o.name !== "string" || typeof o.id !== "string" || !o.name)
    throw new EtcdCommandError(`${what}: no leader in its output`, result);
  return { name: o.name, id: o.id };
}

export class EtcdScript {
  private readonly exec: Executor;
  private readonly script: string;

  constructor(
    private readonly conn: EtcdConnection | undefined,
    private readonly opts: EtcdScriptOptions = {},
  ) {
    this.exec = opts.exec ?? execFileExecutor;
    this.script = opts.script ?? etcdScriptPath();
  }

  /** Runs `bash etcd.sh <connection flags> <args>`; never throws for a non-zero exit. */
  run(args: readonly string[]): Promise<CommandResult> {
    const conn = this.conn ? connectionArgs(this.conn) : [];
    return this.exec("bash", [this.script, ...conn, ...args], {
      env: { ...process.env, ...this.opts.env },
      cwd: this.opts.cwd,
      timeoutMs: this.opts.timeoutMs ?? 5 * 60_000,
    });
  }

  /** Health report, judged (quorum lost included); throws when the script printed none. */
  async health(expect?: number): Promise<{ report: HealthReport; result: CommandResult }> {
    const result = await this.run(["health", ...(expect ? ["--expect", String(expect)] : [])]);
    if (!printedHealthReport(result.stdout)) throw new EtcdCommandError("etcd.sh health", result);
    return { report: parseHealthReport(result.stdout), result };
  }

  /** Saves and verifies a snapshot; resolves to its path. */
  async snapshotSave(file: string): Promise<string> {
    const result = await this.run(["snapshot-save", file]);
    if (result.code !== 0) throw new EtcdCommandError(`etcd.sh snapshot-save ${file}`, result);
    return result.stdout.trim().split("\n").pop() ?? file;
  }

  async snapshotStatus(file: string): Promise<SnapshotStatus> {
    const result = await this.run(["snapshot-status", file]);
    if (result.code !== 0) throw new EtcdCommandError(`etcd.sh snapshot-status ${file}`, result);
    return parseSnapshotStatus(result.stdout);
  }

  /** Restores a snapshot into a new data dir on this machine; resolves to the data dir. */
  async restore(file: string, t: RestoreTarget): Promise<string> {
    const result = await this.run([
      "restore",
      file,
      "--name",
      t.name,
      "--initial-cluster",
      t.initialCluster,
      "--initial-advertise-peer-urls",
      t.peerUrl,
      "--data-dir",
      t.dataDir,
      ...(t.token ? ["--initial-cluster-token", t.token] : []),
    ]);
    if (result.code !== 0) throw new EtcdCommandError(`etcd.sh restore ${file}`, result);
    return t.dataDir;
  }

  /** The leader: member name and hex ID. */
  async leader(): Promise<EtcdLeader> {
    return parseLeader("etcd.sh leader", await this.run(["leader"]));
  }

  /** Hands leadership to member `to` (a no-op when it leads already); resolves to the new leader. */
  async moveLeader(to: string): Promise<EtcdLeader> {
    return parseLeader(`etcd.sh move-leader --to ${to}`, await this.run(["move-leader", "--to", to]));
  }

  /**
   * `etcd.sh backup`: resolves to the snapshot the script wrote and what it said on the way;
   * throws EtcdCommandError when it failed or named no file.
   */
  async backup(b: BackupRequest): Promise<Snapshot> {
    const result = await this.run(backupArgs(b));
    const path = result.code === 0 ? (result.stdout.trim().split("\n").pop() ?? "") : "";
    if (result.code === 0 && path === "")
      throw new EtcdCommandError("etcd.sh backup", result, "etcd.sh backup exited 0 but wrote no snapshot");
    if (path === "") throw new EtcdCommandError("etcd.sh backup", result);
    return { path, log: result.stderr };
  }
}

/** Runs etcdctl directly (local connection), for reads and writes the script does not wrap. */
export function runEtcdctl(
  conn: Extract<EtcdConnection, { mode: "local" }>,
  args: readonly string[],
  exec: Executor = execFileExecutor,
  timeoutMs = 60_000,
): Promise<CommandResult> {
  const tls = [
    ...(conn.cacert ? ["--cacert", conn.cacert] : []),
    ...(conn.cert ? ["--cert", conn.cert] : []),
    ...(conn.key ? ["--key", conn.key] : []),
  ];
  return exec("etcdctl", ["--endpoints", conn.endpoints.join(","), ...tls, ...args], {
    env: { ...process.env, ETCDCTL_API: "3" },
    timeoutMs,
  });
}
