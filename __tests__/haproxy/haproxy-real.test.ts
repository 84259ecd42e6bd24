/**
 * The rendered haproxy.cfg against a real haproxy: `haproxy -c` accepts it, and on loopback it
 * passes TLS through to three HTTPS backends, marks a stopped one DOWN and keeps serving.
 *
 * Needs `haproxy` and `openssl` on PATH (.ci/run installs them); without them the suite fails, never skips.
 * Everything listens on 127.0.0.1; waits are bounded by deadlines, never asserted as timings.
 */
import { ChildProcess, spawn, spawnSync } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import https from "node:https";
import net from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { HaproxyConfigProps, renderHaproxyConfig } from "../../lib/model/haproxy-config";
import { freePort } from "../../test-support/net";

const missing = ["haproxy", "openssl"].filter((t) => spawnSync(t, ["version"]).error !== undefined);
if (missing.length > 0) throw new Error(`${missing.join(" and ")} not on PATH: apt-get install haproxy openssl`);

/** Polls `read` until `done` holds; throws with the last value (and `context`) once the deadline passes. */
async function waitFor<T>(
  what: string,
  read: () => Promise<T>,
  done: (value: T) => boolean,
  context: () => string,
  deadlineMs = 10_000,
): Promise<T> {
  const deadline = Date.now() + deadlineMs;
  let last: T | Error | undefined;
  while (Date.now() < deadline) {
    try {
      last = await read();
      if (done(last)) return last;
    } catch (e) {
      last = e as Error;
    }
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new Error(`gave up waiting for ${what}; last: ${JSON.stringify(last instanceof Error ? last.message : last)}\n${context()}`);
}

/** One HTTPS server standing in for an API server. */
interface Backend {
  readonly name: string;
  readonly port: number;
  readonly server: https.Server;
}

/** Answers /readyz with "ok" (the health check) and anything else with its name (who served a request). */
async function startBackend(name: string, tls: { key: Buffer; cert: Buffer }, port = 0): Promise<Backend> {
  const server = https.createServer(tls, (req, res) => {
    res.writeHead(200, { "content-type": "text/plain", connection: "close" });
    res.end(req.url === "/readyz" ? "ok" : name);
  });
  await new Promise<void>((resolve, reject) => server.once("error", reject).listen(port, "127.0.0.1", resolve));
  return { name, port: (server.address() as net.AddressInfo).port, server };
}

/** Closes the listener and every open connection, as a crashed API server would. */
async function stopBackend(b: Backend): Promise<void> {
  if (!b.server.listening) return;
  b.server.closeAllConnections();
  await new Promise((resolve) => b.server.close(resolve));
}

/** One GET over a fresh TLS connection (no keep-alive, so roundrobin sees each request); resolves the body. */
function get(port: number, ca: Buffer): Promise<string> {
  return new Promise((resolve, reject) => {
    const req = https.get({ host: "127.0.0.1", port, path: "/who", ca, agent: false, timeout: 5_000 }, (res) => {
      let body = "";
      res.setEncoding("utf8");
      res.on("data", (chunk: string) => (body += chunk));
      res.on("end", () => (res.statusCode === 200 ? resolve(body) : reject(new Error(`HTTP ${res.statusCode}`))));
      res.on("error", reject);
    });
    req.on("timeout", () => req.destroy(new Error("request timed out")));
    req.on("error", reject);
  });
}

/** `count` requests one after another; every outcome, success or error. */
async function getMany(count: number, port: number, ca: Buffer): Promise<PromiseSettledResult<string>[]> {
  const results: PromiseSettledResult<string>[] = [];
  for (let i = 0; i < count; i++) {
    results.push(
      await get(port, ca).then(
        (value) => ({ status: "fulfilled" as const, value }),
        (reason: unknown) => ({ status: "rejected" as const, reason }),
      ),
    );
  }
  return results;
}

/** One command on haproxy's runtime API socket; haproxy answers and closes. */
function runtime(socketPath: string, command: string): Promise<string> {
  return new Promise((resolve, reject) => {
    const conn = net.createConnection(socketPath);
    let out = "";
    conn.setEncoding("utf8");
    conn.setTimeout(3_000, () => conn.destroy(new Error(`no answer to "${command}"`)));
    conn.on("connect", () => conn.write(`${command}\n`));
    conn.on("data", (chunk: string) => (out += chunk));
    conn.on("end", () => resolve(out));
    conn.on("error", reject);
  });
}

/** Rows of a table whose header line starts with "# ", keyed by its column names. */
function parseTable(text: string, separator: RegExp): Record<string, string>[] {
  const lines = text.split("\n").filter((l) => l.trim() !== "");
  const headerAt = lines.findIndex((l) => l.startsWith("# "));
  if (headerAt < 0) throw new Error(`no header in ${JSON.stringify(text)}`);
  const columns = lines[headerAt].slice(2).split(separator);
  return lines.slice(headerAt + 1).map((l) => {
    const cells = l.split(separator);
    return Object.fromEntries(columns.map((c, i) => [c, cells[i] ?? ""]));
  });
}

/** `show stat` of the kube-apiserver backend: server (and "BACKEND") name to status and last check. */
async function stat(socketPath: string): Promise<Record<string, { status: string; check: string }>> {
  const rows = parseTable(await runtime(socketPath, "show stat"), /,/);
  return Object.fromEntries(
    rows
      .filter((r) => r.pxname === "kube-apiserver" && r.svname !== "FRONTEND")
      .map((r) => [r.svname, { status: r.status, check: r.check_status }]),
  );
}

/** `show servers state`: server name to operational state (0 stopped, 2 running, as haproxy numbers them). */
async function opStates(socketPath: string): Promise<Record<string, string>> {
  const rows = parseTable(await runtime(socketPath, "show servers state kube-apiserver"), / /);
  return Object.fromEntries(rows.map((r) => [r.srv_name, r.srv_op_state]));
}

describe("haproxy -c accepts the rendered config", () => {
  let dir: string;
  beforeAll(() => {
    dir = mkdtempSync(join(tmpdir(), "kindha-haproxy-check-"));
  });
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  /** Runs `haproxy -c`; returns its exit status and everything it printed. */
  function check(props: HaproxyConfigProps, file: string): { status: number | null; output: string } {
    const path = join(dir, file);
    writeFileSync(path, renderHaproxyConfig(props));
    const r = spawnSync("haproxy", ["-c", "-f", path], { encoding: "utf8", timeout: 10_000 });
    return { status: r.status, output: `${r.stdout}${r.stderr}` };
  }

  it.each([1, 3, 5, 7])("with %i backends, without warnings", (n) => {
    const backends = Array.from({ length: n }, (_, i) => ({ name: `cp${i + 1}`, address: `10.0.0.${i + 11}` }));
    const r = check({ backends, statsSocket: { path: join(dir, "admin.sock") } }, `haproxy-${n}.cfg`);
    expect(r.output).toContain("Configuration file is valid");
    expect(r.output).not.toMatch(/\[(WARNING|ALERT)\]/);
    expect(r.status).toBe(0);
  });

  it("with every optional prop: IPv6, a host name, leastconn, short checks", () => {
    const r = check(
      {
        backends: [
          { name: "cp1", address: "::1", port: 7443 },
          { name: "cp2", address: "localhost", port: 7444 },
          { name: "cp3", address: "10.0.0.13" },
        ],
        bindAddress: "::1",
        bindPort: 16443,
        healthCheckPath: "/readyz?verbose",
        checkIntervalMs: 250,
        fall: 3,
        rise: 5,
        balance: "leastconn",
        timeouts: { connect: 1500, client: 60_000, server: 60_000, check: 999 },
        statsSocket: { path: join(dir, "op.sock"), mode: "660", level: "operator" },
      },
      "haproxy-all.cfg",
    );
    expect(r.output).toContain("Configuration file is valid");
    expect(r.output).not.toMatch(/\[(WARNING|ALERT)\]/);
    expect(r.status).toBe(0);
  });

  it("and rejects a broken file, so the checks above can fail", () => {
    const path = join(dir, "broken.cfg");
    writeFileSync(
      path,
      renderHaproxyConfig({ backends: [{ name: "cp1", address: "10.0.0.11" }] }).replace("balance roundrobin", "balance nonsense"),
    );
    const r = spawnSync("haproxy", ["-c", "-f", path], { encoding: "utf8", timeout: 10_000 });
    expect(r.status).not.toBe(0);
  });
});

describe("haproxy in front of three HTTPS backends on loopback", () => {
  let dir: string;
  let ca: Buffer;
  let tls: { key: Buffer; cert: Buffer };
  let backends: Backend[] = [];
  let haproxy: ChildProcess | undefined;
  let log = "";
  let lbPort: number;
  let socketPath: string;
  const names = ["cp1", "cp2", "cp3"];

  /** haproxy's output so far, appended to failures so a broken run explains itself. */
  const haproxyLog = (): string => `haproxy output:\n${log.split("\n").slice(-40).join("\n")}`;
  const byName = (name: string): Backend => backends.find((b) => b.name === name)!;

  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), "kindha-haproxy-lb-"));
    // A throwaway self-signed certificate, valid for the loopback address the client dials.
    const openssl = spawnSync(
      "openssl",
      [
        "req",
        "-x509",
        "-newkey",
        "ec",
        "-pkeyopt",
        "ec_paramgen_curve:prime256v1",
        "-nodes",
        "-keyout",
        join(dir, "key.pem"),
        "-out",
        join(dir, "cert.pem"),
        "-days",
        "1",
        "-subj",
        "/CN=kindha-haproxy-test",
        "-addext",
        "subjectAltName=IP:127.0.0.1,DNS:localhost",
      ],
      { encoding: "utf8", timeout: 10_000 },
    );
    if (openssl.status !== 0) throw new Error(`openssl failed: ${openssl.stderr}`);
    tls = { key: readFileSync(join(dir, "key.pem")), cert: readFileSync(join(dir, "cert.pem")) };
    ca = tls.cert;

    for (const name of names) backends.push(await startBackend(name, tls));
    lbPort = await freePort();
    socketPath = join(dir, "admin.sock");
    const cfgPath = join(dir, "haproxy.cfg");
    writeFileSync(
      cfgPath,
      renderHaproxyConfig({
        backends: backends.map((b) => ({ name: b.name, address: "127.0.0.1", port: b.port })),
        bindPort: lbPort,
        // Short checks so state changes show up in well under a second.
        checkIntervalMs: 200,
        fall: 2,
        rise: 2,
        timeouts: { connect: 1_000, check: 1_000 },
        statsSocket: { path: socketPath },
      }),
    );

    // -db: foreground, no daemon, so killing this child stops haproxy.
    haproxy = spawn("haproxy", ["-db", "-f", cfgPath], { stdio: ["ignore", "pipe", "pipe"] });
    haproxy.stdout!.on("data", (d: Buffer) => (log += d.toString()));
    haproxy.stderr!.on("data", (d: Buffer) => (log += d.toString()));
    haproxy.on("exit", (code, signal) => (log += `\n[haproxy exited: code ${code}, signal ${signal}]`));

    await waitFor(
      "haproxy to report all three backends UP after a passed check",
      () => {
        if (haproxy!.exitCode !== null) throw new Error("haproxy exited");
        return stat(socketPath);
      },
      (s) => names.every((n) => s[n]?.status === "UP" && s[n]?.check === "L7OK"),
      haproxyLog,
    );
  });

  afterAll(async () => {
    const child = haproxy;
    if (child && child.exitCode === null && child.signalCode === null) {
      const exited = new Promise<void>((resolve) => child.once("exit", () => resolve()));
      child.kill("SIGTERM");
      // SIGKILL only if haproxy ignores SIGTERM; the wait is bounded either way.
      const timer = setTimeout(() => child.kill("SIGKILL"), 5_000);
      await exited;
      clearTimeout(timer);
    }
    await Promise.all(backends.map(stopBackend));
    backends = [];
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  it("passes TLS through: the client verifies the backend's certificate via haproxy", async () => {
    // The client trusts only the backends' certificate; a TLS handshake with haproxy itself would fail.
    await expect(get(lbPort, ca)).resolves.toMatch(/^cp[123]$/);
  });

  it("spreads requests over all three backends", async () => {
    const results = await getMany(30, lbPort, ca);
    const served = results.map((r) => (r.status === "fulfilled" ? r.value : `error: ${String(r.reason)}`));
    expect(served.filter((s) => names.includes(s))).toHaveLength(30);
    expect(new Set(served)).toEqual(new Set(names));
  });

  it("marks a stopped backend DOWN and keeps serving from the other two", async () => {
    await stopBackend(byName("cp2"));

    const s = await waitFor(
      "cp2 to be marked DOWN",
      () => stat(socketPath),
      (x) => x.cp2?.status === "DOWN",
      haproxyLog,
    );
    expect(s.cp1.status).toBe("UP");
    expect(s.cp3.status).toBe("UP");
    expect((await opStates(socketPath)).cp2).toBe("0");

    const results = await getMany(30, lbPort, ca);
    const served = results.map((r) => (r.status === "fulfilled" ? r.value : `error: ${String(r.reason)}`));
    expect(served.filter((x) => x === "cp1" || x === "cp3")).toHaveLength(30);
    expect(new Set(served)).toEqual(new Set(["cp1", "cp3"]));
  });

  it("fails requests once every backend is stopped", async () => {
    await stopBackend(byName("cp1"));
    await stopBackend(byName("cp3"));

    const s = await waitFor(
      "every backend to be marked DOWN",
      () => stat(socketPath),
      (x) => names.every((n) => x[n]?.status === "DOWN"),
      haproxyLog,
    );
    expect(s.BACKEND.status).toBe("DOWN");
    expect(Object.values(await opStates(socketPath))).toEqual(["0", "0", "0"]);

    // haproxy still accepts TCP, finds no server and closes: the TLS handshake never completes.
    const results = await getMany(5, lbPort, ca);
    for (const r of results) {
      expect(r.status).toBe("rejected");
      if (r.status === "rejected") expect((r.reason as NodeJS.ErrnoException).code).toMatch(/^(ECONNRESET|EPIPE)$/);
    }
  });

  it("marks a restarted backend UP again and serves from it", async () => {
    const old = byName("cp1");
    // Same port: haproxy's server line still points there.
    backends[backends.indexOf(old)] = await startBackend("cp1", tls, old.port);

    await waitFor(
      "cp1 to be marked UP again",
      () => stat(socketPath),
      (x) => x.cp1?.status === "UP",
      haproxyLog,
    );
    const results = await getMany(5, lbPort, ca);
    expect(results.map((r) => (r.status === "fulfilled" ? r.value : `error: ${String(r.reason)}`))).toEqual(Array(5).fill("cp1"));
  });
});
