/**
 * A real etcd cluster on 127.0.0.1 for tests: TLS everywhere, free ports, temp data dirs.
 *
 * Certificates come from openssl at test time (nothing checked in). Every process started here is
 * tracked and killed by {@link stopEverything} (call it in afterAll) and, as a last resort, when
 * the test process exits, so a failing test leaves no stray etcd behind. All waits are bounded.
 */
import { execFile, spawn, type ChildProcess } from "node:child_process";
import { mkdirSync, openSync, closeSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { promisify } from "node:util";
import { pollUntil } from "../lib/ops/steps";
import { freePort } from "./net";

const run = promisify(execFile);

/** File paths of the test PKI. */
export interface TestPki {
  readonly dir: string;
  readonly ca: string;
  /** Server and peer certificate (serverAuth + clientAuth), SANs localhost and 127.0.0.1. */
  readonly serverCert: string;
  readonly serverKey: string;
  /** Client certificate etcdctl presents (client-cert-auth is on). */
  readonly clientCert: string;
  readonly clientKey: string;
}

/** The two ports of one member. */
export interface MemberPorts {
  readonly client: number;
  readonly peer: number;
}

/** One running (or stopped) etcd process. */
export interface Member {
  readonly name: string;
  readonly dataDir: string;
  readonly ports: MemberPorts;
  readonly clientUrl: string;
  readonly peerUrl: string;
  readonly logFile: string;
  process: ChildProcess | undefined;
}

export interface EtcdCluster {
  readonly members: readonly Member[];
  readonly pki: TestPki;
  /** Client URLs of every member, comma-separated, as `--endpoints` takes them. */
  readonly endpoints: string;
  /** `name=peerUrl,...`, as `--initial-cluster` takes it. */
  readonly initialCluster: string;
  /** etcdctl connection flags (TLS included) for the given endpoints (default: all). */
  ctlArgs(endpoints?: string): string[];
  /** SIGTERM, then SIGKILL after a bounded wait. */
  stop(index: number): Promise<void>;
  /** SIGKILL: a crash, not a clean shutdown. */
  kill(index: number): Promise<void>;
  stopAll(): Promise<void>;
}

const live = new Set<ChildProcess>();
process.on("exit", () => {
  for (const p of live) p.kill("SIGKILL");
});

/** Generates a CA, a server/peer certificate and a client certificate with openssl (EC P-256: fast). */
export async function generatePki(dir: string): Promise<TestPki> {
  mkdirSync(dir, { recursive: true, mode: 0o700 });
  const p = (f: string) => join(dir, f);
  const newKey = ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes"];
  await run("openssl", [
    "req",
    "-x509",
    ...newKey,
    "-keyout",
    p("ca.key"),
    "-out",
    p("ca.crt"),
    "-days",
    "2",
    "-subj",
    "/CN=kindha-test-ca",
  ]);
  writeFileSync(
    p("server.ext"),
    "subjectAltName=DNS:localhost,IP:127.0.0.1\nextendedKeyUsage=serverAuth,clientAuth\nkeyUsage=critical,digitalSignature,keyEncipherment\n",
  );
  writeFileSync(p("client.ext"), "extendedKeyUsage=clientAuth\nkeyUsage=critical,digitalSignature,keyEncipherment\n");
  for (const [name, cn] of [
    ["server", "etcd-server"],
    ["client", "kindha-test-client"],
  ] as const) {
    await run("openssl", ["req", "-new", ...newKey, "-keyout", p(`${name}.key`), "-out", p(`${name}.csr`), "-subj", `/CN=${cn}`]);
    await run("openssl", [
      "x509",
      "-req",
      "-in",
      p(`${name}.csr`),
      "-CA",
      p("ca.crt"),
      "-CAkey",
      p("ca.key"),
      "-CAcreateserial",
      "-out",
      p(`${name}.crt`),
      "-days",
      "2",
      "-extfile",
      p(`${name}.ext`),
    ]);
  }
  return {
    dir,
    ca: p("ca.crt"),
    serverCert: p("server.crt"),
    serverKey: p("server.key"),
    clientCert: p("client.crt"),
    clientKey: p("client.key"),
  };
}

export async function allocatePorts(n: number): Promise<MemberPorts[]> {
  const seen = new Set<number>();
  const ports: MemberPorts[] = [];
  while (ports.length < n) {
    const client = await freePort();
    const peer = await freePort();
    if (client === peer || seen.has(client) || seen.has(peer)) continue;
    seen.add(client).add(peer);
    ports.push({ client, peer });
  }
  return ports;
}

/** `name=https://127.0.0.1:<peer>,...` for the given names and ports. */
export function initialClusterOf(names: readonly string[], ports: readonly MemberPorts[]): string {
  return names.map((n, i) => `${n}=https://127.0.0.1:${ports[i].peer}`).join(",");
}

export interface StartOptions {
  readonly dir: string;
  readonly pki: TestPki;
  readonly names: readonly string[];
  readonly ports: readonly MemberPorts[];
  /** Existing (e.g. restored) data dirs; default: new ones under dir. */
  readonly dataDirs?: readonly string[];
  readonly token?: string;
  /** Bound of the wait for every member to report healthy. */
  readonly readyTimeoutMs?: number;
}

/** Starts one etcd per name and waits (bounded) until every member is healthy. */
export async function startEtcdCluster(opts: StartOptions): Promise<EtcdCluster> {
  const { dir, pki, names, ports } = opts;
  const initialCluster = initialClusterOf(names, ports);
  const members: Member[] = names.map((name, i) => ({
    name,
    dataDir: opts.dataDirs?.[i] ?? join(dir, `${name}.data`),
    ports: ports[i],
    clientUrl: `https://127.0.0.1:${ports[i].client}`,
    peerUrl: `https://127.0.0.1:${ports[i].peer}`,
    logFile: join(dir, `${name}.log`),
    process: undefined,
  }));
  mkdirSync(dir, { recursive: true });
  for (const m of members) {
    const args = [
      "--name",
      m.name,
      "--data-dir",
      m.dataDir,
      "--listen-client-urls",
      m.clientUrl,
      "--advertise-client-urls",
      m.clientUrl,
      "--listen-peer-urls",
      m.peerUrl,
      "--initial-advertise-peer-urls",
      m.peerUrl,
      "--initial-cluster",
      initialCluster,
      "--initial-cluster-state",
      "new",
      "--initial-cluster-token",
      opts.token ?? "kindha-test",
      "--cert-file",
      pki.serverCert,
      "--key-file",
      pki.serverKey,
      "--trusted-ca-file",
      pki.ca,
      "--client-cert-auth",
      "--peer-cert-file",
      pki.serverCert,
      "--peer-key-file",
      pki.serverKey,
      "--peer-trusted-ca-file",
      pki.ca,
      "--peer-client-cert-auth",
      "--logger",
      "zap",
    ];
    const log = openSync(m.logFile, "a");
    const child = spawn("etcd", args, { stdio: ["ignore", log, log] });
    closeSync(log);
    live.add(child);
    child.once("exit", () => live.delete(child));
    m.process = child;
  }
  const endpoints = members.map((m) => m.clientUrl).join(",");
  const ctlArgs = (eps: string = endpoints) => [
    "--endpoints",
    eps,
    "--cacert",
    pki.ca,
    "--cert",
    pki.clientCert,
    "--key",
    pki.clientKey,
    "--dial-timeout",
    "2s",
    "--command-timeout",
    "3s",
  ];
  const cluster: EtcdCluster = {
    members,
    pki,
    endpoints,
    initialCluster,
    ctlArgs,
    stop: (i) => terminate(members[i], "SIGTERM"),
    kill: (i) => terminate(members[i], "SIGKILL"),
    stopAll: async () => {
      await Promise.all(members.map((m) => terminate(m, "SIGTERM")));
    },
  };
  try {
    await waitHealthy(cluster, opts.readyTimeoutMs ?? 20_000);
  } catch (e) {
    await cluster.stopAll();
    throw e;
  }
  return cluster;
}

/** Polls `endpoint health` until every member answers healthy; throws with the logs' tail on timeout. */
async function waitHealthy(cluster: EtcdCluster, timeoutMs: number): Promise<void> {
  const last = await pollUntil(
    async () => {
      const exited = cluster.members.find((m) => m.process?.exitCode !== null && m.process?.exitCode !== undefined);
      if (exited) throw new Error(`etcd member ${exited.name} exited with ${exited.process?.exitCode}; see ${exited.logFile}`);
      try {
        await run("etcdctl", [...cluster.ctlArgs(), "endpoint", "health"], { env: { ...process.env, ETCDCTL_API: "3" }, timeout: 10_000 });
        return { done: true, why: "" };
      } catch (e) {
        return {
          done: false,
          why:
            String((e as { stderr?: string }).stderr ?? e)
              .trim()
              .split("\n")
              .pop() ?? "",
        };
      }
    },
    { timeoutMs, intervalMs: 250 },
  );
  if (!last.done) throw new Error(`etcd cluster not healthy within ${timeoutMs} ms: ${last.why}`);
}

/** Sends a signal and waits (bounded) for the exit; escalates to SIGKILL after 5 s. */
async function terminate(m: Member, signal: NodeJS.Signals): Promise<void> {
  const child = m.process;
  if (!child || child.exitCode !== null || child.signalCode !== null) return;
  const exited = new Promise<void>((resolve) => child.once("exit", () => resolve()));
  child.kill(signal);
  if (!(await within(exited, 5_000))) {
    child.kill("SIGKILL");
    await within(exited, 5_000);
  }
}

/** True when p settles within ms; the timer is cleared either way so Jest sees no open handle. */
async function within(p: Promise<unknown>, ms: number): Promise<boolean> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<boolean>((resolve) => {
    timer = setTimeout(() => resolve(false), ms);
  });
  try {
    return await Promise.race([p.then(() => true), timeout]);
  } finally {
    clearTimeout(timer);
  }
}

/** Kills every etcd this module started that still runs. For afterAll. */
export async function stopEverything(): Promise<void> {
  const waits = [...live].map((child) => {
    if (child.exitCode !== null || child.signalCode !== null) return Promise.resolve(true);
    const exited = new Promise<void>((resolve) => child.once("exit", () => resolve()));
    child.kill("SIGKILL");
    return within(exited, 5_000);
  });
  await Promise.all(waits);
}

export function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}
