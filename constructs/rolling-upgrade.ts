import { Resource } from "@cdktf/provider-null/lib/resource";
import type { ITerraformDependable } from "cdktf";
import { Construct } from "constructs";
import { imageTag } from "../lib/model/grammar";

export interface RollingUpgradeProps {
  /** The node image the cluster runs; changing it rolls the live cluster to that image's version. */
  readonly nodeImage: string;
  /** Stack id, handed to `npm run upgrade`. */
  readonly stackId: string;
  /** Kubeconfig of the cluster (absolute, resolved at plan time). */
  readonly kubeconfigPath: string;
  /** The planned stack (lib/io/planned-stack.ts; every value in it passed a grammar with no `${`): the hook rolls this topology, whatever the config file says by then. */
  readonly plannedStack: string;
  /** Directory of the provisioner scripts, relative to the stack (a TerraformAsset path). */
  readonly scriptsDir: string;
  /** The cluster it rolls; the roll runs after it exists. */
  readonly cluster: ITerraformDependable;
}

/**
 * The in-place Kubernetes upgrade of a stack's cluster. The cluster's identity (its config hash)
 * leaves the node image out, so a new image no longer replaces the cluster; this resource's
 * trigger is the image instead. Creating it (the first deploy, and every image change, which
 * Terraform plans as a replacement of this resource alone) runs `npm run upgrade -- --terraform-hook`
 * in the project above the stack (scripts/upgrade-hook.sh), which returns at once when every node
 * already runs the image's version.
 */
export class RollingUpgrade extends Construct {
  public readonly resource: Resource;
  /** The Kubernetes version the image's tag names, e.g. `v1.37.2` (the whole reference when it has no tag). */
  public readonly version: string;

  constructor(scope: Construct, id: string, props: RollingUpgradeProps) {
    super(scope, id);
    this.version = imageTag(props.nodeImage) ?? props.nodeImage;
    this.resource = new Resource(this, "Roll", {
      triggers: { node_image: props.nodeImage, scripts_dir: props.scriptsDir },
      dependsOn: [props.cluster],
      provisioners: [
        {
          type: "local-exec",
          command: 'bash "${self.triggers.scripts_dir}/upgrade-hook.sh"',
          environment: {
            KINDHA_STACK: props.stackId,
            KINDHA_NODE_IMAGE: "${self.triggers.node_image}",
            KINDHA_KUBECONFIG: props.kubeconfigPath,
            KINDHA_PLANNED_STACK: props.plannedStack,
          },
        },
      ],
    });
  }
}
