/**
 * A production stack: the topology's Cluster API objects applied to a management cluster, so
 * Cluster API's controllers (and an infrastructure provider: CAPD here, a cloud's elsewhere) make
 * the machines. The same TopologySpec and rules as the kind stacks.
 */
import { KubernetesProvider } from "@cdktf/provider-kubernetes/lib/provider";
import { Fn, LocalBackend, TerraformOutput, TerraformStack } from "cdktf";
import type { Construct } from "constructs";
import { ClusterApiCluster } from "../constructs/cluster-api-cluster";
import { kubeconfigPath } from "../lib/io/paths";
import { DEFAULTS } from "../lib/model/defaults";
import { capd, clusterApiViolations, type InfrastructureProvider } from "../lib/model/cluster-api";
import { planTopology } from "../lib/model/plan-topology";
import { settingViolations, type ClusterApiSettings } from "../lib/model/stack-config";
import type { Availability, Topology, TopologySpec } from "../lib/model/topology";
import { ValidationError } from "../lib/model/validation";

export interface ClusterApiStackProps extends TopologySpec {
  /**
   * Version, namespace and the management cluster's kubeconfig.
   * @default - the node image's version, namespace "default", kindha's single stack as the management cluster
   */
  readonly clusterApi?: ClusterApiSettings;
  /**
   * The infrastructure provider's templates (code only).
   * @default CAPD
   */
  readonly infrastructure?: InfrastructureProvider;
}

export class ClusterApiStack extends TerraformStack {
  public readonly topology: Topology;
  public readonly cluster: ClusterApiCluster;
  /** The management cluster's kubeconfig, as the provider reads it (expanded at apply time). */
  public readonly managementKubeconfig: string;

  constructor(scope: Construct, id: string, availability: Availability, props: ClusterApiStackProps = {}) {
    // Validate before any construct exists, so bad input writes nothing.
    const topology = planTopology(availability, props, `stack "${id}"`);
    const v = [
      ...settingViolations({ target: "cluster-api", clusterApi: props.clusterApi }),
      ...clusterApiViolations(topology, props.clusterApi ?? {}),
    ];
    if (props.infrastructure !== undefined && props.clusterApi?.loadBalancerImage !== undefined) {
      v.push({
        field: "clusterApi.loadBalancerImage",
        value: props.clusterApi.loadBalancerImage,
        rule: "is CAPD's setting; another provider's templates (infrastructure) set their own",
      });
    }
    if (v.length > 0) throw new ValidationError(`settings for stack "${id}"`, v);
    super(scope, id);
    this.topology = topology;
    new LocalBackend(this, { path: `../../../terraform.${id}.tfstate` });
    this.managementKubeconfig = Fn.pathexpand(props.clusterApi?.managementKubeconfig ?? kubeconfigPath(DEFAULTS.clusterName));
    new KubernetesProvider(this, "management", { configPath: this.managementKubeconfig });
    const { managementKubeconfig: _, loadBalancerImage, ...options } = props.clusterApi ?? {};
    const infrastructure = props.infrastructure ?? capd({ loadBalancerImage });
    this.cluster = new ClusterApiCluster(this, "ClusterApi", { topology, options: { ...options, infrastructure } });
    new TerraformOutput(this, "cluster_api_objects", {
      value: this.cluster.objects.map((o) => `${o.kind}/${o.metadata.name}`),
      description: "The Cluster API objects applied to the management cluster, in order",
    });
  }
}
