import { preset, TOPOLOGY_OPTIONS } from "../../../../lib/model/presets";
import { etcdCertSans, etcdQuorum, toleratedFailures, type Availability, type TopologySpec } from "../../../../lib/model/topology";
import { planTopology } from "../../../../lib/model/plan-topology";
import { ValidationError } from "../../../../lib/model/validation";

describe("etcd maths", () => {
  test.each([
    [1, 1, 0],
    [3, 2, 1],
    [5, 3, 2],
    [7, 4, 3],
  ])("%i members: quorum %i, tolerates %i failures", (n, quorum, tolerated) => {
    expect(etcdQuorum(n)).toBe(quorum);
    expect(toleratedFailures(n)).toBe(tolerated);
  });

  test("an even count buys no extra tolerance", () => {
    expect(toleratedFailures(4)).toBe(toleratedFailures(3));
    expect(etcdQuorum(4)).toBe(3);
  });
});

describe("presets", () => {
  // The seed table says ha-option-a totals 40 GiB, but its own per-node budgets
  // (3 x 4 + 8 + 16) sum to 36: the per-node budgets are the contract.
  test.each([
    ["single", 1, 1, 10, 20],
    ["ha-option-b", 3, 1, 14, 28],
    ["ha-option-a", 3, 2, 18, 36],
  ] as const)("%s: %i control planes, %i workers, %i CPU, %i GiB", (option, cps, workers, cpu, gib) => {
    const p = preset(option);
    const t = planTopology(p.availability, p.spec, option);
    expect(t.controlPlanes).toHaveLength(cps);
    expect(t.workers).toHaveLength(workers);
    expect(t.totals).toEqual({ cpu, memoryGiB: gib });
  });

  test("node budgets per role match the platform's sizing", () => {
    const a = planTopology("ha", preset("ha-option-a").spec, "a");
    expect(a.controlPlanes.map((n) => n.budget)).toEqual(Array(3).fill({ cpu: 2, memoryGiB: 4 }));
    expect(a.workers.map((n) => [n.role, n.budget])).toEqual([
      ["infrastructure", { cpu: 4, memoryGiB: 8 }],
      ["workload", { cpu: 8, memoryGiB: 16 }],
    ]);
    const b = planTopology("ha", preset("ha-option-b").spec, "b");
    expect(b.workers.map((n) => [n.role, n.budget])).toEqual([["combined", { cpu: 8, memoryGiB: 16 }]]);
  });

  test("every option is planned with the default API endpoint behind a load balancer only in HA", () => {
    for (const option of TOPOLOGY_OPTIONS) {
      const p = preset(option);
      const t = planTopology(p.availability, p.spec, option);
      expect(t.api.url).toBe("https://127.0.0.1:6443");
      expect(t.api.loadBalanced).toBe(p.availability === "ha");
    }
  });

  test("kind names nodes by role and position", () => {
    const t = planTopology("ha", preset("ha-option-a").spec, "a");
    expect(t.nodes.map((n) => n.name)).toEqual([
      "data-platform-local-control-plane",
      "data-platform-local-control-plane2",
      "data-platform-local-control-plane3",
      "data-platform-local-worker",
      "data-platform-local-worker2",
    ]);
    expect(t.etcd.members).toEqual(t.controlPlanes.map((n) => n.name));
  });

  test("only infrastructure workers are tainted", () => {
    const t = planTopology("ha", preset("ha-option-a").spec, "a");
    expect(t.workers.map((n) => n.taints)).toEqual([[{ key: "kindha.io/role", value: "infrastructure", effect: "NoSchedule" }], []]);
    expect(t.nodes.map((n) => n.labels["kindha.io/role"])).toEqual([
      "control-plane",
      "control-plane",
      "control-plane",
      "infrastructure",
      "workload",
    ]);
  });

  test("a larger topology is configurable: 7 control planes and 100 workers", () => {
    const t = planTopology(
      "ha",
      { controlPlanes: 7, workers: [{ role: "workload", count: 100, budget: { cpu: 1, memoryGiB: 2 } }] },
      "big",
    );
    expect(t.nodes).toHaveLength(107);
    expect(t.etcd).toMatchObject({ quorum: 4, toleratedFailures: 3 });
    expect(t.totals).toEqual({ cpu: 7 * 2 + 100, memoryGiB: 7 * 4 + 200 });
    expect(t.workers[99].name).toBe("data-platform-local-worker100");
  });
});

describe("etcd certificate SANs", () => {
  test("always localhost and 127.0.0.1", () => {
    expect(etcdCertSans("127.0.0.1")).toEqual(["localhost", "127.0.0.1"]);
  });
  test("plus the load balancer address when it differs", () => {
    expect(etcdCertSans("192.168.1.10")).toEqual(["localhost", "127.0.0.1", "192.168.1.10"]);
  });
  test("but not a wildcard listen address", () => {
    expect(etcdCertSans("0.0.0.0")).toEqual(["localhost", "127.0.0.1"]);
  });
});

/** Bad input: every case names the field, the value and the rule. */
describe("validation", () => {
  const cases: [string, Availability, TopologySpec, string][] = [
    ["controlPlanes is even", "ha", { controlPlanes: 4 }, "controlPlanes: 4 is even; etcd quorum needs an odd count (1, 3, 5, 7)"],
    ["controlPlanes is above 7", "ha", { controlPlanes: 9 }, "controlPlanes: 9 must be a whole number from 1 to 7"],
    ["controlPlanes is zero", "single", { controlPlanes: 0 }, "controlPlanes: 0 must be a whole number from 1 to 7"],
    ["controlPlanes is fractional", "ha", { controlPlanes: 3.5 }, "controlPlanes: 3.5 must be a whole number from 1 to 7"],
    [
      "HA has a single control plane",
      "ha",
      { controlPlanes: 1 },
      "controlPlanes: 1 is too few for HA; an HA stack needs at least 3 control planes",
    ],
    ["a single stack has 3 control planes", "single", { controlPlanes: 3 }, "controlPlanes: 3 must be 1 in a single stack"],
    [
      "there is no schedulable worker",
      "ha",
      { workers: [{ role: "infrastructure" }] },
      'workers: ["infrastructure"] has no schedulable worker',
    ],
    ["there are no workers", "single", { workers: [] }, "workers: [] has no schedulable worker"],
    [
      "a worker count is zero",
      "ha",
      { workers: [{ role: "workload", count: 0 }] },
      "workers[0].count: 0 must be a whole number of at least 1",
    ],
    [
      "a worker role is unknown",
      "ha",
      { workers: [{ role: "gpu" as never }] },
      'workers[0].role: "gpu" must be one of infrastructure, workload, combined',
    ],
    [
      "control-plane CPU is zero",
      "ha",
      { controlPlaneBudget: { cpu: 0 } },
      "controlPlaneBudget.cpu: 0 must be a whole number of CPUs from 1 to 1024",
    ],
    [
      "worker memory is negative",
      "ha",
      { workers: [{ role: "combined", budget: { memoryGiB: -16 } }] },
      "workers[0].budget.memoryGiB: -16 must be a whole number of GiB from 1 to 4096",
    ],
    [
      "a budget is a decimal (the preflight compares whole numbers)",
      "ha",
      { controlPlaneBudget: { cpu: 1.5 } },
      "controlPlaneBudget.cpu: 1.5 must be a whole number of CPUs from 1 to 1024",
    ],
    [
      "a budget is huge",
      "single",
      { workers: [{ role: "combined", budget: { cpu: 1e300 } }] },
      "workers[0].budget.cpu: 1e+300 must be a whole number of CPUs from 1 to 1024",
    ],
    [
      "a budget is not a number",
      "single",
      { controlPlaneBudget: { memoryGiB: "4" as never } },
      'controlPlaneBudget.memoryGiB: "4" must be a whole number of GiB from 2 to 4096',
    ],
    [
      "a control plane has less memory than it needs",
      "single",
      { controlPlaneBudget: { memoryGiB: 1 } },
      "controlPlaneBudget.memoryGiB: 1 must be a whole number of GiB from 2 to 4096",
    ],
    ["the API port is out of range", "ha", { apiServerPort: 70000 }, "apiServerPort: 70000 must be a whole number from 1 to 65535"],
    ["the API port is zero", "single", { apiServerPort: 0 }, "apiServerPort: 0 must be a whole number from 1 to 65535"],
    [
      "the API address is a hostname",
      "ha",
      { apiServerAddress: "localhost" },
      'apiServerAddress: "localhost" must be a unicast IPv4 or IPv6 address without a zone',
    ],
    [
      "the API address is not an IP",
      "ha",
      { apiServerAddress: "300.1.1.1" },
      'apiServerAddress: "300.1.1.1" must be a unicast IPv4 or IPv6 address without a zone',
    ],
    ["the API address is multicast", "ha", { apiServerAddress: "239.1.2.3" }, "multicast addresses cannot be bound"],
    ["the API address is IPv6 multicast", "ha", { apiServerAddress: "ff02::1" }, "multicast addresses cannot be bound"],
    [
      "the API address is the broadcast address",
      "ha",
      { apiServerAddress: "255.255.255.255" },
      "broadcast or reserved addresses cannot be bound",
    ],
    [
      "the API address carries a zone id",
      "ha",
      { apiServerAddress: "fe80::1%eth0" },
      "a zone id (%...) names an interface, not an address",
    ],
    ["the cluster name has capitals", "ha", { clusterName: "Data_Platform" }, 'clusterName: "Data_Platform" must be a DNS-1123 label'],
    ["the cluster name ends with a dash", "single", { clusterName: "data-" }, 'clusterName: "data-" must be a DNS-1123 label'],
    [
      "the cluster name makes node names too long",
      "ha",
      { clusterName: "a".repeat(50) },
      "has 65 characters; node names must be at most 63",
    ],
    ["the node image has no tag", "ha", { nodeImage: "kindest/node" }, 'nodeImage: "kindest/node" must name a tag or a digest'],
    ["the node image is empty", "ha", { nodeImage: "" }, 'nodeImage: "" must be an image reference (OCI distribution grammar'],
    [
      "the node image has capitals in its path",
      "ha",
      { nodeImage: "Kindest/Node:v1" },
      "must be an image reference (OCI distribution grammar",
    ],
    [
      "the node image is a Terraform template",
      "ha",
      { nodeImage: 'kindest/node:${file("/etc/passwd")}' },
      "must be an image reference (OCI distribution grammar",
    ],
    [
      "the node image carries a newline and a YAML key",
      "ha",
      { nodeImage: "kindest/node:v1\n    extraMounts: [{hostPath: /}]" },
      "must be an image reference (OCI distribution grammar",
    ],
    [
      "the node image's digest is not hex",
      "ha",
      { nodeImage: "kindest/node@sha256:xyz" },
      "must be an image reference (OCI distribution grammar",
    ],
  ];

  test.each(cases)("fails when %s", (_name, availability, spec, message) => {
    expect(() => planTopology(availability, spec, 'stack "t"')).toThrow(ValidationError);
    expect(() => planTopology(availability, spec, 'stack "t"')).toThrow(message);
  });

  test.each([
    "kindest/node:v1.36.1",
    "kindest/node:v1.36.1@sha256:3489c7674813ba5d8b1a9977baea8a6e553784dab7b84759d1014dbd78f7ebd5",
    "kindha.local/node:v1.36.1",
    "registry.example.com:5000/team/kind-node:v1.36.1-rc.1",
    "localhost:5000/node@sha256:3489c7674813ba5d8b1a9977baea8a6e553784dab7b84759d1014dbd78f7ebd5",
    "docker.io/kindest/node:v1.36.1",
  ])("accepts the image reference %s", (nodeImage) => {
    expect(planTopology("ha", { nodeImage }, 'stack "t"').nodeImage).toBe(nodeImage);
  });

  test("accepts every address of this host for the API, with a warning to print", () => {
    expect(planTopology("ha", { apiServerAddress: "0.0.0.0" }, 'stack "t"').warnings).toEqual([
      "apiServerAddress: 0.0.0.0 publishes the API on every address of this host, to every network it is on",
    ]);
    expect(planTopology("ha", {}, 'stack "t"').warnings).toEqual([]);
  });

  test("fails with every violation in one error, naming the stack", () => {
    let error: ValidationError | undefined;
    try {
      planTopology("ha", { controlPlanes: 4, apiServerPort: 0, apiServerAddress: "x", clusterName: "BAD" }, 'stack "ha-option-a"');
    } catch (e) {
      error = e as ValidationError;
    }
    expect(error).toBeInstanceOf(ValidationError);
    expect(error!.violations.map((v) => v.field)).toEqual(["controlPlanes", "apiServerPort", "apiServerAddress", "clusterName"]);
    expect(error!.message).toMatch(/^Invalid topology for stack "ha-option-a" \(4 problems\):/);
  });
});

describe("ports: host ports forwarded to NodePorts", () => {
  const p = (x: object) => x as never;
  test("defaults: TCP on 127.0.0.1, on the first workload worker, else the first combined one; a role moves it", () => {
    expect(
      planTopology(
        "ha",
        { workers: [{ role: "infrastructure" }, { role: "workload", count: 2 }], ports: [{ hostPort: 8080, nodePort: 30080 }] },
        "s",
      ).ports,
    ).toEqual([{ hostPort: 8080, nodePort: 30080, protocol: "TCP", listenAddress: "127.0.0.1", node: "data-platform-local-worker2" }]);
    expect(planTopology("single", { ports: [{ hostPort: 5432, nodePort: 30432 }] }, "s").ports[0].node).toBe("data-platform-local-worker");
    const infra = planTopology(
      "ha",
      {
        workers: [{ role: "infrastructure" }, { role: "workload" }],
        ports: [{ hostPort: 9000, nodePort: 30900, role: "infrastructure", protocol: "UDP", listenAddress: "::1" }],
      },
      "s",
    );
    expect(infra.ports).toEqual([
      { hostPort: 9000, nodePort: 30900, protocol: "UDP", listenAddress: "::1", node: "data-platform-local-worker" },
    ]);
    expect(planTopology("ha", {}, "s").ports).toEqual([]);
  });

  test("every address of this host is allowed, with a warning", () => {
    expect(planTopology("single", { ports: [{ hostPort: 8080, nodePort: 30080, listenAddress: "0.0.0.0" }] }, "s").warnings).toEqual([
      "ports[0].listenAddress: 0.0.0.0 publishes host port 8080 on every address of this host, to every network it is on",
    ]);
  });

  test.each([
    ["a host port out of range", [{ hostPort: 0, nodePort: 30080 }], "ports[0].hostPort: 0 must be a whole number from 1 to 65535"],
    [
      "a NodePort outside the NodePort range",
      [{ hostPort: 8080, nodePort: 8080 }],
      "ports[0].nodePort: 8080 must be a whole number from 30000 to 32767 (the cluster's NodePort range)",
    ],
    [
      "an unknown protocol",
      [{ hostPort: 8080, nodePort: 30080, protocol: "HTTP" }],
      'ports[0].protocol: "HTTP" must be one of TCP, UDP, SCTP',
    ],
    [
      "a listen address that is no IP",
      [{ hostPort: 8080, nodePort: 30080, listenAddress: "localhost" }],
      'ports[0].listenAddress: "localhost" must be a unicast IPv4 or IPv6 address',
    ],
    [
      "a role the stack has no worker of",
      [{ hostPort: 8080, nodePort: 30080, role: "infrastructure" }],
      'ports[0].role: "infrastructure" names no worker of this stack',
    ],
    [
      "two mappings of one host port",
      [
        { hostPort: 8080, nodePort: 30080 },
        { hostPort: 8080, nodePort: 30081 },
      ],
      "ports[1].hostPort: 8080 is already mapped by ports[0] (TCP); each host port may be mapped once",
    ],
    [
      "the API server's port",
      [{ hostPort: 6443, nodePort: 30443 }],
      "ports[0].hostPort: 6443 is the API server's port (apiServerPort); choose another",
    ],
    ["not a list", { hostPort: 8080 }, 'ports: {"hostPort":8080} must be a list of { hostPort, nodePort, protocol, listenAddress, role }'],
  ])("fails on %s, naming field, value and rule", (_name, ports, message) => {
    expect(() => planTopology("single", { ports: p(ports) }, 's "t"')).toThrow(message);
  });

  test("one host port may carry TCP and UDP", () => {
    expect(
      planTopology(
        "single",
        {
          ports: [
            { hostPort: 5353, nodePort: 30053 },
            { hostPort: 5353, nodePort: 30053, protocol: "UDP" },
          ],
        },
        "s",
      ).ports,
    ).toHaveLength(2);
  });
});
