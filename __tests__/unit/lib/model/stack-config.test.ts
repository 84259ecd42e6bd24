import { spawnSync } from "node:child_process";
import { existsSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { findStack, loadStacks } from "../../../../lib/io/config-file";

const made: string[] = [];
afterAll(() => made.forEach((d) => rmSync(d, { recursive: true, force: true })));

function tempDir(prefix: string): string {
  const dir = mkdtempSync(join(tmpdir(), prefix));
  made.push(dir);
  return dir;
}

function configFile(text: string): string {
  const dir = tempDir("kindha-config-");
  const file = join(dir, "kindha.config.yaml");
  writeFileSync(file, text);
  return file;
}

/** The stacks' definitions as `file` gives them. */
const definitions = (file: string) => loadStacks(file).map((s) => s.definition);

/** The message loading `file` fails with ("" when it loads). */
function loadError(file: string): string {
  try {
    loadStacks(file);
  } catch (e) {
    return (e as Error).message;
  }
  return "";
}

describe("stack definitions", () => {
  test("without a config file: the three presets", () => {
    expect(loadStacks(join(tmpdir(), "does-not-exist.yaml")).map((d) => d.id)).toEqual(["single", "ha-option-b", "ha-option-a"]);
  });

  test("a config file sets the node image and allows cgroup v1, leaving the rest of the preset", () => {
    const file = configFile("stacks:\n  single:\n    nodeImage: kindha.local/node:v1.36.1\n    allowCgroupV1: true\n");
    const { topology } = findStack("single", file);
    expect(topology.nodeImage).toBe("kindha.local/node:v1.36.1");
    expect(topology.allowCgroupV1).toBe(true);
    expect(topology.nodes.map((n) => n.role)).toEqual(["control-plane", "combined"]);
    expect(findStack("ha-option-a", file).topology.allowCgroupV1).toBe(false);
  });

  test("a config file sets the scheduled backups' images, or turns them off", () => {
    const file = configFile(
      "stacks:\n  ha-option-b:\n    scheduledBackups: { shellImage: kindha.local/tools:bookworm, retention: 3 }\n  ha-option-a:\n    scheduledBackups: false\n",
    );
    const defs = definitions(file);
    expect(defs.find((d) => d.id === "ha-option-b")?.scheduledBackups).toEqual({ shellImage: "kindha.local/tools:bookworm", retention: 3 });
    expect(defs.find((d) => d.id === "ha-option-a")?.scheduledBackups).toBe(false);
  });

  test("fails when scheduledBackups has an unknown key or a wrong type, naming each", () => {
    const file = configFile("stacks:\n  ha-option-b:\n    scheduledBackups: { shelImage: busybox, retention: three }\n");
    expect(() => loadStacks(file)).toThrow(
      /stacks\.ha-option-b\.scheduledBackups\.shelImage: "busybox" is not a known setting[\s\S]*stacks\.ha-option-b\.scheduledBackups\.retention: "three" must be a whole number of snapshots from 1 to 1000/,
    );
  });

  test("a config file adds a 5-control-plane stack and adjusts a preset, without code changes", () => {
    const file = configFile(`
stacks:
  ha-five:
    availability: ha
    controlPlanes: 5
    workers:
      - { role: infrastructure }
      - { role: workload, count: 3, budget: { cpu: 4, memoryGiB: 8 } }
  ha-option-b:
    apiServerPort: 7443
`);
    const defs = loadStacks(file);
    expect(defs.map((d) => d.id)).toEqual(["single", "ha-option-b", "ha-option-a", "ha-five"]);
    const five = findStack("ha-five", file).topology;
    expect(five.controlPlanes).toHaveLength(5);
    expect(five.etcd).toMatchObject({ quorum: 3, toleratedFailures: 2 });
    expect(five.totals).toEqual({ cpu: 5 * 2 + 4 + 3 * 4, memoryGiB: 5 * 4 + 8 + 3 * 8 });
    const b = findStack("ha-option-b", file).topology;
    expect(b.api.port).toBe(7443);
    expect(b.controlPlanes).toHaveLength(3);
  });

  test("fails when the config file has unknown settings or a new stack lacks availability", () => {
    const file = configFile(`
stacks:
  ha-option-a:
    controlPlane: 5
  extra:
    controlPlanes: 3
`);
    expect(() => loadStacks(file)).toThrow("stacks.ha-option-a.controlPlane: 5 is not a known setting");
    expect(() => loadStacks(file)).toThrow('stacks.extra.availability: null must be "single" or "ha"');
  });

  test("a cluster-api stack: the same topology settings, a target and its Cluster API settings", () => {
    const file = configFile(`
stacks:
  prod:
    availability: ha
    target: cluster-api
    clusterName: data-platform-prod
    workers: [{ role: workload, count: 2 }]
    clusterApi: { namespace: platform, managementKubeconfig: ~/.kube/mgmt.yaml }
`);
    const prod = loadStacks(file).find((s) => s.id === "prod");
    expect(prod?.paths.kubeconfig).toBe("~/.kube/mgmt.yaml");
    expect(prod?.registry).toBeUndefined();
    expect(prod?.definition).toEqual({
      id: "prod",
      availability: "ha",
      target: "cluster-api",
      spec: { clusterName: "data-platform-prod", workers: [{ role: "workload", count: 2 }] },
      clusterApi: { namespace: "platform", managementKubeconfig: "~/.kube/mgmt.yaml" },
    });
  });

  test("ports: read from the file; a mapping's unknown key is refused, and so is a cluster-api stack's ports", () => {
    const good = configFile("stacks:\n  single:\n    ports:\n      - { hostPort: 8080, nodePort: 30080, listenAddress: 127.0.0.1 }\n");
    expect(definitions(good).find((d) => d.id === "single")?.spec.ports).toEqual([
      { hostPort: 8080, nodePort: 30080, listenAddress: "127.0.0.1" },
    ]);
    const message = loadError(
      configFile(
        "stacks:\n  single:\n    ports: [{ hostPort: 8080, nodePort: 30080, host: x }]\n  prod:\n    availability: ha\n    target: cluster-api\n    ports: [{ hostPort: 8081, nodePort: 30081 }]\n",
      ),
    );
    expect(message).toContain(
      'stacks.single.ports[0].host: "x" is not a known setting (hostPort, nodePort, protocol, listenAddress, role)',
    );
    expect(message).toContain('stacks.prod.ports: [{"hostPort":8081,"nodePort":30081}] applies to kind stacks only');
  });

  test("backupDir and kubeconfigPath are host paths a stack may set: read as given; a relative one is refused", () => {
    const good = configFile("stacks:\n  single:\n    backupDir: /srv/snapshots\n    kubeconfigPath: ~/kc/single.yaml\n");
    const single = loadStacks(good).find((s) => s.id === "single");
    expect(single?.definition).toMatchObject({ backupDir: "/srv/snapshots", kubeconfigPath: "~/kc/single.yaml" });
    expect(single?.paths).toEqual({
      kubeconfig: "~/kc/single.yaml",
      backups: "/srv/snapshots",
      data: "~/.kindha/data/data-platform-local",
      logs: "~/.kindha/logs/data-platform-local",
    });
    const message = loadError(configFile("stacks:\n  single:\n    backupDir: snapshots\n    kubeconfigPath: /\n"));
    expect(message).toContain('stacks.single.backupDir: "snapshots" must be an absolute or ~/ path');
    expect(message).toContain('stacks.single.kubeconfigPath: "/" must name a directory of its own');
  });

  test("fails when a target is unknown, Cluster API settings come without target cluster-api, or a cluster-api stack sets what only kind stacks have", () => {
    const file = configFile(`
stacks:
  a:
    availability: ha
    target: eks
  b:
    availability: ha
    clusterApi: { namespace: platform }
  c:
    availability: ha
    target: cluster-api
    dataDir: ~/data
    backupDir: ~/backups
    clusterApi: { namespace: platform, region: eu-1, kubernetesVersion: "1.36" }
`);
    const message = loadError(file);
    expect(message).toContain('stacks.a.target: "eks" must be one of kind, cluster-api');
    expect(message).toContain('stacks.b.clusterApi: {"namespace":"platform"} needs target: cluster-api');
    expect(message).toContain('stacks.c.dataDir: "~/data" applies to kind stacks only');
    expect(message).toContain('stacks.c.backupDir: "~/backups" applies to kind stacks only');
    expect(message).toContain(
      'stacks.c.clusterApi.region: "eu-1" is not a known setting (kubernetesVersion, namespace, managementKubeconfig, loadBalancerImage)',
    );
    expect(message).toContain('stacks.c.clusterApi.kubernetesVersion: "1.36" must be a Kubernetes version');
  });

  test("a management cluster: clusterApiManagement on a kind stack; CAPD's load balancer image on a cluster-api stack", () => {
    const file = configFile(`
stacks:
  single:
    clusterApiManagement: true
  prod:
    availability: ha
    target: cluster-api
    clusterApi: { loadBalancerImage: registry.example.com:5000/lb/haproxy:v2 }
`);
    const defs = definitions(file);
    expect(defs.find((d) => d.id === "single")?.clusterApiManagement).toBe(true);
    expect(defs.find((d) => d.id === "prod")?.clusterApi).toEqual({ loadBalancerImage: "registry.example.com:5000/lb/haproxy:v2" });
  });

  test("fails when clusterApiManagement is not a boolean or is set on a cluster-api stack, or CAPD's load balancer image is not <repository>/haproxy:<tag>", () => {
    const file = configFile(`
stacks:
  single:
    clusterApiManagement: "yes"
  prod:
    availability: ha
    target: cluster-api
    clusterApiManagement: true
    clusterApi: { loadBalancerImage: "kindha.local/envoy:v1" }
`);
    const message = loadError(file);
    expect(message).toContain('stacks.single.clusterApiManagement: "yes" must be true or false');
    expect(message).toContain("stacks.prod.clusterApiManagement: true applies to kind stacks only");
    expect(message).toContain('stacks.prod.clusterApi.loadBalancerImage: "kindha.local/envoy:v1" must be <repository>/haproxy:<tag>');
  });

  test("recoverOnPlan is true or false, for kind stacks only; 'on', 'off', 1 and 0 are refused, not read as on", () => {
    for (const value of ['"on"', '"off"', "1", "0", '"true"']) {
      const file = configFile(`stacks:\n  single:\n    recoverOnPlan: ${value}\n`);
      expect(loadError(file)).toContain(`stacks.single.recoverOnPlan: ${value} must be true or false`);
    }
    const capi = configFile("stacks:\n  prod:\n    availability: ha\n    target: cluster-api\n    recoverOnPlan: false\n");
    expect(loadError(capi)).toContain("stacks.prod.recoverOnPlan: false applies to kind stacks only");
    const off = configFile("stacks:\n  single:\n    recoverOnPlan: false\n");
    expect(findStack("single", off).definition.recoverOnPlan).toBe(false);
  });

  test("waitTimeout: a whole number of s, m or h, for kind stacks only; kind's create waits that long", () => {
    const ok = configFile("stacks:\n  single:\n    waitTimeout: 10m\n");
    expect(findStack("single", ok).definition.waitTimeout).toBe("10m");
    for (const value of ['"5 minutes"', "300", '"0m"', '"5m; rm -rf /"']) {
      const file = configFile(`stacks:\n  single:\n    waitTimeout: ${value}\n`);
      expect(loadError(file)).toContain(`stacks.single.waitTimeout: ${value} must be a duration kind takes`);
    }
    const capi = configFile("stacks:\n  prod:\n    availability: ha\n    target: cluster-api\n    waitTimeout: 5m\n");
    expect(loadError(capi)).toContain('stacks.prod.waitTimeout: "5m" applies to kind stacks only');
  });

  test("registry: true, false or { port, dir }, for kind stacks only; its port neither the API's nor a mapping's", () => {
    const ok = configFile(`
stacks:
  single:
    registry: { port: 5002, dir: /srv/registry }
  ha-option-b:
    registry: false
`);
    expect(findStack("single", ok).definition.registry).toEqual({ port: 5002, dir: "/srv/registry" });
    expect(findStack("ha-option-b", ok).definition.registry).toBe(false);
    const bad = configFile(`
stacks:
  single:
    registry: { port: 6443 }
  ha-option-b:
    registry: { port: 0, dir: "relative/dir", mirror: true }
  ha-option-a:
    ports: [{ hostPort: 5001, nodePort: 30001 }]
  prod:
    availability: ha
    target: cluster-api
    registry: true
`);
    const message = loadError(bad);
    expect(message).toContain("stacks.single.registry.port: 6443 is the API server's port; the registry needs a host port of its own");
    expect(message).toContain("stacks.ha-option-b.registry.port: 0 must be");
    expect(message).toContain('stacks.ha-option-b.registry.dir: "relative/dir" must be an absolute or ~/ path');
    expect(message).toContain("stacks.ha-option-b.registry.mirror: true is not a known setting (port, dir)");
    // The default registry's port taken by a mapping.
    expect(message).toContain("stacks.ha-option-a.registry.port: 5001 is a ports mapping's host port");
    expect(message).toContain("stacks.prod.registry: true applies to kind stacks only");
  });

  test("fails when a stack id is unknown, listing the known ones", () => {
    expect(() => findStack("ha-option-c", join(tmpdir(), "none.yaml"))).toThrow(
      'stack: "ha-option-c" is not defined; known stacks: single, ha-option-b, ha-option-a',
    );
  });
});

describe("the compiled app", () => {
  const root = join(__dirname, "..", "..", "..", "..");
  beforeAll(() => {
    const tsc = spawnSync(join(root, "node_modules", ".bin", "tsc"), ["-p", join(root, "tsconfig.json")], { encoding: "utf8" });
    expect(tsc.stdout + tsc.stderr).toBe("");
  }, 120000);

  function synthIn(config?: string) {
    const cwd = tempDir("kindha-app-");
    if (config) writeFileSync(join(cwd, "kindha.config.yaml"), config);
    const r = spawnSync("node", [join(root, "dist", "main.js")], {
      cwd,
      encoding: "utf8",
      env: { ...process.env, CDKTF_OUTDIR: join(cwd, "cdktf.out") },
    });
    return { ...r, cwd };
  }

  test("synthesizes every stack", () => {
    const r = synthIn();
    expect(r.status).toBe(0);
    for (const id of ["single", "ha-option-a", "ha-option-b"])
      expect(existsSync(join(r.cwd, "cdktf.out", "stacks", id, "cdk.tf.json"))).toBe(true);
  });

  test("fails on bad input with the field, value and rule, and writes nothing", () => {
    const r = synthIn("stacks:\n  ha-option-a:\n    controlPlanes: 4\n");
    expect(r.status).toBe(1);
    expect(r.stderr).toContain("Invalid config file kindha.config.yaml (1 problem)");
    expect(r.stderr).toContain("stacks.ha-option-a.controlPlanes: 4 is even; etcd quorum needs an odd count (1, 3, 5, 7)");
    expect(r.stderr).not.toMatch(/^\s+at /m);
    expect(existsSync(join(r.cwd, "cdktf.out"))).toBe(false);
  });

  test.each([
    [
      "a typo in a nested budget",
      "stacks:\n  ha-option-a:\n    workers:\n      - { role: workload, budget: { cpu: 4, memoryGB: 8 } }\n",
      ["stacks.ha-option-a.workers[0].budget.memoryGB: 8 is not a known setting (cpu, memoryGiB)"],
    ],
    [
      "a typo in a worker group",
      "stacks:\n  ha-option-a:\n    workers:\n      - { role: workload, cout: 3 }\n",
      ["stacks.ha-option-a.workers[0].cout: 3 is not a known setting (role, count, budget)"],
    ],
    [
      "a typo in controlPlaneBudget",
      "stacks:\n  single:\n    controlPlaneBudget: { cpus: 2 }\n",
      ["stacks.single.controlPlaneBudget.cpus: 2 is not a known setting (cpu, memoryGiB)"],
    ],
    [
      "workers given as a map",
      "stacks:\n  single:\n    workers: { role: combined }\n",
      ['stacks.single.workers: {"role":"combined"} must be a list of worker groups'],
    ],
    [
      "a budget given as a number",
      "stacks:\n  single:\n    controlPlaneBudget: 4\n    workers: [{ role: combined, budget: big }]\n",
      [
        "stacks.single.controlPlaneBudget: 4 must be a map of cpu and memoryGiB",
        'stacks.single.workers[0].budget: "big" must be a map of cpu and memoryGiB',
      ],
    ],
    [
      "too many workers",
      "stacks:\n  single:\n    workers: [{ role: combined, count: 100000 }]\n",
      ["stacks.single.workers: 100000 are too many: at most 100 workers, because kind runs every node as a container on one host"],
    ],
    ["broken YAML", "stacks:\n  single:\n    controlPlanes: [1\n", ["line 4, column 1:", "is not valid YAML"]],
    [
      "problems in two stacks and in the file at once",
      "extra: 1\nstacks:\n  single:\n    controlPlanes: 3\n  ha-option-b:\n    controlPlanes: 4\n",
      [
        "(3 problems)",
        "  - extra: 1 is not a known setting (stacks)",
        "stacks.single.controlPlanes: 3 must be 1 in a single stack",
        "stacks.ha-option-b.controlPlanes: 4 is even",
      ],
    ],
  ])("fails on %s: exit 1, every problem in one message naming the file, no stack trace, nothing written", (_what, config, messages) => {
    const r = synthIn(config);
    expect(r.status).toBe(1);
    expect(r.stderr).toContain("config file kindha.config.yaml");
    for (const m of messages) expect(r.stderr).toContain(m);
    expect(r.stderr).not.toMatch(/^\s+at /m);
    expect(existsSync(join(r.cwd, "cdktf.out"))).toBe(false);
  });

  test("reads kindha.config.yml when there is no kindha.config.yaml, and refuses both at once", () => {
    const cwd = tempDir("kindha-yml-");
    writeFileSync(join(cwd, "kindha.config.yml"), "stacks:\n  ha-option-a:\n    controlPlanes: 4\n");
    const run = () =>
      spawnSync("node", [join(root, "dist", "main.js")], {
        cwd,
        encoding: "utf8",
        env: { ...process.env, KINDHA_CONFIG: "", CDKTF_OUTDIR: join(cwd, "cdktf.out") },
      });
    const yml = run();
    expect(yml.status).toBe(1);
    expect(yml.stderr).toContain("Invalid config file kindha.config.yml");
    writeFileSync(join(cwd, "kindha.config.yaml"), "stacks: {}\n");
    const both = run();
    expect(both.status).toBe(1);
    expect(both.stderr).toContain('kindha.config.yml: "kindha.config.yml" exists beside kindha.config.yaml; keep one of the two');
  });
});
