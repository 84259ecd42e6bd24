import { KubernetesProvider } from "@cdktf/provider-kubernetes/lib/provider";
import { ExternalProvider } from "@cdktf/provider-external/lib/provider";
import { LocalProvider } from "@cdktf/provider-local/lib/provider";
import { NullProvider } from "@cdktf/provider-null/lib/provider";
import { AssetType, type ITerraformDependable, LocalBackend, TerraformAsset, TerraformOutput, TerraformStack } from "cdktf";
import type { Construct } from "constructs";
import { ControlPlaneNode } from "../constructs/control-plane-node";
import { EtcdCluster, NODE_BACKUP_DIR } from "../constructs/etcd-cluster";
import { KindCluster } from "../constructs/kind-cluster";
import { LoadBalancer } from "../constructs/load-balancer";
import { LocalRegistry } from "../constructs/local-registry";
import { PlatformObjects } from "../constructs/platform-objects";
import { RollingUpgrade } from "../constructs/rolling-upgrade";
import { WorkerNode } from "../constructs/worker-node";
import { DEFAULTS } from "../lib/model/defaults";
import { kindConfig } from "../lib/model/kind-config";
import { plannedStackJson } from "../lib/io/planned-stack";
import { NODE_DATA_DIR } from "../lib/model/storage";
import { scriptsDir } from "../lib/io/project";
import { definitionOf, type ClusterSettings } from "../lib/model/stack-config";
import { resolveStack, type ResolvedStack } from "../lib/model/resolved-stack";
import { type Availability, type Topology, type TopologySpec } from "../lib/model/topology";

/** A cluster stack's props: its topology and its settings, as a config file gives them. */
export type ClusterStackProps = TopologySpec & ClusterSettings;

/**
 * A kind cluster of a given availability: nodes, etcd, load balancer, lifecycle, platform objects
 * and outputs. SingleStack and HaStack fix the availability.
 */
export abstract class ClusterStack extends TerraformStack {
  public readonly topology: Topology;
  public readonly controlPlanes: readonly ControlPlaneNode[];
  public readonly workers: readonly WorkerNode[];
  public readonly etcd: EtcdCluster;
  /** Present when more than one API server needs one endpoint. */
  public readonly loadBalancer?: LoadBalancer;
  public readonly cluster: KindCluster;
  public readonly platform?: PlatformObjects;
  /** Rolls the live cluster when the node image changes. */
  public readonly upgrade: RollingUpgrade;
  /** The machine's local registry in this cluster's nodes, unless the stack turns it off. */
  public readonly registry?: LocalRegistry;

  protected constructor(scope: Construct, availability: Availability, idOrStack: string | ResolvedStack, props: ClusterStackProps) {
    // Validate before any construct exists, so bad input writes nothing.
    const stack = typeof idOrStack === "string" ? resolveStack(definitionOf(idOrStack, availability, props)) : idOrStack;
    const { id, definition: def, topology, paths, registry } = stack;
    if (def.availability !== availability || def.target === "cluster-api")
      throw new Error(
        `stack "${id}" is ${def.target === "cluster-api" ? "a cluster-api" : `an availability ${def.availability}`} stack; this class builds kind stacks of availability ${availability}`,
      );
    super(scope, id);
    this.topology = topology;
    const clusterName = topology.clusterName;
    const backups = paths.backups;
    const data = paths.data;

    // A backend path relative to the stack directory keeps the synthesizing machine's paths out
    // of the JSON; cdktf.out/stacks/<id>/ -> state beside cdktf.json, as cdktf's default.
    new LocalBackend(this, { path: `../../../terraform.${id}.tfstate` });
    new NullProvider(this, "null");
    new LocalProvider(this, "local");
    new ExternalProvider(this, "external");

    const platformObjects = def.platformObjects ?? DEFAULTS.platformObjects;
    // The CronJob is a platform object: without them, no schedule (and no mount for one).
    const scheduled = platformObjects ? (def.scheduledBackups ?? (availability === "ha" ? {} : false)) : false;
    const backupMount = { hostPath: `\${pathexpand("${backups}")}/scheduled`, containerPath: NODE_BACKUP_DIR };
    // Every node: the provisioner's helper pods (data) and CAPD's controller (the socket) may run anywhere.
    const nodeMounts = [
      ...(data === undefined ? [] : [{ hostPath: `\${pathexpand("${data}")}`, containerPath: NODE_DATA_DIR }]),
      ...((def.clusterApiManagement ?? DEFAULTS.clusterApiManagement)
        ? [{ hostPath: DEFAULTS.dockerSocket, containerPath: DEFAULTS.dockerSocket }]
        : []),
    ];
    this.controlPlanes = topology.controlPlanes.map(
      (planned, i) =>
        new ControlPlaneNode(this, `ControlPlane${i + 1}`, {
          planned,
          image: topology.nodeImage,
          extraMounts: [...(scheduled ? [backupMount] : []), ...nodeMounts],
        }),
    );
    this.workers = topology.workers.map(
      (planned, i) =>
        new WorkerNode(this, `Worker${i + 1}`, {
          planned,
          image: topology.nodeImage,
          extraMounts: nodeMounts,
          ports: topology.ports.filter((p) => p.node === planned.name),
        }),
    );
    this.etcd = new EtcdCluster(this, "Etcd", { members: this.controlPlanes, certSans: topology.etcd.certSans });
    if (topology.api.loadBalanced) {
      this.loadBalancer = new LoadBalancer(this, "LoadBalancer", {
        clusterName,
        endpoint: topology.api,
        backends: this.controlPlanes,
      });
    }

    // A fixed asset hash keeps the scripts' path, a trigger of the cluster, the same when a script
    // changes: editing a script must not replace the cluster.
    const scripts = new TerraformAsset(this, "Scripts", { path: scriptsDir(), type: AssetType.DIRECTORY, assetHash: "current" });
    this.cluster = new KindCluster(this, "Cluster", {
      config: kindConfig(
        topology,
        [...this.controlPlanes, ...this.workers].map((n) => n.kindNode),
      ),
      budget: topology.totals,
      scriptsDir: scripts.path,
      kubeconfigPath: paths.kubeconfig,
      waitTimeout: def.waitTimeout,
      stackId: id,
      backupDir: backups,
      allowCgroupV1: topology.allowCgroupV1,
      dataDir: data,
      recoverOnPlan: def.recoverOnPlan,
      registry,
    });
    this.upgrade = new RollingUpgrade(this, "Upgrade", {
      nodeImage: topology.nodeImage,
      stackId: id,
      kubeconfigPath: this.cluster.kubeconfigPath,
      plannedStack: plannedStackJson(stack),
      scriptsDir: scripts.path,
      cluster: this.cluster.resource,
    });

    const objects: ITerraformDependable[] = [];
    let provider: KubernetesProvider | undefined;
    if (platformObjects) {
      provider = new KubernetesProvider(this, "kubernetes", {
        host: this.cluster.credential("server"),
        clusterCaCertificate: this.cluster.credential("certificate-authority-data"),
        clientCertificate: this.cluster.credential("client-certificate-data"),
        clientKey: this.cluster.credential("client-key-data"),
      });
      const dependsOn = [this.cluster.resource];
      this.platform = new PlatformObjects(this, "Platform", { provider, dependsOn, workers: this.workers });
      if (scheduled) objects.push(this.etcd.scheduleBackups(scheduled, { provider, dependsOn }));
      objects.push(this.platform.infrastructureNamespace, this.platform.workloadsNamespace, ...this.platform.taints);
    }
    if (registry) {
      this.registry = new LocalRegistry(this, "Registry", {
        registry,
        clusterName,
        cluster: this.cluster.resource,
        scriptsDir: scripts.path,
        provider,
      });
      if (this.registry.hosting) objects.push(this.registry.hosting);
    }
    // On destroy: the snapshot first, then the objects, then the cluster.
    this.etcd.backupBeforeDestroy(this.cluster, objects);

    this.outputs(id);
  }

  private outputs(id: string): void {
    const t = this.topology;
    const out = (name: string, value: string | number, description: string, sensitive = false) =>
      new TerraformOutput(this, name, { value, description, sensitive });
    out("stack", id, "Stack id");
    out("cluster_name", t.clusterName, "kind cluster name (kube context kind-<name>)");
    out("api_endpoint", t.api.url, t.api.loadBalanced ? "API server, through the load balancer" : "API server");
    out("kubeconfig_path", this.cluster.kubeconfigPath, "Kubeconfig of the cluster (0600)");
    out(
      "data_dir",
      this.cluster.dataDir ?? "",
      "Host directory of the cluster's persistent volumes (kept when the cluster is deleted); empty: inside the nodes",
    );
    out("kubeconfig", this.cluster.kubeconfig, "Kubeconfig content (credentials)", true);
    out("control_plane_count", t.controlPlanes.length, "Control-plane nodes");
    out("worker_count", t.workers.length, "Worker nodes");
    out("etcd_quorum", this.etcd.quorum, "etcd members needed for writes: floor(n/2)+1");
    out("etcd_tolerated_failures", this.etcd.toleratedFailures, "Control planes that may fail: floor((n-1)/2)");
    out("total_cpu", t.totals.cpu, "CPUs planned for all nodes");
    out("total_memory_gib", t.totals.memoryGiB, "Memory planned for all nodes, GiB");
  }
}
