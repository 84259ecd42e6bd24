/**
 * Restore of an etcd snapshot into a freshly created kind cluster of a stack, as checked steps.
 *
 * Per control plane: copy the snapshot into the node container, stop kubelet and then the etcd
 * and API server containers (with kubelet stopped nothing restarts them), `etcdutl snapshot
 * restore` with the full --initial-cluster (run from the etcd image with the node's containerd,
 * since the image itself is distroless and the node has no etcdutl), swap data dirs, start kubelet:
 * it starts etcd and the API server again at once, the API server's cache empty. Then restart the
 * workers' kubelets so they re-register, drop nodes the stack does not have, and verify.
 */
import { existsSync } from "node:fs";
import type { Topology } from "../model/topology";
import { lastLine } from "../io/exec";
import { ROLE_LABEL } from "../model/defaults";
import { hostPort } from "../model/util";
import { ClusterClient, type ClusterOpsContext } from "./client";
import { NODE_RESTORE_DIR, restoreVolumes } from "./data";
import { barePods, CONTROL_PLANE_LABEL, parseNodes, parseWorkloads } from "./kube";
import { failed, failedCommand, ok, pollUntil, type Step } from "./steps";
import { checkControlPlaneCount, checkControlPlanesReady, renderChecks, STEADY_MS, waitForSteadyVerify } from "./verify";

export const ETCD_DATA_DIR = "/var/lib/etcd";

export interface RestoreContext extends ClusterOpsContext {
  readonly stackId: string;
  /** Local snapshot file (absolute). */
  readonly snapshot: string;
  /** UTC stamp naming the previous data dir kept on each node. */
  readonly stamp: string;
  /** Bound of each wait, in ms. */
  readonly waitMs: number;
  /** Archive of the volumes to put back into the data directory first (backup --with-data). */
  readonly dataArchive?: string;
  /** Filled by the steps. */
  readonly ips: Map<string, string>;
  image?: string;
}


/** `name=https://ip:2380,...` of every control plane, in topology order. */
export function initialCluster(t: Topology, ips: ReadonlyMap<string, string>): string {
  return t.controlPlanes.map((cp) => `${cp.name}=${peerUrl(ips.get(cp.name) ?? "")}`).join(",");
}

function peerUrl(ip: string): string {
  return `https://${hostPort(ip, 2380)}`;
}

/** `ctr run` of the etcd image on a node: etcdutl snapshot restore into NODE_RESTORE_DIR/etcd. */
export function restoreCommand(c: RestoreContext, index: number): string[] {
  const node = c.topology.controlPlanes[index].name;
  const ip = c.ips.get(node) ?? "";
  return [
    "exec", node, "ctr", "-n", "k8s.io", "run", "--rm",
    "--mount", `type=bind,src=${NODE_RESTORE_DIR},dst=${NODE_RESTORE_DIR},options=rbind:rw`,
    c.image ?? "", `kindha-restore-${index}-${c.stamp.toLowerCase()}`,
    "etcdutl", "snapshot", "restore", `${NODE_RESTORE_DIR}/snapshot.db`,
    "--name", node, "--initial-cluster", initialCluster(c.topology, c.ips),
    "--initial-advertise-peer-urls", peerUrl(ip), "--data-dir", `${NODE_RESTORE_DIR}/etcd`,
    // Revisions jump past any a client has seen and old ones read as compacted, so every watch
    // and cache re-lists instead of trusting revisions from before the restore.
    "--bump-revision", "1000000000", "--mark-compacted",
  ];
}

/** Node names the API lists that the stack's topology does not have. */
export function staleNodes(t: Topology, nodesJson: string): string[] {
  const want = new Set(t.nodes.map((n) => n.name));
  return parseNodes(nodesJson).map((n) => n.name).filter((n) => !want.has(n));
}

/** Static pods stopped with kubelet; kubelet starts them again when it starts. */
const STOPPED_PODS = ["etcd", "kube-apiserver"];

const undoHint = (c: RestoreContext) =>
  `kubelet (and with it etcd and the API server) may be stopped on the control planes (${c.topology.controlPlanes.map((n) => n.name).join(", ")}); ` +
  `start it where it is: ${c.containerCli} exec <node> systemctl start kubelet`;

/** Puts the archived volumes into the data directory (every node mounts it) before etcd is restored. */
function volumesStep(c: RestoreContext, k: ClusterClient, node: string, archive: string): Step<RestoreContext> {
  return {
    name: `put the volumes back from ${archive}`,
    next: "nothing of etcd changed yet; what the data directory held before is in its .kindha-before-restore-* directory, if anything",
    run: async () => {
      const aside = await restoreVolumes(k, node, archive, c.stamp);
      return ok(aside ? `what was there before is kept in ${aside} (inside the nodes; in the data directory on the host)` : "the data directory was empty");
    },
  };
}

/** The restore steps, in order. Pure: nothing runs until {@link runSteps} calls them. */
export function restoreSteps(c: RestoreContext): Step<RestoreContext>[] {
  const cps = c.topology.controlPlanes.map((n) => n.name);
  const first = cps[0];
  const k = new ClusterClient(c);
  const kubectl = k.kubectlWith(120_000);
  const inNode = (node: string, ...args: string[]) => k.inNode(node, args);
  const etcdRunning = async (node: string) => (await k.runningContainer(node, "etcd")) !== undefined;
  const perNode = (name: (n: string) => string, body: (n: string, i: number) => Promise<ReturnType<typeof ok>>, next: Step<RestoreContext>["next"]) =>
    cps.map((node, i): Step<RestoreContext> => ({ name: name(node), run: () => body(node, i), next }));

  return [
    {
      name: `check snapshot ${c.snapshot}`,
      next: "pick a snapshot that `scripts/etcd.sh snapshot-status FILE` reads (npm run backup writes them to the backup dir)",
      run: async () => {
        if (!existsSync(c.snapshot)) return failed(`${c.snapshot} does not exist`);
        const s = await k.snapshotStatus(c.snapshot, first);
        return s.totalKey > 0 ? ok(`${s.totalKey} keys, revision ${s.revision}`) : failed("the snapshot holds no keys");
      },
    },
    {
      name: `check the cluster is a fresh ${c.stackId}`,
      next: `create the cluster first: npx cdktf deploy ${c.stackId} --auto-approve`,
      run: async () => {
        const r = await kubectl("get", "nodes", "-o", "json");
        const checks = [checkControlPlaneCount(c.topology, r), checkControlPlanesReady(c.topology, r)];
        const bad = checks.find((x) => !x.ok);
        if (bad) return failed(`${bad.check}: ${bad.reason}`);
        for (const n of parseNodes(r.stdout)) if (n.internalIp && cps.includes(n.name)) c.ips.set(n.name, n.internalIp);
        const missing = cps.filter((n) => !c.ips.has(n));
        if (missing.length > 0) return failed(`no InternalIP for ${missing.join(", ")}`);
        return ok(cps.map((n) => `${n}=${c.ips.get(n)}`).join(", "));
      },
    },
    {
      name: `find the etcd image of etcd-${first}`,
      next: "check `kubectl -n kube-system get pod etcd-<node> -o yaml`; the etcd static pod must be running",
      run: async () => {
        const r = await kubectl("-n", "kube-system", "get", "pod", `etcd-${first}`, "-o", "jsonpath={.spec.containers[0].image}");
        if (r.code !== 0 || r.stdout.trim() === "") return failedCommand("reading the etcd image", r);
        c.image = r.stdout.trim();
        return ok(c.image);
      },
    },
    ...(c.dataArchive ? [volumesStep(c, k, first, c.dataArchive)] : []),
    ...perNode(
      (n) => `copy the snapshot into ${n}`,
      async (node) => {
        for (const args of [["exec", node, "rm", "-rf", `${NODE_RESTORE_DIR}/etcd`], ["exec", node, "mkdir", "-p", NODE_RESTORE_DIR]]) {
          const r = await k.containers(args);
          if (r.code !== 0) return failedCommand(args.slice(2).join(" "), r);
        }
        const r = await k.containers(["cp", c.snapshot, `${node}:${NODE_RESTORE_DIR}/snapshot.db`]);
        return r.code === 0 ? ok() : failedCommand(`${c.containerCli} cp`, r);
      },
      "nothing changed on the nodes yet; fix the container CLI access and run restore again",
    ),
    ...perNode(
      (n) => `stop kubelet, etcd and the API server on ${n}`,
      async (node) => {
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
        const last = await pollUntil(async () => ({ done: !(await etcdRunning(node)) }), { timeoutMs: c.waitMs, intervalMs: 2_000, clock: c.clock });
        return last.done ? ok() : failed(`etcd still runs on ${node} after ${c.waitMs / 1000}s`);
      },
      undoHint,
    ),
    ...perNode(
      (n) => `restore member ${n} from the snapshot`,
      async (node, i) => {
        const r = await k.containers(restoreCommand(c, i), 300_000);
        return r.code === 0 ? ok(`${NODE_RESTORE_DIR}/etcd on ${node}`) : failedCommand("etcdutl snapshot restore", r);
      },
      (ctx) => `${undoHint(ctx)}; data dirs are untouched so far`,
    ),
    ...perNode(
      (n) => `swap data dirs on ${n} (previous one kept)`,
      async (node) => {
        const keep = `${NODE_RESTORE_DIR}/etcd-before-${c.stamp}`;
        const a = await inNode(node, "mv", ETCD_DATA_DIR, keep);
        if (a.code !== 0) return failedCommand(`mv ${ETCD_DATA_DIR}`, a);
        const b = await inNode(node, "mv", `${NODE_RESTORE_DIR}/etcd`, ETCD_DATA_DIR);
        return b.code === 0 ? ok(`previous data dir: ${keep}`) : failedCommand(`mv ${NODE_RESTORE_DIR}/etcd`, b);
      },
      (ctx) => `the previous data dirs are at ${NODE_RESTORE_DIR}/etcd-before-${ctx.stamp} on the nodes already swapped; move them back to ${ETCD_DATA_DIR}, then: ${undoHint(ctx)}`,
    ),
    ...perNode(
      (n) => `start kubelet on ${n} (it starts etcd and the API server again)`,
      async (node) => {
        const r = await inNode(node, "systemctl", "start", "kubelet");
        return r.code === 0 ? ok() : failedCommand("systemctl start kubelet", r);
      },
      undoHint,
    ),
    {
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
    },
    {
      name: "wait for the API and a healthy etcd",
      next: `run npm run verify -- ${c.stackId} to see what is missing`,
      run: async () => {
        const last = await pollUntil(
          async () => {
            const r = await k.readyz(c.topology.api.url, { timeoutMs: 120_000 });
            if (r.code !== 0) return { done: false, why: `API: ${lastLine(r)}` };
            const got = await k.etcdHealth(first, cps.length);
            if (!("report" in got)) return { done: false, why: `etcd: ${lastLine(got.result)}` };
            return { done: got.report.state === "healthy", why: got.report.message };
          },
          { timeoutMs: c.waitMs, intervalMs: 2_000, clock: c.clock },
        );
        return last.done ? ok(last.why) : failed(last.why);
      },
    },
    {
      name: "restart the workers' kubelets so they register with the restored API state",
      next: `restart them by hand: ${c.containerCli} exec <node> systemctl restart kubelet`,
      run: async () => {
        for (const n of c.topology.workers) {
          const r = await inNode(n.name, "systemctl", "restart", "kubelet");
          if (r.code !== 0) return failedCommand(`restarting kubelet on ${n.name}`, r);
        }
        return ok(`${c.topology.workers.length} workers`);
      },
    },
    {
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
    },
    {
      name: `label and taint the nodes as stack ${c.stackId} plans them`,
      next: `label them by hand: kubectl label node <node> ${ROLE_LABEL}=<role> --overwrite (control planes also node-role.kubernetes.io/control-plane=); remove ${ROLE_LABEL} taints from nodes that are not infrastructure (kubectl taint node <node> ${ROLE_LABEL}-)`,
      run: async () => {
        // A snapshot of another topology holds the node objects (labels and taints) of that
        // topology: ha-option-a's infrastructure worker restored into single would keep repelling
        // every pod. kubelet sets labels only when it registers a new node, and kubeadm marks
        // control planes only when they join.
        for (const n of c.topology.nodes) {
          const labels = [`${ROLE_LABEL}=${n.role}`, ...(n.role === "control-plane" ? [`${CONTROL_PLANE_LABEL}=`] : [])];
          const r = await kubectl("label", "node", n.name, ...labels, "--overwrite");
          if (r.code !== 0) return failedCommand(`kubectl label node ${n.name}`, r);
          // kind keeps control planes tainted when the cluster has workers (every stack here does).
          if (n.role === "control-plane" && c.topology.workers.length > 0) {
            const t = await kubectl("taint", "node", n.name, `${CONTROL_PLANE_LABEL}:NoSchedule`, "--overwrite");
            if (t.code !== 0) return failedCommand(`kubectl taint node ${n.name}`, t);
          }
          // The infrastructure taint is the stack's NodeTaint's (Terraform, field manager kindha):
          // restore only removes one the stack does not plan, and `cdktf deploy` puts back its own.
          if (!n.taints.some((t) => t.key === ROLE_LABEL)) {
            const t = await kubectl("taint", "node", n.name, `${ROLE_LABEL}-`);
            // Removing a taint the node does not have is what a fresh node answers: not found.
            if (t.code !== 0 && !/not found/.test(t.stderr)) return failedCommand(`kubectl taint node ${n.name} ${ROLE_LABEL}-`, t);
          }
        }
        return ok(`${c.topology.nodes.length} nodes`);
      },
    },
    {
      name: "restart every Deployment, DaemonSet and StatefulSet, so their pods trust this cluster's certificates",
      next: `restart them by hand once kube-root-ca.crt holds this cluster's CA: kubectl -n <namespace> rollout restart <kind>/<name>`,
      run: async () => {
        // A fresh cluster has a new CA and service-account key; the snapshot's pods were started
        // with the old ones, and clients such as CoreDNS keep the CA they loaded. The controller
        // manager publishes the new CA into every namespace's kube-root-ca.crt first.
        const ca = await inNode(first, "cat", "/etc/kubernetes/pki/ca.crt");
        if (ca.code !== 0) return failedCommand(`reading the cluster CA on ${first}`, ca);
        const published = await pollUntil(
          async () => {
            const r = await kubectl("-n", "kube-system", "get", "configmap", "kube-root-ca.crt", "-o", "jsonpath={.data.ca\\.crt}");
            return { done: r.code === 0 && r.stdout.trim() === ca.stdout.trim() };
          },
          { timeoutMs: c.waitMs, intervalMs: 2_000, clock: c.clock },
        );
        if (!published.done) return failed(`kube-root-ca.crt in kube-system does not hold this cluster's CA after ${c.waitMs / 1000}s`);
        const listed = await kubectl("get", "deployments,statefulsets,daemonsets", "-A", "-o", "json");
        if (listed.code !== 0) return failedCommand("listing the workloads", listed);
        const workloads = parseWorkloads(listed.stdout);
        for (const w of workloads) {
          const r = await kubectl("-n", w.namespace, "rollout", "restart", `${w.kind.toLowerCase()}/${w.name}`);
          if (r.code !== 0) return failedCommand(`kubectl rollout restart ${w.kind.toLowerCase()}/${w.name}`, r);
        }
        const pods = await kubectl("get", "pods", "-A", "-o", "json");
        const bare = pods.code === 0 ? barePods(pods.stdout) : [];
        return ok(`${workloads.length} restarted${bare.length > 0 ? `; pods with no controller keep the old certificates until you re-create them: ${bare.join(", ")}` : ""}`);
      },
    },
    {
      name: `verify stack ${c.stackId}, passing for ${STEADY_MS / 1000} s in a row`,
      next: `run npm run verify -- ${c.stackId} again in a minute; static pods and endpoints settle after kubelets restart`,
      run: async () => {
        const last = await waitForSteadyVerify(c.topology, c, { timeoutMs: c.waitMs, intervalMs: 3_000, holdMs: STEADY_MS, clock: c.clock });
        c.log(renderChecks(last.results).replace(/^/gm, "      "));
        return last.done ? ok() : failed(last.results.filter((r) => !r.ok).map((r) => r.check).join(", "));
      },
    },
  ];
}
