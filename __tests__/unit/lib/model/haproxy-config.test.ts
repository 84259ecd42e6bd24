/**
 * renderHaproxyConfig: the rendered text and its validation. The real haproxy tier
 * (__tests__/haproxy) proves haproxy accepts and acts on this text.
 */
import {
  HAPROXY_DEFAULTS,
  HaproxyConfigProps,
  controlPlaneBackends,
  haproxyDuration,
  renderHaproxyConfig,
} from "../../../../lib/model/haproxy-config";
import { planTopology } from "../../../../lib/model/plan-topology";
import { ValidationError } from "../../../../lib/model/validation";

const threeBackends: HaproxyConfigProps = {
  backends: [
    { name: "cp1", address: "10.0.0.11" },
    { name: "cp2", address: "10.0.0.12" },
    { name: "cp3", address: "10.0.0.13" },
  ],
};

/** The error a render throws; fails the test when it does not throw. */
function renderError(props: HaproxyConfigProps): ValidationError {
  try {
    renderHaproxyConfig(props);
  } catch (e) {
    if (e instanceof ValidationError) return e;
    throw e;
  }
  throw new Error("renderHaproxyConfig did not throw");
}

/** Non-comment, non-blank lines, trimmed. */
function directives(cfg: string): string[] {
  return cfg
    .split("\n")
    .map((l) => l.trim())
    .filter((l) => l !== "" && !l.startsWith("#"));
}

describe("renderHaproxyConfig", () => {
  it("renders a 3-backend config (snapshot)", () => {
    expect(renderHaproxyConfig(threeBackends)).toMatchSnapshot();
  });

  it("renders the same text for the same props", () => {
    expect(renderHaproxyConfig(threeBackends)).toBe(renderHaproxyConfig({ ...threeBackends }));
  });

  it("passes TLS through in TCP mode", () => {
    const lines = directives(renderHaproxyConfig(threeBackends));
    expect(lines).toContain("mode tcp");
    expect(lines.some((l) => /^mode http\b/.test(l))).toBe(false);
    // No certificate on the bind line: haproxy does not terminate TLS.
    expect(lines).toContain("bind 127.0.0.1:6443");
    expect(lines.some((l) => l.startsWith("bind ") && l.includes(" ssl"))).toBe(false);
  });

  it("renders one server line per backend, each health-checked over HTTPS", () => {
    const servers = directives(renderHaproxyConfig(threeBackends)).filter((l) => l.startsWith("server "));
    expect(servers).toEqual([
      "server cp1 10.0.0.11:6443 check check-ssl verify none",
      "server cp2 10.0.0.12:6443 check check-ssl verify none",
      "server cp3 10.0.0.13:6443 check check-ssl verify none",
    ]);
  });

  it("checks GET /readyz and expects 200", () => {
    const lines = directives(renderHaproxyConfig(threeBackends));
    expect(lines).toContain("option httpchk GET /readyz");
    expect(lines).toContain("http-check expect status 200");
  });

  it("applies the defaults: roundrobin, 2s checks, fall 2, rise 2, long watch timeouts", () => {
    const lines = directives(renderHaproxyConfig(threeBackends));
    expect(lines).toContain("balance roundrobin");
    expect(lines).toContain("default-server inter 2s fall 2 rise 2 on-marked-down shutdown-sessions");
    expect(lines).toEqual(expect.arrayContaining(["timeout connect 5s", "timeout client 1h", "timeout server 1h", "timeout check 5s"]));
    expect(lines.some((l) => l.startsWith("stats socket"))).toBe(false);
  });

  it("exports its defaults in HAPROXY_DEFAULTS", () => {
    expect(HAPROXY_DEFAULTS).toMatchObject({
      bindAddress: "127.0.0.1",
      bindPort: 6443,
      backendPort: 6443,
      healthCheckPath: "/readyz",
      checkIntervalMs: 2000,
      fall: 2,
      rise: 2,
      timeouts: { connect: 5000, client: 3_600_000, server: 3_600_000, check: 5000 },
    });
  });

  it("renders every optional prop", () => {
    const lines = directives(
      renderHaproxyConfig({
        backends: [
          { name: "a", address: "::1", port: 7443 },
          { name: "b", address: "api-b.example.com", port: 8443 },
        ],
        bindAddress: "::",
        bindPort: 16443,
        healthCheckPath: "/readyz?verbose",
        checkIntervalMs: 250,
        fall: 3,
        rise: 5,
        balance: "leastconn",
        timeouts: { connect: 1500, client: 60_000 },
        statsSocket: { path: "/run/haproxy/admin.sock" },
      }),
    );
    expect(lines).toEqual(
      expect.arrayContaining([
        "bind [::]:16443",
        "balance leastconn",
        "option httpchk GET /readyz?verbose",
        "default-server inter 250ms fall 3 rise 5 on-marked-down shutdown-sessions",
        "timeout connect 1500ms",
        "timeout client 1m",
        "timeout server 1h",
        "stats socket /run/haproxy/admin.sock mode 600 level admin",
        "server a [::1]:7443 check check-ssl verify none",
        "server b api-b.example.com:8443 check check-ssl verify none",
      ]),
    );
  });

  it("renders a stats socket with the given mode and level", () => {
    const cfg = renderHaproxyConfig({ ...threeBackends, statsSocket: { path: "/tmp/s.sock", mode: "660", level: "operator" } });
    expect(directives(cfg)).toContain("stats socket /tmp/s.sock mode 660 level operator");
  });

  it("builds one backend per control plane from a topology", () => {
    const topology = planTopology("ha", { clusterName: "lb" }, "test");
    expect(controlPlaneBackends(topology.controlPlanes)).toEqual([
      { name: "lb-control-plane", address: "lb-control-plane", port: 6443 },
      { name: "lb-control-plane2", address: "lb-control-plane2", port: 6443 },
      { name: "lb-control-plane3", address: "lb-control-plane3", port: 6443 },
    ]);
    const ips = controlPlaneBackends(topology.controlPlanes, (n) => `10.1.0.${n.name.length}`, 443);
    expect(ips.map((b) => `${b.address}:${b.port}`)).toEqual(["10.1.0.16:443", "10.1.0.17:443", "10.1.0.17:443"]);
  });
});

describe("haproxyDuration", () => {
  it.each([
    [1, "1ms"],
    [200, "200ms"],
    [1500, "1500ms"],
    [5000, "5s"],
    [90_000, "90s"],
    [120_000, "2m"],
    [3_600_000, "1h"],
    [86_400_000, "1d"],
  ])("renders %p ms as %p", (ms, text) => {
    expect(haproxyDuration(ms)).toBe(text);
  });
});

describe("renderHaproxyConfig validation", () => {
  it("fails when backends is empty", () => {
    expect(() => renderHaproxyConfig({ backends: [] })).toThrow("backends: [] is empty; at least one control plane is needed");
  });

  it("fails when backends is missing", () => {
    const e = renderError({} as HaproxyConfigProps);
    expect(e.message).toContain("backends: undefined must be an array with one entry per control plane");
  });

  it("fails when backend names repeat", () => {
    const e = renderError({
      backends: [
        { name: "cp1", address: "10.0.0.1" },
        { name: "cp2", address: "10.0.0.2" },
        { name: "cp1", address: "10.0.0.3" },
      ],
    });
    expect(e.violations).toEqual([{ field: "backends[2].name", value: "cp1", rule: "duplicates backends[0].name; names must be unique" }]);
    expect(e.message).toContain('backends[2].name: "cp1" duplicates backends[0].name; names must be unique');
  });

  it("fails when two backends share an address and port", () => {
    const e = renderError({
      backends: [
        { name: "cp1", address: "10.0.0.1" },
        { name: "cp2", address: "10.0.0.1", port: 6443 },
        { name: "cp3", address: "10.0.0.1", port: 7443 },
      ],
    });
    expect(e.message).toContain('backends[1]: "10.0.0.1:6443" duplicates the address and port of backends[0]');
    expect(e.violations).toHaveLength(1);
  });

  it.each([0, -1, 65536, 6443.5, NaN])("fails when a port is %p", (port) => {
    const e = renderError({ backends: [{ name: "cp1", address: "10.0.0.1", port }], bindPort: port });
    expect(e.violations.map((v) => v.field)).toEqual(["bindPort", "backends[0].port"]);
    expect(e.message).toContain("must be a whole number from 1 to 65535");
  });

  it.each(["10.0.0.256", "host_name", "-leading.dash", "has space", "", "a..b"])("fails when a backend address is %p", (address) => {
    const e = renderError({ backends: [{ name: "cp1", address }] });
    expect(e.message).toContain(`backends[0].address: ${JSON.stringify(address)} is not an IPv4/IPv6 address or DNS host name`);
  });

  it("fails when the bind address is a host name", () => {
    const e = renderError({ ...threeBackends, bindAddress: "localhost" });
    expect(e.message).toContain('bindAddress: "localhost" is not an IP address; the balancer binds an IPv4 or IPv6 address');
  });

  it.each(["", "cp 1", "-cp1", "cp#1", "cp/1"])("fails when a backend name is %p", (name) => {
    const e = renderError({ backends: [{ name, address: "10.0.0.1" }] });
    expect(e.message).toContain(`backends[0].name: ${JSON.stringify(name)} must start with a letter or digit`);
  });

  it.each(["readyz", "/ready z", "/readyz#x", '/"q"', "/it's", "/a\\b"])("fails when the health check path is %p", (path) => {
    const e = renderError({ ...threeBackends, healthCheckPath: path });
    expect(e.message).toContain(`healthCheckPath: ${JSON.stringify(path)} must be a URL path starting with '/'`);
  });

  it("fails when checks, fall, rise or timeouts are not positive whole numbers", () => {
    const e = renderError({
      ...threeBackends,
      checkIntervalMs: 0,
      fall: 1.5,
      rise: -2,
      timeouts: { connect: 0, client: Infinity, server: 2.5, check: -1 },
    });
    expect(e.violations.map((v) => v.field)).toEqual([
      "checkIntervalMs",
      "fall",
      "rise",
      "timeouts.connect",
      "timeouts.client",
      "timeouts.server",
      "timeouts.check",
    ]);
    expect(e.message).toContain("fall: 1.5 must be a whole number of at least 1");
  });

  it("fails when the balance algorithm is unknown", () => {
    const e = renderError({ ...threeBackends, balance: "random" as "roundrobin" });
    expect(e.message).toContain('balance: "random" must be one of roundrobin, leastconn');
  });

  it("fails when the stats socket is relative, its mode not octal or its level unknown", () => {
    const e = renderError({
      ...threeBackends,
      statsSocket: { path: "admin.sock", mode: "0999", level: "root" as "admin" },
    });
    expect(e.message).toContain(`statsSocket.path: "admin.sock" must be an absolute path`);
    expect(e.message).toContain(`statsSocket.mode: "0999" must be an octal file mode such as "600"`);
    expect(e.message).toContain(`statsSocket.level: "root" must be one of user, operator, admin`);
  });

  it("fails once, listing every problem", () => {
    const e = renderError({
      backends: [
        { name: "cp1", address: "10.0.0.1", port: 0 },
        { name: "cp1", address: "not_a_host" },
      ],
      bindAddress: "0.0.0",
      bindPort: 70000,
      fall: 0,
    });
    expect(e.name).toBe("ValidationError");
    expect(e.message.split("\n")[0]).toBe("Invalid haproxy config (6 problems):");
    expect(e.violations.map((v) => v.field)).toEqual([
      "bindAddress",
      "bindPort",
      "fall",
      "backends[0].port",
      "backends[1].name",
      "backends[1].address",
    ]);
  });
});
