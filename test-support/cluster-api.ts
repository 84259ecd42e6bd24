/**
 * Cluster API's own CRDs, from the Go modules `npm run setup` downloads (core, kubeadm bootstrap
 * and control plane: sigs.k8s.io/cluster-api v1.13.6; CAPD: sigs.k8s.io/cluster-api/test v1.13.7),
 * for the cluster tier's server-side validation of the cluster-api target's objects.
 */
import { execFileSync } from "node:child_process";
import { existsSync } from "node:fs";
import { join } from "node:path";
import { kubectl, run } from "./cluster";

export const CLUSTER_API_MODULES = { core: "sigs.k8s.io/cluster-api@v1.13.6", capd: "sigs.k8s.io/cluster-api/test@v1.13.7" } as const;

/** The CRD files of every kind the objects use; throws naming what to run when a module is missing. */
export function clusterApiCrds(): string[] {
  const cache = execFileSync("go", ["env", "GOMODCACHE"], { encoding: "utf8" }).trim();
  const core = join(cache, CLUSTER_API_MODULES.core);
  const capd = join(cache, CLUSTER_API_MODULES.capd);
  const files = [
    join(core, "config/crd/bases/cluster.x-k8s.io_clusters.yaml"),
    join(core, "config/crd/bases/cluster.x-k8s.io_machinedeployments.yaml"),
    join(core, "bootstrap/kubeadm/config/crd/bases/bootstrap.cluster.x-k8s.io_kubeadmconfigtemplates.yaml"),
    join(core, "controlplane/kubeadm/config/crd/bases/controlplane.cluster.x-k8s.io_kubeadmcontrolplanes.yaml"),
    join(capd, "infrastructure/docker/config/crd/bases/infrastructure.cluster.x-k8s.io_dockerclusters.yaml"),
    join(capd, "infrastructure/docker/config/crd/bases/infrastructure.cluster.x-k8s.io_dockermachinetemplates.yaml"),
  ];
  const missing = files.filter((f) => !existsSync(f));
  if (missing.length > 0) throw new Error(`Cluster API's CRDs are missing (${missing[0]}); npm run setup downloads them`);
  return files;
}

/** Applies the CRDs to a cluster and waits until they serve; returns what removes them again. */
export function installClusterApiCrds(kubeconfig: string, env: NodeJS.ProcessEnv): () => void {
  const files = clusterApiCrds().flatMap((f) => ["-f", f]);
  const uninstall = () => void run("kubectl", ["--kubeconfig", kubeconfig, "delete", "--ignore-not-found", "--wait", ...files], env);
  try {
    kubectl(kubeconfig, env, ["apply", "--server-side", ...files]);
    kubectl(kubeconfig, env, ["wait", "--for", "condition=Established", "--timeout", "60s", ...files]);
  } catch (e) {
    uninstall();
    throw e;
  }
  return uninstall;
}
