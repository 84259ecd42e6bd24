/**
 * `npm run verify -- <stack>`: checks the running cluster against the stack's topology and prints
 * one row per check; exit 1 when any check fails.
 */
import type { ResolvedStack } from "../lib/model/resolved-stack";
import { renderChecks, verifyOnce, type CheckResult } from "../lib/ops/verify";
import { verifyClusterApiOnce } from "../lib/ops/verify-cluster-api";
import {
  hostPath,
  accessThrough,
  clusterAccess,
  EXIT,
  loadStack,
  parseToolArgs,
  processIo,
  requireCluster,
  runMain,
  runTool,
  toolDeps,
  UsageError,
  type Io,
  type ToolDeps,
} from "./cli";

export const USAGE = `Usage: npm run verify -- <stack> [--kubeconfig FILE]

Checks a running kind cluster of <stack> against the stack's topology:
  control-plane nodes          exactly the topology's control planes exist
  control planes Ready         each reports Ready=True
  etcd pod per control plane   one running, ready etcd-<node> static pod on each
  control planes at their etcd addresses
                               each node container is at the address its etcd member advertises
  etcd member health           every member healthy (scripts/etcd.sh health in the first pod)
  API servers behind service   the kubernetes service lists one API server per control plane
  API through load balancer    /readyz answers ok at the stack's API address
  PersistentVolumeClaims Bound every claim, every namespace
  volume directories on the host
                               each Bound volume of the data directory has its <namespace>/<claim>
                               directory there (a restore without its data, a directory moved away)
  workloads available          every Deployment, StatefulSet and DaemonSet fully available
  control-plane certificates   the earliest expiry of kubeadm's certificates on the control planes:
                               warn under 30 days, FAIL once expired (npm run renew-certs)

A cluster-api stack's workload cluster is checked through its management cluster:
  Cluster available            Cluster API's Available condition on the Cluster
  control planes ready         the KubeadmControlPlane's replicas = the topology's, all ready, up to date
  worker pools ready           each pool's MachineDeployment at the topology's replicas, all ready
  machines running             one Running Machine per planned node
  workload nodes Ready, roles as planned
                               read with the kubeconfig Cluster API wrote (Secret <cluster>-kubeconfig)
  etcd member health           scripts/etcd.sh health through a control plane's etcd pod
  API through its endpoint     /readyz at the workload kubeconfig's API address

Options:
  --kubeconfig FILE       default: the stack's (~/.kube/kindha-<cluster>.yaml); for a cluster-api
                          stack, the management cluster's (clusterApi.managementKubeconfig)
  --workload-server URL   cluster-api stacks: reach the workload API here instead of the address
                          its kubeconfig names (e.g. CAPD's load balancer as published on 127.0.0.1)
  -h, --help              this help

Exit: 0 all checks pass (warnings included), 1 a check failed, 2 bad arguments or unknown stack.`;

export async function main(argv: readonly string[], io: Io = processIo, given: Partial<ToolDeps> = {}): Promise<number> {
  return runTool(io, USAGE, argv, async () => {
    const { values, positionals } = parseToolArgs(argv, { kubeconfig: { type: "string" }, "workload-server": { type: "string" } });
    if (positionals.length > 1) throw new UsageError(`expected one stack, got ${positionals.join(" ")}`);
    const deps = toolDeps(given);
    const target = loadStack(positionals[0]);
    const results =
      target.definition.target === "cluster-api"
        ? await clusterApi(target, values.kubeconfig, values["workload-server"], deps, io)
        : await kind(target, values.kubeconfig, values["workload-server"], deps, io);
    io.out(renderChecks(results));
    const failed = results.filter((r) => !r.ok).length;
    io.out(failed === 0 ? `verify: all ${results.length} checks pass` : `verify: ${failed} of ${results.length} checks FAILED`);
    return failed === 0 ? EXIT.ok : EXIT.failed;
  });
}

async function kind(
  stack: ResolvedStack,
  kubeconfig: string | undefined,
  workloadServer: string | undefined,
  deps: ToolDeps,
  io: Io,
): Promise<CheckResult[]> {
  if (workloadServer !== undefined) throw new UsageError("--workload-server applies to cluster-api stacks only");
  const access = clusterAccess(stack, kubeconfig, deps);
  io.out(
    `verify: stack ${stack.id}, cluster ${stack.topology.clusterName}, ${stack.topology.controlPlanes.length} control plane(s), API ${stack.topology.api.url}`,
  );
  return verifyOnce(stack.topology, access);
}

async function clusterApi(
  stack: ResolvedStack,
  kubeconfig: string | undefined,
  workloadServer: string | undefined,
  deps: ToolDeps,
  io: Io,
): Promise<CheckResult[]> {
  if (workloadServer !== undefined && !/^https:\/\/[A-Za-z0-9.:[\]-]+$/.test(workloadServer))
    throw new UsageError("--workload-server must be https://host:port");
  const settings = stack.definition.clusterApi ?? {};
  const management = hostPath(kubeconfig ?? stack.paths.kubeconfig, deps);
  requireCluster(stack.id, management, deps);
  const t = stack.topology;
  io.out(
    `verify: stack ${stack.id} (cluster-api), cluster ${t.clusterName}: ${t.controlPlanes.length} control plane(s), ${t.workers.length} worker(s), through the management cluster of ${management}`,
  );
  return verifyClusterApiOnce(t, { ...accessThrough(management, deps), namespace: settings.namespace, workloadServer });
}

if (require.main === module) runMain(main);
