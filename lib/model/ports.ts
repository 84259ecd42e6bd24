/**
 * The `ports` setting: host ports forwarded to NodePorts (kind's extraPortMappings), their rules,
 * and the node that carries each. Pure; planTopology calls it.
 */
import { DEFAULTS, NODE_PORT_RANGE } from "./defaults";
import { apiAddress, port, wholeNumber } from "./grammar";
import { PORT_PROTOCOLS, WORKER_ROLES, type PlannedNode, type PlannedPort, type PortMapping, type WorkerRole } from "./topology";
import type { Violation } from "./validation";

/** The role that carries a mapping without one: the first workload worker, else the first combined one. */
function portRole(roles: readonly WorkerRole[], given: PortMapping["role"]): PortMapping["role"] {
  if (given !== undefined) return given;
  return roles.includes("workload") ? "workload" : "combined";
}

/**
 * Every rule the `ports` setting breaks: each mapping's grammar, a role the stack has, a host port
 * mapped once per protocol, and never the API server's.
 */
export function portViolations(ports: unknown, roles: readonly WorkerRole[], apiServerPort: number): Violation[] {
  if (!Array.isArray(ports)) {
    return [{ field: "ports", value: ports, rule: "must be a list of { hostPort, nodePort, protocol, listenAddress, role }" }];
  }
  const v: Violation[] = [];
  const seen = new Map<string, number>();
  (ports as PortMapping[]).forEach((p, i) => {
    const at = `ports[${i}]`;
    if (typeof p !== "object" || p === null) {
      v.push({ field: at, value: p, rule: "must be a map of hostPort, nodePort, protocol, listenAddress, role" });
      return;
    }
    const range = (x: Violation) => ({ ...x, rule: `${x.rule} (the cluster's NodePort range)` });
    v.push(
      ...port(`${at}.hostPort`, p.hostPort),
      ...wholeNumber(`${at}.nodePort`, p.nodePort, NODE_PORT_RANGE.min, NODE_PORT_RANGE.max).map(range),
    );
    const protocol = p.protocol ?? "TCP";
    if (!PORT_PROTOCOLS.includes(protocol))
      v.push({ field: `${at}.protocol`, value: p.protocol, rule: `must be one of ${PORT_PROTOCOLS.join(", ")}` });
    if (p.listenAddress !== undefined) v.push(...apiAddress(`${at}.listenAddress`, p.listenAddress).violations);
    const role = portRole(roles, p.role);
    if (p.role !== undefined && !WORKER_ROLES.includes(p.role)) {
      v.push({ field: `${at}.role`, value: p.role, rule: `must be one of ${WORKER_ROLES.join(", ")}` });
    } else if (role === undefined || !roles.includes(role)) {
      v.push({ field: `${at}.role`, value: role, rule: "names no worker of this stack; the mapping needs a node of that role" });
    }
    const first = seen.get(`${p.hostPort}/${protocol}`);
    if (first !== undefined) {
      v.push({
        field: `${at}.hostPort`,
        value: p.hostPort,
        rule: `is already mapped by ports[${first}] (${protocol}); each host port may be mapped once`,
      });
    } else seen.set(`${p.hostPort}/${protocol}`, i);
    if (p.hostPort === apiServerPort && protocol === "TCP") {
      v.push({ field: `${at}.hostPort`, value: p.hostPort, rule: "is the API server's port (apiServerPort); choose another" });
    }
  });
  return v;
}

/** What is allowed but risky: a mapping on every address of this host. */
export function portWarnings(ports: readonly PortMapping[]): string[] {
  return ports.flatMap((p, i) => apiAddress(`ports[${i}].listenAddress`, p.listenAddress, `host port ${p.hostPort}`).warning ?? []);
}

/** The mappings of a valid setting with their defaults, each on the first worker of its role. */
export function planPorts(ports: readonly PortMapping[], workers: readonly PlannedNode[]): PlannedPort[] {
  const roles = workers.map((w) => w.role as WorkerRole);
  return ports.map((p) => ({
    hostPort: p.hostPort,
    nodePort: p.nodePort,
    protocol: p.protocol ?? "TCP",
    listenAddress: p.listenAddress ?? DEFAULTS.portListenAddress,
    node: workers.find((w) => w.role === portRole(roles, p.role))!.name,
  }));
}
