/**
 * verify's checks on recorded command output (__tests__/fixtures/recorded): kubectl output is
 * hand-written in the shape of a kind v0.31 cluster (none exists on the build machine); etcd
 * health reports are captured from real etcd 3.4.23.
 */
import { resolveStack } from "../../lib/stack-config";
import {
  checkApiEndpoints,
  checkApiThroughLb,
  checkControlPlaneCount,
  checkControlPlanesReady,
  checkEtcdHealth,
  checkEtcdPods,
  checkNodeAddresses,
  collectVerifyInputs,
  renderChecks,
  verifyChecks,
} from "../../lib/ops/verify";
import { main as verifyMain } from "../../tools/verify";
import { capture, clusterFixtures, failResult, fakeExec, okResult, recorded } from "../fixtures/recorded/load";

const C = "data-platform-local";
const ha = resolveStack("ha-option-a").topology;
const single = resolveStack("single").topology;

const haInputs = {
  nodes: recorded("kubectl-nodes-ha-option-a"),
  etcdPods: recorded("kubectl-etcd-pods-ha-option-a"),
  apiEndpoints: recorded("kubectl-endpointslices-kubernetes-ha-option-a"),
  etcdHealth: recorded("etcd-script-health-healthy"),
  readyz: recorded("kubectl-readyz-ok"),
  nodeAddresses: addresses({ [`${C}-control-plane`]: "172.18.0.4", [`${C}-control-plane2`]: "172.18.0.6", [`${C}-control-plane3`]: "172.18.0.5" }),
};

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
    ]);
    expect(results[0].reason).toBe(`3 of 3: ${C}-control-plane, ${C}-control-plane2, ${C}-control-plane3`);
    expect(results[5].reason).toBe("3: 172.18.0.4, 172.18.0.5, 172.18.0.6");
  });

  test("fails when a control plane came back at another address than its etcd member's, saying how to mend it", () => {
    const moved = new Map(haInputs.nodeAddresses).set(`${C}-control-plane2`, okResult("172.18.0.9\n"));
    expect(checkNodeAddresses(ha, haInputs.etcdPods, moved)).toEqual({
      check: "control planes at their etcd addresses",
      ok: false,
      reason: `${C}-control-plane2 is at 172.18.0.9, its etcd member at 172.18.0.6 (a restarted container got another address: stop it, free its old one, start it)`,
    });
  });

  test("fails when a node container's address cannot be read, or it has none", () => {
    const unread = new Map(haInputs.nodeAddresses).set(`${C}-control-plane3`, failResult("Error: No such object: data-platform-local-control-plane3"));
    expect(checkNodeAddresses(ha, haInputs.etcdPods, unread).reason).toBe(`cannot read the address of ${C}-control-plane3: Error: No such object: data-platform-local-control-plane3`);
    const stopped = new Map(haInputs.nodeAddresses).set(`${C}-control-plane2`, okResult("\n"));
    expect(checkNodeAddresses(ha, haInputs.etcdPods, stopped).reason).toMatch(new RegExp(`^${C}-control-plane2 is at no address \\(stopped\\?\\), its etcd member at 172\\.18\\.0\\.6`));
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

  test("fails when etcd lost quorum, although the script exited 1 (its report is still read)", () => {
    expect(checkEtcdHealth(ha, recorded("etcd-script-health-quorum-lost")).reason).toBe("quorum lost: 0 of 3 members healthy, quorum needs 2");
  });

  test("fails when the etcd health command printed no report", () => {
    const r = checkEtcdHealth(ha, failResult('etcd.sh: error: health: etcdctl gave no result (exit 1): error: unable to upgrade connection: container not found ("etcd")'));
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
      reason: "https://127.0.0.1:6443/readyz: The connection to the server 127.0.0.1:6443 was refused - did you specify the right host or port?",
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
    expect(r.reason).toBe("command failed: The connection to the server 127.0.0.1:6443 was refused - did you specify the right host or port?");
  });

  /** The etcd.sh command verify runs, given what `kubectl get nodes` answers. */
  async function healthCommand(nodes: ReturnType<typeof recorded>) {
    const { exec, calls } = fakeExec((file, args) => (file === "kubectl" && args.includes("nodes") ? nodes : clusterFixtures()(file, args)));
    await collectVerifyInputs(ha, { kubeconfig: "/k", etcdScript: "/repo/scripts/etcd.sh", exec });
    return calls.filter((c) => c.file === "bash").map((c) => c.args);
  }

  test("health runs in the first control plane's pod against every member's InternalIP, expecting 3", async () => {
    expect(await healthCommand(haInputs.nodes)).toEqual([[
      "/repo/scripts/etcd.sh", "--mode", "kind", "--kubeconfig", "/k", "--node", `${C}-control-plane`,
      "--endpoints", "https://172.18.0.4:2379,https://172.18.0.6:2379,https://172.18.0.5:2379",
      "health", "--expect", "3",
    ]]);
  });

  test("health falls back to the member list (still --expect 3) when the nodes are unknown", async () => {
    expect(await healthCommand(failResult("refused"))).toEqual([["/repo/scripts/etcd.sh", "--mode", "kind", "--kubeconfig", "/k", "--node", `${C}-control-plane`, "health", "--expect", "3"]]);
  });

  test("renders one row per check with pass/FAIL", () => {
    const table = renderChecks(verifyChecks(ha, { ...haInputs, readyz: recorded("kubectl-readyz-refused") }));
    const lines = table.split("\n");
    expect(lines[0]).toMatch(/^check\s+result\s+reason$/);
    expect(lines).toHaveLength(9);
    expect(lines[8]).toMatch(/^API through load balancer\s+FAIL\s+https:\/\/127\.0\.0\.1:6443\/readyz: The connection/);
  });
});

describe("verify checks, recorded single control plane (stack single)", () => {
  test("every check passes, reading the legacy Endpoints object too", () => {
    const results = verifyChecks(single, {
      nodes: recorded("kubectl-nodes-single"),
      etcdPods: recorded("kubectl-etcd-pods-single"),
      apiEndpoints: recorded("kubectl-endpoints-kubernetes-single"),
      etcdHealth: { code: 0, stdout: '{"state":"healthy","healthy":1,"members":1,"quorum":1,"tolerated":0,"message":"healthy: 1 of 1 members healthy, quorum 1, tolerates 0 failed","endpoints":[{"endpoint":"https://172.18.0.3:2379","health":true,"took":"9ms"}]}', stderr: "" },
      readyz: recorded("kubectl-readyz-ok"),
      nodeAddresses: addresses({ [`${C}-control-plane`]: "172.18.0.3" }),
    });
    expect(results.filter((r) => !r.ok)).toEqual([]);
    expect(results[6].check).toBe("API server");
  });
});

describe("npm run verify (tools/verify.ts) over a fake executor answering with recorded output", () => {
  test("prints the table and exits 0 on a healthy cluster", async () => {
    const { exec, calls } = fakeExec(clusterFixtures());
    const c = capture();
    expect(await verifyMain(["ha-option-a", "--kubeconfig", "/tmp/kc.yaml"], c.io, { exec, env: {}, exists: () => true })).toBe(0);
    expect(c.out.join("\n")).toContain("verify: all 7 checks pass");
    expect(calls.filter((x) => x.file === "kubectl").every((x) => x.args[0] === "--kubeconfig" && x.args[1] === "/tmp/kc.yaml")).toBe(true);
    expect(calls.some((x) => x.file === "kubectl" && x.args.join(" ").includes("--server https://127.0.0.1:6443 get --raw /readyz"))).toBe(true);
  });

  test("fails when the stack has no cluster: one line instead of a table of failed checks", async () => {
    const { exec, calls } = fakeExec(clusterFixtures());
    const c = capture();
    expect(await verifyMain(["ha-option-a", "--kubeconfig", "/nope.yaml"], c.io, { exec, env: {}, exists: () => false })).toBe(1);
    expect(c.err).toEqual(["error: no cluster for stack ha-option-a: deploy it first (npx cdktf deploy ha-option-a); there is no kubeconfig at /nope.yaml"]);
    expect(c.out).toEqual([]);
    expect(calls).toEqual([]);
  });

  test("fails when a check fails: exit 1 and the failed count", async () => {
    const { exec } = fakeExec(clusterFixtures({ health: "etcd-script-health-degraded" }));
    const c = capture();
    expect(await verifyMain(["ha-option-a"], c.io, { exec, env: {}, exists: () => true })).toBe(1);
    expect(c.out.join("\n")).toContain("verify: 1 of 7 checks FAILED");
    expect(c.out.join("\n")).toMatch(/etcd member health\s+FAIL\s+degraded: 2 of 3/);
  });
});
