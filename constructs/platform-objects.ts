import { NamespaceV1 } from "@cdktf/provider-kubernetes/lib/namespace-v1";
import { NodeTaint } from "@cdktf/provider-kubernetes/lib/node-taint";
import type { KubernetesProvider } from "@cdktf/provider-kubernetes/lib/provider";
import type { ITerraformDependable } from "cdktf";
import { Construct } from "constructs";
import { DEFAULTS } from "../lib/model/defaults";
import type { WorkerNode } from "./worker-node";

export interface PlatformObjectsProps {
  /** Provider of the cluster the objects live in. */
  readonly provider: KubernetesProvider;
  /** What the objects wait for (the cluster). */
  readonly dependsOn: ITerraformDependable[];
  /** Workers whose taints are applied. */
  readonly workers: readonly WorkerNode[];
  /**
   * Namespace of platform services (scheduled on infrastructure nodes).
   * @default "data-platform"
   */
  readonly infrastructureNamespace?: string;
  /**
   * Namespace of data workloads.
   * @default "workloads"
   */
  readonly workloadsNamespace?: string;
}

/**
 * The Kubernetes objects a data platform needs once the cluster exists: its namespaces and the
 * taints that reserve infrastructure nodes for platform pods.
 *
 * Scheme: every node carries `kindha.io/role=<role>`; an infrastructure node is also tainted
 * `kindha.io/role=infrastructure:NoSchedule`, so only pods that tolerate it and select it
 * (platform services) run there, and everything else lands on workload or combined nodes.
 */
export class PlatformObjects extends Construct {
  public readonly infrastructureNamespace: NamespaceV1;
  public readonly workloadsNamespace: NamespaceV1;
  public readonly taints: readonly NodeTaint[];

  constructor(scope: Construct, id: string, props: PlatformObjectsProps) {
    super(scope, id);
    const common = { provider: props.provider, dependsOn: props.dependsOn };
    const namespace = (nsId: string, name: string, tier: string) =>
      new NamespaceV1(this, nsId, {
        ...common,
        metadata: { name, labels: { "app.kubernetes.io/managed-by": "kindha", "kindha.io/tier": tier } },
      });
    this.infrastructureNamespace = namespace(
      "InfrastructureNamespace",
      props.infrastructureNamespace ?? DEFAULTS.namespaces.infrastructure,
      "infrastructure",
    );
    this.workloadsNamespace = namespace("WorkloadsNamespace", props.workloadsNamespace ?? DEFAULTS.namespaces.workloads, "workloads");
    this.taints = props.workers
      .filter((w) => w.taints.length > 0)
      .map(
        (w) =>
          new NodeTaint(this, `Taint-${w.node.id}`, {
            ...common,
            metadata: { name: w.nodeName },
            taint: w.taints.map((t) => ({ key: t.key, value: t.value, effect: t.effect })),
            fieldManager: "kindha",
          }),
      );
  }
}
