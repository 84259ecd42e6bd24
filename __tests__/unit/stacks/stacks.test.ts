import { createHash } from "node:crypto";
import { parse as parseYaml } from "yaml";
import { CronJobV1 } from "@cdktf/provider-kubernetes/lib/cron-job-v1";
import { NamespaceV1 } from "@cdktf/provider-kubernetes/lib/namespace-v1";
import { NodeTaint } from "@cdktf/provider-kubernetes/lib/node-taint";
import { KubernetesProvider } from "@cdktf/provider-kubernetes/lib/provider";
import { DataLocalSensitiveFile } from "@cdktf/provider-local/lib/data-local-sensitive-file";
import { File } from "@cdktf/provider-local/lib/file";
import { Resource } from "@cdktf/provider-null/lib/resource";
import { preset, TOPOLOGY_OPTIONS } from "../../../lib/model/presets";
import { join } from "node:path";
import { Testing } from "cdktf";
import * as planTopologyModule from "../../../lib/model/plan-topology";
import { loadStacks } from "../../../lib/io/config-file";
import { resolveStack, stacksFromYaml } from "../../../lib/model/resolved-stack";
import { buildApp } from "../../../main";
import { ClusterStack } from "../../../stacks/cluster-stack";
import { HaStack } from "../../../stacks/ha-stack";
import { SingleStack } from "../../../stacks/single-stack";
import { scratchDir } from "../../../test-support/scratch";
import { kindConfigOf, resourceCounts, resources, synthPreset, synthStack, only } from "../../../test-support/synth";

const NODE_IMAGE = /^kindest\/node:v1\.36\.1@sha256:[0-9a-f]{64}$/;

/** A local-exec provisioner with at least these fields. */
const localExec = (fields: Record<string, unknown>) => ({ "local-exec": expect.objectContaining(fields) });

describe.each(TOPOLOGY_OPTIONS)("stack %s", (option) => {
  const { text, json, stack } = synthPreset(option);
  const t = stack.topology;
  const ha = preset(option).availability === "ha";

  test("matches its snapshot, which holds no machine-specific values", () => {
    expect(text).toMatchSnapshot();
    expect(text).not.toMatch(/"\/(work|root|tmp|home|Users)\//);
    expect(text).not.toMatch(/\d{4}-\d{2}-\d{2}T\d{2}:\d{2}/);
  });

  test("creates the cluster, its config, the pre-destroy backup and the platform objects", () => {
    const infra = t.workers.filter((w) => w.role === "infrastructure").length;
    expect(resourceCounts(json)).toEqual({
      local_file: 3,
      null_resource: 5,
      kubernetes_namespace_v1: 2,
      kubernetes_config_map_v1: 1,
      ...(infra > 0 ? { kubernetes_node_taint: infra } : {}),
      ...(ha ? { kubernetes_cron_job_v1: 1 } : {}),
    });
    expect(Object.keys(json.data.local_sensitive_file)).toHaveLength(1);
  });

  test("writes a kind config with one node per planned node", () => {
    const config = kindConfigOf(json);
    expect(config).toMatchObject({ kind: "Cluster", apiVersion: "kind.x-k8s.io/v1alpha4", name: "data-platform-local" });
    expect(config.networking).toEqual({ apiServerAddress: "127.0.0.1", apiServerPort: 6443 });
    expect(config.nodes.map((n: any) => [n.role, n.labels["kindha.io/role"]])).toEqual(t.nodes.map((n) => [n.kindRole, n.role]));
    for (const node of config.nodes) expect(node.image).toMatch(NODE_IMAGE);
  });

  test("gives etcd certificates for localhost and 127.0.0.1 with a patch kind applies to any kubeadm version", () => {
    const patches = kindConfigOf(json).kubeadmConfigPatches.map((p: string) => parseYaml(p));
    expect(patches).toEqual([
      {
        kind: "ClusterConfiguration",
        etcd: { local: { serverCertSANs: ["localhost", "127.0.0.1"], peerCertSANs: ["localhost", "127.0.0.1"] } },
      },
    ]);
  });

  test("writes the kind config at a path relative to the stack", () => {
    expect(text).toHaveResourceWithProperties(File, { filename: "${path.module}/kind-config.yaml", file_permission: "0644" });
    expect(text).toHaveResourceWithProperties(File, { filename: "${path.module}/storage-class.yaml", file_permission: "0644" });
    expect(text).toHaveResourceWithProperties(File, { filename: "${path.module}/provisioner-config.json", file_permission: "0644" });
    expect(Object.keys(resources(json, "local_file"))).toHaveLength(3);
  });

  test("mounts the cluster's data directory into every node, at the provisioner's path", () => {
    const nodes = kindConfigOf(json).nodes;
    for (const node of nodes) {
      expect(node.extraMounts).toContainEqual({
        hostPath: '${pathexpand("~/.kindha/data/data-platform-local")}',
        containerPath: "/var/local-path-provisioner",
      });
    }
    expect(json.output.data_dir.value).toBe('${pathexpand("~/.kindha/data/data-platform-local")}');
  });

  test("outputs the topology's numbers, credentials marked sensitive", () => {
    const value = (name: string) => json.output[name].value;
    expect(value("api_endpoint")).toBe("https://127.0.0.1:6443");
    expect(value("control_plane_count")).toBe(ha ? 3 : 1);
    expect(value("etcd_quorum")).toBe(ha ? 2 : 1);
    expect(value("etcd_tolerated_failures")).toBe(ha ? 1 : 0);
    expect([value("total_cpu"), value("total_memory_gib")]).toEqual(
      { single: [10, 20], "ha-option-b": [14, 28], "ha-option-a": [18, 36] }[option],
    );
    expect(json.output.kubeconfig.sensitive).toBe(true);
    expect(value("kubeconfig_path")).toBe('${pathexpand("~/.kube/kindha-data-platform-local.yaml")}');
    const sensitive = Object.entries(json.output)
      .filter(([, o]) => o.sensitive)
      .map(([k]) => k);
    expect(sensitive).toEqual(["kubeconfig"]);
  });

  test("pins the provider versions the engine mirror provides", () => {
    expect(Object.fromEntries(Object.entries(json.terraform.required_providers).map(([k, v]) => [k, v.version]))).toEqual({
      external: "2.3.5",
      kubernetes: "2.38.0",
      local: "2.6.1",
      null: "3.2.4",
    });
    expect(json.terraform.backend).toEqual({ local: { path: `../../../terraform.${option}.tfstate` } });
  });
});

describe("cluster lifecycle", () => {
  const { json, text } = synthPreset("ha-option-a");
  const [lifecycleName, lifecycle] =
    Object.entries(resources(json, "null_resource")).find(([, r]) => "cluster_name" in r.triggers && "config_sha256" in r.triggers) ?? [];

  test("create runs the create script with name, config, kubeconfig, wait and budget", () => {
    expect(text).toHaveResourceWithProperties(Resource, {
      triggers: expect.objectContaining({ cluster_name: "data-platform-local", config_sha256: expect.stringMatching(/^[0-9a-f]{64}$/) }),
      provisioner: [
        localExec({
          command: 'bash "${self.triggers.scripts_dir}/create-cluster.sh"',
          environment: expect.objectContaining({
            KINDHA_CLUSTER_NAME: "${self.triggers.cluster_name}",
            KINDHA_KIND_CONFIG: "${self.triggers.config_path}",
            KINDHA_KUBECONFIG: "${self.triggers.kubeconfig_path}",
            KINDHA_WAIT: "5m",
            KINDHA_REQUIRED_CPUS: "18",
            KINDHA_REQUIRED_MEMORY_GIB: "36",
          }),
        }),
        localExec({ when: "destroy", command: 'bash "${self.triggers.scripts_dir}/delete-cluster.sh"' }),
      ],
    });
    const [create, destroy] = lifecycle.provisioner.map((p: any) => p["local-exec"]);
    expect(create.when).toBeUndefined();
    // A destroy-time provisioner may only read self.
    expect(JSON.stringify(destroy.environment)).not.toMatch(/\$\{(?!self\.)/);
  });

  test("checks the host in a preflight step of its own, which the cluster depends on", () => {
    expect(text).toHaveResourceWithProperties(Resource, {
      triggers: expect.objectContaining({ config_sha256: lifecycle.triggers.config_sha256 }),
      provisioner: [
        localExec({
          command: 'bash "${self.triggers.scripts_dir}/preflight.sh"',
          environment: {
            KINDHA_REQUIRED_CPUS: "18",
            KINDHA_REQUIRED_MEMORY_GIB: "36",
            KINDHA_ALLOW_CGROUP_V1: "0",
            KINDHA_CLUSTER_NAME: "data-platform-local",
            KINDHA_DATA_DIR: '${pathexpand("~/.kindha/data/data-platform-local")}',
            KINDHA_DATA_OWNER_FILE: ".kindha-cluster",
            KINDHA_KIND_VERSION: "v0.32.0",
            // The machine's registry must be able to serve the stack (scripts/registry.sh check).
            KINDHA_REGISTRY_NAME: "kindha-registry",
            KINDHA_REGISTRY_IMAGE: "kindha.local/registry:2.8.2",
            KINDHA_REGISTRY_PORT: "5001",
            KINDHA_REGISTRY_CONTAINER_PORT: "5000",
            KINDHA_REGISTRY_DIR: '${pathexpand("~/.kindha/registry")}',
          },
        }),
      ],
    });
    const preflight = Object.keys(resources(json, "null_resource")).find((addr) => addr.startsWith("Cluster_Preflight"));
    expect(lifecycle.depends_on).toContain(`null_resource.${preflight}`);
  });

  test("is replaced when the rendered config changes, and only then", () => {
    const sha = (j: typeof json) =>
      Object.values(resources(j, "null_resource")).find((r) => "cluster_name" in r.triggers && "config_sha256" in r.triggers).triggers
        .config_sha256;
    expect(sha(synthPreset("ha-option-a").json)).toBe(lifecycle.triggers.config_sha256);
    expect(sha(synthPreset("ha-option-a", { controlPlanes: 5 }).json)).not.toBe(lifecycle.triggers.config_sha256);
    expect(sha(synthPreset("ha-option-a", { apiServerPort: 7443 }).json)).not.toBe(lifecycle.triggers.config_sha256);
    expect(lifecycle.triggers.config_sha256).toMatch(/^[0-9a-f]{64}$/);
  });

  test("keeps its identity when only the node image changes (a rolling upgrade), and the hash of default-image clusters deployed before", () => {
    const all = (j: typeof json) => resources(j, "null_resource");
    const triggersOf = (j: typeof json, key: string) => Object.values(all(j)).find((r) => key in r.triggers).triggers;
    const bumped = synthPreset("ha-option-a", { nodeImage: "kindha.local/node:v1.37.2" }).json;
    // Every trigger of the cluster and its preflight is the same: neither is replaced.
    expect(triggersOf(bumped, "cluster_name")).toEqual(lifecycle.triggers);
    expect(triggersOf(bumped, "required_cpus")).toEqual(triggersOf(json, "required_cpus"));
    // The default image's hash is the hash of the whole rendered config, as it was before images left the identity.
    const rendered = Object.values(resources(json, "local_file")).find((f) => f.filename.endsWith("kind-config.yaml")).content;
    expect(createHash("sha256").update(rendered).digest("hex")).toBe(lifecycle.triggers.config_sha256);
    // The config file itself names the new image, so a cluster created from it runs that image.
    for (const node of kindConfigOf(bumped).nodes) expect(node.image).toBe("kindha.local/node:v1.37.2");
  });

  test("backs etcd up before the cluster is destroyed or replaced, and before the stack's Kubernetes objects are destroyed", () => {
    const backup = Object.values(resources(json, "null_resource")).find((r) => "etcd_pod" in r.triggers);
    // Terraform destroys what depends on a resource first: the snapshot holds the namespaces and what users put in them.
    const objects = ["kubernetes_namespace_v1", "kubernetes_node_taint", "kubernetes_cron_job_v1", "kubernetes_config_map_v1"].flatMap(
      (type) => Object.keys(resources(json, type)).map((a) => `${type}.${a}`),
    );
    expect(objects.filter((o) => o.startsWith("kubernetes_namespace_v1"))).toHaveLength(2);
    expect(objects.filter((o) => o.startsWith("kubernetes_node_taint"))).toHaveLength(1);
    expect(objects.filter((o) => o.startsWith("kubernetes_cron_job_v1"))).toHaveLength(1);
    expect(objects.filter((o) => o.startsWith("kubernetes_config_map_v1"))).toHaveLength(1);
    expect([...backup.depends_on].sort()).toEqual(
      [`null_resource.${Object.keys(resources(json, "null_resource")).find((a) => a.startsWith("Cluster_Lifecycle"))}`, ...objects].sort(),
    );
    expect(text).toHaveResourceWithProperties(Resource, {
      triggers: expect.objectContaining({
        cluster_id: expect.stringMatching(/^\$\{null_resource\.[\w]+\.id\}$/),
        etcd_pod: "etcd-data-platform-local-control-plane",
      }),
      depends_on: expect.arrayContaining([expect.stringMatching(/^null_resource\./)]),
      provisioner: [
        localExec({
          when: "destroy",
          command: 'bash "${self.triggers.scripts_dir}/etcd.sh" backup',
          environment: expect.objectContaining({ KINDHA_ETCD_POD: "${self.triggers.etcd_pod}" }),
        }),
      ],
    });
  });

  test("a plan first runs the recover hook: a fixed script, the stack, kubeconfig and the cluster resource's id (unknown while it is replaced) on stdin", () => {
    const hook = only(json.data.external);
    expect(hook).toEqual({
      program: ["bash", `${lifecycle.triggers.scripts_dir}/plan-hook.sh`],
      query: {
        stack: "ha-option-a",
        kubeconfig: '${pathexpand("~/.kube/kindha-data-platform-local.yaml")}',
        create_id: `\${null_resource.${lifecycleName}.id}`,
      },
    });
  });

  test("create writes the stack's mark into the nodes with the id Terraform gave the cluster resource", () => {
    const create = lifecycle.provisioner.map((p: any) => p["local-exec"]).find((p: any) => p.when === undefined);
    expect(create.environment).toEqual(
      expect.objectContaining({ KINDHA_STACK: "${self.triggers.stack_id}", KINDHA_CREATE_ID: "${self.id}" }),
    );
  });

  test("recoverOnPlan: false plans no look at the cluster; the kubeconfig is read after the cluster alone", () => {
    const off = synthPreset("ha-option-a", { recoverOnPlan: false }).json;
    expect(off.data.external).toBeUndefined();
    expect(only(off.data.local_sensitive_file).depends_on).toEqual([`null_resource.${lifecycleName}`]);
  });

  test("configures the Kubernetes provider from the kubeconfig read after the cluster exists and the plan's recovery", () => {
    expect(text).toHaveDataSourceWithProperties(DataLocalSensitiveFile, {
      depends_on: [expect.stringMatching(/^null_resource\.Cluster_Lifecycle/), expect.stringMatching(/^data\.external\.Cluster_Condition/)],
    });
    expect(Object.keys(json.data.local_sensitive_file)).toHaveLength(1);
    expect(text).toHaveProviderWithProperties(KubernetesProvider, {
      host: expect.stringMatching(/^\$\{yamldecode\(data\.local_sensitive_file\.\w+\.content\)\.clusters\.0\.cluster\.server\}$/),
      client_key: expect.stringContaining("base64decode("),
    });
    const provider = json.provider.kubernetes[0] as Record<string, string>;
    expect(Object.keys(provider).sort()).toEqual(["client_certificate", "client_key", "cluster_ca_certificate", "host"]);
  });

  test("taints the infrastructure node and creates both namespaces", () => {
    expect(text).toHaveResourceWithProperties(NodeTaint, {
      metadata: { name: "data-platform-local-worker" },
      taint: [{ key: "kindha.io/role", value: "infrastructure", effect: "NoSchedule" }],
    });
    expect(text).toHaveResourceWithProperties(NamespaceV1, { metadata: expect.objectContaining({ name: "data-platform" }) });
    expect(text).toHaveResourceWithProperties(NamespaceV1, { metadata: expect.objectContaining({ name: "workloads" }) });
    expect(Object.keys(resources(json, "kubernetes_namespace_v1"))).toHaveLength(2);
    expect(Object.keys(resources(json, "kubernetes_node_taint"))).toHaveLength(1);
  });

  test("schedules etcd backups in HA onto a host directory every control plane mounts", () => {
    expect(text).toHaveResourceWithProperties(CronJobV1, { spec: expect.objectContaining({ schedule: "0 */6 * * *" }) });
    expect(backupCommand(json)).toContain("tail -n +9");
    const mounts = kindConfigOf(json).nodes.map((n: any) => [
      n.role,
      n.extraMounts.filter((m: any) => m.containerPath === "/var/lib/kindha/backups"),
    ]);
    const backups = [
      { hostPath: '${pathexpand("~/.kindha/backups/data-platform-local")}/scheduled', containerPath: "/var/lib/kindha/backups" },
    ];
    expect(mounts).toEqual([...Array(3).fill(["control-plane", backups]), ["worker", []], ["worker", []]]);
  });

  test("keeps the retention configurable", () => {
    expect(backupCommand(synthPreset("ha-option-a", { scheduledBackups: { retention: 3 } }).json)).toContain("tail -n +4");
  });

  test("manages only the cluster when platform objects are off", () => {
    const { json: bare } = synthPreset("ha-option-a", { platformObjects: false });
    expect(Object.keys(bare.resource).sort()).toEqual(["local_file", "null_resource"]);
    expect(bare.provider.kubernetes).toBeUndefined();
  });
});

describe("stack validation", () => {
  test("fails when an HA stack is given an even control-plane count", () => {
    expect(() => synthStack("ha", "ha", { controlPlanes: 4 })).toThrow('Invalid topology for stack "ha"');
    expect(() => synthStack("ha", "ha", { controlPlanes: 4 })).toThrow(
      "controlPlanes: 4 is even; etcd quorum needs an odd count (1, 3, 5, 7)",
    );
  });

  test("fails when a single stack is given three control planes", () => {
    expect(() => synthStack("s", "single", { controlPlanes: 3 })).toThrow("controlPlanes: 3 must be 1 in a single stack");
  });

  test("adds the load balancer address to etcd SANs when it differs", () => {
    const config = kindConfigOf(synthStack("ha", "ha", { apiServerAddress: "192.168.50.10" }).json);
    const patch = parseYaml(config.kubeadmConfigPatches[0]);
    expect(patch.etcd.local.serverCertSANs).toEqual(["localhost", "127.0.0.1", "192.168.50.10"]);
    expect(config.networking.apiServerAddress).toBe("192.168.50.10");
  });

  test("lets kubelet run on cgroup v1 only when asked, and tells the preflight and the create script", () => {
    const plain = synthStack("plain", "ha", {});
    expect(kindConfigOf(plain.json).kubeadmConfigPatches).toHaveLength(1);
    const v1 = synthStack("v1", "ha", { allowCgroupV1: true });
    const patches = kindConfigOf(v1.json).kubeadmConfigPatches.map((p: string) => parseYaml(p));
    expect(patches[1]).toEqual({ kind: "KubeletConfiguration", failCgroupV1: false });
    for (const [synth, allowed] of [
      [plain, "0"],
      [v1, "1"],
    ] as const) {
      const runs = (script: string) =>
        localExec({
          command: expect.stringContaining(`/${script}"`),
          environment: expect.objectContaining({ KINDHA_ALLOW_CGROUP_V1: allowed }),
        });
      expect(synth.text).toHaveResourceWithProperties(Resource, { provisioner: [runs("preflight.sh")] });
      expect(synth.text).toHaveResourceWithProperties(Resource, { provisioner: [runs("create-cluster.sh"), expect.anything()] });
    }
  });

  test("fails when allowCgroupV1 is not a boolean", () => {
    expect(() => synthStack("s", "single", { allowCgroupV1: "yes" as unknown as boolean })).toThrow(
      'allowCgroupV1: "yes" must be true or false',
    );
  });

  test("the app plans each stack's topology once, and a stack resolved already is built as resolved", () => {
    const plan = jest.spyOn(planTopologyModule, "planTopology");
    try {
      const stacks = loadStacks(join(__dirname, "does-not-exist.yaml"));
      expect(plan).toHaveBeenCalledTimes(3);
      const app = buildApp(() => Testing.app({ outdir: scratchDir() }), stacks);
      expect(plan).toHaveBeenCalledTimes(3);
      const built = app.node.children.filter((c): c is ClusterStack => c instanceof ClusterStack);
      expect(built.map((c) => [c.node.id, c.topology])).toEqual(stacks.map((s) => [s.id, s.topology]));
      expect(built.map((c) => c.constructor.name)).toEqual(["SingleStack", "HaStack", "HaStack"]);
    } finally {
      plan.mockRestore();
    }
  });

  test("a config file's waitTimeout is how long kind's create waits", () => {
    const [stack] = stacksFromYaml("stacks:\n  single:\n    waitTimeout: 12m\n", "test").filter((s) => s.id === "single");
    const json = JSON.parse(Testing.synth(new SingleStack(Testing.app({ outdir: scratchDir() }), stack)));
    const creates = Object.values(resources(json, "null_resource"))
      .flatMap((r) => r.provisioner ?? [])
      .filter((p) => /create-cluster\.sh/.test(p["local-exec"]?.command ?? ""));
    expect(creates.map((p) => p["local-exec"].environment.KINDHA_WAIT)).toEqual(["12m"]);
  });

  test("fails when a resolved stack of the other availability or target is given to a stack class", () => {
    const [single, ha] = loadStacks(join(__dirname, "does-not-exist.yaml"));
    const app = Testing.app({ outdir: scratchDir() });
    expect(() => new HaStack(app, single)).toThrow(
      'stack "single" is an availability single stack; this class builds kind stacks of availability ha',
    );
    expect(() => new SingleStack(app, ha)).toThrow(
      'stack "ha-option-b" is an availability ha stack; this class builds kind stacks of availability single',
    );
    const capi = resolveStack({ id: "prod", availability: "ha", spec: { clusterName: "prod" }, target: "cluster-api" });
    expect(() => new HaStack(app, capi)).toThrow('stack "prod" is a cluster-api stack; this class builds kind stacks of availability ha');
    expect(capi.paths.kubeconfig).toBe("~/.kube/kindha-data-platform-local.yaml");
  });

  test("a single stack has no load balancer and HA stacks front every control plane", () => {
    expect(synthPreset("single").stack.loadBalancer).toBeUndefined();
    const lb = synthPreset("ha-option-b").stack.loadBalancer!;
    expect(lb.url).toBe("https://127.0.0.1:6443");
    expect(lb.backends).toHaveLength(3);
    expect(synthStack("ha5", "ha", { controlPlanes: 5 }).stack.loadBalancer!.backends).toHaveLength(5);
  });
});

describe("ports", () => {
  test("a mapping becomes kind's extraPortMappings on the node that carries it, and the preflight checks its host port", () => {
    const { json } = synthPreset("ha-option-a", {
      ports: [
        { hostPort: 8080, nodePort: 30080 },
        { hostPort: 5353, nodePort: 30053, protocol: "UDP", role: "infrastructure" },
      ],
    });
    const nodes = kindConfigOf(json).nodes;
    expect(nodes.map((n: any) => n.extraPortMappings)).toEqual([
      undefined,
      undefined,
      undefined,
      [{ containerPort: 30053, hostPort: 5353, listenAddress: "127.0.0.1", protocol: "UDP" }],
      [{ containerPort: 30080, hostPort: 8080, listenAddress: "127.0.0.1", protocol: "TCP" }],
    ]);
    const preflight = Object.entries(resources(json, "null_resource")).find(([addr]) => addr.startsWith("Cluster_Preflight"))![1];
    expect(preflight.provisioner[0]["local-exec"].environment.KINDHA_HOST_PORTS).toBe("127.0.0.1:5353/UDP 127.0.0.1:8080/TCP");
  });

  test("a change of mappings changes the kind config, so the cluster is re-created; none: no mapping, no variable", () => {
    const sha = (j: any) =>
      Object.values(resources(j, "null_resource")).find((r) => "config_sha256" in (r.triggers ?? {}) && "cluster_name" in r.triggers)
        .triggers.config_sha256;
    const plain = synthPreset("single").json;
    expect(sha(synthPreset("single", { ports: [{ hostPort: 8080, nodePort: 30080 }] }).json)).not.toBe(sha(plain));
    expect(kindConfigOf(plain).nodes.some((n: any) => n.extraPortMappings)).toBe(false);
    expect(JSON.stringify(plain)).not.toContain("KINDHA_HOST_PORTS");
  });
});

describe("registry", () => {
  const registryOf = (j: any) => Object.entries(resources(j, "null_resource")).find(([addr]) => addr.startsWith("Registry_Nodes"));
  const preflightEnv = (j: any) =>
    Object.entries(resources(j, "null_resource")).find(([addr]) => addr.startsWith("Cluster_Preflight"))![1].provisioner[0]["local-exec"]
      .environment;
  const configSha = (j: any) =>
    Object.values(resources(j, "null_resource")).find((r) => "config_sha256" in (r.triggers ?? {}) && "cluster_name" in r.triggers).triggers
      .config_sha256;

  test("on by default: registry.sh up after the cluster (again when it is re-created), its values in the environment; KEP-1755's ConfigMap after it", () => {
    const { json } = synthPreset("ha-option-b");
    const [addr, r] = registryOf(json)!;
    const cluster = Object.keys(resources(json, "null_resource")).find((a) => a.startsWith("Cluster_Lifecycle"));
    expect(r.depends_on).toEqual([`null_resource.${cluster}`]);
    expect(r.triggers).toEqual({
      cluster_id: `\${null_resource.${cluster}.id}`,
      port: "5001",
      dir: '${pathexpand("~/.kindha/registry")}',
      scripts_dir: "assets/Scripts/current",
    });
    expect(r.provisioner).toEqual([
      {
        "local-exec": {
          command: 'bash "${self.triggers.scripts_dir}/registry.sh" up',
          environment: {
            KINDHA_CLUSTER_NAME: "data-platform-local",
            KINDHA_REGISTRY_NAME: "kindha-registry",
            KINDHA_REGISTRY_IMAGE: "kindha.local/registry:2.8.2",
            KINDHA_REGISTRY_PORT: "5001",
            KINDHA_REGISTRY_CONTAINER_PORT: "5000",
            KINDHA_REGISTRY_DIR: "${self.triggers.dir}",
            KINDHA_REGISTRY_HOSTS_TOML: '[host."http://kindha-registry:5000"]\n  capabilities = ["pull", "resolve"]\n',
            KINDHA_REGISTRY_HOSTS_DIR: "/etc/containerd/certs.d/localhost:5001",
          },
        },
      },
    ]);
    // No destroy-time provisioner: the registry and its storage outlive the cluster.
    expect(r.provisioner.some((p: any) => p["local-exec"].when === "destroy")).toBe(false);
    const hosting = only(resources(json, "kubernetes_config_map_v1"));
    expect(hosting.metadata).toEqual({
      name: "local-registry-hosting",
      namespace: "kube-public",
      labels: { "app.kubernetes.io/managed-by": "kindha" },
    });
    // KEP-1755's LocalRegistryHostingV1: only its fields, host as the host names the registry, help a URL.
    const hostingV1 = parseYaml(hosting.data["localRegistryHosting.v1"]);
    const KEP_1755_FIELDS = ["host", "hostFromClusterNetwork", "hostFromContainerRuntime", "help"];
    expect(Object.keys(hostingV1).filter((k) => !KEP_1755_FIELDS.includes(k))).toEqual([]);
    expect(hostingV1).toEqual({ host: "localhost:5001", help: "https://kind.sigs.k8s.io/docs/user/local-registry/" });
    expect(new URL(hostingV1.help).protocol).toBe("https:");
    expect(hosting.depends_on).toEqual([`null_resource.${addr}`]);
  });

  test("its own port and directory reach the script and the preflight; they never change the kind config, so no cluster is re-created for them", () => {
    const plain = synthPreset("single").json;
    const { json } = synthPreset("single", { registry: { port: 5002, dir: "/srv/registry" } });
    const [, r] = registryOf(json)!;
    expect(r.triggers).toMatchObject({ port: "5002", dir: '${pathexpand("/srv/registry")}' });
    expect(r.provisioner[0]["local-exec"].environment.KINDHA_REGISTRY_PORT).toBe("5002");
    expect(preflightEnv(json)).toMatchObject({ KINDHA_REGISTRY_PORT: "5002", KINDHA_REGISTRY_DIR: '${pathexpand("/srv/registry")}' });
    expect(configSha(json)).toBe(configSha(plain));
    expect(configSha(synthPreset("single", { registry: false }).json)).toBe(configSha(plain));
  });

  test("false: no registry resource, no ConfigMap, nothing for the preflight; without platform objects, no ConfigMap", () => {
    const { json } = synthPreset("single", { registry: false });
    expect(registryOf(json)).toBeUndefined();
    expect(resources(json, "kubernetes_config_map_v1")).toEqual({});
    expect(JSON.stringify(preflightEnv(json))).not.toContain("KINDHA_REGISTRY");
    const bare = synthPreset("single", { platformObjects: false }).json;
    expect(registryOf(bare)).toBeDefined();
    expect(resources(bare, "kubernetes_config_map_v1")).toEqual({});
  });

  test("refuses, before anything is written, a port the API or a ports mapping holds, and settings of the wrong shape", () => {
    const refused = (registry: unknown, more: Record<string, unknown> = {}) => {
      try {
        synthPreset("single", { registry: registry as never, ...more });
      } catch (e) {
        return (e as Error).message;
      }
      throw new Error("accepted");
    };
    expect(refused({ port: 6443 })).toContain("registry.port: 6443 is the API server's port; the registry needs a host port of its own");
    expect(refused({ port: 8080 }, { ports: [{ hostPort: 8080, nodePort: 30080 }] })).toContain(
      "registry.port: 8080 is a ports mapping's host port",
    );
    expect(refused({ port: 70000 })).toContain("registry.port");
    expect(refused({ dir: "~/$(reboot)" })).toContain("registry.dir");
    expect(refused({ prot: 5002 })).toContain("registry.prot");
    expect(refused("yes")).toContain('registry: "yes" must be true, false or a map of port, dir');
  });
});

describe("data directory", () => {
  const lifecycleOf = (j: ReturnType<typeof synthPreset>["json"]) =>
    Object.values(resources(j, "null_resource")).find((r) => "cluster_name" in r.triggers && "config_sha256" in r.triggers);

  test("create makes it and applies the shared storage configuration; destroy is told where it is, to keep it", () => {
    const { json } = synthPreset("single");
    const life = lifecycleOf(json);
    expect(life.triggers.data_dir).toBe('${pathexpand("~/.kindha/data/data-platform-local")}');
    expect(life.triggers.storage_class_path).toMatch(/^\$\{local_file\.Cluster_StorageClass_[0-9A-F]{8}\.filename\}$/);
    expect(life.triggers.storage_config_path).toMatch(/^\$\{local_file\.Cluster_ProvisionerConfig_[0-9A-F]{8}\.filename\}$/);
    const [create, destroy] = life.provisioner.map((p: any) => p["local-exec"]);
    expect(create.environment).toMatchObject({
      KINDHA_DATA_DIR: "${self.triggers.data_dir}",
      KINDHA_STORAGE_CLASS: "${self.triggers.storage_class_path}",
      KINDHA_STORAGE_CONFIG: "${self.triggers.storage_config_path}",
    });
    expect(destroy.environment).toMatchObject({ KINDHA_DATA_DIR: "${self.triggers.data_dir}" });
    const file = (name: string) =>
      Object.values(resources(json, "local_file")).find((f) => f.filename === `\${path.module}/${name}`).content;
    expect(JSON.parse(JSON.parse(file("provisioner-config.json")).data["config.json"])).toEqual({
      sharedFileSystemPath: "/var/local-path-provisioner",
    });
    expect(parseYaml(file("storage-class.yaml"))).toEqual({
      apiVersion: "storage.k8s.io/v1",
      kind: "StorageClass",
      metadata: {
        name: "standard",
        annotations: { "storageclass.kubernetes.io/is-default-class": "true" },
        labels: { "app.kubernetes.io/managed-by": "kindha" },
      },
      provisioner: "rancher.io/local-path",
      volumeBindingMode: "WaitForFirstConsumer",
      // Deleting a claim or its namespace (cdktf destroy deletes kindha's own) keeps the bytes.
      reclaimPolicy: "Retain",
      parameters: { pathPattern: "{{ .PVC.Namespace }}/{{ .PVC.Name }}" },
    });
  });

  test("a path of the user's goes where they said, on every node", () => {
    const { json } = synthPreset("ha-option-a", { dataDir: "/srv/kindha-data" });
    for (const node of kindConfigOf(json).nodes)
      expect(node.extraMounts).toContainEqual({
        hostPath: '${pathexpand("/srv/kindha-data")}',
        containerPath: "/var/local-path-provisioner",
      });
  });

  test("backupDir and kubeconfigPath: the scheduled snapshots' mount and the kubeconfig go where the user said", () => {
    const { json } = synthPreset("ha-option-b", { backupDir: "/srv/snapshots", kubeconfigPath: "~/kc/b.yaml" });
    for (const node of kindConfigOf(json).nodes.filter((n: any) => n.role === "control-plane")) {
      expect(node.extraMounts).toContainEqual({
        hostPath: '${pathexpand("/srv/snapshots")}/scheduled',
        containerPath: "/var/lib/kindha/backups",
      });
    }
    expect(JSON.stringify(json)).toContain('pathexpand(\\"~/kc/b.yaml\\")');
    expect(JSON.stringify(json)).not.toContain("kindha-data-platform-local.yaml");
  });

  test("a Cluster API management cluster (clusterApiManagement) mounts the Docker socket into every node; other stacks into none", () => {
    const socket = { hostPath: "/var/run/docker.sock", containerPath: "/var/run/docker.sock" };
    const mounted = (json: any) =>
      kindConfigOf(json).nodes.map((n: any) => (n.extraMounts ?? []).some((m: any) => m.containerPath === socket.containerPath));
    expect(mounted(synthPreset("single", { clusterApiManagement: true }).json)).toEqual([true, true]);
    for (const node of kindConfigOf(synthPreset("single", { clusterApiManagement: true }).json).nodes)
      expect(node.extraMounts).toContainEqual(socket);
    expect(mounted(synthPreset("single").json)).toEqual([false, false]);
  });

  test("off (false): no mount, no storage configuration, volumes stay in the nodes as with plain kind", () => {
    const { json } = synthPreset("single", { dataDir: false });
    expect(kindConfigOf(json).nodes.flatMap((n: any) => n.extraMounts ?? [])).toEqual([]);
    expect(Object.values(resources(json, "local_file")).map((f) => f.filename)).toEqual(["${path.module}/kind-config.yaml"]);
    expect(lifecycleOf(json).triggers).toMatchObject({ data_dir: "", storage_class_path: "", storage_config_path: "" });
  });

  test.each([
    ["data/relative", "must be an absolute or ~/ path"],
    ['/tmp/${file("/etc/passwd")}', "must be an absolute or ~/ path"],
    ["/srv/../etc", "must be an absolute or ~/ path"],
    ["/srv/a b", "must be an absolute or ~/ path"],
    ["/", "must name a directory of its own"],
  ])("fails when dataDir is %j, before anything is written", (dataDir, rule) => {
    expect(() => synthStack("s", "single", { dataDir })).toThrow(
      `Invalid settings for stack "s" (1 problem):\n  - dataDir: ${JSON.stringify(dataDir)} ${rule}`,
    );
  });
});

describe("settings given in code are data too", () => {
  test.each([
    [
      { kubeconfigPath: '~/.kube/x")} ${file("/etc/passwd")' },
      "kubeconfigPath: " + JSON.stringify('~/.kube/x")} ${file("/etc/passwd")') + " must be an absolute or ~/ path",
    ],
    [{ backupDir: "/srv/${path.cwd}" }, 'backupDir: "/srv/${path.cwd}" must be an absolute or ~/ path'],
    [{ waitTimeout: "5m; rm -rf /" }, 'waitTimeout: "5m; rm -rf /" must be a duration kind takes'],
  ])("fails on %j, before anything is written", (props, message) => {
    expect(() => synthStack("s", "single", props)).toThrow(message);
  });

  test("an external load balancer's stats socket path cannot carry an expression", () => {
    const lb = new HaStack(Testing.app({ outdir: scratchDir() }), "ha").loadBalancer!;
    expect(() => lb.addExternalHaproxy({ statsSocket: { path: '/run/${file("/etc/passwd")}' } })).toThrow("statsSocket.path");
  });
});

describe("external load balancer", () => {
  test("renders an HAProxy config with one backend per control plane, written beside the stack", () => {
    const stack = new HaStack(Testing.app({ outdir: scratchDir() }), "ha-option-a", preset("ha-option-a").spec);
    const added = stack.loadBalancer!.addExternalHaproxy();
    expect(stack.loadBalancer!.haproxyConfig).toBe(added);
    expect(() => stack.loadBalancer!.addExternalHaproxy()).toThrow("it has an external HAProxy config already");
    const json = JSON.parse(Testing.synth(stack));
    const file = Object.values(resources(json, "local_file")).find((f) => f.filename.endsWith("haproxy.cfg"));
    expect(file.filename).toBe("${path.module}/haproxy.cfg");
    const servers = file.content.split("\n").filter((l: string) => /^\s*server /.test(l));
    expect(servers.map((l: string) => l.trim().split(/\s+/).slice(1, 3))).toEqual([
      ["data-platform-local-control-plane", "data-platform-local-control-plane:6443"],
      ["data-platform-local-control-plane2", "data-platform-local-control-plane2:6443"],
      ["data-platform-local-control-plane3", "data-platform-local-control-plane3:6443"],
    ]);
    expect(file.content).toMatch(/bind 127\.0\.0\.1:6443/);
    expect(file.content).toMatch(/option httpchk GET \/readyz/);
  });

  test("is absent by default", () => {
    expect(Object.values(resources(synthPreset("ha-option-b").json, "local_file")).map((f) => f.filename)).not.toContain(
      "${path.module}/haproxy.cfg",
    );
  });
});

describe("scripts", () => {
  test("are copied into the stack at a path that does not change with their content", () => {
    const lifecycle = Object.values(resources(synthPreset("single").json, "null_resource")).find(
      (r) => "cluster_name" in r.triggers && "config_sha256" in r.triggers,
    );
    // The path is a trigger: were it content-addressed, editing a script would replace the cluster.
    expect(lifecycle.triggers.scripts_dir).toBe("assets/Scripts/current");
  });
});

test("the scheduled backup runs the etcd image kubeadm v1.36.1 runs, unless told otherwise", () => {
  const { json, text } = synthPreset("ha-option-b");
  expect(backupPod(json).init_container[0].image).toBe("registry.k8s.io/etcd:3.6.8-0");
  expect(text).toHaveResourceWithProperties(CronJobV1, {
    metadata: expect.objectContaining({ name: "etcd-backup", namespace: "kube-system" }),
  });
});

test("the scheduled backup's etcd image is configurable", () => {
  expect(
    backupPod(synthPreset("ha-option-b", { scheduledBackups: { etcdImage: "registry.k8s.io/etcd:3.6.9-0" } }).json).init_container[0].image,
  ).toBe("registry.k8s.io/etcd:3.6.9-0");
});

/** The pod spec of the one scheduled-backup CronJob. */
function backupPod(json: ReturnType<typeof synthPreset>["json"]) {
  return only(resources(json, "kubernetes_cron_job_v1")).spec.job_template.spec.template.spec;
}

/** The shell script of the scheduled backup's main container. */
function backupCommand(json: ReturnType<typeof synthPreset>["json"]): string {
  return backupPod(json).container[0].command[2];
}

describe("rolling upgrade resource", () => {
  const { json, stack } = synthPreset("ha-option-b");
  const roll = (j: typeof json) => Object.entries(resources(j, "null_resource")).find(([, r]) => "node_image" in r.triggers)!;
  const [address, resource] = roll(json);
  const lifecycle = Object.keys(resources(json, "null_resource")).find((a) => a.startsWith("Cluster_Lifecycle"));

  test("runs the upgrade hook after the cluster exists, its values in the environment, its trigger the node image alone", () => {
    expect(address).toMatch(/^Upgrade_Roll_/);
    expect(resource.depends_on).toEqual([`null_resource.${lifecycle}`]);
    expect(resource.triggers).toEqual({ node_image: stack.topology.nodeImage, scripts_dir: "assets/Scripts/current" });
    expect(resource.provisioner).toEqual([
      {
        "local-exec": {
          command: 'bash "${self.triggers.scripts_dir}/upgrade-hook.sh"',
          environment: {
            KINDHA_STACK: "ha-option-b",
            KINDHA_NODE_IMAGE: "${self.triggers.node_image}",
            KINDHA_KUBECONFIG: '${pathexpand("~/.kube/kindha-data-platform-local.yaml")}',
            KINDHA_PLANNED_STACK: JSON.stringify({
              id: "ha-option-b",
              availability: "ha",
              spec: { controlPlanes: 3, workers: [{ role: "combined" }] },
              paths: {
                kubeconfig: "~/.kube/kindha-data-platform-local.yaml",
                backups: "~/.kindha/backups/data-platform-local",
                data: "~/.kindha/data/data-platform-local",
                logs: "~/.kindha/logs/data-platform-local",
              },
            }),
          },
        },
      },
    ]);
    expect(stack.upgrade.version).toBe("v1.36.1");
  });

  test("a new image changes the roll's trigger and nothing of the cluster's; a topology change leaves the roll alone", () => {
    const bumped = synthPreset("ha-option-b", { nodeImage: "kindha.local/node:v1.37.2" }).json;
    expect(roll(bumped)[1].triggers.node_image).toBe("kindha.local/node:v1.37.2");
    expect(resources(bumped, "null_resource")[lifecycle!].triggers).toEqual(resources(json, "null_resource")[lifecycle!].triggers);
    const bigger = synthPreset("ha-option-b", { controlPlanes: 5 }).json;
    expect(roll(bigger)[1].triggers).toEqual(resource.triggers);
    expect(resources(bigger, "null_resource")[lifecycle!].triggers.config_sha256).not.toBe(
      resources(json, "null_resource")[lifecycle!].triggers.config_sha256,
    );
  });
});
