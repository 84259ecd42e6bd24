import { Construct } from "constructs";
import { kindNode, type KindMount, type KindNode } from "../lib/model/kind-config";
import type { NodeBudget, PlannedNode, PlannedPort, Taint, WorkerRole } from "../lib/model/topology";

export interface WorkerNodeProps {
  /** The resolved node, from `planTopology`. */
  readonly planned: PlannedNode;
  /** Node image reference (tag and digest). */
  readonly image: string;
  /**
   * Host directories mounted into the node.
   * @default - none
   */
  readonly extraMounts?: readonly KindMount[];
  /**
   * Host ports this node publishes, forwarded to NodePorts.
   * @default - none
   */
  readonly ports?: readonly PlannedPort[];
}

/**
 * One worker: infrastructure (platform services, tainted), workload, or combined.
 *
 * Labels go into the kind config so they exist from the node's first start; taints are applied
 * after the cluster exists (see PlatformObjects), because kubelet cannot be given them by kind.
 */
export class WorkerNode extends Construct {
  public readonly nodeName: string;
  public readonly role: WorkerRole;
  public readonly budget: NodeBudget;
  public readonly taints: readonly Taint[];
  public readonly kindNode: KindNode;

  constructor(scope: Construct, id: string, props: WorkerNodeProps) {
    super(scope, id);
    if (props.planned.role === "control-plane") {
      throw new Error(`WorkerNode: node ${props.planned.name} is a control plane; use ControlPlaneNode`);
    }
    this.nodeName = props.planned.name;
    this.role = props.planned.role;
    this.budget = props.planned.budget;
    this.taints = props.planned.taints;
    this.kindNode = kindNode(props.planned, props.image, props.extraMounts, props.ports);
  }
}
