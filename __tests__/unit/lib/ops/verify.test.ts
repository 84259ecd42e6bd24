/**
 * verify's checks on recorded command output (__tests__/fixtures/recorded): kubectl output is
 * hand-written in the shape of a kind v0.31 cluster (none exists on the build machine); etcd
 * health reports are captured from real etcd 3.4.23.
 */
import { findStack } from "../../../../lib/io/config-file";
import {
  checkApiEndpoints,
  checkApiThroughLb,
  checkCertificates,
  checkLbBackends,
  checkNoNodeCordoned,
  checkClaimsBound,
  checkVolumeDirs,
  checkWorkloadsAvailable,
  checkControlPlaneCount,
  checkControlPlanesReady,
  checkEtcdHealth,
  checkEtcdPods,
  checkNodeAddresses,
  collectVerifyInputs,
  checkRegistry,
  REGISTRY_SCRIPT,
  renderChecks,
  verifyChecks,
} from "../../../../lib/ops/verify";
import { planRegistry } from "../../../../lib/model/registry";
import { main as verifyMain } from "../../../../tools/verify";
import { X509Certificate } from "node:crypto";
import { parseCertBundle } from "../../../../lib/ops/certs";
import { kindLbConfig } from "../../../../lib/model/kind-lb-config";
import { capture, clusterFixtures, etcdServerCert, failResult, fakeExec, okResult, recorded } from "../../../fixtures/recorded/load";

const C = "data-platform-local";
const ha = findStack("ha-option-a").topology;
const single = findStack("single").topology;

const haInputs = {
  nodes: recorded("kubectl-nodes-ha-option-a"),
  etcdPods: recorded("kubectl-etcd-pods-ha-option-a"),
  apiEndpoints: recorded("kubectl-endpointslices-kubernetes-ha-option-a"),
  etcdHealth: recorded("etcd-script-health-healthy"),
  readyz: recorded("kubectl-readyz-ok"),
  nodeAddresses: addresses({
    [`${C}-control-plane`]: "172.18.0.4",
    [`${C}-control-plane2`]: "172.18.0.6",
    [`${C}-control-plane3`]: "172.18.0.5",
  }),
  etcdCerts: certs({ [`${C}-control-plane`]: "172.18.0.4", [`${C}-control-plane2`]: "172.18.0.6", [`${C}-control-plane3`]: "172.18.0.5" }),
  claims: recorded("kubectl-pvc-bound"),
  workloads: recorded("kubectl-workloads-available"),
  volumes: recorded("kubectl-pv-bound"),
  volumeDirs: okResult("workloads/data-postgres-0\n"),
  lbConfig: okResult(kindLbConfig([`${C}-control-plane`, `${C}-control-plane2`, `${C}-control-plane3`]).cds),
  certBundles: bundles({
    [`${C}-control-plane`]: "172.18.0.4",
    [`${C}-control-plane2`]: "172.18.0.6",
    [`${C}-control-plane3`]: "172.18.0.5",
  }),
  now: Date.now(),
};

/** What `docker exec <node> sh -c CERT_BUNDLE_SCRIPT` answers: here, one certificate per node (365 days). */
function bundles(byNode: Record<string, string>): Map<string, ReturnType<typeof okResult>> {
  return new Map(Object.entries(byNode).map(([node, ip]) => [node, okResult(`== pki/etcd/server.crt\n${etcdServerCert(ip, node)}`)]));
}

/** What `docker exec <node> cat .../etcd/server.crt` answers: a certificate naming the member's address. */
function certs(byNode: Record<string, string>): Map<string, ReturnType<typeof okResult>> {
  return new Map(Object.entries(byNode).map(([node, ip]) => [node, okResult(etcdServerCert(ip, node))]));
}

/** What `docker inspect` answers for each node container's address. */
function addresses(byNode: Record<string, string>): Map<string, ReturnType<typeof okResult>> {
  return new Map(Object.entries(byNode).map(([node, ip]) => [node, okResult(`${ip}\n`)]));
}

describe("verify checks, recorded 3-control-plane cluster (stack ha-option-a)", () => {
  test("every check passes on a healthy cluster", () => {
    const results = verifyChecks(ha, haInputs);
    expect(results.map((r) => [r.check, r.ok])).toEqual([
      ["control-plane nodes", true],
      ["control planes Ready", true],
      ["etcd pod per control plane", true],
      ["control planes at their etcd addresses", true],
      ["etcd member health", true],
      ["API servers behind kubernetes service", true],
      ["API through load balancer", true],
      ["load balancer backends", true],
      ["no node cordoned", true],
      ["PersistentVolumeClaims Bound", true],
      ["volume directories on the host", true],
      ["workloads available", true],
      ["control-plane certificates", true],
    ]);
    expect(results[7].reason).toBe("3 of 3 control planes");
    expect(results[8].reason).toBe("5 schedulable");
    results.splice(7, 2);
    expect(results[10 - 2 + 2].reason).toMatch(
      new RegExp(`^earliest: pki/etcd/server\\.crt on ${C}-control-plane\\d? expires \\d{4}-\\d\\d-\\d\\d \\(36[45] days\\)$`),
    );
    expect(results[7].reason).toBe("1 Bound");
    expect(results[9].reason).toBe("2 Deployments, 1 StatefulSets, 2 DaemonSets");
    expect(results[0].reason).toBe(`3 of 3: ${C}-control-plane, ${C}-control-plane2, ${C}-control-plane3`);
    expect(results[5].reason).toBe("3: 172.18.0.4, 172.18.0.5, 172.18.0.6");
  });

  test("fails when a control plane came back at another address than its etcd member's, saying how to mend it", () => {
    const moved = new Map(haInputs.nodeAddresses).set(`${C}-control-plane2`, okResult("172.18.0.9\n"));
    expect(checkNodeAddresses(ha, moved, haInputs.etcdCerts)).toEqual({
      check: "control planes at their etcd addresses",
      ok: false,
      reason: `${C}-control-plane2 is at 172.18.0.9, its etcd member at 172.18.0.6 (a container got another address: npm run recover gives it back)`,
    });
  });

  test("fails when a node container's address cannot be read, or it has none", () => {
    const unread = new Map(haInputs.nodeAddresses).set(
      `${C}-control-plane3`,
      failResult("Error: No such object: data-platform-local-control-plane3"),
    );
    expect(checkNodeAddresses(ha, unread, haInputs.etcdCerts).reason).toBe(
      `cannot read the address of ${C}-control-plane3: Error: No such object: data-platform-local-control-plane3`,
    );
    const stopped = new Map(haInputs.nodeAddresses).set(`${C}-control-plane2`, okResult("\n"));
    expect(checkNodeAddresses(ha, stopped, haInputs.etcdCerts).reason).toMatch(
      new RegExp(`^${C}-control-plane2 is at no address \\(stopped\\?\\), its etcd member at 172\\.18\\.0\\.6`),
    );
  });

  test("reads the member's address from its certificate, not through the API: it judges with the API down", () => {
    const unreadable = new Map(haInputs.etcdCerts).set(
      `${C}-control-plane2`,
      failResult("Error response from daemon: container is not running"),
    );
    expect(checkNodeAddresses(ha, haInputs.nodeAddresses, unreadable).reason).toBe(
      `cannot read the etcd certificate of ${C}-control-plane2: Error response from daemon: container is not running`,
    );
    // The stack's own SANs (localhost, 127.0.0.1) and loopback never count as the member's address.
    const onlyShared = new Map(haInputs.etcdCerts).set(`${C}-control-plane2`, okResult(etcdServerCert("127.0.0.1", `${C}-control-plane2`)));
    expect(checkNodeAddresses(ha, haInputs.nodeAddresses, onlyShared).reason).toBe(
      `the etcd certificate of ${C}-control-plane2 names no node address`,
    );
  });

  test("with the API down, every API check says so in one short line", () => {
    const down = {
      code: 1,
      stdout: "",
      stderr:
        'E1201 07:00:00.000000 memcache.go:265] couldn\'t get current server API group list: Get "https://127.0.0.1:6443/api?timeout=20s": dial tcp 127.0.0.1:6443: connect: connection refused\nThe connection to the server 127.0.0.1:6443 was refused - did you specify the right host or port?\n',
    };
    const results = verifyChecks(ha, {
      ...haInputs,
      nodes: down,
      etcdPods: down,
      apiEndpoints: down,
      readyz: down,
      claims: down,
      workloads: down,
    });
    const apiRows = results.filter((r) => !r.ok);
    expect(apiRows.map((r) => r.reason)).toEqual([
      "no API at 127.0.0.1:6443: connection refused",
      "no API at 127.0.0.1:6443: connection refused",
      "no API at 127.0.0.1:6443: connection refused",
      "no API at 127.0.0.1:6443: connection refused",
      "https://127.0.0.1:6443/readyz: no API at 127.0.0.1:6443: connection refused",
      "no API at 127.0.0.1:6443: connection refused",
      "no API at 127.0.0.1:6443: connection refused",
      "no API at 127.0.0.1:6443: connection refused",
    ]);
    // The checks that read the node containers still judge.
    expect(results.find((r) => r.check === "control planes at their etcd addresses")?.ok).toBe(true);
  });

  test("fails when control-plane2 is stopped: not Ready, and the service lists only 2 API servers", () => {
    const stoppedNodes = recorded("kubectl-nodes-ha-option-a-cp2-stopped");
    expect(checkControlPlaneCount(ha, stoppedNodes).ok).toBe(true);
    expect(checkControlPlanesReady(ha, stoppedNodes)).toEqual({
      check: "control planes Ready",
      ok: false,
      reason: `${C}-control-plane2 not Ready (NodeStatusUnknown: Kubelet stopped posting node status.)`,
    });
    const api = checkApiEndpoints(ha, recorded("kubectl-endpointslices-kubernetes-ha-option-a-cp2-stopped"), stoppedNodes);
    expect(api.ok).toBe(false);
    expect(api.reason).toBe("2 ready (172.18.0.4, 172.18.0.5), topology has 3 control planes");
  });

  test("fails when the cluster has fewer control planes than the topology", () => {
    const r = checkControlPlaneCount(ha, recorded("kubectl-nodes-single"));
    expect(r.ok).toBe(false);
    expect(r.reason).toBe(`found 1, topology has 3; missing: ${C}-control-plane2, ${C}-control-plane3; unexpected: none`);
  });

  test("fails when an etcd pod is in CrashLoopBackOff", () => {
    const r = checkEtcdPods(ha, recorded("kubectl-etcd-pods-ha-option-a-cp3-crashloop"));
    expect(r).toMatchObject({ ok: false, reason: `etcd-${C}-control-plane3 is Running, not ready` });
  });

  test("fails when a control plane has no etcd pod", () => {
    const r = checkEtcdPods(ha, recorded("kubectl-etcd-pods-single"));
    expect(r.ok).toBe(false);
    expect(r.reason).toContain(`${C}-control-plane2 has 0 etcd pods`);
  });

  test("fails when etcd is degraded (recorded: 1 of 3 members killed)", () => {
    expect(checkEtcdHealth(ha, recorded("etcd-script-health-degraded"))).toEqual({
      check: "etcd member health",
      ok: false,
      reason: "degraded: 2 of 3 members healthy, quorum needs 2 (held); 0 more failures tolerated",
    });
  });

  test("fails when etcd lost quorum, judging the script's counts", () => {
    expect(checkEtcdHealth(ha, recorded("etcd-script-health-quorum-lost"))).toEqual({
      check: "etcd member health",
      ok: false,
      reason: "quorum lost: 1 of 3 members healthy, quorum needs 2",
    });
  });

  test("fails when the etcd health command printed no report", () => {
    const r = checkEtcdHealth(
      ha,
      failResult(
        'etcd.sh: error: health: etcdctl gave no result (exit 1): error: unable to upgrade connection: container not found ("etcd")',
      ),
    );
    expect(r.ok).toBe(false);
    expect(r.reason).toContain("container not found");
  });

  test("fails when etcd reports another member count than the topology", () => {
    const r = checkEtcdHealth(single, recorded("etcd-script-health-healthy"));
    expect(r).toMatchObject({ ok: false });
    expect(r.reason).toMatch(/^3 members answered for, topology has 1/);
  });

  test("fails when /readyz through the load balancer is refused", () => {
    expect(checkApiThroughLb(ha, recorded("kubectl-readyz-refused"))).toEqual({
      check: "API through load balancer",
      ok: false,
      reason: "https://127.0.0.1:6443/readyz: no API at 127.0.0.1:6443: connection refused",
    });
  });

  test("fails when a node is cordoned (an interrupted roll or drain), naming it and what to run", () => {
    const nodes = JSON.parse(recorded("kubectl-nodes-ha-option-a").stdout);
    nodes.items[1].spec = { ...nodes.items[1].spec, unschedulable: true };
    const r = checkNoNodeCordoned(okResult(JSON.stringify(nodes)));
    expect(r).toEqual({
      check: "no node cordoned",
      ok: false,
      reason: `cordoned: ${nodes.items[1].metadata.name} (kubectl uncordon <node>, or finish the roll: npm run upgrade)`,
    });
  });

  test("fails when kind's load balancer lacks a control plane or sends to another, or cannot be read; passes with one control plane", () => {
    const cps = [`${C}-control-plane`, `${C}-control-plane2`, `${C}-control-plane3`];
    expect(checkLbBackends(ha, okResult(kindLbConfig([cps[0], cps[2]]).cds))).toEqual({
      check: "load balancer backends",
      ok: false,
      reason: `missing: ${cps[1]}; unexpected: none (an interrupted roll or renew-certs: run it again; after a restart: npm run recover)`,
    });
    expect(checkLbBackends(ha, okResult(kindLbConfig([...cps, "someone-else"]).cds)).reason).toMatch(
      /^missing: none; unexpected: someone-else/,
    );
    expect(checkLbBackends(ha, okResult("resources: []")).reason).toMatch(/^missing: .*control-plane3; unexpected: none/);
    expect(checkLbBackends(ha, failResult("Error: No such container: data-platform-local-external-load-balancer")).reason).toBe(
      `cannot read ${C}-external-load-balancer's configuration: Error: No such container: data-platform-local-external-load-balancer`,
    );
    expect(checkLbBackends(single, undefined)).toEqual({
      check: "load balancer backends",
      ok: true,
      reason: "one control plane, no load balancer",
    });
  });

  test("fails when /readyz answers something other than ok", () => {
    expect(checkApiThroughLb(ha, { code: 0, stdout: "[-]etcd failed: reason withheld\nreadyz check failed", stderr: "" }).ok).toBe(false);
  });

  test("fails when kubectl prints something that is not JSON", () => {
    const r = checkControlPlaneCount(ha, { code: 0, stdout: "error: You must be logged in to the server", stderr: "" });
    expect(r).toEqual({ check: "control-plane nodes", ok: false, reason: "kubectl get nodes: kubectl output is not JSON" });
  });

  test("fails when kubectl itself fails, showing its error", () => {
    const r = checkControlPlanesReady(ha, recorded("kubectl-readyz-refused"));
    expect(r.reason).toBe("no API at 127.0.0.1:6443: connection refused");
  });

  /** The etcd.sh command verify runs, given what `kubectl get nodes` answers. */
  async function healthCommand(nodes: ReturnType<typeof recorded>) {
    const { exec, calls } = fakeExec((file, args) =>
      file === "kubectl" && args.includes("nodes") ? nodes : clusterFixtures()(file, args),
    );
    await collectVerifyInputs(ha, { kubeconfig: "/k", etcdScript: "/repo/scripts/etcd.sh", exec });
    return calls.filter((c) => c.file === "bash").map((c) => c.args);
  }

  test("health runs in the first control plane's pod against every member's InternalIP, expecting 3", async () => {
    expect(await healthCommand(haInputs.nodes)).toEqual([
      [
        "/repo/scripts/etcd.sh",
        "--mode",
        "kind",
        "--kubeconfig",
        "/k",
        "--node",
        `${C}-control-plane`,
        "--endpoints",
        "https://172.18.0.4:2379,https://172.18.0.6:2379,https://172.18.0.5:2379",
        "health",
        "--expect",
        "3",
      ],
    ]);
  });

  test("health falls back to the member list (still --expect 3) when the nodes are unknown", async () => {
    expect(await healthCommand(failResult("refused"))).toEqual([
      ["/repo/scripts/etcd.sh", "--mode", "kind", "--kubeconfig", "/k", "--node", `${C}-control-plane`, "health", "--expect", "3"],
    ]);
  });

  test("renders one row per check with pass/FAIL", () => {
    const table = renderChecks(verifyChecks(ha, { ...haInputs, readyz: recorded("kubectl-readyz-refused") }));
    const lines = table.split("\n");
    expect(lines[0]).toMatch(/^check\s+result\s+reason$/);
    expect(lines).toHaveLength(15);
    expect(lines[8]).toMatch(
      /^API through load balancer\s+FAIL\s+https:\/\/127\.0\.0\.1:6443\/readyz: no API at 127\.0\.0\.1:6443: connection refused$/,
    );
  });
});

describe("control-plane certificates", () => {
  const DAY = 86_400_000;
  const cps = ha.controlPlanes.map((n) => n.name);
  const one = bundles({ [cps[0]]: "172.18.0.4", [cps[1]]: "172.18.0.6", [cps[2]]: "172.18.0.5" });
  const expiry = (node: string) =>
    new Date(
      new X509Certificate(etcdServerCert(node === cps[0] ? "172.18.0.4" : node === cps[1] ? "172.18.0.6" : "172.18.0.5", node)).validTo,
    ).getTime();
  const earliest = Math.min(...cps.map(expiry));

  test("names the earliest expiry and the days left", () => {
    const r = checkCertificates(ha, one, earliest - 200 * DAY);
    expect(r).toEqual({
      check: "control-plane certificates",
      ok: true,
      reason: expect.stringMatching(/^earliest: pki\/etcd\/server\.crt on \S+ expires \d{4}-\d\d-\d\d \(200 days\)$/),
    });
  });

  test("warns under 30 days, naming the command that renews", () => {
    const r = checkCertificates(ha, one, earliest - 10 * DAY);
    expect(r).toMatchObject({ ok: true, warn: true, reason: expect.stringMatching(/, in 10 days: run npm run renew-certs$/) });
    expect(renderChecks([r])).toMatch(/control-plane certificates\s+warn\s+/);
  });

  test("fails once one has expired", () => {
    const r = checkCertificates(ha, one, earliest + DAY);
    expect(r).toMatchObject({
      ok: false,
      reason: expect.stringMatching(/ \(expired; npm run renew-certs renews every certificate, one control plane at a time\)$/),
    });
  });

  test("reads every certificate of the bundle, the kubeconfigs' too, and fails on a node it cannot read or a certificate that does not parse", () => {
    const two = `== pki/apiserver.crt\n${etcdServerCert("10.0.0.1", "a")}== admin.conf\n${etcdServerCert("10.0.0.2", "b")}`;
    expect(parseCertBundle(two).map((c) => c.name)).toEqual(["pki/apiserver.crt", "admin.conf"]);
    const unread = new Map(one).set(cps[1], failResult("Error response from daemon: container is not running"));
    expect(checkCertificates(ha, unread, earliest - 200 * DAY).reason).toBe(
      `cannot read the certificates of ${cps[1]}: Error response from daemon: container is not running`,
    );
    const broken = new Map(one).set(cps[2], okResult("== pki/ca.crt\nnot a certificate\n"));
    expect(checkCertificates(ha, broken, earliest - 200 * DAY).reason).toBe(`${cps[2]}: pki/ca.crt holds no certificate`);
  });
});

describe("verify checks of the data platform's services", () => {
  test("fails when a claim is not Bound, naming it and its phase", () => {
    expect(checkClaimsBound(recorded("kubectl-pvc-pending"))).toEqual({
      check: "PersistentVolumeClaims Bound",
      ok: false,
      reason: "1 of 2 not Bound: workloads/data-queue-0 Pending",
    });
  });

  test("passes with no claims at all", () => {
    expect(checkClaimsBound(okResult('{"kind":"List","items":[]}'))).toEqual({
      check: "PersistentVolumeClaims Bound",
      ok: true,
      reason: "no claims",
    });
  });

  test("fails when a Bound volume's directory is missing from the host data directory, naming the claim and the directory", () => {
    expect(checkVolumeDirs(recorded("kubectl-pv-bound"), okResult(""))).toEqual({
      check: "volume directories on the host",
      ok: false,
      reason: "1 of 1 missing: workloads/data-postgres-0 (workloads/data-postgres-0)",
    });
    // An empty directory is a claim nothing wrote yet: present.
    expect(checkVolumeDirs(recorded("kubectl-pv-bound"), okResult("workloads/data-postgres-0\t-\n")).ok).toBe(true);
    // Volumes inside the nodes (dataDir: false: node affinity) and released ones are not the host's to hold.
    const pv = JSON.parse(recorded("kubectl-pv-bound").stdout);
    const inNode = { ...pv, items: [{ ...pv.items[0], spec: { ...pv.items[0].spec, nodeAffinity: { required: {} } } }] };
    expect(checkVolumeDirs(okResult(JSON.stringify(inNode)), okResult("")).reason).toBe("no volumes on the host");
    const released = { ...pv, items: [{ ...pv.items[0], status: { phase: "Released" } }] };
    expect(checkVolumeDirs(okResult(JSON.stringify(released)), okResult("")).ok).toBe(true);
    expect(checkVolumeDirs(recorded("kubectl-pv-bound"), failResult("Error response from daemon: container is not running")).reason).toBe(
      "listing /var/local-path-provisioner failed: Error response from daemon: container is not running",
    );
  });

  test("fails when a Deployment or StatefulSet is not fully available, naming each with its counts", () => {
    expect(checkWorkloadsAvailable(recorded("kubectl-workloads-degraded"))).toEqual({
      check: "workloads available",
      ok: false,
      reason: "2 of 5 not fully available: Deployment local-path-storage/local-path-provisioner 0/1, StatefulSet workloads/postgres 0/1",
    });
  });

  test("fails when a DaemonSet has fewer pods available than nodes it should run on", () => {
    const ds = {
      kind: "DaemonSet",
      metadata: { namespace: "kube-system", name: "kube-proxy" },
      spec: {},
      status: { desiredNumberScheduled: 4, numberAvailable: 3, updatedNumberScheduled: 4 },
    };
    expect(checkWorkloadsAvailable(okResult(JSON.stringify({ kind: "List", items: [ds] }))).reason).toBe(
      "1 of 1 not fully available: DaemonSet kube-system/kube-proxy 3/4",
    );
  });

  test("fails while a rollout is under way, though every pod is available (a restart mid-way, as after a restore); an OnDelete one never rolls by itself", () => {
    const list = (...items: object[]) => okResult(JSON.stringify({ kind: "List", items }));
    const podnet = (status: object, extra: object = {}) => ({
      kind: "DaemonSet",
      metadata: { namespace: "kube-system", name: "kindha-podnet", generation: 3 },
      spec: { ...extra },
      status: { desiredNumberScheduled: 2, numberAvailable: 2, observedGeneration: 3, ...status },
    });
    expect(checkWorkloadsAvailable(list(podnet({ updatedNumberScheduled: 1 }))).reason).toBe(
      "1 of 1 not fully available: DaemonSet kube-system/kindha-podnet 2/2 (rolling out: 1 pod(s) to update)",
    );
    expect(checkWorkloadsAvailable(list(podnet({ updatedNumberScheduled: 2, observedGeneration: 2 }))).ok).toBe(false);
    expect(checkWorkloadsAvailable(list(podnet({ updatedNumberScheduled: 2 }))).ok).toBe(true);
    expect(checkWorkloadsAvailable(list(podnet({ updatedNumberScheduled: 0 }, { updateStrategy: { type: "OnDelete" } }))).ok).toBe(true);
    const web = {
      kind: "Deployment",
      metadata: { namespace: "workloads", name: "web", generation: 2 },
      spec: { replicas: 2 },
      status: { observedGeneration: 2, replicas: 3, updatedReplicas: 2, availableReplicas: 2 },
    };
    const db = (partition: number) => ({
      kind: "StatefulSet",
      metadata: { namespace: "workloads", name: "db" },
      spec: { replicas: 3, updateStrategy: { type: "RollingUpdate", rollingUpdate: { partition } } },
      status: { replicas: 3, updatedReplicas: 1, availableReplicas: 3 },
    });
    expect(checkWorkloadsAvailable(list(db(2))).ok).toBe(true);
    expect(checkWorkloadsAvailable(list(db(0))).ok).toBe(false);
    // The old ReplicaSet's pod is still there: 3 pods for 2 replicas.
    expect(checkWorkloadsAvailable(list(web)).reason).toBe(
      "1 of 1 not fully available: Deployment workloads/web 2/2 (rolling out: 1 pod(s) to update)",
    );
  });

  test("names at most 8 and counts the rest, so a broken cluster gives one readable row", () => {
    const items = Array.from({ length: 11 }, (_, i) => ({
      kind: "PersistentVolumeClaim",
      metadata: { namespace: "ns", name: `c${i}` },
      status: { phase: "Pending" },
    }));
    expect(checkClaimsBound(okResult(JSON.stringify({ kind: "List", items }))).reason).toBe(
      "11 of 11 not Bound: ns/c0 Pending, ns/c1 Pending, ns/c2 Pending, ns/c3 Pending, ns/c4 Pending, ns/c5 Pending, ns/c6 Pending, ns/c7 Pending and 3 more",
    );
  });

  test("fails when kubectl fails, with kubectl's error", () => {
    expect(checkWorkloadsAvailable(recorded("kubectl-readyz-refused")).reason).toBe("no API at 127.0.0.1:6443: connection refused");
    expect(checkWorkloadsAvailable(failResult("error: You must be logged in to the server (Unauthorized)")).reason).toBe(
      "command failed: error: You must be logged in to the server (Unauthorized)",
    );
  });
});

describe("verify checks, recorded single control plane (stack single)", () => {
  test("every check passes, reading the legacy Endpoints object too", () => {
    const results = verifyChecks(single, {
      nodes: recorded("kubectl-nodes-single"),
      etcdPods: recorded("kubectl-etcd-pods-single"),
      apiEndpoints: recorded("kubectl-endpoints-kubernetes-single"),
      etcdHealth: {
        code: 0,
        stdout:
          '{"state":"healthy","healthy":1,"members":1,"quorum":1,"tolerated":0,"message":"healthy: 1 of 1 members healthy, quorum 1, tolerates 0 failed","endpoints":[{"endpoint":"https://172.18.0.3:2379","health":true,"took":"9ms"}]}',
        stderr: "",
      },
      readyz: recorded("kubectl-readyz-ok"),
      nodeAddresses: addresses({ [`${C}-control-plane`]: "172.18.0.3" }),
      etcdCerts: certs({ [`${C}-control-plane`]: "172.18.0.3" }),
      claims: recorded("kubectl-pvc-bound"),
      workloads: recorded("kubectl-workloads-available"),
      volumes: recorded("kubectl-pv-bound"),
      volumeDirs: okResult("workloads/data-postgres-0\n"),
      certBundles: bundles({ [`${C}-control-plane`]: "172.18.0.3" }),
      now: Date.now(),
    });
    expect(results.filter((r) => !r.ok)).toEqual([]);
    expect(results[6].check).toBe("API server");
  });
});

describe("local registry", () => {
  const r = planRegistry({ port: 5002, dir: "/srv/registry" })!;
  test("passes when every node has its entry and an answer; fails naming each node that has not, and what to do", () => {
    expect(checkRegistry(r, new Map([["n1", okResult()]]))).toEqual({
      check: "local registry",
      ok: true,
      reason: "localhost:5002 pulls from kindha-registry on 1 nodes",
    });
    const broken = checkRegistry(
      r,
      new Map([
        ["n1", okResult()],
        // As the executor reports a failed command: its own line on stderr, the script's on stdout.
        [
          "n2",
          {
            code: 3,
            stdout: "no containerd entry /etc/containerd/certs.d/localhost:5002/hosts.toml\n",
            stderr: "Command failed: docker exec n2 sh -c ...",
          },
        ],
        ["n3", failResult("curl: (6) Could not resolve host: kindha-registry")],
      ]),
    );
    expect(broken.ok).toBe(false);
    expect(broken.reason).toBe(
      "n2: no containerd entry /etc/containerd/certs.d/localhost:5002/hosts.toml, n3: curl: (6) Could not resolve host: kindha-registry " +
        "(kindha-registry running? /srv/registry its storage; cdktf deploy writes the entries and starts it)",
    );
  });

  test("is checked only for a stack that uses it", async () => {
    const { exec, calls } = fakeExec(clusterFixtures());
    const t = findStack("ha-option-a").topology;
    const inputs = await collectVerifyInputs(t, { kubeconfig: "/kc", etcdScript: "/etcd.sh", exec, env: {} });
    expect(inputs.registry).toBeUndefined();
    expect(verifyChecks(t, inputs).map((c) => c.check)).not.toContain("local registry");
    expect(calls.some((x) => x.args[4] === REGISTRY_SCRIPT)).toBe(false);
  });
});

describe("npm run verify (tools/verify.ts) over a fake executor answering with recorded output", () => {
  test("prints the table and exits 0 on a healthy cluster", async () => {
    const { exec, calls } = fakeExec(clusterFixtures());
    const c = capture();
    expect(await verifyMain(["ha-option-a", "--kubeconfig", "/tmp/kc.yaml"], c.io, { exec, env: {}, exists: () => true })).toBe(0);
    expect(c.out.join("\n")).toContain("verify: all 14 checks pass");
    // The machine's registry, from inside every node of the stack (its entry there, and an answer).
    expect(c.out.join("\n")).toMatch(/local registry\s+pass\s+localhost:5001 pulls from kindha-registry on 5 nodes/);
    const registry = calls.filter((x) => x.file === "docker" && x.args[4] === REGISTRY_SCRIPT);
    expect(registry.map((x) => x.args[1]).sort()).toEqual(
      findStack("ha-option-a")
        .topology.nodes.map((n) => n.name)
        .sort(),
    );
    expect(registry[0].args.slice(5)).toEqual(["sh", "/etc/containerd/certs.d/localhost:5001", "http://kindha-registry:5000"]);
    expect(calls.filter((x) => x.file === "kubectl").every((x) => x.args[0] === "--kubeconfig" && x.args[1] === "/tmp/kc.yaml")).toBe(true);
    expect(calls.some((x) => x.file === "kubectl" && x.args.join(" ").includes("--server https://127.0.0.1:6443 get --raw /readyz"))).toBe(
      true,
    );
  });

  test("fails when the stack has no cluster: one line instead of a table of failed checks", async () => {
    const { exec, calls } = fakeExec(clusterFixtures());
    const c = capture();
    expect(await verifyMain(["ha-option-a", "--kubeconfig", "/nope.yaml"], c.io, { exec, env: {}, exists: () => false })).toBe(1);
    expect(c.err).toEqual([
      "error: no cluster for stack ha-option-a: deploy it first (npx cdktf deploy ha-option-a); there is no kubeconfig at /nope.yaml",
    ]);
    expect(c.out).toEqual([]);
    expect(calls).toEqual([]);
  });

  test("fails when a check fails: exit 1 and the failed count", async () => {
    const { exec } = fakeExec(clusterFixtures({ health: "etcd-script-health-degraded" }));
    const c = capture();
    expect(await verifyMain(["ha-option-a"], c.io, { exec, env: {}, exists: () => true })).toBe(1);
    expect(c.out.join("\n")).toContain("verify: 1 of 14 checks FAILED");
    expect(c.out.join("\n")).toMatch(/etcd member health\s+FAIL\s+degraded: 2 of 3/);
  });
});
