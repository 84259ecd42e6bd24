/**
 * `npm run verify -- <stack>`: checks the running cluster against the stack's topology and prints
 * one row per check; exit 1 when any check fails.
 */
import { renderChecks, verifyOnce } from "../lib/ops/verify";
import { clusterAccess, EXIT, parseToolArgs, processIo, runMain, runTool, singleStack, toolDeps, type Io, type ToolDeps } from "./cli";

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
  workloads available          every Deployment, StatefulSet and DaemonSet fully available
  control-plane certificates   the earliest expiry of kubeadm's certificates on the control planes:
                               warn under 30 days, FAIL once expired (npm run renew-certs)

Options:
  --kubeconfig FILE  default: the stack's (~/.kube/kindha-<cluster>.yaml)
  -h, --help         this help

Exit: 0 all checks pass (warnings included), 1 a check failed, 2 bad arguments or unknown stack.`;

export async function main(argv: readonly string[], io: Io = processIo, given: Partial<ToolDeps> = {}): Promise<number> {
  return runTool(io, USAGE, argv, async () => {
    const { values, positionals } = parseToolArgs(argv, { kubeconfig: { type: "string" } });
    const stack = singleStack(positionals);
    const deps = toolDeps(given);
    const access = clusterAccess(stack, values.kubeconfig, deps);
    io.out(`verify: stack ${stack.id}, cluster ${stack.topology.clusterName}, ${stack.topology.controlPlanes.length} control plane(s), API ${stack.topology.api.url}`);
    const results = await verifyOnce(stack.topology, access);
    io.out(renderChecks(results));
    const failed = results.filter((r) => !r.ok).length;
    io.out(failed === 0 ? `verify: all ${results.length} checks pass` : `verify: ${failed} of ${results.length} checks FAILED`);
    return failed === 0 ? EXIT.ok : EXIT.failed;
  });
}

if (require.main === module) runMain(main);
