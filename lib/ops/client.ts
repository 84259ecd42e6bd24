/**
 * The one way the operations talk to a kind cluster: kubectl with its kubeconfig, scripts/etcd.sh
 * through a control plane's etcd pod, and the node containers through the container CLI.
 *
 * Every call goes through the injected {@link Executor}, so tests drive the operations with a fake.
 */
import { EtcdScript, type BackupRequest, type Snapshot } from "./etcd-script";
import { healthReportOf, type HealthReport, type SnapshotStatus } from "../model/etcd";
import { containerCli } from "../io/container-cli";
import { lastLine, type CommandResult, type Executor } from "../io/exec";
import type { PlannedRegistry } from "../model/registry";
import type { Topology } from "../model/topology";
import type { Clock } from "./steps";

/** How to reach one cluster. */
export interface ClusterAccess {
  readonly kubeconfig: string;
  /** Path of scripts/etcd.sh. */
  readonly etcdScript: string;
  readonly exec: Executor;
  /**
   * Environment of every command.
   * @default process.env
   */
  readonly env?: NodeJS.ProcessEnv;
  /**
   * docker, podman or nerdctl: what kind created the node containers with.
   * @default - scripts/container-cli.sh's choice in `env` (lib/io/container-cli.ts)
   */
  readonly containerCli?: string;
  /**
   * The machine's registry the cluster's nodes pull from (verify checks each node reaches it).
   * @default - none
   */
  readonly registry?: PlannedRegistry;
  /**
   * Working directory of every command.
   * @default the current directory
   */
  readonly cwd?: string;
}

/** What every operation on a deployed cluster needs: its topology, access and a clock and log. */
export interface ClusterOpsContext extends ClusterAccess {
  readonly topology: Topology;
  readonly containerCli: string;
  readonly clock: Clock;
  readonly log: (line: string) => void;
}

/** kubectl's bound on each request unless a call asks for another. */
const REQUEST_TIMEOUT = "20s";

/** `timeout --kill-after=10s <s>s <args>`: a command bounded where it runs. */
export function boundedArgs(args: readonly string[], timeoutMs: number): string[] {
  return ["timeout", "--kill-after=10s", `${Math.ceil(timeoutMs / 1000)}s`, ...args];
}

export class ClusterClient {
  constructor(private readonly a: ClusterAccess) {}

  get containerCli(): string {
    return this.a.containerCli ?? containerCli(this.a.env);
  }

  /** kubectl against this cluster; the process is killed after `timeoutMs`. */
  kubectl(args: readonly string[], opts: { readonly timeoutMs?: number; readonly requestTimeout?: string } = {}): Promise<CommandResult> {
    const flags = ["--kubeconfig", this.a.kubeconfig, "--request-timeout", opts.requestTimeout ?? REQUEST_TIMEOUT];
    return this.run("kubectl", [...flags, ...args], opts.timeoutMs ?? 60_000);
  }

  /** kubectl bound to one process timeout: `kc("get", "nodes")`. */
  kubectlWith(timeoutMs: number): (...args: string[]) => Promise<CommandResult> {
    return (...args) => this.kubectl(args, { timeoutMs });
  }

  /** `/readyz` through `url` (the stack's API address: the load balancer of an HA stack). */
  readyz(url: string, opts: { readonly timeoutMs?: number; readonly requestTimeout?: string } = {}): Promise<CommandResult> {
    return this.kubectl(["--server", url, "get", "--raw", "/readyz"], opts);
  }

  /**
   * scripts/etcd.sh run in `node`'s etcd pod, or without a connection (snapshot-status of a local
   * file, backup, which finds its node itself).
   */
  etcd(
    node?: string,
    opts: { readonly endpoints?: readonly string[]; readonly env?: NodeJS.ProcessEnv; readonly timeoutMs?: number } = {},
  ): EtcdScript {
    const conn = node ? { mode: "kind" as const, kubeconfig: this.a.kubeconfig, node, endpoints: opts.endpoints } : undefined;
    return new EtcdScript(conn, {
      exec: this.a.exec,
      script: this.a.etcdScript,
      // etcd.sh reaches the node containers through the same container CLI.
      env: { ...this.a.env, ...(this.a.containerCli ? { KINDHA_CONTAINER_CLI: this.a.containerCli } : {}), ...opts.env },
      cwd: this.a.cwd,
      timeoutMs: opts.timeoutMs,
    });
  }

  /** `etcd.sh health --expect N` in `node`'s pod: the raw result (verify judges a failed one too). */
  etcdHealthResult(node: string, expect: number, endpoints?: readonly string[], timeoutMs = 120_000): Promise<CommandResult> {
    return this.etcd(node, { endpoints, timeoutMs }).run(["health", "--expect", String(expect)]);
  }

  /** The health report, or why there is none. */
  async etcdHealth(
    node: string,
    expect: number,
    endpoints?: readonly string[],
    timeoutMs?: number,
  ): Promise<{ report: HealthReport } | { reason: string; result: CommandResult }> {
    const result = await this.etcdHealthResult(node, expect, endpoints, timeoutMs);
    const got = healthReportOf(result);
    return "report" in got ? got : { reason: got.reason, result };
  }

  /** Why etcd, asked through `node`, is not healthy with `expect` members; undefined when it is. */
  async etcdUnhealthy(node: string, expect: number, timeoutMs = 60_000): Promise<string | undefined> {
    const got = await this.etcdHealth(node, expect, undefined, timeoutMs);
    if (!("report" in got)) return got.reason;
    return got.report.state === "healthy" ? undefined : got.report.message;
  }

  /** The etcd leader's member name, asked through the first control plane; undefined for one member or when etcd cannot tell. */
  async etcdLeader(t: Topology): Promise<string | undefined> {
    if (t.controlPlanes.length < 2) return undefined;
    return this.etcd(t.controlPlanes[0].name, { timeoutMs: 60_000 })
      .leader()
      .then(
        (l) => l.name,
        () => undefined,
      );
  }

  /** Snapshot status of a local file, read with `node`'s etcd image when this machine has no etcdutl. */
  snapshotStatus(file: string, node: string): Promise<SnapshotStatus> {
    return this.etcd(node).snapshotStatus(file);
  }

  /**
   * `etcd.sh backup` of this cluster: resolves to the snapshot (throws when none was written). KINDHA_SKIP_BACKUP is cleared:
   * a backup asked for by name never succeeds without a snapshot.
   */
  backup(b: Omit<BackupRequest, "kubeconfig">, timeoutMs = 600_000): Promise<Snapshot> {
    return this.etcd(undefined, { env: { KINDHA_SKIP_BACKUP: "" }, timeoutMs }).backup({ ...b, kubeconfig: this.a.kubeconfig });
  }

  /** A command inside a node container. */
  inNode(node: string, args: readonly string[], timeoutMs = 120_000): Promise<CommandResult> {
    return this.containers(["exec", node, ...args], timeoutMs);
  }

  /**
   * A long command inside a node (kubeadm) whose bound also holds inside: coreutils' `timeout`
   * there stops it (TERM, then KILL 10 s later), since killing only the container CLI's client
   * leaves it running in the node. Exit 124 means the bound ran out.
   */
  inNodeBounded(node: string, args: readonly string[], timeoutMs: number): Promise<CommandResult> {
    return this.containers(["exec", node, ...boundedArgs(args, timeoutMs)], timeoutMs + 15_000);
  }

  /**
   * The id of the running container named `name` (a static pod's: etcd, kube-apiserver, ...) on a
   * node, asked of its CRI (works while the API is down); undefined when none runs. A CRI that
   * cannot be asked is an error, never read as "running" or "stopped".
   */
  async runningContainer(node: string, name: string): Promise<string | undefined> {
    const r = await this.inNode(node, ["crictl", "ps", "-q", "--name", `^${name}$`, "--state", "running"]);
    if (r.code !== 0) throw new Error(`cannot tell whether ${name} runs on ${node}: crictl ps failed (exit ${r.code}): ${lastLine(r)}`);
    return r.stdout.trim().split("\n")[0] || undefined;
  }

  /** The container CLI itself: stop, start, cp. */
  containers(args: readonly string[], timeoutMs = 120_000): Promise<CommandResult> {
    return this.run(this.containerCli, args, timeoutMs);
  }

  /** `inspect` of a node container's address on its network (empty while it is stopped). */
  nodeAddressResult(node: string): Promise<CommandResult> {
    return this.containers(["inspect", "-f", "{{range .NetworkSettings.Networks}}{{.IPAddress}}{{end}}", node], 30_000);
  }

  /** A node container's address, or undefined when the container CLI cannot tell. */
  async nodeAddress(node: string): Promise<string | undefined> {
    const r = await this.nodeAddressResult(node);
    return r.code === 0 && r.stdout.trim() !== "" ? r.stdout.trim() : undefined;
  }

  private run(file: string, args: readonly string[], timeoutMs: number): Promise<CommandResult> {
    return this.a.exec(file, args, { env: this.a.env, cwd: this.a.cwd, timeoutMs });
  }
}
