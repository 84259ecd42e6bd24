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
    const idOf = (o: KubeObject) =>
      o.metadata.name === cluster ? o.kind : `${o.kind}_${o.metadata.name.replace(`${cluster}-`, "").replace(/-[0-9a-f]{8}$/, "")}`;
    const manifest = (o: KubeObject, dependsOn: Manifest[] = []) =>
      new Manifest(this, idOf(o), {
        manifest: o as unknown as Record<string, unknown>,
        fieldManager: { name: "kindha" },
        ...(dependsOn.length > 0 ? { dependsOn } : {}),
        // Templates are immutable: a changed one is a new object, made before its users switch to it.
        ...(o.kind.endsWith("Template") ? { lifecycle: { createBeforeDestroy: true } } : {}),
      });
    const isTemplate = (o: KubeObject) => o.kind.endsWith("Template");
    const templates = this.objects.filter(isTemplate).map((o) => ({ o, m: manifest(o) }));
    // An object is applied after the templates it names, in the order it names them (their names
    // carry a hash: no false match).
    const named = (o: KubeObject) => {
      const text = JSON.stringify(o.spec);
      const at = (t: { o: KubeObject }) => text.indexOf(`"name":"${t.o.metadata.name}"`);
      return templates
        .filter((t) => at(t) >= 0)
        .sort((a, b) => at(a) - at(b))
        .map((t) => t.m);
    };
    const users = this.objects.filter((o) => o.kind !== "Cluster" && !isTemplate(o)).map((o) => manifest(o, named(o)));
    this.cluster = manifest(
      this.objects.find((o) => o.kind === "Cluster")!,
      [...templates.map((t) => t.m), ...users],
    );
  }
}
