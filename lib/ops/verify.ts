/**
 * `verify`: checks a running kind cluster against its stack's topology.
 *
 * Each check is a pure function of the topology and recorded command output, so tests feed
 * recorded kubectl output; {@link collectVerifyInputs} is the thin layer that runs the commands.
 * Over 300 lines because it holds all fourteen checks side by side, each a short pure function.
 */
import { healthReportOf, printedHealthReport } from "../model/etcd";
import { hostPort } from "../model/util";
import { kindLoadBalancerName, type Topology } from "../model/topology";
import { lbBackends } from "../model/kind-lb-config";
import { readLbConfig } from "./lb";
import { ClusterClient, type ClusterAccess } from "./client";
import { lastLine, type CommandResult } from "../io/exec";
import { parseApiAddresses, parseClaims, parseNodes, parsePods, parseVolumes, parseWorkloads, type NodeInfo } from "./kube";
import { listVolumeDirs, parseVolumeDirs, volumesOnHost } from "./data";
import { NODE_DATA_DIR } from "../model/storage";
import { failed, ok, pollUntil, type Clock, type StepResult } from "./steps";
import { CERT_BUNDLE_SCRIPT, earliestCert, ETCD_SERVER_BUNDLE_NAME, fileOfBundle, memberAddresses, parseCertBundle } from "./certs";
import { renderTable } from "./table";
import { hostsEntryDir, REGISTRY, registryEndpoint, type PlannedRegistry } from "../model/registry";

/** One row of the verify table. */
export interface CheckResult {
  readonly check: string;
  readonly ok: boolean;
  readonly reason: string;
  /** Passes, but needs the user soon (shown as `warn`). */
  readonly warn?: boolean;
}

/**
 * How long verify must keep passing before recover and restore call the cluster back: right after
 * nodes or kubelets restart, pods show their old Ready status until each kubelet has synced them
 * (see waitForSteadyVerify).
 */
export const STEADY_MS = 30_000;

/** Verify warns when the earliest control-plane certificate expires within this many days. */
export const CERT_WARN_DAYS = 30;

/** The command output verify judges; each is one command's result. */
export interface VerifyInputs {
  /** `kubectl get nodes -o json` */
  readonly nodes: CommandResult;
  /** `kubectl -n kube-system get pods -l component=etcd -o json` */
  readonly etcdPods: CommandResult;
  /** `kubectl -n default get endpointslices -l kubernetes.io/service-name=kubernetes -o json` */
  readonly apiEndpoints: CommandResult;
  /** `scripts/etcd.sh --mode kind ... health --expect N` */
  readonly etcdHealth: CommandResult;
  /** `kubectl --server <topology.api.url> get --raw /readyz` */
  readonly readyz: CommandResult;
  /** `docker inspect` of each control plane's address, by node name. */
  readonly nodeAddresses: ReadonlyMap<string, CommandResult>;
  /** `docker exec <node> cat` of each control plane's etcd serving certificate, by node name. */
  readonly etcdCerts: ReadonlyMap<string, CommandResult>;
  /** `kubectl get pvc -A -o json` */
  readonly claims: CommandResult;
  /** `kubectl get deployments,statefulsets,daemonsets -A -o json` */
  readonly workloads: CommandResult;
  /** `kubectl get pv -o json` */
  readonly volumes: CommandResult;
  /** VOLUME_DIRS_SCRIPT in the first control plane: the claim directories of the host data directory. */
  readonly volumeDirs: CommandResult;
  /** `docker exec <kind's load balancer> cat` of its cluster configuration; absent with one control plane. */
  readonly lbConfig?: CommandResult;
  /** `docker exec <node> sh -c CERT_BUNDLE_SCRIPT` of each control plane, by node name. */
  readonly certBundles: ReadonlyMap<string, CommandResult>;
  /** The machine's registry the stack uses, and each node's `sh -c REGISTRY_SCRIPT`, by node name; absent: none. */
  readonly registry?: { readonly planned: PlannedRegistry; readonly answers: ReadonlyMap<string, CommandResult> };
  /** When the inputs were collected (ms since the epoch): certificates are judged against it. */
  readonly now: number;
}

const fail = (check: string, reason: string): CheckResult => ({ check, ok: false, reason });
const list = (xs: readonly string[]) => (xs.length === 0 ? "none" : xs.join(", "));

/**
 * Why a kubectl call failed, in a few words when the API did not answer (every API check then
 * says the same short thing instead of kubectl's long line); else kubectl's last line.
 */
export function failureReason(r: CommandResult): string {
  const text = `${r.stderr}\n${r.stdout}`;
  const server = /(\d{1,3}(?:\.\d{1,3}){3}:\d+|\[[0-9a-f:]+\]:\d+)/i.exec(text)?.[1];
  const at = server ? ` at ${server}` : "";
  if (/connection (to the server \S+ was )?refused|connect: connection refused/i.test(text)) return `no API${at}: connection refused`;
  if (/Client\.Timeout|context deadline exceeded|i\/o timeout|timed out/i.test(text)) return `no API${at}: timed out`;
  if (/connection reset by peer|EOF$|unexpected EOF|TLS handshake/im.test(text)) return `no API${at}: connection dropped`;
  if (/no route to host|network is unreachable/i.test(text)) return `no API${at}: unreachable`;
  return `command failed: ${lastLine(r)}`;
}

/** Runs a check over parsed output; a failed command or unparsable output fails the check. */
export function guarded(check: string, r: CommandResult, judge: (stdout: string) => CheckResult): CheckResult {
  if (r.code !== 0) return fail(check, failureReason(r));
  try {
    return judge(r.stdout);
  } catch (e) {
    return fail(check, (e as Error).message);
  }
}

/** Control-plane nodes: exactly the topology's names, no more, no fewer. */
export function checkControlPlaneCount(t: Topology, nodes: CommandResult): CheckResult {
  const check = "control-plane nodes";
  return guarded(check, nodes, (out) => {
    const want = t.controlPlanes.map((n) => n.name);
    const have = parseNodes(out)
      .filter((n) => n.controlPlane)
      .map((n) => n.name);
    const missing = want.filter((n) => !have.includes(n));
    const extra = have.filter((n) => !want.includes(n));
    if (missing.length === 0 && extra.length === 0) return { check, ok: true, reason: `${have.length} of ${want.length}: ${list(have)}` };
    return fail(check, `found ${have.length}, topology has ${want.length}; missing: ${list(missing)}; unexpected: ${list(extra)}`);
  });
}

/** Every control plane of the topology reports Ready=True. */
export function checkControlPlanesReady(t: Topology, nodes: CommandResult): CheckResult {
  const check = "control planes Ready";
  return guarded(check, nodes, (out) => {
    const byName = new Map(parseNodes(out).map((n) => [n.name, n]));
    const problems = t.controlPlanes.flatMap((cp) => {
      const n = byName.get(cp.name);
      if (!n) return [`${cp.name} absent`];
      return n.ready ? [] : [`${cp.name} not Ready (${n.readyDetail})`];
    });
    return problems.length === 0 ? { check, ok: true, reason: `${t.controlPlanes.length} Ready` } : fail(check, problems.join("; "));
  });
}

/** One running, ready etcd static pod (etcd-<node>) on each control plane, and no others. */
export function checkEtcdPods(t: Topology, pods: CommandResult): CheckResult {
  const check = "etcd pod per control plane";
  return guarded(check, pods, (out) => {
    const all = parsePods(out);
    const problems = t.controlPlanes.flatMap((cp) => {
      const onNode = all.filter((p) => p.nodeName === cp.name);
      if (onNode.length !== 1) return [`${cp.name} has ${onNode.length} etcd pods`];
      const p = onNode[0];
      if (p.name !== `etcd-${cp.name}`) return [`${cp.name} runs ${p.name}, expected etcd-${cp.name}`];
      return p.phase === "Running" && p.ready ? [] : [`${p.name} is ${p.phase}${p.ready ? "" : ", not ready"}`];
    });
    const stray = all
      .filter((p) => !t.controlPlanes.some((cp) => cp.name === p.nodeName))
      .map((p) => `${p.name} on ${p.nodeName || "no node"}`);
    if (stray.length > 0) problems.push(`etcd pods off the control planes: ${list(stray)}`);
    return problems.length === 0
      ? { check, ok: true, reason: `${t.controlPlanes.length} running and ready` }
      : fail(check, problems.join("; "));
  });
}

/**
 * Each control plane's container is at the address its etcd member's certificate names (read from
 * the node, so this works while the API is down). Docker hands a restarted container the lowest
 * free address unless it was fixed; a member whose node moved cannot serve or rejoin.
 */
export function checkNodeAddresses(
  t: Topology,
  addresses: ReadonlyMap<string, CommandResult>,
  certs: ReadonlyMap<string, CommandResult>,
): CheckResult {
  const check = "control planes at their etcd addresses";
  const problems = t.controlPlanes.flatMap((cp) => {
    const r = addresses.get(cp.name);
    if (!r || r.code !== 0) return [`cannot read the address of ${cp.name}: ${r ? lastLine(r) : "not asked"}`];
    const at = r.stdout.trim() || "no address (stopped?)";
    const c = certs.get(cp.name);
    if (!c || c.code !== 0) return [`cannot read the etcd certificate of ${cp.name}: ${c ? lastLine(c) : "not asked"}`];
    let named: string[];
    try {
      named = memberAddresses(c.stdout, t.etcd.certSans);
    } catch (e) {
      return [`the etcd certificate of ${cp.name} does not parse: ${(e as Error).message}`];
    }
    if (named.length === 0) return [`the etcd certificate of ${cp.name} names no node address`];
    return named.includes(at) ? [] : [`${cp.name} is at ${at}, its etcd member at ${named.join(" or ")}`];
  });
  return problems.length === 0
    ? { check, ok: true, reason: `${t.controlPlanes.length} of ${t.controlPlanes.length}` }
    : fail(
        check,
        `${problems.join("; ")}${problems.some((p) => p.includes(" is at ")) ? " (a container got another address: npm run recover gives it back)" : ""}`,
      );
}

/** etcd reports every member healthy (the script's counts, judged by lib/model/etcd.ts). */
export function checkEtcdHealth(t: Topology, health: CommandResult): CheckResult {
  const check = "etcd member health";
  const got = healthReportOf(health);
  if (!("report" in got)) return fail(check, printedHealthReport(health.stdout) ? got.reason : `command failed: ${lastLine(health)}`);
  const r = got.report;
  if (r.members !== t.etcd.members.length) {
    return fail(check, `${r.members} members answered for, topology has ${t.etcd.members.length}; ${r.message}`);
  }
  return { check, ok: r.state === "healthy", reason: r.message };
}

/**
 * The earliest expiry of the certificates kubeadm wrote on the control planes (read from the
 * nodes): a warning under {@link CERT_WARN_DAYS} days, a failure once expired.
 */
export function checkCertificates(t: Topology, bundles: ReadonlyMap<string, CommandResult>, now: number): CheckResult {
  const check = "control-plane certificates";
  const problems: string[] = [];
  let earliest: { node: string; name: string; notAfter: Date } | undefined;
  for (const cp of t.controlPlanes) {
    const r = bundles.get(cp.name);
    if (!r || r.code !== 0) {
      problems.push(`cannot read the certificates of ${cp.name}: ${r ? lastLine(r) : "not asked"}`);
      continue;
    }
    try {
      const first = earliestCert(parseCertBundle(r.stdout));
      if (!first) problems.push(`${cp.name} has no certificates under /etc/kubernetes`);
      else if (!earliest || first.notAfter < earliest.notAfter) earliest = { node: cp.name, ...first };
    } catch (e) {
      problems.push(`${cp.name}: ${(e as Error).message}`);
    }
  }
  if (problems.length > 0 || !earliest) return fail(check, problems.join("; ") || "no control plane");
  const days = Math.floor((earliest.notAfter.getTime() - now) / 86_400_000);
  const where = `${earliest.name} on ${earliest.node} expires ${earliest.notAfter.toISOString().slice(0, 10)}`;
  if (earliest.notAfter.getTime() <= now)
    return fail(check, `${where} (expired; npm run renew-certs renews every certificate, one control plane at a time)`);
  if (days < CERT_WARN_DAYS) return { check, ok: true, warn: true, reason: `${where}, in ${days} days: run npm run renew-certs` };
  return { check, ok: true, reason: `earliest: ${where} (${days} days)` };
}

/** The `kubernetes` service lists one ready API server per control plane, at their addresses. */
export function checkApiEndpoints(t: Topology, endpoints: CommandResult, nodes: CommandResult): CheckResult {
  const check = "API servers behind kubernetes service";
  return guarded(check, endpoints, (out) => {
    const addrs = parseApiAddresses(out);
    const ready = [...new Set(addrs.filter((a) => a.ready).map((a) => a.ip))].sort();
    const notReady = addrs.filter((a) => !a.ready).map((a) => a.ip);
    const cpIps = controlPlaneIps(t, nodes);
    const problems: string[] = [];
    if (ready.length !== t.controlPlanes.length)
      problems.push(`${ready.length} ready (${list(ready)}), topology has ${t.controlPlanes.length} control planes`);
    if (notReady.length > 0) problems.push(`not ready: ${list(notReady)}`);
    if (cpIps.length === t.controlPlanes.length) {
      const foreign = ready.filter((ip) => !cpIps.includes(ip));
      if (foreign.length > 0) problems.push(`not a control-plane address: ${list(foreign)}`);
    }
    return problems.length === 0 ? { check, ok: true, reason: `${ready.length}: ${list(ready)}` } : fail(check, problems.join("; "));
  });
}

/** `/readyz` answers "ok" through the stack's API address (the load balancer of an HA stack). */
export function checkApiThroughLb(t: Topology, readyz: CommandResult): CheckResult {
  const check = t.api.loadBalanced ? "API through load balancer" : "API server";
  if (readyz.code !== 0) return fail(check, `${t.api.url}/readyz: ${failureReason(readyz)}`);
  const body = readyz.stdout.trim();
  return body === "ok"
    ? { check, ok: true, reason: `${t.api.url}/readyz: ok` }
    : fail(check, `${t.api.url}/readyz answered ${JSON.stringify(body.slice(0, 80))}`);
}

/** At most this many names in a reason; the rest are counted. */
const NAMED = 8;
const someOf = (xs: readonly string[]) =>
  xs.length <= NAMED ? xs.join(", ") : `${xs.slice(0, NAMED).join(", ")} and ${xs.length - NAMED} more`;

/** Every PersistentVolumeClaim, in every namespace, is Bound to a volume. */
export function checkClaimsBound(claims: CommandResult): CheckResult {
  const check = "PersistentVolumeClaims Bound";
  return guarded(check, claims, (out) => {
    const all = parseClaims(out);
    const unbound = all.filter((c) => c.phase !== "Bound").map((c) => `${c.namespace}/${c.name} ${c.phase}`);
    if (unbound.length > 0) return fail(check, `${unbound.length} of ${all.length} not Bound: ${someOf(unbound)}`);
    return { check, ok: true, reason: all.length === 0 ? "no claims" : `${all.length} Bound` };
  });
}

/** Every Bound volume of the host data directory has its directory there (a restore without its data, a directory moved away). */
export function checkVolumeDirs(volumes: CommandResult, dirs: CommandResult): CheckResult {
  const check = "volume directories on the host";
  return guarded(check, volumes, (out) => {
    if (dirs.code !== 0) return fail(check, `listing ${NODE_DATA_DIR} failed: ${lastLine(dirs)}`);
    const found = volumesOnHost(parseVolumes(out), parseVolumeDirs(dirs.stdout));
    if (found.missing.length > 0) return fail(check, `${found.missing.length} of ${found.bound} missing: ${someOf(found.missing)}`);
    return { check, ok: true, reason: found.bound === 0 ? "no volumes on the host" : `${found.bound} present` };
  });
}

/** Every Deployment, StatefulSet and DaemonSet, in every namespace, has all its pods available, none left on an old template. */
export function checkWorkloadsAvailable(workloads: CommandResult): CheckResult {
  const check = "workloads available";
  return guarded(check, workloads, (out) => {
    const all = parseWorkloads(out);
    const short = all
      .filter((w) => w.available < w.desired || w.outdated > 0)
      .map(
        (w) =>
          `${w.kind} ${w.namespace}/${w.name} ${w.available}/${w.desired}${w.outdated > 0 ? ` (rolling out: ${w.outdated} pod(s) to update)` : ""}`,
      );
    if (short.length > 0) return fail(check, `${short.length} of ${all.length} not fully available: ${someOf(short)}`);
    const count = (kind: string) => all.filter((w) => w.kind === kind).length;
    return {
      check,
      ok: true,
      reason: `${count("Deployment")} Deployments, ${count("StatefulSet")} StatefulSets, ${count("DaemonSet")} DaemonSets`,
    };
  });
}

/** Run in a node with its containerd entry's directory and the registry's URL: the entry is there, and the registry answers. */
export const REGISTRY_SCRIPT =
  'test -s "$1/hosts.toml" || { echo "no containerd entry $1/hosts.toml"; exit 3; }; curl -fsS -o /dev/null --max-time 5 "$2/v2/"';

/** Every node has containerd's entry for `localhost:<port>` and reaches the registry by its name, as a pull does. */
export function checkRegistry(r: PlannedRegistry, answers: ReadonlyMap<string, CommandResult>): CheckResult {
  const check = "local registry";
  // The script says a missing entry on stdout; curl's errors and docker's are on stderr.
  const why = (a: CommandResult) => a.stdout.trim().split("\n").pop() || lastLine(a);
  const broken = [...answers].filter(([, a]) => a.code !== 0).map(([node, a]) => `${node}: ${why(a)}`);
  if (broken.length > 0)
    return fail(
      check,
      `${someOf(broken)} (${REGISTRY.containerName} running? ${r.dir} its storage; cdktf deploy writes the entries and starts it)`,
    );
  return { check, ok: true, reason: `${r.host} pulls from ${REGISTRY.containerName} on ${answers.size} nodes` };
}

/** InternalIPs of the topology's control planes, in topology order (those the nodes list has). */
export function controlPlaneIps(t: Topology, nodes: CommandResult): string[] {
  if (nodes.code !== 0) return [];
  let parsed: NodeInfo[];
  try {
    parsed = parseNodes(nodes.stdout);
  } catch {
    return [];
  }
  return t.controlPlanes.flatMap((cp) => parsed.find((n) => n.name === cp.name)?.internalIp ?? []);
}

/** The checks a node half-way through a roll fails: renew-certs takes it out of the load balancer, upgrade also cordons it. */
export const LB_BACKENDS_CHECK = "load balancer backends";
export const NO_CORDON_CHECK = "no node cordoned";

/** No node is cordoned: an interrupted roll or drain leaves one so, and the scheduler then passes it by. */
export function checkNoNodeCordoned(nodes: CommandResult): CheckResult {
  const check = NO_CORDON_CHECK;
  return guarded(check, nodes, (out) => {
    const all = parseNodes(out);
    const cordoned = all.filter((n) => n.unschedulable).map((n) => n.name);
    return cordoned.length === 0
      ? { check, ok: true, reason: `${all.length} schedulable` }
      : fail(check, `cordoned: ${cordoned.join(", ")} (kubectl uncordon <node>, or finish the roll: npm run upgrade)`);
  });
}

/** kind's load balancer sends API traffic to every control plane and nothing else. */
export function checkLbBackends(t: Topology, lbConfig: CommandResult | undefined): CheckResult {
  const check = LB_BACKENDS_CHECK;
  if (!t.api.loadBalanced) return { check, ok: true, reason: "one control plane, no load balancer" };
  if (!lbConfig) return fail(check, "not read");
  if (lbConfig.code !== 0) return fail(check, `cannot read ${kindLoadBalancerName(t.clusterName)}'s configuration: ${lastLine(lbConfig)}`);
  const want = t.controlPlanes.map((n) => n.name).sort();
  const have = lbBackends(lbConfig.stdout);
  const missing = want.filter((n) => !have.includes(n));
  const extra = have.filter((n) => !want.includes(n));
  if (missing.length === 0 && extra.length === 0) return { check, ok: true, reason: `${have.length} of ${want.length} control planes` };
  return fail(
    check,
    `missing: ${list(missing)}; unexpected: ${list(extra)} (an interrupted roll or renew-certs: run it again; after a restart: npm run recover)`,
  );
}

/** Every check, in table order. */
export function verifyChecks(t: Topology, i: VerifyInputs): CheckResult[] {
  return [
    checkControlPlaneCount(t, i.nodes),
    checkControlPlanesReady(t, i.nodes),
    checkEtcdPods(t, i.etcdPods),
    checkNodeAddresses(t, i.nodeAddresses, i.etcdCerts),
    checkEtcdHealth(t, i.etcdHealth),
    checkApiEndpoints(t, i.apiEndpoints, i.nodes),
    checkApiThroughLb(t, i.readyz),
    checkLbBackends(t, i.lbConfig),
    checkNoNodeCordoned(i.nodes),
    checkClaimsBound(i.claims),
    checkVolumeDirs(i.volumes, i.volumeDirs),
    checkWorkloadsAvailable(i.workloads),
    checkCertificates(t, i.certBundles, i.now),
    ...(i.registry ? [checkRegistry(i.registry.planned, i.registry.answers)] : []),
  ];
}

export function renderChecks(results: readonly CheckResult[]): string {
  return renderTable(
    ["check", "result", "reason"],
    results.map((r) => [r.check, r.ok ? (r.warn ? "warn" : "pass") : "FAIL", r.reason]),
  );
}

/** Every check, once: what `npm run verify` prints. */
export async function verifyOnce(t: Topology, a: ClusterAccess): Promise<CheckResult[]> {
  return verifyChecks(t, await collectVerifyInputs(t, a));
}

/**
 * Runs verify until every check passes (but those `tolerate` names) or `timeoutMs` passes (static
 * pods and endpoints settle for a while after kubelets restart); resolves to whether it passed
 * and the last results.
 */
/** A verify wait as a step's result: the checks logged (indented), ok once they passed, else the failing ones named. */
export function verifyStepResult(
  last: { readonly done: boolean; readonly results: readonly CheckResult[] },
  log: (line: string) => void,
): StepResult {
  log(renderChecks(last.results).replace(/^/gm, "      "));
  return last.done
    ? ok()
    : failed(
        last.results
          .filter((r) => !r.ok)
          .map((r) => r.check)
          .join(", "),
      );
}

export async function waitForVerify(
  t: Topology,
  a: ClusterAccess,
  opts: { timeoutMs: number; intervalMs: number; clock: Clock; tolerate?: ReadonlySet<string> },
): Promise<{ done: boolean; results: CheckResult[] }> {
  return pollUntil(async () => {
    const results = await verifyOnce(t, a);
    return { done: results.every((r) => r.ok || opts.tolerate?.has(r.check)), results };
  }, opts);
}

/**
 * Like {@link waitForVerify}, but done only once every check has kept passing for `holdMs`: right
 * after nodes restart, the API still shows the pods' old Ready status until each kubelet has synced
 * them, so one passing run can come before the pods go unready for a while.
 */
export async function waitForSteadyVerify(
  t: Topology,
  a: ClusterAccess,
  opts: { timeoutMs: number; intervalMs: number; holdMs: number; clock: Clock },
): Promise<{ done: boolean; results: CheckResult[] }> {
  let since: number | undefined;
  return pollUntil(
    async () => {
      const results = await verifyOnce(t, a);
      if (!results.every((r) => r.ok)) {
        since = undefined;
        return { done: false, results };
      }
      since ??= opts.clock.now();
      return { done: opts.clock.now() - since >= opts.holdMs, results };
    },
    { timeoutMs: opts.timeoutMs + opts.holdMs, intervalMs: opts.intervalMs, clock: opts.clock },
  );
}

/** Runs the commands verify judges. The etcd check goes through the first control plane's pod. */
export async function collectVerifyInputs(t: Topology, a: ClusterAccess): Promise<VerifyInputs> {
  const k = new ClusterClient(a);
  const kc = k.kubectlWith(60_000);
  const nodes = await kc("get", "nodes", "-o", "json");
  const [etcdPods, apiEndpoints, readyz, claims, workloads, volumes, volumeDirs, lbConfig] = await Promise.all([
    kc("-n", "kube-system", "get", "pods", "-l", "component=etcd", "-o", "json"),
    kc("-n", "default", "get", "endpointslices", "-l", "kubernetes.io/service-name=kubernetes", "-o", "json"),
    k.readyz(t.api.url),
    kc("get", "pvc", "-A", "-o", "json"),
    kc("get", "deployments,statefulsets,daemonsets", "-A", "-o", "json"),
    kc("get", "pv", "-o", "json"),
    listVolumeDirs(k, t.controlPlanes[0].name),
    t.api.loadBalanced ? readLbConfig(k, kindLoadBalancerName(t.clusterName)) : undefined,
  ]);
  const etcdHealth = await k.etcdHealthResult(t.controlPlanes[0].name, t.etcd.members.length, etcdMemberEndpoints(t, nodes));
  const nodeAddresses = new Map(
    await Promise.all(t.controlPlanes.map(async (cp) => [cp.name, await k.nodeAddressResult(cp.name)] as const)),
  );
  // One read per control plane: the etcd serving certificate is one file of the bundle.
  const certBundles = new Map(
    await Promise.all(
      t.controlPlanes.map(async (cp) => [cp.name, await k.inNode(cp.name, ["sh", "-c", CERT_BUNDLE_SCRIPT], 30_000)] as const),
    ),
  );
  const etcdCerts = new Map([...certBundles].map(([node, bundle]) => [node, fileOfBundle(bundle, ETCD_SERVER_BUNDLE_NAME)] as const));
  const registry = a.registry ? { planned: a.registry, answers: await registryAnswers(k, t, a.registry) } : undefined;
  return {
    nodes,
    etcdPods,
    apiEndpoints,
    etcdHealth,
    readyz,
    nodeAddresses,
    etcdCerts,
    claims,
    workloads,
    volumes,
    volumeDirs,
    ...(lbConfig ? { lbConfig } : {}),
    certBundles,
    ...(registry ? { registry } : {}),
    now: Date.now(),
  };
}

function registryAnswers(k: ClusterClient, t: Topology, r: PlannedRegistry): Promise<Map<string, CommandResult>> {
  const entry = hostsEntryDir(r);
  return Promise.all(
    t.nodes.map(
      async (n) => [n.name, await k.inNode(n.name, ["sh", "-c", REGISTRY_SCRIPT, "sh", entry, registryEndpoint()], 15_000)] as const,
    ),
  ).then((pairs) => new Map(pairs));
}

/**
 * The member URLs etcd health asks, from the nodes' InternalIPs when all are known (a dead member
 * still counts); undefined when not, and the script asks the member list instead (with --expect,
 * so a member missing from it still counts as unhealthy).
 */
export function etcdMemberEndpoints(t: Topology, nodes: CommandResult): string[] | undefined {
  const ips = controlPlaneIps(t, nodes);
  return ips.length === t.controlPlanes.length ? ips.map((ip) => `https://${hostPort(ip, 2379)}`) : undefined;
}
