import { CronJobV1 } from "@cdktf/provider-kubernetes/lib/cron-job-v1";
import type { KubernetesProvider } from "@cdktf/provider-kubernetes/lib/provider";
import { Resource } from "@cdktf/provider-null/lib/resource";
import type { ITerraformDependable } from "cdktf";
import { Construct } from "constructs";
import { DEFAULTS } from "../lib/model/defaults";
import type { ScheduledBackupOptions } from "../lib/model/types";
import { etcdSansPatch } from "../lib/model/kind-config";
import { etcdQuorum, toleratedFailures } from "../lib/model/topology";
import type { ControlPlaneNode } from "./control-plane-node";
import type { KindCluster } from "./kind-cluster";

export interface EtcdClusterProps {
  /** Control planes; each runs one stacked etcd member. */
  readonly members: readonly ControlPlaneNode[];
  /** SANs of the etcd server and peer certificates (localhost and 127.0.0.1 at least). */
  readonly certSans: readonly string[];
}

/** Where the scheduled backups' CronJob is created: the cluster's provider, after the cluster. */
export interface ScheduledBackupTarget {
  /** Provider of the cluster the CronJob runs in. */
  readonly provider: KubernetesProvider;
  /** What the CronJob waits for (the cluster). */
  readonly dependsOn: ITerraformDependable[];
}

/** Path inside control-plane nodes where scheduled snapshots are kept (mounted from the host). */
export const NODE_BACKUP_DIR = "/var/lib/kindha/backups";

/**
 * The stacked etcd cluster: one member per control plane.
 *
 * Holds the quorum maths, the certificate SANs (as a kubeadm patch for the kind config), and the
 * backups: a snapshot before the cluster is destroyed or replaced, and optionally a schedule.
 */
export class EtcdCluster extends Construct {
  public readonly members: readonly string[];
  /** Members that must be healthy for etcd to accept writes: floor(n/2)+1. */
  public readonly quorum: number;
  /** Members that may fail while quorum holds: floor((n-1)/2). */
  public readonly toleratedFailures: number;
  public readonly certSans: readonly string[];
  /** kubeadm ClusterConfiguration patch giving etcd its SANs. */
  public readonly kubeadmPatch: string;
  private readonly firstPod: string;

  constructor(scope: Construct, id: string, props: EtcdClusterProps) {
    super(scope, id);
    const n = props.members.length;
    if (n < 1 || n % 2 === 0) {
      throw new Error(`EtcdCluster: members: ${n} is ${n < 1 ? "empty" : "even"}; etcd quorum needs an odd count (1, 3, 5, 7)`);
    }
    this.members = props.members.map((m) => m.nodeName);
    this.quorum = etcdQuorum(n);
    this.toleratedFailures = toleratedFailures(n);
    this.certSans = [...props.certSans];
    this.kubeadmPatch = etcdSansPatch(this.certSans);
    this.firstPod = props.members[0].etcdPodName;
  }

  /**
   * Snapshots etcd before the cluster is destroyed or replaced.
   *
   * A resource that is replaced with the cluster (its trigger is the cluster's id) and depends on
   * it is destroyed first, so its destroy-time provisioner runs while etcd still serves. It also
   * depends on `objects` (the stack's Kubernetes objects), so the snapshot is taken before they
   * are destroyed and holds what the user put in the stack's own namespaces.
   */
  public backupBeforeDestroy(cluster: KindCluster, objects: readonly ITerraformDependable[] = []): Resource {
    return new Resource(this, "BackupBeforeDestroy", {
      triggers: {
        cluster_id: cluster.resource.id,
        cluster_name: cluster.settings.cluster_name,
        kubeconfig_path: cluster.settings.kubeconfig_path,
        scripts_dir: cluster.settings.scripts_dir,
        stack_id: cluster.settings.stack_id,
        backup_dir: cluster.settings.backup_dir,
        etcd_pod: this.firstPod,
      },
      dependsOn: [cluster.resource, ...objects],
      provisioners: [
        {
          type: "local-exec",
          when: "destroy",
          command: 'bash "${self.triggers.scripts_dir}/etcd.sh" backup',
          environment: {
            KINDHA_CLUSTER_NAME: "${self.triggers.cluster_name}",
            KINDHA_KUBECONFIG: "${self.triggers.kubeconfig_path}",
            KINDHA_STACK: "${self.triggers.stack_id}",
            KINDHA_BACKUP_DIR: "${self.triggers.backup_dir}",
            KINDHA_ETCD_POD: "${self.triggers.etcd_pod}",
          },
        },
      ],
    });
  }

  /**
   * Snapshots etcd on a schedule inside the cluster, onto the host directory every control
   * plane mounts at {@link NODE_BACKUP_DIR}.
   */
  public scheduleBackups(props: ScheduledBackupOptions, target: ScheduledBackupTarget): CronJobV1 {
    const schedule = props.schedule ?? DEFAULTS.backupSchedule;
    const retention = props.retention ?? DEFAULTS.backupRetention;
    if (!Number.isInteger(retention) || retention < 1) {
      throw new Error(`EtcdCluster: retention: ${retention} must be a whole number of at least 1`);
    }
    const pki = "/etc/kubernetes/pki/etcd";
    const volumes = [
      { name: "pki", hostPath: { path: pki, type: "Directory" } },
      { name: "backups", hostPath: { path: NODE_BACKUP_DIR, type: "DirectoryOrCreate" } },
      { name: "snapshot", emptyDir: {} },
    ];
    return new CronJobV1(this, "ScheduledBackup", {
      provider: target.provider,
      dependsOn: target.dependsOn,
      metadata: { name: "etcd-backup", namespace: "kube-system", labels: { "app.kubernetes.io/managed-by": "kindha" } },
      spec: {
        schedule,
        concurrencyPolicy: "Forbid",
        successfulJobsHistoryLimit: 3,
        failedJobsHistoryLimit: 3,
        jobTemplate: {
          metadata: {},
          spec: {
            backoffLimit: 2,
            template: {
              metadata: { labels: { app: "etcd-backup" } },
              spec: {
                hostNetwork: true,
                restartPolicy: "OnFailure",
                nodeSelector: { "node-role.kubernetes.io/control-plane": "" },
                toleration: [{ key: "node-role.kubernetes.io/control-plane", operator: "Exists", effect: "NoSchedule" }],
                initContainer: [
                  {
                    name: "snapshot",
                    image: props.etcdImage ?? DEFAULTS.backupEtcdImage,
                    command: [
                      "etcdctl",
                      "--endpoints=https://127.0.0.1:2379",
                      `--cacert=${pki}/ca.crt`,
                      `--cert=${pki}/healthcheck-client.crt`,
                      `--key=${pki}/healthcheck-client.key`,
                      "snapshot",
                      "save",
                      "/snapshot/etcd.db",
                    ],
                    volumeMount: [
                      { name: "pki", mountPath: pki, readOnly: true },
                      { name: "snapshot", mountPath: "/snapshot" },
                    ],
                  },
                ],
                container: [
                  {
                    name: "keep",
                    image: props.shellImage ?? DEFAULTS.backupShellImage,
                    command: ["/bin/sh", "-c", keepScript(retention)],
                    volumeMount: [
                      { name: "backups", mountPath: "/backups" },
                      { name: "snapshot", mountPath: "/snapshot" },
                    ],
                  },
                ],
                volume: volumes,
              },
            },
          },
        },
      },
    });
  }
}

/**
 * Names the snapshot by time, gives it to the owner of the host directory (the user who deployed,
 * so that user's `npm run restore` reads it) at 0600 before it takes its name, and keeps the
 * newest `retention`.
 */
function keepScript(retention: number): string {
  return [
    "set -eu",
    "umask 077",
    'f="/backups/scheduled-$(date -u +%Y%m%dT%H%M%SZ).db"',
    "t=/backups/.scheduled-partial.db",
    'mv /snapshot/etcd.db "$t"',
    'chmod 600 "$t"',
    'chown "$(stat -c %u:%g /backups)" "$t"',
    'mv "$t" "$f"',
    `ls -1t /backups/scheduled-*.db | tail -n +${retention + 1} | xargs -r rm -f`,
    'echo "saved $f"',
  ].join("\n");
}
