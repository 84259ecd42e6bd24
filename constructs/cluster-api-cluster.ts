/**
 * A topology as Cluster API objects in a management cluster: one `kubernetes_manifest` per object
 * of lib/model/cluster-api.ts. The Cluster is applied last and destroyed first, so Cluster API
 * tears the machines down while their templates still exist.
 */
import { Manifest } from "@cdktf/provider-kubernetes/lib/manifest";
import { Construct } from "constructs";
import { clusterApiObjects, type ClusterApiOptions, type KubeObject } from "../lib/model/cluster-api";
import type { Topology } from "../lib/model/topology";

export interface ClusterApiClusterProps {
  /** The validated topology the objects describe. */
  readonly topology: Topology;
  /**
   * Version, namespace and infrastructure provider.
   * @default - the node image's version, namespace "default", CAPD
   */
  readonly options?: ClusterApiOptions;
}

export class ClusterApiCluster extends Construct {
  /** The objects, as plain data (what review and tests read). */
  public readonly objects: readonly KubeObject[];
  /** The Cluster object's manifest; every other object is applied before it. */
  public readonly cluster: Manifest;

  constructor(scope: Construct, id: string, props: ClusterApiClusterProps) {
    super(scope, id);
    this.objects = clusterApiObjects(props.topology, props.options);
    const cluster = props.topology.clusterName;
    // Construct ids: the kind and the object's name less the cluster's and a template's spec hash
    // (Cluster, DockerMachineTemplate_workload), so a changed template keeps its resource.
    const idOf = (o: KubeObject) => (o.metadata.name === cluster ? o.kind : `${o.kind}_${o.metadata.name.replace(`${cluster}-`, "").replace(/-[0-9a-f]{8}$/, "")}`);
    const byName = new Map<string, Manifest>();
    const manifest = (o: KubeObject, dependsOn: Manifest[] = []) => {
      const m = new Manifest(this, idOf(o), {
        manifest: o as unknown as Record<string, unknown>,
        fieldManager: { name: "kindha" },
        ...(dependsOn.length > 0 ? { dependsOn } : {}),
        // Templates are immutable: a changed one is a new object, made before its users switch to it.
        ...(o.kind.endsWith("Template") ? { lifecycle: { createBeforeDestroy: true } } : {}),
      });
      byName.set(`${o.kind}/${o.metadata.name}`, m);
      return m;
    };
    // What an object names (its templates) is applied before it.
    const refs = (o: KubeObject): Manifest[] =>
      JSON.stringify(o.spec)
        .match(/"kind":"[A-Za-z]+","name":"[^"]+"/g)
        ?.map((r) => byName.get(r.replace(/"kind":"([A-Za-z]+)","name":"([^"]+)"/, "$1/$2")))
        .filter((m): m is Manifest => m !== undefined) ?? [];
    const templates = this.objects.filter((o) => o.kind.endsWith("Template")).map((o) => manifest(o));
    const users = this.objects.filter((o) => o.kind !== "Cluster" && !o.kind.endsWith("Template")).map((o) => manifest(o, refs(o)));
    this.cluster = manifest(this.objects.find((o) => o.kind === "Cluster")!, [...templates, ...users]);
  }
}
