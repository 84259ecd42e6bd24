/**
 * haproxy.cfg for an external load balancer in front of the Kubernetes API servers: pure, no cdktf.
 *
 * Production clusters put a load balancer of their own in front of the control planes; kind ships
 * a built-in one for HA clusters, so this file is for the machines kind does not cover. The
 * balancer works at TCP level (TLS ends at the API servers, so client certificates and the
 * API server's own certificate reach the client untouched) and health-checks each API server with
 * an HTTPS `GET /readyz`, so a control plane that is up but not ready gets no new connections.
 * Over 300 lines because the props' documentation, their validation and the renderer belong
 * together: one file a reader opens to know every line of the config.
 */
import { isIP } from "node:net";
import { DEFAULTS } from "./defaults";
import type { PlannedNode } from "./topology";
import { port } from "./grammar";
import { hostPort } from "./util";
import { ValidationError, type Violation } from "./validation";

/** One API server behind the balancer. */
export interface HaproxyBackend {
  /** Server name in haproxy (stats, logs, `set server`); usually the control plane's node name. */
  readonly name: string;
  /** IP address or DNS name of the API server; a name must resolve when haproxy starts. */
  readonly address: string;
  /**
   * Port the API server listens on.
   * @default 6443
   */
  readonly port?: number;
}

/** Timeouts, in milliseconds. */
export interface HaproxyTimeouts {
  /**
   * Time to open a TCP connection to an API server.
   * @default 5000 (5s)
   */
  readonly connect?: number;
  /**
   * Inactivity allowed on the client side; long, because watches sit idle between events.
   * @default 3600000 (1h)
   */
  readonly client?: number;
  /**
   * Inactivity allowed on the server side; as long as the client side, for the same watches.
   * @default 3600000 (1h)
   */
  readonly server?: number;
  /**
   * Time a health check may take to answer once connected.
   * @default 5000 (5s)
   */
  readonly check?: number;
}

/** The runtime API socket (`show stat`, `show servers state`, `set server ... state drain`). */
export interface HaproxyStatsSocket {
  /** Absolute path of the UNIX socket. */
  readonly path: string;
  /**
   * File mode of the socket, octal.
   * @default "600" - only haproxy's user may talk to it
   */
  readonly mode?: string;
  /**
   * What the socket may do.
   * @default "admin" - draining a control plane before an upgrade needs `set server`, an admin command
   */
  readonly level?: "user" | "operator" | "admin";
}

/** What the rendered haproxy.cfg looks like; only `backends` is required. */
export interface HaproxyConfigProps {
  /** One entry per control plane; at least one, names and address:port pairs unique. */
  readonly backends: readonly HaproxyBackend[];
  /**
   * Address the balancer listens on (IPv4 or IPv6).
   * @default "127.0.0.1"
   */
  readonly bindAddress?: string;
  /**
   * Port the balancer listens on; clients' kubeconfig points here.
   * @default 6443
   */
  readonly bindPort?: number;
  /**
   * Path of the HTTPS health check; `/readyz` fails while the API server cannot serve (e.g. etcd lost).
   * @default "/readyz"
   */
  readonly healthCheckPath?: string;
  /**
   * Milliseconds between health checks of each API server.
   * @default 2000
   */
  readonly checkIntervalMs?: number;
  /**
   * Consecutive failed checks before an API server is marked DOWN.
   * @default 2
   */
  readonly fall?: number;
  /**
   * Consecutive passed checks before a DOWN API server is marked UP again.
   * @default 2
   */
  readonly rise?: number;
  /**
   * How connections are spread: per connection in turn, or to the server with the fewest.
   * @default "roundrobin"
   */
  readonly balance?: "roundrobin" | "leastconn";
  /**
   * Timeouts, in milliseconds; each one falls back to its default alone.
   * @default { connect: 5000, client: 3600000, server: 3600000, check: 5000 }
   */
  readonly timeouts?: HaproxyTimeouts;
  /**
   * The runtime API socket.
   * @default - no socket
   */
  readonly statsSocket?: HaproxyStatsSocket;
}

/** Every default of the balancer; bind address and port follow the cluster's API endpoint defaults. */
export const HAPROXY_DEFAULTS = {
  bindAddress: DEFAULTS.apiServerAddress,
  bindPort: DEFAULTS.apiServerPort,
  backendPort: 6443,
  healthCheckPath: "/readyz",
  checkIntervalMs: 2000,
  fall: 2,
  rise: 2,
  balance: "roundrobin",
  timeouts: { connect: 5_000, client: 3_600_000, server: 3_600_000, check: 5_000 },
  statsSocket: { mode: "600", level: "admin" },
} as const;

/** Every rule the props broke, in one error. */
/**
 * One backend per control plane, named after the node.
 *
 * @param address where each API server is reached; the node name by default, which resolves on
 *   kind's Docker network (production passes the machines' addresses)
 */
export function controlPlaneBackends<N extends Pick<PlannedNode, "name">>(
  controlPlanes: readonly N[],
  address: (node: N) => string = (node) => node.name,
  port: number = HAPROXY_DEFAULTS.backendPort,
): HaproxyBackend[] {
  return controlPlanes.map((node) => ({ name: node.name, address: address(node), port }));
}

/** haproxy server names: a letter or digit, then letters, digits, '.', '_', '-' (what logs and the CLI handle). */
const SERVER_NAME = /^[A-Za-z0-9][A-Za-z0-9._-]*$/;
/** RFC 1123 host names whose last label is not all digits, so a mistyped IPv4 like 10.0.0.256 is refused. */
const HOSTNAME = /^(?=.{1,253}$)([A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?\.)*(?![0-9]+$)[A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?$/;
/** An absolute URL path; no whitespace, quotes, '#' or '\' because haproxy's parser would split or comment on them. */
const URL_PATH = /^\/[A-Za-z0-9\-._~!$&()*+,;=:@/%?]*$/;
const OCTAL_MODE = /^[0-7]{3,4}$/;
const SOCKET_LEVELS = ["user", "operator", "admin"] as const;
const BALANCES = ["roundrobin", "leastconn"] as const;

function checkPort(field: string, value: unknown, out: Violation[]): void {
  out.push(...port(field, value));
}

function checkWhole(field: string, value: unknown, min: number, out: Violation[]): void {
  if (typeof value !== "number" || !Number.isInteger(value) || value < min) {
    out.push({ field, value, rule: `must be a whole number of at least ${min}` });
  }
}

/** Props with every default applied and every rule checked; rendering reads only this. */
export interface ResolvedHaproxyConfig {
  readonly backends: readonly Required<HaproxyBackend>[];
  readonly bindAddress: string;
  readonly bindPort: number;
  readonly healthCheckPath: string;
  readonly checkIntervalMs: number;
  readonly fall: number;
  readonly rise: number;
  readonly balance: string;
  readonly timeouts: Required<HaproxyTimeouts>;
  readonly statsSocket?: Required<HaproxyStatsSocket>;
}

/** Resolves defaults and checks every rule; throws one {@link ValidationError} naming each violation. */
export function resolveHaproxyConfig(props: HaproxyConfigProps): ResolvedHaproxyConfig {
  const v: Violation[] = [];
  const d = HAPROXY_DEFAULTS;
  const bindAddress = props.bindAddress ?? d.bindAddress;
  const bindPort = props.bindPort ?? d.bindPort;
  const healthCheckPath = props.healthCheckPath ?? d.healthCheckPath;
  const checkIntervalMs = props.checkIntervalMs ?? d.checkIntervalMs;
  const fall = props.fall ?? d.fall;
  const rise = props.rise ?? d.rise;
  const balance = props.balance ?? d.balance;
  const timeouts: Required<HaproxyTimeouts> = {
    connect: props.timeouts?.connect ?? d.timeouts.connect,
    client: props.timeouts?.client ?? d.timeouts.client,
    server: props.timeouts?.server ?? d.timeouts.server,
    check: props.timeouts?.check ?? d.timeouts.check,
  };

  if (typeof bindAddress !== "string" || isIP(bindAddress) === 0) {
    v.push({ field: "bindAddress", value: bindAddress, rule: "is not an IP address; the balancer binds an IPv4 or IPv6 address" });
  }
  checkPort("bindPort", bindPort, v);
  if (typeof healthCheckPath !== "string" || !URL_PATH.test(healthCheckPath)) {
    v.push({
      field: "healthCheckPath",
      value: healthCheckPath,
      rule: "must be a URL path starting with '/' without spaces, quotes, '#' or '\\'",
    });
  }
  checkWhole("checkIntervalMs", checkIntervalMs, 1, v);
  checkWhole("fall", fall, 1, v);
  checkWhole("rise", rise, 1, v);
  if (!(BALANCES as readonly unknown[]).includes(balance)) {
    v.push({ field: "balance", value: balance, rule: `must be one of ${BALANCES.join(", ")}` });
  }
  for (const key of ["connect", "client", "server", "check"] as const) {
    checkWhole(`timeouts.${key}`, timeouts[key], 1, v);
  }

  let statsSocket: Required<HaproxyStatsSocket> | undefined;
  if (props.statsSocket !== undefined) {
    const s = props.statsSocket;
    statsSocket = { path: s.path, mode: s.mode ?? d.statsSocket.mode, level: s.level ?? d.statsSocket.level };
    if (typeof s.path !== "string" || !/^\/[A-Za-z0-9._@+/-]*$/.test(s.path)) {
      v.push({
        field: "statsSocket.path",
        value: s.path,
        rule: "must be an absolute path of letters, digits and . _ @ + - / (no spaces, quotes, '$', braces or '\\')",
      });
    }
    if (typeof statsSocket.mode !== "string" || !OCTAL_MODE.test(statsSocket.mode)) {
      v.push({ field: "statsSocket.mode", value: statsSocket.mode, rule: 'must be an octal file mode such as "600"' });
    }
    if (!(SOCKET_LEVELS as readonly unknown[]).includes(statsSocket.level)) {
      v.push({ field: "statsSocket.level", value: statsSocket.level, rule: `must be one of ${SOCKET_LEVELS.join(", ")}` });
    }
  }

  const backends: Required<HaproxyBackend>[] = [];
  if (!Array.isArray(props.backends)) {
    v.push({ field: "backends", value: props.backends, rule: "must be an array with one entry per control plane" });
  } else if (props.backends.length === 0) {
    v.push({ field: "backends", value: [], rule: "is empty; at least one control plane is needed" });
  } else {
    const names = new Map<string, number>();
    const endpoints = new Map<string, number>();
    props.backends.forEach((b, i) => {
      const field = `backends[${i}]`;
      const port = b.port ?? d.backendPort;
      backends.push({ name: b.name, address: b.address, port });
      if (typeof b.name !== "string" || !SERVER_NAME.test(b.name)) {
        v.push({
          field: `${field}.name`,
          value: b.name,
          rule: "must start with a letter or digit and hold only letters, digits, '.', '_' and '-'",
        });
      } else if (names.has(b.name)) {
        v.push({ field: `${field}.name`, value: b.name, rule: `duplicates backends[${names.get(b.name)}].name; names must be unique` });
      } else {
        names.set(b.name, i);
      }
      const addressOk = typeof b.address === "string" && (isIP(b.address) !== 0 || HOSTNAME.test(b.address));
      if (!addressOk) {
        v.push({ field: `${field}.address`, value: b.address, rule: "is not an IPv4/IPv6 address or DNS host name" });
      }
      checkPort(`${field}.port`, port, v);
      if (addressOk) {
        const key = endpoint(b.address.toLowerCase(), port);
        if (endpoints.has(key)) {
          v.push({
            field,
            value: key,
            rule: `duplicates the address and port of backends[${endpoints.get(key)}]; each control plane once`,
          });
        } else {
          endpoints.set(key, i);
        }
      }
    });
  }

  if (v.length > 0) throw new ValidationError("haproxy config", v);
  return { backends, bindAddress, bindPort, healthCheckPath, checkIntervalMs, fall, rise, balance, timeouts, statsSocket };
}

/** haproxy's time format: the largest whole unit, so the file reads "1h" rather than "3600000". */
export function haproxyDuration(ms: number): string {
  const units: [number, string][] = [
    [86_400_000, "d"],
    [3_600_000, "h"],
    [60_000, "m"],
    [1_000, "s"],
  ];
  for (const [size, unit] of units) {
    if (ms % size === 0) return `${ms / size}${unit}`;
  }
  return `${ms}ms`;
}

/** `address:port`, with IPv6 addresses bracketed as haproxy reads them. */
function endpoint(address: string, port: number): string {
  return hostPort(address, port);
}

/**
 * Renders haproxy.cfg for the API servers; deterministic, so the same props give the same bytes.
 *
 * Throws a {@link ValidationError} listing every invalid prop.
 */
export function renderHaproxyConfig(props: HaproxyConfigProps): string {
  const c = resolveHaproxyConfig(props);
  const t = c.timeouts;
  const socket = c.statsSocket ? `  stats socket ${c.statsSocket.path} mode ${c.statsSocket.mode} level ${c.statsSocket.level}\n` : "";
  const servers = c.backends.map((b) => `  server ${b.name} ${endpoint(b.address, b.port)} check check-ssl verify none`).join("\n");
  return `# haproxy.cfg for the Kubernetes API servers, rendered by kindha (lib/haproxy-config.ts).
# TCP passthrough: TLS ends at the API servers; haproxy only health-checks them over HTTPS.

global
  # stdout suits foreground runs (systemd, containers, haproxy -db).
  log stdout format raw local0 info
${socket}
defaults
  mode tcp
  log global
  option tcplog
  option dontlognull
  # A refused connection to a dead API server is retried on another before checks notice it.
  option redispatch
  retries 3
  timeout connect ${haproxyDuration(t.connect)}
  # Long client/server timeouts keep idle watches open.
  timeout client ${haproxyDuration(t.client)}
  timeout server ${haproxyDuration(t.server)}
  timeout check ${haproxyDuration(t.check)}

frontend kube-apiserver
  bind ${endpoint(c.bindAddress, c.bindPort)}
  default_backend kube-apiserver

backend kube-apiserver
  balance ${c.balance}
  # /readyz answers 200 only while the API server can serve, and fails once it starts shutting down.
  option httpchk GET ${c.healthCheckPath}
  http-check expect status 200
  # Sessions on a server marked DOWN are cut, else a watch on a dead server hangs until the timeout.
  default-server inter ${haproxyDuration(c.checkIntervalMs)} fall ${c.fall} rise ${c.rise} on-marked-down shutdown-sessions
  # verify none: the check only asks whether the server is ready; clients verify the real certificate.
${servers}
`;
}
