/**
 * `npm run cluster-api -- install <stack>`: installs Cluster API's controllers (core, kubeadm
 * bootstrap and control plane, CAPD) into a kind stack's cluster, making it the management
 * cluster of `target: cluster-api` stacks (steps in lib/ops/cluster-api/install.ts).
 */
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { installSteps } from "../lib/ops/cluster-api/install";
import { runSteps } from "../lib/ops/steps";
import { projectRoot } from "../lib/io/project";
import { withPrivateTempDir } from "../lib/io/temp";
import { imageBaseName } from "../lib/model/grammar";
import {
  clusterAccess,
  EXIT,
  parseToolArgs,
  processIo,
  runMain,
  runTool,
  singleStack,
  toolDeps,
  UsageError,
  type Io,
  type ToolDeps,
  waitSeconds,
} from "./cli";

export const USAGE = `Usage: npm run cluster-api -- install <stack> [--kubeconfig FILE] [--wait SECONDS]

Makes the running kind cluster of <stack> a Cluster API management cluster:
  1. check that its nodes mount the Docker socket (the stack sets clusterApiManagement: true)
  2. keep the CA and serving certificates of an earlier install while they last 30 days more, or
     make a CA and each webhook's serving certificate (no cert-manager); prepare the components:
     clusterctl's variables at their defaults, every webhook trusting the CA
  3. load the controller images into the nodes (kind load docker-image)
  4. apply the namespaces and the certificates' Secrets, then the components (server-side)
  5. wait until every controller's Deployment is Available
The images and components come from npm run e2e:cluster-api (Cluster API v1.13.6: core, kubeadm
bootstrap, kubeadm control plane; CAPD v1.13.7). Running it again re-applies the components and
keeps the webhooks answering.

Options:
  --kubeconfig FILE  default: the stack's (~/.kube/kindha-<cluster>.yaml)
  --wait SECONDS     bound of the wait for the controllers (default 300, at most 1800)
  -h, --help         this help`;

/** What `e2e/cluster-api.sh --print` names: the manager images by base name, CAPD's load balancer image, the components file. */
export function printedBuild(stdout: string): { managers: Record<string, string>; loadBalancer: string; components: string } {
  const lines = stdout.trim().split("\n");
  const components = lines.pop()!;
  const loadBalancer = lines.find((l) => imageBaseName(l) === "haproxy") ?? "";
  const managers = Object.fromEntries(lines.filter((l) => l !== loadBalancer).map((l) => [imageBaseName(l), l]));
  return { managers, loadBalancer, components };
}

/** The manager images and the components' text, once built (else the one line naming the command that builds them). */
async function built(deps: ToolDeps): Promise<{ images: Record<string, string>; components: string }> {
  const r = await deps.exec("bash", [join(projectRoot(), "e2e/cluster-api.sh"), "--print"], { env: deps.env, timeoutMs: 60_000 });
  if (r.code !== 0) throw new Error(`e2e/cluster-api.sh --print failed (exit ${r.code}): ${r.stderr.trim()}`);
  const { managers, components } = printedBuild(r.stdout);
  const missing: string[] = [];
  for (const image of Object.values(managers))
    if ((await deps.exec("docker", ["image", "inspect", image], { env: deps.env })).code !== 0) missing.push(image);
  if (missing.length > 0 || !deps.exists(components))
    throw new Error(`Cluster API's images or components are not built (${missing[0] ?? components}): run npm run e2e:cluster-api`);
  return { images: managers, components: readFileSync(components, "utf8") };
}

export async function main(argv: readonly string[], io: Io = processIo, given: Partial<ToolDeps> = {}): Promise<number> {
  return runTool(io, USAGE, argv, async () => {
    const { values, positionals } = parseToolArgs(argv, { kubeconfig: { type: "string" }, wait: { type: "string" } });
    if (positionals[0] !== "install")
      throw new UsageError(positionals[0] === undefined ? "missing the command (install)" : `unknown command ${positionals[0]} (install)`);
    const stack = singleStack(positionals.slice(1));
    const wait = waitSeconds(values.wait, 300);
    if (stack.definition.clusterApiManagement !== true) {
      throw new UsageError(
        `stack ${stack.id} is not a management cluster: set clusterApiManagement: true for it in kindha.config.yaml and re-create it (its nodes need the Docker socket CAPD uses)`,
      );
    }
    const deps = toolDeps(given);
    const access = clusterAccess(stack, values.kubeconfig, deps);
    const { images, components } = await built(deps);
    return withPrivateTempDir("kindha-capi-", async (workDir) => {
      const ctx = {
        ...access,
        env: deps.env,
        stackId: stack.id,
        clusterName: stack.topology.clusterName,
        components,
        images,
        workDir,
        waitMs: wait * 1000,
        clock: deps.clock,
      };
      io.out(`cluster-api: installing Cluster API into stack ${stack.id} (cluster ${ctx.clusterName})`);
      const report = await runSteps(installSteps(ctx), ctx, (l) => io.out(l), deps.clock);
      io.out(report.ok ? "cluster-api: the management cluster is ready" : "cluster-api: install FAILED");
      return report.ok ? EXIT.ok : EXIT.failed;
    });
  });
}

if (require.main === module) runMain(main);
