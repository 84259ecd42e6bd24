import { Construct } from "constructs";
import { kindNode, type KindMount, type KindNode } from "../lib/model/kind-config";
import type { NodeBudget, PlannedNode } from "../lib/model/topology";

export interface ControlPlaneNodeProps {
  /** The resolved node, from `planTopology`. */
  readonly planned: PlannedNode;
  /** Node image reference (tag and digest). */
  readonly image: string;
  /**
   * Host directories mounted into the node.
   * @default - none
   */
  readonly extraMounts?: readonly KindMount[];
}

/**
 * One control-plane node: API server, scheduler, controller manager and a stacked etcd member.
 *
 * kind owns the container, so this construct contributes its entry to the kind config rather
 * than a resource of its own.
 */
export class ControlPlaneNode extends Construct {
  /** Node and container name, e.g. `data-platform-local-control-plane2`. */
  public readonly nodeName: string;
  public readonly budget: NodeBudget;
  /** Name of the etcd static pod on this node. */
  public readonly etcdPodName: string;
  public readonly kindNode: KindNode;

  constructor(scope: Construct, id: string, props: ControlPlaneNodeProps) {
    super(scope, id);
    if (props.planned.role !== "control-plane") {
      throw new Error(`ControlPlaneNode: node ${props.planned.name} has role "${props.planned.role}"; expected "control-plane"`);
    }
    this.nodeName = props.planned.name;
    this.budget = props.planned.budget;
    this.etcdPodName = `etcd-${props.planned.name}`;
    this.kindNode = kindNode(props.planned, props.image, props.extraMounts);
  }
}
