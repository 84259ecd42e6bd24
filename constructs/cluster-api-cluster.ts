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
    // Construct ids: the kind, and the object's name less the cluster's (Cluster, MachineDeployment_workload).
    const idOf = (o: KubeObject) => (o.metadata.name === cluster ? o.kind : `${o.kind}_${o.metadata.name.replace(`${cluster}-`, "")}`);
    const manifest = (o: KubeObject, dependsOn: Manifest[] = []) =>
      new Manifest(this, idOf(o), {
        manifest: o as unknown as Record<string, unknown>,
        fieldManager: { name: "kindha" },
        ...(dependsOn.length > 0 ? { dependsOn } : {}),
      });
    const rest = this.objects.filter((o) => o.kind !== "Cluster").map((o) => manifest(o));
    this.cluster = manifest(this.objects.find((o) => o.kind === "Cluster")!, rest);
  }
}
