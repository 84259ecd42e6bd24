/**
 * The Cluster API objects of a topology (lib/model/cluster-api.ts): one snapshot per preset for
 * review, then what carries the intent: replicas, version, etcd's SANs, one MachineDeployment per
 * worker pool with its role label and taint, the provider as a parameter, and the settings' rules.
 */
import {
  capd,
  CAPD,
  clusterApiObjects,
  clusterApiViolations,
  versionOfImage,
  workerPools,
  type InfrastructureProvider,
  type KubeObject,
} from "../../../../lib/model/cluster-api";
import { planTopology } from "../../../../lib/model/plan-topology";
import { preset } from "../../../../lib/model/presets";

const plan = (id: "single" | "ha-option-b" | "ha-option-a", extra = {}) =>
  planTopology(preset(id).availability, { ...preset(id).spec, ...extra }, id);
const byKind = (objs: readonly KubeObject[], kind: string) => objs.filter((o) => o.kind === kind);
const at = (o: unknown, path: string): unknown => path.split(".").reduce<unknown>((x, k) => (x as Record<string, unknown>)?.[k], o);

describe.each(["single", "ha-option-b", "ha-option-a"] as const)("Cluster API objects of %s", (id) => {
  const t = plan(id);
  const objs = clusterApiObjects(t);

  test("snapshot", () => {
    expect(objs).toMatchSnapshot();
  });

  test("one Cluster whose references resolve to objects of the set, all in one namespace, labelled with the cluster", () => {
    const [cluster] = byKind(objs, "Cluster");
    const names = new Set(objs.map((o) => `${o.apiVersion.split("/")[0]}/${o.kind}/${o.metadata.name}`));
    for (const r of ["infrastructureRef", "controlPlaneRef"]) {
      const ref = at(cluster.spec, r) as { apiGroup: string; kind: string; name: string };
      expect(names.has(`${ref.apiGroup}/${ref.kind}/${ref.name}`)).toBe(true);
    }
    for (const md of byKind(objs, "MachineDeployment")) {
      for (const r of ["template.spec.bootstrap.configRef", "template.spec.infrastructureRef"]) {
        const ref = at(md.spec, r) as { apiGroup: string; kind: string; name: string };
        expect(names.has(`${ref.apiGroup}/${ref.kind}/${ref.name}`)).toBe(true);
      }
    }
    expect(new Set(objs.map((o) => o.metadata.namespace))).toEqual(new Set(["default"]));
    for (const o of objs) expect(o.metadata.labels?.["cluster.x-k8s.io/cluster-name"]).toBe("data-platform-local");
  });

  test("the control plane: replicas as planned, the node image's version, etcd's SANs localhost and 127.0.0.1, kubelet labelled control-plane", () => {
    const [kcp] = byKind(objs, "KubeadmControlPlane");
    expect(kcp.spec.replicas).toBe(t.controlPlanes.length);
    expect(kcp.spec.version).toBe("v1.36.1");
    expect(at(kcp.spec, "kubeadmConfigSpec.clusterConfiguration.etcd.local.serverCertSANs")).toEqual(["localhost", "127.0.0.1"]);
    expect(at(kcp.spec, "kubeadmConfigSpec.clusterConfiguration.etcd.local.peerCertSANs")).toEqual(["localhost", "127.0.0.1"]);
    for (const c of ["initConfiguration", "joinConfiguration"]) {
      expect(at(kcp.spec, `kubeadmConfigSpec.${c}.nodeRegistration.kubeletExtraArgs`)).toEqual([
        { name: "node-labels", value: "kindha.io/role=control-plane" },
      ]);
    }
  });

  test("one MachineDeployment per worker pool, with the planned count, role label and taints", () => {
    const mds = byKind(objs, "MachineDeployment");
    const planned = t.workers.map((w) => w.role);
    expect(
      mds
        .flatMap((m) =>
          Array.from({ length: m.spec.replicas as number }, () => at(m.spec, "template.metadata.labels") as Record<string, string>),
        )
        .map((l) => l["kindha.io/role"]),
    ).toEqual(planned);
    for (const md of mds) {
      const role = (at(md.spec, "template.metadata.labels") as Record<string, string>)["kindha.io/role"];
      const bootstrap = byKind(objs, "KubeadmConfigTemplate").find(
        (b) => b.metadata.name === at(md.spec, "template.spec.bootstrap.configRef.name"),
      )!;
      expect(at(bootstrap.spec, "template.spec.joinConfiguration.nodeRegistration.kubeletExtraArgs")).toEqual([
        { name: "node-labels", value: `kindha.io/role=${role}` },
      ]);
      const taints = at(bootstrap.spec, "template.spec.joinConfiguration.nodeRegistration.taints");
      expect(taints).toEqual(role === "infrastructure" ? [{ key: "kindha.io/role", value: "infrastructure", effect: "NoSchedule" }] : []);
    }
  });
});

test("ha-option-a: an infrastructure and a workload pool; three equal workload workers are one pool of three", () => {
  expect(workerPools(plan("ha-option-a")).map((p) => [p.name, p.role, p.replicas])).toEqual([
    ["data-platform-local-infrastructure", "infrastructure", 1],
    ["data-platform-local-workload", "workload", 1],
  ]);
  const t = planTopology(
    "ha",
    {
      workers: [
        { role: "workload", count: 3 },
        { role: "workload", budget: { cpu: 4, memoryGiB: 8 } },
      ],
    },
    "test",
  );
  expect(workerPools(t).map((p) => [p.name, p.replicas])).toEqual([
    ["data-platform-local-workload", 3],
    ["data-platform-local-workload-2", 1],
  ]);
});

test("templates are named after their pool and a hash of their spec: a new image is a new template (Cluster API's are immutable) that the references follow", () => {
  const names = (image: string) =>
    byKind(clusterApiObjects(plan("ha-option-b", { nodeImage: image })), "DockerMachineTemplate").map((m) => m.metadata.name);
  const [a, b] = [names("kindha.local/node:v1.36.1"), names("kindha.local/node:v1.37.2")];
  expect(a.map((n) => n.replace(/-[0-9a-f]{8}$/, ""))).toEqual(["data-platform-local-control-plane", "data-platform-local-combined"]);
  expect(b.every((n, i) => n !== a[i])).toBe(true);
  const objs = clusterApiObjects(plan("ha-option-b", { nodeImage: "kindha.local/node:v1.37.2" }));
  expect(at(byKind(objs, "KubeadmControlPlane")[0].spec, "machineTemplate.spec.infrastructureRef.name")).toBe(b[0]);
  expect(at(byKind(objs, "MachineDeployment")[0].spec, "template.spec.infrastructureRef.name")).toBe(b[1]);
  // The same spec gives the same name: a plan without changes replaces nothing.
  expect(names("kindha.local/node:v1.36.1")).toEqual(a);
});

test("CAPD machines run the stack's node image; cgroup v1 stacks tell kubelet so", () => {
  const t = plan("ha-option-b", { nodeImage: "kindha.local/node:v1.36.1", allowCgroupV1: true });
  const objs = clusterApiObjects(t);
  for (const m of byKind(objs, "DockerMachineTemplate")) expect(at(m.spec, "template.spec.customImage")).toBe("kindha.local/node:v1.36.1");
  const [kcp] = byKind(objs, "KubeadmControlPlane");
  expect(at(kcp.spec, "kubeadmConfigSpec.initConfiguration.nodeRegistration.kubeletExtraArgs")).toContainEqual({
    name: "fail-cgroupv1",
    value: "false",
  });
});

test("another provider slots in: its kinds, its machine sizes from the budgets, its API endpoint", () => {
  const cloud: InfrastructureProvider = {
    apiVersion: "infrastructure.cluster.x-k8s.io/v1beta2",
    clusterKind: "ExampleCluster",
    machineTemplateKind: "ExampleMachineTemplate",
    clusterSpec: (t) => ({ region: "eu-1", nodes: t.nodes.length }),
    machineSpec: (m) => ({ cpus: m.budget.cpu, memoryMiB: m.budget.memoryGiB * 1024 }),
    controlPlaneEndpoint: () => ({ host: "api.example.internal", port: 6443 }),
  };
  const objs = clusterApiObjects(plan("ha-option-a"), { infrastructure: cloud, namespace: "platform", kubernetesVersion: "v1.37.2" });
  expect(objs.map((o) => o.kind)).toEqual([
    "Cluster",
    "ExampleCluster",
    "ExampleMachineTemplate",
    "KubeadmControlPlane",
    "ExampleMachineTemplate",
    "KubeadmConfigTemplate",
    "MachineDeployment",
    "ExampleMachineTemplate",
    "KubeadmConfigTemplate",
    "MachineDeployment",
  ]);
  expect(byKind(objs, "ExampleMachineTemplate").map((m) => at(m.spec, "template.spec"))).toEqual([
    { cpus: 2, memoryMiB: 4096 },
    { cpus: 4, memoryMiB: 8192 },
    { cpus: 8, memoryMiB: 16384 },
  ]);
  expect(at(byKind(objs, "Cluster")[0].spec, "controlPlaneEndpoint")).toEqual({ host: "api.example.internal", port: 6443 });
  expect(byKind(objs, "KubeadmControlPlane")[0].spec.version).toBe("v1.37.2");
  expect(new Set(objs.map((o) => o.metadata.namespace))).toEqual(new Set(["platform"]));
  expect(CAPD.controlPlaneEndpoint).toBeUndefined();
});

describe("settings", () => {
  test("a version comes from the node image's tag, with or without a digest", () => {
    expect(versionOfImage("kindest/node:v1.36.1@sha256:3489c7674813ba5d8b1a9977baea8a6e553784dab7b84759d1014dbd78f7ebd5")).toBe("v1.36.1");
    expect(versionOfImage("registry.example.com:5000/node:v1.37.2")).toBe("v1.37.2");
    expect(versionOfImage("registry.example.com:5000/node:latest")).toBeUndefined();
    expect(versionOfImage("node@sha256:3489c7674813ba5d8b1a9977baea8a6e553784dab7b84759d1014dbd78f7ebd5")).toBeUndefined();
  });

  test.each([
    [
      "fails when the version is not major.minor.patch",
      { kubernetesVersion: "1.36" },
      {},
      'clusterApi.kubernetesVersion: "1.36" must be a Kubernetes version: v, then major.minor.patch (e.g. v1.36.1)',
    ],
    [
      "fails when no version is given and the image's tag names none",
      {},
      { nodeImage: "example/node:latest" },
      'clusterApi.kubernetesVersion: "example/node:latest" is needed: the node image\'s tag names no version (e.g. kindest/node:v1.36.1)',
    ],
    [
      "fails when the namespace is not a DNS label",
      { namespace: "Platform_1" },
      {},
      'clusterApi.namespace: "Platform_1" must be a DNS-1123 label (a Kubernetes namespace)',
    ],
  ])("%s", (_name, options, spec, message) => {
    const v = clusterApiViolations(plan("ha-option-b", spec), options);
    expect(v.map((x) => `${x.field}: ${JSON.stringify(x.value)} ${x.rule}`)).toEqual([message]);
  });

  test("CAPD takes its load balancer's image as repository and tag; by default it names none (its own)", () => {
    const dockerCluster = (o: Parameters<typeof capd>[0]) =>
      byKind(clusterApiObjects(plan("ha-option-b"), { infrastructure: capd(o) }), "DockerCluster")[0].spec;
    expect(dockerCluster({ loadBalancerImage: "registry.example.com:5000/lb/haproxy:v2.9" })).toEqual({
      loadBalancer: { imageRepository: "registry.example.com:5000/lb", imageTag: "v2.9" },
    });
    expect(dockerCluster({})).toEqual({});
  });

  test("the presets need nothing more", () => {
    for (const id of ["single", "ha-option-b", "ha-option-a"] as const) expect(clusterApiViolations(plan(id), {})).toEqual([]);
  });
});
