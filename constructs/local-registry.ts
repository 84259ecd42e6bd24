import { ConfigMapV1 } from "@cdktf/provider-kubernetes/lib/config-map-v1";
import type { KubernetesProvider } from "@cdktf/provider-kubernetes/lib/provider";
import { Resource } from "@cdktf/provider-null/lib/resource";
import { Fn } from "cdktf";
import { Construct } from "constructs";
import {
  containerdHostsToml,
  hostsEntryDir,
  LOCAL_REGISTRY_HOSTING,
  localRegistryHosting,
  registryEnv,
  type PlannedRegistry,
} from "../lib/model/registry";

export interface LocalRegistryProps {
  /** The registry the stack uses: its port and storage directory. */
  readonly registry: PlannedRegistry;
  /** The kind cluster whose nodes get containerd's entry for it. */
  readonly clusterName: string;
  /** The cluster's lifecycle resource: the entries are written once it exists, again when it is re-created. */
  readonly cluster: Resource;
  /** Directory of the provisioner scripts, relative to the stack (a TerraformAsset path). */
  readonly scriptsDir: string;
  /**
   * Provider of the cluster, for KEP-1755's `kube-public/local-registry-hosting` ConfigMap.
   * @default - no ConfigMap (a stack without platform objects)
   */
  readonly provider?: KubernetesProvider;
}

/**
 * The machine's local image registry for one cluster: scripts/registry.sh starts the registry
 * (shared by every kindha cluster; destroy leaves it and its storage) and maps `localhost:<port>`
 * to it in every node's containerd. The cluster publishes where it is, as KEP-1755 asks.
 */
export class LocalRegistry extends Construct {
  /** Runs registry.sh up after the cluster is created; replaced with the cluster, or when the port or directory changes. */
  public readonly resource: Resource;
  /** `kube-public/local-registry-hosting`, when the stack has platform objects. */
  public readonly hosting?: ConfigMapV1;

  constructor(scope: Construct, id: string, props: LocalRegistryProps) {
    super(scope, id);
    const r = props.registry;
    const triggers = {
      cluster_id: props.cluster.id,
      port: String(r.port),
      dir: Fn.pathexpand(r.dir),
      scripts_dir: props.scriptsDir,
    };
    this.resource = new Resource(this, "Nodes", {
      triggers,
      dependsOn: [props.cluster],
      provisioners: [
        {
          type: "local-exec",
          command: 'bash "${self.triggers.scripts_dir}/registry.sh" up',
          environment: {
            ...registryEnv(r, "${self.triggers.dir}"),
            KINDHA_CLUSTER_NAME: props.clusterName,
            KINDHA_REGISTRY_HOSTS_TOML: containerdHostsToml(),
            KINDHA_REGISTRY_HOSTS_DIR: hostsEntryDir(r),
          },
        },
      ],
    });
    if (props.provider) {
      this.hosting = new ConfigMapV1(this, "Hosting", {
        provider: props.provider,
        dependsOn: [this.resource],
        metadata: {
          name: LOCAL_REGISTRY_HOSTING.name,
          namespace: LOCAL_REGISTRY_HOSTING.namespace,
          labels: { "app.kubernetes.io/managed-by": "kindha" },
        },
        data: { [LOCAL_REGISTRY_HOSTING.key]: localRegistryHosting(r) },
      });
    }
  }
}
