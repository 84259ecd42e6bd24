/**
 * `renew-certs`: renews every certificate kubeadm wrote, one control plane at a time, and restarts
 * that node's control-plane components so they load them, with the checks of a rolling change:
 * the cluster verified and an etcd snapshot first; per node, etcd leadership moved away, the node
 * taken out of the load balancer, `kubeadm certs renew all`, etcd, kube-apiserver,
 * kube-controller-manager and kube-scheduler restarted in that order, each waited for, the node
 * put back; every member healthy before the next node. Stops at the first failure.
 */
import { kindLoadBalancerName } from "../../model/topology";
import { lastLine, type CommandResult } from "../../io/exec";
import { ClusterClient, type ClusterOpsContext } from "../client";
import { CERT_BUNDLE_SCRIPT, earliestCert, parseCertBundle } from "../certs";
import { leadershipAway, setBackends } from "../roll";
import { failed, failedCommand, ok, pollUntil, type Step } from "../steps";
import { LB_BACKENDS_CHECK, renderChecks, verifyOnce, verifyStepResult, waitForVerify } from "../verify";

/** The static pods kubeadm runs on a control plane, in the order they are restarted. */
export const COMPONENTS = ["etcd", "kube-apiserver", "kube-controller-manager", "kube-scheduler"] as const;
export type Component = (typeof COMPONENTS)[number];

/** How each component is judged back: etcd by its members, the others by their own health endpoint. */
const HEALTH: Record<Exclude<Component, "etcd">, string> = {
  "kube-apiserver": "https://127.0.0.1:6443/readyz",
  "kube-controller-manager": "https://127.0.0.1:10257/healthz",
  "kube-scheduler": "https://127.0.0.1:10259/healthz",
};

export interface RenewContext extends ClusterOpsContext {
  readonly stackId: string;
  /** Bound of each wait, in ms. */
  readonly waitMs: number;
  /** Where the snapshot taken first goes. */
  readonly backupDir: string;
  /** How long the load balancer gets to read a changed configuration (kind's Envoy and the stand-in poll about once a second). */
  readonly lbSettleMs: number;
  /** A node an interrupted renew-certs left out of the load balancer: renewed first. */
  readonly resuming?: string;
  /** Records that a node is out of the load balancer (undefined: back in); see roll-progress.ts. */
  readonly progress?: (node: string, out: boolean) => void;
  /** Filled by the steps. */
  snapshot?: string;
  earliestBefore?: Date;
}

/** The earliest expiry on one node, from {@link CERT_BUNDLE_SCRIPT}'s output; undefined when unreadable. */
export function earliestExpiry(bundle: CommandResult): Date | undefined {
  return bundle.code === 0 ? earliestCert(parseCertBundle(bundle.stdout))?.notAfter : undefined;
}

/** The steps, in order. Pure: nothing runs until runSteps calls them. */
export function renewSteps(c: RenewContext, order: readonly string[]): Step<RenewContext>[] {
  const k = new ClusterClient(c);
  const t = c.topology;
  const names = t.controlPlanes.map((n) => n.name);
  const lb = kindLoadBalancerName(t.clusterName);
  const bundle = (node: string) => k.inNode(node, ["sh", "-c", CERT_BUNDLE_SCRIPT], 30_000);

  return [
    {
      name: `verify stack ${c.stackId} before touching it`,
      next: `fix what verify names first (npm run verify -- ${c.stackId}); a rolling change on a degraded cluster can lose quorum`,
      run: async () => {
        const results = await verifyOnce(t, c);
        // The certificates may be what is wrong: that is what this renews; so is a node an
        // interrupted run left out of the load balancer.
        const mends = new Set(["control-plane certificates", ...(c.resuming ? [LB_BACKENDS_CHECK] : [])]);
        const bad = results.filter((r) => !r.ok && !mends.has(r.check));
        if (bad.length > 0) {
          c.log(renderChecks(results).replace(/^/gm, "      "));
          return failed(bad.map((r) => `${r.check}: ${r.reason}`).join("; "));
        }
        const dates = (await Promise.all(names.map(bundle))).map(earliestExpiry);
        const known = dates.filter((d): d is Date => d !== undefined);
        if (known.length > 0) c.earliestBefore = new Date(Math.min(...known.map((d) => d.getTime())));
        return ok(`earliest certificate expiry ${c.earliestBefore?.toISOString().slice(0, 10) ?? "unknown"}`);
      },
    },
    {
      name: "snapshot etcd first (scripts/etcd.sh backup)",
      next: "free space in the backup directory or check the first control plane's etcd, then run renew-certs again",
      run: async () => {
        c.snapshot = (await k.backup({ cluster: t.clusterName, stack: c.stackId, backupDir: c.backupDir, node: names[0] })).path;
        return ok(c.snapshot);
      },
    },
    ...order.map((node): Step<RenewContext> => ({
      name: `renew ${node}: certificates, then etcd, kube-apiserver, kube-controller-manager, kube-scheduler`,
      next: (ctx) =>
        `the other control planes are untouched and serve; look at ${node} (${c.containerCli} exec ${node} crictl ps -a), ` +
        `then run renew-certs again: renewing twice is harmless` +
        `${t.api.loadBalanced ? ` (a node taken out of ${lb} stays out until renew-certs or npm run recover writes kind's configuration back)` : ""}` +
        `${ctx.snapshot ? `; the snapshot taken first is ${ctx.snapshot}` : ""}`,
      run: () => renewNode(c, k, node, lb, bundle),
    })),
    {
      name: "refresh the kubeconfig's client certificate (kind export kubeconfig)",
      next: `run kind export kubeconfig --name ${t.clusterName} --kubeconfig ${c.kubeconfig} by hand`,
      run: async () => {
        const r = await c.exec("kind", ["export", "kubeconfig", "--name", t.clusterName, "--kubeconfig", c.kubeconfig], {
          env: c.env,
          timeoutMs: 60_000,
        });
        return r.code === 0 ? ok(c.kubeconfig) : failedCommand("kind export kubeconfig", r);
      },
    },
    {
      name: `verify stack ${c.stackId}`,
      next: `run npm run verify -- ${c.stackId} again in a minute`,
      run: async () => {
        const last = await waitForVerify(t, c, { timeoutMs: c.waitMs, intervalMs: 3_000, clock: c.clock });
        return verifyStepResult(last, c.log);
      },
    },
  ];
}

async function renewNode(
  c: RenewContext,
  k: ClusterClient,
  node: string,
  lb: string,
  bundle: (node: string) => Promise<CommandResult>,
): ReturnType<Step<RenewContext>["run"]> {
  const t = c.topology;
  const names = t.controlPlanes.map((n) => n.name);
  const done: string[] = [];
  const before = earliestExpiry(await bundle(node));

  const moved = await leadershipAway(k, t, node);
  if (moved) done.push(moved);
  if (t.api.loadBalanced) {
    const r = await setBackends(
      k,
      t,
      names.filter((n) => n !== node),
      c,
    );
    if (r.code !== 0) return failedCommand(`taking ${node} out of ${lb}`, r);
    done.push("out of the load balancer");
    c.progress?.(node, true);
  }
  const renew = await k.inNodeBounded(node, ["kubeadm", "certs", "renew", "all"], 120_000);
  if (renew.code !== 0) return failedCommand(`kubeadm certs renew all on ${node}`, renew);

  for (const component of COMPONENTS) {
    const restarted = await restartComponent(c, k, node, component);
    if (restarted) return failed(`${restarted} (${[...done, "certificates renewed"].join("; ")})`);
  }
  done.push(`certificates renewed; ${COMPONENTS.join(", ")} restarted`);

  if (t.api.loadBalanced) {
    const r = await setBackends(k, t, names, c);
    if (r.code !== 0) return failedCommand(`putting ${node} back into ${lb}`, r);
    done.push("back in the load balancer");
    c.progress?.(node, false);
  }
  const after = earliestExpiry(await bundle(node));
  if (!after || (before && after <= before))
    return failed(`the certificates on ${node} were not renewed (earliest expiry ${after?.toISOString() ?? "unreadable"})`);
  return ok(`${done.join("; ")}; earliest expiry now ${after.toISOString().slice(0, 10)}`);
}

/** Restarts one static pod's container and waits until it is back and healthy; a reason when not. */
async function restartComponent(c: RenewContext, k: ClusterClient, node: string, component: Component): Promise<string | undefined> {
  // A CRI that does not answer for a moment while a component restarts is waited for, not fatal.
  const running = () => k.runningContainer(node, component).catch(() => undefined);
  const old = await running();
  if (!old) return `no running ${component} container on ${node}`;
  const stop = await k.inNode(node, ["crictl", "stop", old], 120_000);
  if (stop.code !== 0) return `crictl stop ${component} on ${node}: ${lastLine(stop)}`;
  const back = await pollUntil(
    async () => {
      const id = await running();
      if (!id || id === old) return { done: false, why: `${component} not running again yet` };
      if (component === "etcd") {
        const why = await k.etcdUnhealthy(node, c.topology.etcd.members.length);
        return { done: why === undefined, why: why ?? "" };
      }
      const r = await k.inNode(node, ["curl", "-sk", "--max-time", "5", HEALTH[component]], 30_000);
      return r.code === 0 && r.stdout.trim() === "ok"
        ? { done: true, why: "" }
        : { done: false, why: `${HEALTH[component]}: ${lastLine(r) || r.stdout.trim()}` };
    },
    { timeoutMs: c.waitMs, intervalMs: 2_000, clock: c.clock },
  );
  return back.done ? undefined : `${component} on ${node} did not come back healthy: ${back.why}`;
}
