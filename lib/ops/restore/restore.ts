/**
 * Restore of an etcd snapshot into a freshly created kind cluster of a stack, as checked steps.
 *
 * Per control plane: copy the snapshot into the node container, stop kubelet and then the etcd
 * and API server containers (with kubelet stopped nothing restarts them), `etcdutl snapshot
 * restore` with the full --initial-cluster (run from the etcd image with the node's containerd,
 * since the image itself is distroless and the node has no etcdutl), swap data dirs, start kubelet:
 * it starts etcd and the API server again at once, the API server's cache empty. Then restart the
 * workers' kubelets so they re-register, drop nodes the stack does not have, re-create the
 * workloads' pods, and verify.
 *
 * Each step is a named function of what the steps share ({@link Env}); the two whose results
 * later steps need write them to the context's typed fields (`ips`, `image`). The pure half is
 * plan.ts beside it. Over 300 lines because it holds one function per step, 16 of them.
 */
import { existsSync } from "node:fs";
import { lastLine, type CommandResult } from "../../io/exec";
import { ROLE_LABEL } from "../../model/defaults";
import { ClusterClient } from "../client";
import { NODE_RESTORE_DIR, readVolumesOnHost, restoreVolumes, retainVolumes, setAsideData } from "../data";
import { parseNodes, podsByOwner, podsWithClaims } from "../kube";
import { failed, failedCommand, ok, pollUntil, runSteps, type Step, type StepReport } from "../steps";
import type { ClusterOpsContext } from "../client";
import { utcStamp } from "../../model/util";
import { checkControlPlaneCount, checkControlPlanesReady, STEADY_MS, verifyStepResult, waitForSteadyVerify } from "../verify";

import { ETCD_DATA_DIR, nodeMarks, restoreCommand, staleNodes, type RestoreContext } from "./plan";

/** Static pods stopped with kubelet; kubelet starts them again when it starts. */
const STOPPED_PODS = ["etcd", "kube-apiserver"];

const undoHint = (c: RestoreContext) =>
  `kubelet (and with it etcd and the API server) may be stopped on the control planes (${c.topology.controlPlanes.map((n) => n.name).join(", ")}); ` +
  `start it where it is: ${c.containerCli} exec <node> systemctl start kubelet`;

/** What the steps share: the context, its one client, and kubectl with restore's bound. */
interface Env {
  readonly c: RestoreContext;
  readonly k: ClusterClient;
  readonly kubectl: (...args: string[]) => Promise<CommandResult>;
  readonly inNode: (node: string, ...args: string[]) => Promise<CommandResult>;
  readonly cps: readonly string[];
  readonly etcdRunning: (node: string) => Promise<boolean>;
}

function checkSnapshot({ c, k, cps }: Env): Step<RestoreContext> {
  return {
    name: `check snapshot ${c.snapshot}`,
    next: "pick a snapshot that `scripts/etcd.sh snapshot-status FILE` reads (npm run backup writes them to the backup dir)",
    run: async () => {
      if (!existsSync(c.snapshot)) return failed(`${c.snapshot} does not exist`);
      const s = await k.snapshotStatus(c.snapshot, cps[0]);
      return s.totalKey > 0 ? ok(`${s.totalKey} keys, revision ${s.revision}`) : failed("the snapshot holds no keys");
    },
  };
}

/** Output: `c.ips`, each control plane's InternalIP (the peer URLs of the restored members). */
function checkFreshCluster({ c, kubectl, cps }: Env): Step<RestoreContext> {
  return {
    name: `check the cluster is a fresh ${c.stackId}`,
    next: `create the cluster first: npx cdktf deploy ${c.stackId} --auto-approve`,
    run: async () => {
      const r = await kubectl("get", "nodes", "-o", "json");
      const bad = [checkControlPlaneCount(c.topology, r), checkControlPlanesReady(c.topology, r)].find((x) => !x.ok);
      if (bad) return failed(`${bad.check}: ${bad.reason}`);
      for (const n of parseNodes(r.stdout)) if (n.internalIp && cps.includes(n.name)) c.ips.set(n.name, n.internalIp);
      const missing = cps.filter((n) => !c.ips.has(n));
      if (missing.length > 0) return failed(`no InternalIP for ${missing.join(", ")}`);
      return ok(cps.map((n) => `${n}=${c.ips.get(n)}`).join(", "));
    },
  };
}

/** Output: `c.image`, the etcd image the members are restored with. */
function findEtcdImage({ c, kubectl, cps }: Env): Step<RestoreContext> {
  return {
    name: `find the etcd image of etcd-${cps[0]}`,
    next: "check `kubectl -n kube-system get pod etcd-<node> -o yaml`; the etcd static pod must be running",
    run: async () => {
      const r = await kubectl("-n", "kube-system", "get", "pod", `etcd-${cps[0]}`, "-o", "jsonpath={.spec.containers[0].image}");
      if (r.code !== 0 || r.stdout.trim() === "") return failedCommand("reading the etcd image", r);
      c.image = r.stdout.trim();
      return ok(c.image);
    },
  };
}

/**
 * Puts the archived volumes into the data directory (every node mounts it) before etcd is
 * restored; refused while a pod uses a claim, since its volume would change under it.
 */
function restoreVolumesStep({ c, k, kubectl, cps }: Env, archive: string, dataDir: string): Step<RestoreContext> {
  return {
    name: `put the volumes back from ${archive}`,
    next: `nothing was changed: scale down what uses the claims (kubectl -n <namespace> scale deployment|statefulset/<name> --replicas=0; delete a bare pod), then run restore again`,
    run: async () => {
      const pods = await kubectl("get", "pods", "-A", "-o", "json");
      if (pods.code !== 0) return failedCommand("listing the pods that use claims", pods);
      const users = podsWithClaims(pods.stdout).filter((p) => p.phase !== "Succeeded" && p.phase !== "Failed");
      if (users.length > 0)
        return failed(
          `${users.length} pod(s) use claims and would see their volumes change under them: ${users.map((p) => `${p.namespace}/${p.name}${p.owner ? ` (${p.owner})` : ""}`).join(", ")}`,
        );
      const aside = setAsideData(dataDir, c.stamp);
      await restoreVolumes(k, cps[0], archive);
      return ok(aside ? `what ${dataDir} held before is kept in ${aside}` : `${dataDir} was empty`);
    },
  };
}

function copySnapshot({ c, k }: Env, node: string): Step<RestoreContext> {
  return {
    name: `copy the snapshot into ${node}`,
    next: "nothing changed on the nodes yet; fix the container CLI access and run restore again",
    run: async () => {
      for (const args of [
        ["exec", node, "rm", "-rf", `${NODE_RESTORE_DIR}/etcd`],
        ["exec", node, "mkdir", "-p", NODE_RESTORE_DIR],
      ]) {
        const r = await k.containers(args);
        if (r.code !== 0) return failedCommand(args.slice(2).join(" "), r);
      }
      const r = await k.containers(["cp", c.snapshot, `${node}:${NODE_RESTORE_DIR}/snapshot.db`]);
      return r.code === 0 ? ok() : failedCommand(`${c.containerCli} cp`, r);
    },
  };
}

function stopControlPlane({ c, inNode, etcdRunning }: Env, node: string): Step<RestoreContext> {
  return {
    name: `stop kubelet, etcd and the API server on ${node}`,
    next: undoHint,
    run: async () => {
      // kubelet first: while it runs it would start the stopped containers again.
      const stop = await inNode(node, "systemctl", "stop", "kubelet");
      if (stop.code !== 0) return failedCommand("systemctl stop kubelet", stop);
      for (const name of STOPPED_PODS) {
        const ids = await inNode(node, "crictl", "ps", "-q", "--name", `^${name}$`);
        if (ids.code !== 0) return failedCommand(`crictl ps on ${node}`, ids);
        for (const id of ids.stdout.split("\n").filter(Boolean)) {
          const r = await inNode(node, "crictl", "stop", id);
          if (r.code !== 0) return failedCommand(`stopping ${name} on ${node}`, r);
        }
      }
      const last = await pollUntil(async () => ({ done: !(await etcdRunning(node)) }), {
        timeoutMs: c.waitMs,
        intervalMs: 2_000,
        clock: c.clock,
      });
      return last.done ? ok() : failed(`etcd still runs on ${node} after ${c.waitMs / 1000}s`);
    },
  };
}

function restoreMember({ c, k }: Env, node: string, index: number): Step<RestoreContext> {
  return {
    name: `restore member ${node} from the snapshot`,
    next: (ctx) => `${undoHint(ctx)}; data dirs are untouched so far`,
    run: async () => {
      const r = await k.containers(restoreCommand(c, index), 300_000);
      return r.code === 0 ? ok(`${NODE_RESTORE_DIR}/etcd on ${node}`) : failedCommand("etcdutl snapshot restore", r);
    },
  };
}

function swapDataDir({ c, inNode }: Env, node: string): Step<RestoreContext> {
  return {
    name: `swap data dirs on ${node} (previous one kept)`,
    next: (ctx) =>
      `the previous data dirs are at ${NODE_RESTORE_DIR}/etcd-before-${ctx.stamp} on the nodes already swapped; move them back to ${ETCD_DATA_DIR}, then: ${undoHint(ctx)}`,
    run: async () => {
      const keep = `${NODE_RESTORE_DIR}/etcd-before-${c.stamp}`;
      const a = await inNode(node, "mv", ETCD_DATA_DIR, keep);
      if (a.code !== 0) return failedCommand(`mv ${ETCD_DATA_DIR}`, a);
      const b = await inNode(node, "mv", `${NODE_RESTORE_DIR}/etcd`, ETCD_DATA_DIR);
      return b.code === 0 ? ok(`previous data dir: ${keep}`) : failedCommand(`mv ${NODE_RESTORE_DIR}/etcd`, b);
    },
  };
}

function startKubelet({ inNode }: Env, node: string): Step<RestoreContext> {
  return {
    name: `start kubelet on ${node} (it starts etcd and the API server again)`,
    next: undoHint,
    run: async () => {
      const r = await inNode(node, "systemctl", "start", "kubelet");
      return r.code === 0 ? ok() : failedCommand("systemctl start kubelet", r);
    },
  };
}

function waitForEtcd({ c, cps, etcdRunning }: Env): Step<RestoreContext> {
  return {
    name: "wait for etcd to run on every control plane",
    next: `look at ${c.containerCli} exec <node> crictl logs $(crictl ps -a -q --name etcd); the previous data dirs are in ${NODE_RESTORE_DIR} on each node`,
    run: async () => {
      const last = await pollUntil(
        async () => {
          const states = await Promise.all(cps.map((n) => etcdRunning(n)));
          return { done: states.every((s) => s === true), down: cps.filter((_, i) => states[i] !== true) };
        },
        { timeoutMs: c.waitMs, intervalMs: 2_000, clock: c.clock },
      );
      return last.done ? ok() : failed(`etcd not running on ${last.down.join(", ")}`);
    },
  };
}

function waitForApi({ c, k, cps }: Env): Step<RestoreContext> {
  return {
    name: "wait for the API and a healthy etcd",
    next: `run npm run verify -- ${c.stackId} to see what is missing`,
    run: async () => {
      const last = await pollUntil(
        async () => {
          const r = await k.readyz(c.topology.api.url, { timeoutMs: 120_000 });
          if (r.code !== 0) return { done: false, why: `API: ${lastLine(r)}` };
          const got = await k.etcdHealth(cps[0], cps.length);
          if (!("report" in got)) return { done: false, why: `etcd: ${lastLine(got.result)}` };
          return { done: got.report.state === "healthy", why: got.report.message };
        },
        { timeoutMs: c.waitMs, intervalMs: 2_000, clock: c.clock },
      );
      return last.done ? ok(last.why) : failed(last.why);
    },
  };
}

function restartWorkerKubelets({ c, inNode }: Env): Step<RestoreContext> {
  return {
    name: "restart the workers' kubelets so they register with the restored API state",
    next: `restart them by hand: ${c.containerCli} exec <node> systemctl restart kubelet`,
    run: async () => {
      for (const n of c.topology.workers) {
        const r = await inNode(n.name, "systemctl", "restart", "kubelet");
        if (r.code !== 0) return failedCommand(`restarting kubelet on ${n.name}`, r);
      }
      return ok(`${c.topology.workers.length} workers`);
    },
  };
}

function removeStaleNodes({ c, kubectl }: Env): Step<RestoreContext> {
  return {
    name: `remove nodes that are not in stack ${c.stackId}`,
    next: "list them with kubectl get nodes and delete the ones the stack does not define",
    run: async () => {
      const want = c.topology.nodes.map((n) => n.name);
      const last = await pollUntil(
        async () => {
          const r = await kubectl("get", "nodes", "-o", "json");
          if (r.code !== 0) return { done: false, nodes: "", why: lastLine(r) };
          const have = parseNodes(r.stdout).map((n) => n.name);
          const missing = want.filter((n) => !have.includes(n));
          return { done: missing.length === 0, nodes: r.stdout, why: `not registered: ${missing.join(", ")}` };
        },
        { timeoutMs: c.waitMs, intervalMs: 5_000, clock: c.clock },
      );
      if (!last.done) return failed(last.why);
      const stale = staleNodes(c.topology, last.nodes);
      for (const n of stale) {
        const r = await kubectl("delete", "node", n);
        if (r.code !== 0) return failedCommand(`kubectl delete node ${n}`, r);
      }
      return ok(stale.length === 0 ? "none" : `deleted ${stale.join(", ")}`);
    },
  };
}

function markNodes({ c, kubectl }: Env): Step<RestoreContext> {
  return {
    name: `label and taint the nodes as stack ${c.stackId} plans them`,
    next: `label them by hand: kubectl label node <node> ${ROLE_LABEL}=<role> --overwrite (control planes also node-role.kubernetes.io/control-plane=); remove ${ROLE_LABEL} taints from nodes that are not infrastructure (kubectl taint node <node> ${ROLE_LABEL}-)`,
    run: async () => {
      for (const m of nodeMarks(c.topology)) {
        const r = await kubectl(...m.label);
        if (r.code !== 0) return failedCommand(`kubectl label node ${m.node}`, r);
        if (m.taint) {
          const t = await kubectl(...m.taint);
          if (t.code !== 0) return failedCommand(`kubectl taint node ${m.node}`, t);
        }
        if (m.untaint) {
          const t = await kubectl(...m.untaint);
          // Removing a taint the node does not have is what a fresh node answers: not found.
          if (t.code !== 0 && !/not found/.test(t.stderr)) return failedCommand(`kubectl taint node ${m.node} ${ROLE_LABEL}-`, t);
        }
      }
      return ok(`${c.topology.nodes.length} nodes`);
    },
  };
}

function restartWorkloads({ c, kubectl, inNode, cps }: Env): Step<RestoreContext> {
  return {
    name: "re-create the pods of every Deployment, DaemonSet and StatefulSet, so they trust this cluster's certificates",
    next: `re-create them by hand once kube-root-ca.crt holds this cluster's CA: kubectl -n <namespace> delete pod <name>`,
    run: async () => {
      // A fresh cluster has a new CA and service-account key; the snapshot's pods were started
      // with the old ones, and clients such as CoreDNS keep the CA they loaded. The controller
      // manager publishes the new CA into every namespace's kube-root-ca.crt first.
      const ca = await inNode(cps[0], "cat", "/etc/kubernetes/pki/ca.crt");
      if (ca.code !== 0) return failedCommand(`reading the cluster CA on ${cps[0]}`, ca);
      const published = await pollUntil(
        async () => {
          const r = await kubectl("-n", "kube-system", "get", "configmap", "kube-root-ca.crt", "-o", "jsonpath={.data.ca\\.crt}");
          return { done: r.code === 0 && r.stdout.trim() === ca.stdout.trim() };
        },
        { timeoutMs: c.waitMs, intervalMs: 2_000, clock: c.clock },
      );
      if (!published.done) return failed(`kube-root-ca.crt in kube-system does not hold this cluster's CA after ${c.waitMs / 1000}s`);
      // Deleted at once, not rolled: nothing is served from a cluster being restored, and a rolling
      // restart would take each DaemonSet one node at a time. Their controllers re-create them.
      const pods = await kubectl("get", "pods", "-A", "-o", "json");
      if (pods.code !== 0) return failedCommand("listing the pods", pods);
      const { restarted: owned, bare } = podsByOwner(pods.stdout);
      for (const namespace of new Set(owned.map((p) => p.namespace))) {
        const names = owned.filter((p) => p.namespace === namespace).map((p) => p.name);
        // A pod its controller replaced since the listing is already re-created.
        const r = await kubectl("-n", namespace, "delete", "pod", "--wait=false", "--ignore-not-found", ...names);
        if (r.code !== 0) return failedCommand(`kubectl -n ${namespace} delete pod`, r);
      }
      return ok(
        `${owned.length} re-created${bare.length > 0 ? `; pods with no controller keep the old certificates until you re-create them: ${bare.join(", ")}` : ""}`,
      );
    },
  };
}

/**
 * The snapshot's volumes against the host data directory: each is kept on delete (Retain, also
 * for volumes an older class made), and each Bound one must find its directory, or its pod would
 * start on a new, empty one. Before the workloads restart.
 */
function checkVolumes({ c, k, cps }: Env): Step<RestoreContext> {
  return {
    name: "volumes: each kept on delete, each Bound one's directory on the host",
    next: c.dataArchive
      ? `the archive did not hold them; put each directory back under the data directory, then npm run verify -- ${c.stackId}`
      : `restore with the snapshot's data archive (npm run restore -- ${c.stackId} --snapshot <file> --with-data), or put each directory back under the data directory; their pods must not start on empty directories`,
    run: async () => {
      const found = await readVolumesOnHost(k, cps[0]);
      const retained = await retainVolumes(k, found.volumes);
      const kept = retained.length > 0 ? `; Retain set on ${retained.length}` : "";
      if (found.missing.length > 0)
        return failed(`${found.missing.length} of ${found.bound} volume(s) have no directory on the host: ${found.missing.join(", ")}`);
      const empty = found.empty.length > 0 ? `; empty: ${found.empty.join(", ")}` : "";
      return ok(`${found.bound} present${empty}${kept}`);
    },
  };
}

function steadyVerify({ c }: Env): Step<RestoreContext> {
  return {
    name: `verify stack ${c.stackId}, passing for ${STEADY_MS / 1000} s in a row`,
    next: `run npm run verify -- ${c.stackId} again in a minute; static pods and endpoints settle after kubelets restart`,
    run: async () => {
      const last = await waitForSteadyVerify(c.topology, c, { timeoutMs: c.waitMs, intervalMs: 3_000, holdMs: STEADY_MS, clock: c.clock });
      return verifyStepResult(last, c.log);
    },
  };
}

/** Once verified: the snapshot's copies and the previous data dirs (every Secret) leave the nodes. */
function removeLeftovers({ c, cps, inNode }: Env): Step<RestoreContext> {
  return {
    name: `remove the snapshot's copies and the previous data dirs (${NODE_RESTORE_DIR}) from the control planes`,
    next: `remove them by hand: ${c.containerCli} exec <node> rm -rf ${NODE_RESTORE_DIR}`,
    run: async () => {
      for (const node of cps) {
        const r = await inNode(node, "rm", "-rf", NODE_RESTORE_DIR);
        if (r.code !== 0) return failedCommand(`rm -rf ${NODE_RESTORE_DIR} on ${node}`, r);
      }
      return ok(`${cps.length} control planes`);
    },
  };
}

/** The restore steps, in order: each control plane's step of a kind before any of the next kind. Pure: nothing runs until runSteps calls them. */
export function restoreSteps(c: RestoreContext): Step<RestoreContext>[] {
  const k = new ClusterClient(c);
  const kubectl = k.kubectlWith(120_000);
  const e: Env = {
    c,
    k,
    kubectl,
    inNode: (node, ...args) => k.inNode(node, args),
    cps: c.topology.controlPlanes.map((n) => n.name),
    etcdRunning: async (node) => (await k.runningContainer(node, "etcd")) !== undefined,
  };
  const perNode = (step: (e: Env, node: string, i: number) => Step<RestoreContext>) => e.cps.map((node, i) => step(e, node, i));
  return [
    checkSnapshot(e),
    checkFreshCluster(e),
    findEtcdImage(e),
    ...(c.dataArchive ? [restoreVolumesStep(e, c.dataArchive.archive, c.dataArchive.dataDir)] : []),
    ...perNode(copySnapshot),
    ...perNode(stopControlPlane),
    ...perNode(restoreMember),
    ...perNode(swapDataDir),
    ...perNode(startKubelet),
    waitForEtcd(e),
    waitForApi(e),
    checkVolumes(e),
    restartWorkerKubelets(e),
    removeStaleNodes(e),
    markNodes(e),
    restartWorkloads(e),
    steadyVerify(e),
    removeLeftovers(e),
  ];
}

/** Seconds each wait of a restore may take unless --wait says otherwise. */
export const RESTORE_WAIT_S = 300;

/** Restores a snapshot into a cluster in this process, printing each step: what `npm run restore` runs, and migrate's restore step. */
export function restoreInto(
  base: ClusterOpsContext,
  o: {
    readonly stackId: string;
    readonly snapshot: string;
    readonly waitSeconds?: number;
    /** The `--with-data` archive, and the stack's data directory (`~/` expanded) to unpack it into. */
    readonly dataArchive?: { readonly archive: string; readonly dataDir: string };
  },
): Promise<StepReport> {
  const ctx: RestoreContext = {
    ...base,
    stackId: o.stackId,
    snapshot: o.snapshot,
    stamp: utcStamp(new Date(base.clock.now())),
    waitMs: (o.waitSeconds ?? RESTORE_WAIT_S) * 1000,
    ips: new Map(),
    ...(o.dataArchive ? { dataArchive: o.dataArchive } : {}),
  };
  return runSteps(restoreSteps(ctx), ctx, ctx.log, ctx.clock);
}
