/**
 * A production stack: the topology's Cluster API objects applied to a management cluster, so
 * Cluster API's controllers (and an infrastructure provider: CAPD here, a cloud's elsewhere) make
 * the machines. The same TopologySpec and rules as the kind stacks.
 */
import { KubernetesProvider } from "@cdktf/provider-kubernetes/lib/provider";
import { Fn, LocalBackend, TerraformOutput, TerraformStack } from "cdktf";
import type { Construct } from "constructs";
import { ClusterApiCluster } from "../constructs/cluster-api-cluster";
import { capd, type InfrastructureProvider } from "../lib/model/cluster-api";
import { resolveStack, type ResolvedStack } from "../lib/model/resolved-stack";
import { topologySpecOf, type ClusterApiSettings } from "../lib/model/stack-config";
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

  /** From props in code: validated and planned here. */
  constructor(scope: Construct, id: string, availability: Availability, props?: ClusterApiStackProps);
  /** From a stack resolved already (main.ts: the config file's). */
  constructor(scope: Construct, stack: ResolvedStack);
  constructor(
    scope: Construct,
    idOrStack: string | ResolvedStack,
    availability: Availability = "single",
    props: ClusterApiStackProps = {},
  ) {
    // Validate before any construct exists, so bad input writes nothing.
    const stack =
      typeof idOrStack === "string"
        ? resolveStack({ id: idOrStack, availability, spec: topologySpecOf(props), target: "cluster-api", clusterApi: props.clusterApi })
        : idOrStack;
    const { id, topology } = stack;
    const settings = stack.definition.clusterApi ?? {};
    if (stack.definition.target !== "cluster-api") throw new Error(`stack "${id}" is a kind stack; this class builds cluster-api stacks`);
    if (props.infrastructure !== undefined && settings.loadBalancerImage !== undefined) {
      throw new ValidationError(`settings for stack "${id}"`, [
        {
          field: "clusterApi.loadBalancerImage",
          value: settings.loadBalancerImage,
          rule: "is CAPD's setting; another provider's templates (infrastructure) set their own",
        },
      ]);
    }
    super(scope, id);
    this.topology = topology;
    new LocalBackend(this, { path: `../../../terraform.${id}.tfstate` });
    this.managementKubeconfig = Fn.pathexpand(stack.paths.kubeconfig);
    new KubernetesProvider(this, "management", { configPath: this.managementKubeconfig });
    const { managementKubeconfig: _, loadBalancerImage, ...options } = settings;
    const infrastructure = props.infrastructure ?? capd({ loadBalancerImage });
    this.cluster = new ClusterApiCluster(this, "ClusterApi", { topology, options: { ...options, infrastructure } });
    new TerraformOutput(this, "cluster_api_objects", {
      value: this.cluster.objects.map((o) => `${o.kind}/${o.metadata.name}`),
      description: "The Cluster API objects applied to the management cluster, in order",
    });
  }
}
