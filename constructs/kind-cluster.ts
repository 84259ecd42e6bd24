import { DataExternal } from "@cdktf/provider-external/lib/data-external";
import { DataLocalSensitiveFile } from "@cdktf/provider-local/lib/data-local-sensitive-file";
import { File } from "@cdktf/provider-local/lib/file";
import { Resource } from "@cdktf/provider-null/lib/resource";
import { Fn, Token } from "cdktf";
import { Construct } from "constructs";
import { DEFAULTS, KIND_VERSION } from "../lib/model/defaults";
import { hostPortLabel, identityConfig, renderKindConfig, sha256, type KindConfig } from "../lib/model/kind-config";
import { kubeconfigPath } from "../lib/model/paths";
import { DATA_OWNER_FILE, provisionerConfigPatch, storageClassManifest } from "../lib/model/storage";
import { REGISTRY, registryEnv, type PlannedRegistry } from "../lib/model/registry";
import type { NodeBudget } from "../lib/model/topology";

export interface KindClusterProps {
  /** The kind cluster config, as data. */
  readonly config: KindConfig;
  /** CPU and memory the cluster is planned to use; the preflight checks the host has them. */
  readonly budget: NodeBudget;
  /** Directory of the provisioner scripts, relative to the stack (a TerraformAsset path). */
  readonly scriptsDir: string;
  /**
   * Kubeconfig the cluster's credentials are written to (0600); `~/` is expanded at apply time.
   * @default "~/.kube/kindha-<cluster name>.yaml"
   */
  readonly kubeconfigPath?: string;
  /**
   * How long `kind create cluster --wait` waits for the control plane.
   * @default "5m"
   */
  readonly waitTimeout?: string;
  /** Stack id, recorded for scripts and backups. */
  readonly stackId: string;
  /** Directory etcd snapshots are written to; `~/` is expanded at apply time. */
  readonly backupDir: string;
  /** The kind config lets kubelet run on cgroup v1; otherwise the preflight refuses such hosts. */
  readonly allowCgroupV1: boolean;
  /**
   * Host directory of the cluster's volumes (mounted into the nodes by the kind config); `~/` is
   * expanded at apply time. The preflight checks it, create makes it (0700) and applies the
   * shared-storage configuration, delete keeps it.
   * @default - none: volumes stay inside the nodes
   */
  readonly dataDir?: string;
  /**
   * Every plan first looks at the cluster (scripts/plan-hook.sh runs `npm run recover --
   * --terraform-hook` in the project above the stack's directory) and, when its nodes carry this
   * state's mark (stack id and the resource's id, written at create) and its API does not answer
   * (after a Docker restart or a reboot), recovers it before the Kubernetes provider reads it: a
   * deploy repairs instead of failing or replacing. A plan that replaces the cluster does not
   * look (the id is unknown until apply). `KINDHA_RECOVER_ON_PLAN=0` makes it only report.
   * @default true
   */
  readonly recoverOnPlan?: boolean;
  /**
   * The machine's registry the cluster uses: the preflight checks it can serve the stack.
   * @default - none
   */
  readonly registry?: PlannedRegistry;
}

/**
 * The kind cluster: its config file, the create/delete lifecycle and its kubeconfig.
 *
 * The null resource's triggers hold the config hash, so any topology change plans a
 * replacement (kind cannot change a cluster in place); the node image is left out of the hash,
 * since a new image rolls the cluster in place (RollingUpgrade). The destroy-time provisioner can only
 * read `self`, so every value it needs is a trigger.
 */
export class KindCluster extends Construct {
  /** The lifecycle resource; everything that needs the running cluster depends on it. */
  public readonly resource: Resource;
  /**
   * The host checks, a step of their own that the cluster depends on: when they fail, the apply
   * stops with no cluster in state, and the next apply runs them again.
   */
  public readonly preflight: Resource;
  public readonly configFile: File;
  /** SHA-256 of the rendered kind config with the node image left out (lib/kind-config identityConfig). */
  public readonly configSha256: string;
  public readonly renderedConfig: string;
  /** Absolute kubeconfig path, resolved at plan time on the applying machine. */
  public readonly kubeconfigPath: string;
  /** The values the lifecycle scripts read, also recorded in the resource's triggers. */
  public readonly settings: Readonly<
    Record<
      | "cluster_name"
      | "config_sha256"
      | "config_path"
      | "kubeconfig_path"
      | "scripts_dir"
      | "stack_id"
      | "backup_dir"
      | "data_dir"
      | "storage_class_path"
      | "storage_config_path",
      string
    >
  >;
  /** What create-cluster.sh applies when the volumes live on the host: the class and the provisioner's config. */
  public readonly storageFiles?: { readonly storageClass: File; readonly provisionerConfig: File };
  /** Absolute host data directory (expanded at plan time), when volumes live on the host. */
  public readonly dataDir?: string;
  /** The plan's look at the cluster (and recovery), when on; the kubeconfig is read after it. */
  public readonly condition?: DataExternal;
  private readonly kubeconfigFile: DataLocalSensitiveFile;

  constructor(scope: Construct, id: string, props: KindClusterProps) {
    super(scope, id);
    this.renderedConfig = renderKindConfig(props.config);
    this.configSha256 = sha256(renderKindConfig(identityConfig(props.config)));
    this.kubeconfigPath = Fn.pathexpand(props.kubeconfigPath ?? kubeconfigPath(props.config.name));

    this.configFile = new File(this, "Config", {
      filename: "${path.module}/kind-config.yaml",
      content: this.renderedConfig,
      filePermission: "0644",
      directoryPermission: "0755",
    });

    if (props.dataDir !== undefined) {
      const file = (id: string, name: string, content: string) =>
        new File(this, id, { filename: `\${path.module}/${name}`, content, filePermission: "0644", directoryPermission: "0755" });
      this.storageFiles = {
        storageClass: file("StorageClass", "storage-class.yaml", storageClassManifest()),
        provisionerConfig: file("ProvisionerConfig", "provisioner-config.json", provisionerConfigPatch()),
      };
    }
    this.dataDir = props.dataDir === undefined ? undefined : Fn.pathexpand(props.dataDir);
    const dataDirPath = this.dataDir ?? "";

    const triggers = (this.settings = {
      cluster_name: props.config.name,
      config_sha256: this.configSha256,
      config_path: this.configFile.filename,
      kubeconfig_path: this.kubeconfigPath,
      scripts_dir: props.scriptsDir,
      stack_id: props.stackId,
      backup_dir: Fn.pathexpand(props.backupDir),
      data_dir: dataDirPath,
      storage_class_path: this.storageFiles?.storageClass.filename ?? "",
      storage_config_path: this.storageFiles?.provisionerConfig.filename ?? "",
    });
    const fromTriggers = (name: keyof typeof triggers) => `\${self.triggers.${name}}`;
    const env = {
      KINDHA_CLUSTER_NAME: fromTriggers("cluster_name"),
      KINDHA_KIND_CONFIG: fromTriggers("config_path"),
      KINDHA_KUBECONFIG: fromTriggers("kubeconfig_path"),
      KINDHA_STACK: fromTriggers("stack_id"),
      KINDHA_BACKUP_DIR: fromTriggers("backup_dir"),
      KINDHA_DATA_DIR: fromTriggers("data_dir"),
      KINDHA_DATA_OWNER_FILE: DATA_OWNER_FILE,
    };

    // The host ports the nodes publish, for the preflight to find taken.
    const hostPorts = props.config.nodes
      .flatMap((n) => n.extraPortMappings ?? [])
      .map(hostPortLabel)
      .join(" ");
    const preflightEnv = {
      KINDHA_REQUIRED_CPUS: String(props.budget.cpu),
      KINDHA_REQUIRED_MEMORY_GIB: String(props.budget.memoryGiB),
      KINDHA_ALLOW_CGROUP_V1: props.allowCgroupV1 ? "1" : "0",
      KINDHA_CLUSTER_NAME: props.config.name,
      KINDHA_DATA_DIR: dataDirPath,
      KINDHA_DATA_OWNER_FILE: DATA_OWNER_FILE,
      KINDHA_KIND_VERSION: KIND_VERSION,
      ...(hostPorts ? { KINDHA_HOST_PORTS: hostPorts } : {}),
      ...(props.registry ? registryEnv(props.registry, Fn.pathexpand(props.registry.dir)) : {}),
    };
    // Replaced with the cluster (same config hash), so a topology change checks the host again.
    this.preflight = new Resource(this, "Preflight", {
      triggers: {
        config_sha256: this.configSha256,
        scripts_dir: props.scriptsDir,
        required_cpus: preflightEnv.KINDHA_REQUIRED_CPUS,
        required_memory_gib: preflightEnv.KINDHA_REQUIRED_MEMORY_GIB,
        allow_cgroup_v1: preflightEnv.KINDHA_ALLOW_CGROUP_V1,
        data_dir: dataDirPath,
      },
      provisioners: [{ type: "local-exec", command: 'bash "${self.triggers.scripts_dir}/preflight.sh"', environment: preflightEnv }],
    });

    this.resource = new Resource(this, "Lifecycle", {
      triggers,
      dependsOn: [this.configFile, ...Object.values(this.storageFiles ?? {}), this.preflight],
      provisioners: [
        {
          type: "local-exec",
          command: `bash "${fromTriggers("scripts_dir")}/create-cluster.sh"`,
          // The mark names the state's id and its directory (the project beside cdktf.out).
          environment: {
            ...preflightEnv,
            ...env,
            KINDHA_CREATE_ID: "${self.id}",
            KINDHA_STATE_DIR: "${path.module}/../../..",
            KINDHA_STORAGE_CLASS: fromTriggers("storage_class_path"),
            KINDHA_STORAGE_CONFIG: fromTriggers("storage_config_path"),
            KINDHA_WAIT: props.waitTimeout ?? DEFAULTS.waitTimeout,
          },
        },
        {
          type: "local-exec",
          when: "destroy",
          command: `bash "${fromTriggers("scripts_dir")}/delete-cluster.sh"`,
          // Whatever the stack's registry setting, the machine's registry alone does not keep kind's network.
          environment: { ...env, KINDHA_REGISTRY_NAME: REGISTRY.containerName },
        },
      ],
    });

    if (props.recoverOnPlan ?? DEFAULTS.recoverOnPlan) {
      // The values travel on stdin, never on a command line. The resource's id is unknown while
      // a plan replaces the cluster, and Terraform then defers the read to after the apply.
      this.condition = new DataExternal(this, "Condition", {
        program: ["bash", `${props.scriptsDir}/plan-hook.sh`],
        query: { stack: props.stackId, kubeconfig: this.kubeconfigPath, create_id: this.resource.id },
      });
    }

    // Read after the cluster exists (and, on a plan, after it is recovered): the Kubernetes
    // provider is configured from values unknown until apply, so a plan on a machine with no
    // kubeconfig succeeds.
    this.kubeconfigFile = new DataLocalSensitiveFile(this, "Kubeconfig", {
      filename: this.kubeconfigPath,
      dependsOn: [this.resource, ...(this.condition ? [this.condition] : [])],
    });
  }

  /** The kubeconfig's content (sensitive). */
  public get kubeconfig(): string {
    return this.kubeconfigFile.content;
  }

  /** A field of the kubeconfig's first cluster or user, decoded where it is base64 data. */
  public credential(field: "server" | "certificate-authority-data" | "client-certificate-data" | "client-key-data"): string {
    const doc = Fn.yamldecode(this.kubeconfigFile.content);
    const path =
      field === "server" || field === "certificate-authority-data" ? ["clusters", 0, "cluster", field] : ["users", 0, "user", field];
    const value = Token.asString(Fn.lookupNested(doc, path));
    return field === "server" ? value : Fn.base64decode(value);
  }
}
