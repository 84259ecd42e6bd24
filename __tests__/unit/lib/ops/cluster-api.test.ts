import { existsSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { installSteps, type InstallContext } from "../../../../lib/ops/cluster-api/install";
import { clusterApiChecks, collectClusterApiInputs, type ClusterApiVerifyInputs } from "../../../../lib/ops/verify-cluster-api";
import { runSteps } from "../../../../lib/ops/steps";
import { planTopology } from "../../../../lib/model/plan-topology";
import { preset } from "../../../../lib/model/presets";
import { failResult, fakeClock, fakeExec, line, okResult } from "../../../fixtures/recorded/load";

const t = planTopology("ha", { ...preset("ha-option-b").spec, clusterName: "dp-prod" }, "prod");
const json = (o: unknown) => okResult(JSON.stringify(o));
const list = (items: unknown[]) => json({ apiVersion: "v1", kind: "List", items });
const node = (name: string, role: string, ready = true) => ({
  metadata: {
    name,
    labels: { "kindha.io/role": role, ...(role === "control-plane" ? { "node-role.kubernetes.io/control-plane": "" } : {}) },
  },
  status: { conditions: [{ type: "Ready", status: ready ? "True" : "False", reason: ready ? "" : "KubeletNotReady" }] },
});
const health = (members: number, healthy: number) => okResult(JSON.stringify({ healthy, members, endpoints: [] }));

/** A workload cluster as planned: 3 control planes and 1 combined worker, all ready. */
function healthy(): ClusterApiVerifyInputs {
  return {
    cluster: json({ status: { phase: "Provisioned", conditions: [{ type: "Available", status: "True" }] } }),
    controlPlane: json({ spec: { replicas: 3 }, status: { replicas: 3, readyReplicas: 3, upToDateReplicas: 3 } }),
    machineDeployments: list([{ metadata: { name: "dp-prod-combined" }, spec: { replicas: 1 }, status: { readyReplicas: 1 } }]),
    machines: list(["a", "b", "c", "d"].map((n) => ({ metadata: { name: n }, status: { phase: "Running" } }))),
    nodes: list([node("cp-a", "control-plane"), node("cp-b", "control-plane"), node("cp-c", "control-plane"), node("w-a", "combined")]),
    etcdHealth: health(3, 3),
    readyz: okResult("ok"),
    server: "https://172.18.0.4:6443",
  };
}
const verdicts = (i: ClusterApiVerifyInputs) => clusterApiChecks(t, i).map((r) => `${r.ok ? "pass" : "FAIL"} ${r.check}: ${r.reason}`);

describe("verify of a cluster-api stack", () => {
  test("a workload cluster as planned passes every check", () => {
    expect(verdicts(healthy())).toEqual([
      "pass Cluster available: dp-prod Provisioned",
      "pass control planes ready: 3 of 3 ready, 3 up to date",
      "pass worker pools ready: dp-prod-combined 1",
      "pass machines running: 4 Running",
      "pass workload nodes Ready, roles as planned: 4 Ready: 1 combined, 3 control-plane",
      "pass etcd member health: healthy: 3 of 3 members healthy, quorum 2, tolerates 1 failed",
      "pass API through its endpoint: https://172.18.0.4:6443/readyz: ok",
    ]);
  });

  test("each shortfall fails its check and says what it found", () => {
    const i = {
      ...healthy(),
      controlPlane: json({ spec: { replicas: 3 }, status: { replicas: 3, readyReplicas: 2, upToDateReplicas: 3 } }),
      machineDeployments: list([{ metadata: { name: "dp-prod-combined" }, spec: { replicas: 2 }, status: { readyReplicas: 1 } }]),
      nodes: list([node("cp-a", "control-plane"), node("cp-b", "control-plane"), node("w-a", "combined", false)]),
      etcdHealth: health(3, 2),
    };
    expect(verdicts(i).filter((v) => v.startsWith("FAIL"))).toEqual([
      "FAIL control planes ready: 2 of 3 ready, 3 up to date",
      "FAIL worker pools ready: dp-prod-combined 1 of 1 ready (spec asks for 2)",
      "FAIL workload nodes Ready, roles as planned: 1 combined, 2 control-plane; planned 1 combined, 3 control-plane; not Ready: w-a (KubeletNotReady)",
      "FAIL etcd member health: degraded: 2 of 3 members healthy, quorum needs 2 (held); 0 more failures tolerated",
    ]);
  });

  test("before Cluster API wrote the workload kubeconfig, the workload's checks fail saying so", () => {
    const { nodes: _n, etcdHealth: _e, readyz: _r, server: _s, ...management } = healthy();
    expect(verdicts(management).slice(4)).toEqual([
      "FAIL workload nodes Ready, roles as planned: no workload kubeconfig yet (Secret <cluster>-kubeconfig)",
      "FAIL etcd member health: no workload kubeconfig yet",
      "FAIL API through its endpoint: no workload kubeconfig yet",
    ]);
  });

  test("the workload kubeconfig lives in a private file only while verify runs; --workload-server replaces its address", async () => {
    const kubeconfig = Buffer.from(
      "apiVersion: v1\nkind: Config\nclusters:\n  - name: dp-prod\n    cluster: { server: https://172.18.0.4:6443 }\n",
    ).toString("base64");
    const seen: { path: string; text: string; mode: number }[] = [];
    const { exec, calls } = fakeExec((file, args) => {
      const cfg = args[args.indexOf("--kubeconfig") + 1];
      if (file === "kubectl" && args.includes("secret")) return okResult(kubeconfig);
      if (file === "kubectl" && cfg.includes("kindha-verify-")) {
        seen.push({ path: cfg, text: readFileSync(cfg, "utf8"), mode: statSync(cfg).mode & 0o777 });
        return args.includes("nodes") ? list([node("cp-a", "control-plane")]) : okResult("ok");
      }
      if (file === "kubectl") return json({});
      return health(3, 3);
    });
    const i = await collectClusterApiInputs(t, {
      kubeconfig: "/m.yaml",
      etcdScript: "/etcd.sh",
      exec,
      workloadServer: "https://127.0.0.1:32773",
    });
    expect(i.server).toBe("https://127.0.0.1:32773");
    expect(seen.map((s) => [s.text.includes("server: https://127.0.0.1:32773"), s.mode])).toEqual([
      [true, 0o600],
      [true, 0o600],
    ]);
    expect(seen.every((s) => !existsSync(s.path))).toBe(true);
    expect(calls.map(line).find((l) => l.includes("health"))).toContain("--node cp-a");
  });
});

describe("npm run cluster-api -- install", () => {
  const components = `apiVersion: v1
kind: Namespace
metadata: { name: capd-system }
---
apiVersion: cert-manager.io/v1
kind: Certificate
metadata: { name: capd-serving-cert, namespace: capd-system }
spec: { secretName: capd-webhook-service-cert, dnsNames: [capd-webhook-service.capd-system.svc] }
---
apiVersion: apps/v1
kind: Deployment
metadata: { name: capd-controller-manager, namespace: capd-system }
spec: { template: { spec: { containers: [{ name: manager, image: "gcr.io/k8s-staging-cluster-api/capd-manager:main" }] } } }
---
apiVersion: admissionregistration.k8s.io/v1
kind: ValidatingWebhookConfiguration
metadata: { name: capd-validating-webhook-configuration, annotations: { cert-manager.io/inject-ca-from: capd-system/capd-serving-cert } }
webhooks: [{ name: validation.a, clientConfig: { service: { name: capd-webhook-service, namespace: capd-system } } }]
`;
  let workDir = "";
  beforeEach(() => (workDir = mkdtempSync(join(tmpdir(), "kindha-install-test-"))));
  afterEach(() => rmSync(workDir, { recursive: true, force: true }));
  const context = (exec: InstallContext["exec"]): InstallContext => ({
    stackId: "single",
    clusterName: "data-platform-local",
    kubeconfig: "/k.yaml",
    exec,
    env: {},
    containerCli: "docker",
    components,
    images: { "capd-manager": "kindha.local/capd-manager:v1.13.7" },
    workDir,
    waitMs: 60_000,
    clock: fakeClock(),
  });
  const mounts = (socket: boolean) =>
    okResult(`/data-platform-local-control-plane /var/local-path-provisioner ${socket ? "/var/run/docker.sock " : ""}\n`);

  test("a cluster whose nodes lack the Docker socket is refused before anything is made, naming the nodes and the setting", async () => {
    const { exec, calls } = fakeExec((_file, args) =>
      args[0] === "ps" ? okResult("abc\n") : args[0] === "inspect" ? mounts(false) : undefined,
    );
    const log: string[] = [];
    const report = await runSteps(installSteps(context(exec)), context(exec), (l) => log.push(l), fakeClock());
    expect(report.failed?.reason).toBe(
      "data-platform-local-control-plane do not mount /var/run/docker.sock, which CAPD needs: set clusterApiManagement: true for the stack and re-create it",
    );
    expect(report.failed?.next).toBe(
      "set clusterApiManagement: true for stack single, re-create it (npx cdktf deploy single), then install again",
    );
    expect(calls.map((c) => c.file)).toEqual(["docker", "docker"]);
  });

  test("makes the CA and the webhook's certificate, loads the images, applies namespaces, the Secret, then the components, and waits until the webhooks answer", async () => {
    let dryRuns = 0;
    const { exec, calls } = fakeExec((file, args) => {
      if (file === "docker") return args[0] === "ps" ? okResult("abc\n") : mounts(true);
      if (file === "openssl") {
        writeFileSync(join(workDir, args[args.indexOf("-out") + 1]), "-----BEGIN CERTIFICATE-----\n");
        return okResult();
      }
      if (file === "kubectl" && args.includes("--dry-run=server"))
        return ++dryRuns < 3 ? failResult('failed calling webhook "validation.cluster.x-k8s.io": connection refused') : okResult();
      return okResult();
    });
    const ctx = context(exec);
    const report = await runSteps(installSteps(ctx), ctx, () => undefined, fakeClock());
    expect(report.ok).toBe(true);
    const ran = calls.map(line).map((l) => l.replace(workDir, "<work>").replace(/--from-file=(\S+)=\S+/g, "--from-file=$1"));
    expect(ran.filter((l) => !l.startsWith("docker") && !l.startsWith("openssl"))).toEqual([
      "kubectl --kubeconfig /k.yaml get secret -n capd-system capd-webhook-service-cert --ignore-not-found -o jsonpath={.data.ca\\.crt}",
      "kind load docker-image --name data-platform-local kindha.local/capd-manager:v1.13.7",
      "kubectl --kubeconfig /k.yaml apply --server-side --force-conflicts --field-manager kindha -f <work>/namespaces.yaml",
      "kubectl --kubeconfig /k.yaml delete secret --ignore-not-found -n capd-system capd-webhook-service-cert",
      "kubectl --kubeconfig /k.yaml create secret generic capd-webhook-service-cert -n capd-system --type kubernetes.io/tls --from-file=tls.crt --from-file=tls.key --from-file=ca.crt",
      "kubectl --kubeconfig /k.yaml apply --server-side --force-conflicts --field-manager kindha -f <work>/components.yaml",
      "kubectl --kubeconfig /k.yaml wait --for=condition=Available deployment --all -n capd-system --timeout=60s",
      "kubectl --kubeconfig /k.yaml create --dry-run=server -f <work>/probe.yaml",
      "kubectl --kubeconfig /k.yaml create --dry-run=server -f <work>/probe.yaml",
      "kubectl --kubeconfig /k.yaml create --dry-run=server -f <work>/probe.yaml",
    ]);
    // The serving certificate names the webhook Service (SANs through the environment, never argv).
    const leaf = calls.find((c) => c.file === "openssl" && c.args.includes("leaf"))!;
    expect(leaf.opts?.env?.KINDHA_SANS).toBe("DNS:capd-webhook-service.capd-system.svc");
    const applied = readFileSync(join(workDir, "components.yaml"), "utf8");
    expect(applied).toContain("image: kindha.local/capd-manager:v1.13.7");
    expect(applied).not.toContain("cert-manager.io");
  });

  test("installing again keeps the installed CA and certificates while they last: no new key, no Secret replaced, the components trust that CA", async () => {
    const installed = "-----BEGIN CERTIFICATE-----\nINSTALLED\n-----END CERTIFICATE-----\n";
    const run = async (lasting: boolean) => {
      const { exec, calls } = fakeExec((file, args) => {
        if (file === "docker") return args[0] === "ps" ? okResult("abc\n") : mounts(true);
        if (file === "kubectl" && args.includes("secret") && args.includes("get"))
          return okResult(Buffer.from(installed).toString("base64"));
        if (file === "openssl" && args.includes("-checkend"))
          return lasting ? okResult("Certificate will not expire") : failResult("Certificate will expire");
        if (file === "openssl") writeFileSync(join(workDir, args[args.indexOf("-out") + 1]), "-----BEGIN CERTIFICATE-----\nNEW\n");
        return okResult();
      });
      const ctx = context(exec);
      expect((await runSteps(installSteps(ctx), ctx, () => undefined, fakeClock())).ok).toBe(true);
      return { ran: calls.map(line), applied: readFileSync(join(workDir, "components.yaml"), "utf8") };
    };
    const kept = await run(true);
    expect(kept.ran.filter((l) => l.startsWith("openssl req") || l.includes("create secret") || l.includes("delete secret"))).toEqual([]);
    expect(kept.applied).toContain(`caBundle: ${Buffer.from(installed).toString("base64")}`);
    const renewed = await run(false);
    expect(renewed.ran.filter((l) => l.startsWith("openssl req"))).toHaveLength(2);
    expect(renewed.ran.filter((l) => l.includes("create secret"))).toHaveLength(1);
    expect(renewed.applied).toContain(`caBundle: ${Buffer.from("-----BEGIN CERTIFICATE-----\nNEW\n").toString("base64")}`);
  });
});
