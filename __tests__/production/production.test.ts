/**
 * The production tier (`npm run test:production`): the cluster-api target made real. kindha's own
 * `single` stack, deployed with clusterApiManagement, becomes the management cluster
 * (`npm run cluster-api -- install`: Cluster API core, kubeadm bootstrap and control plane, CAPD,
 * built from their Go modules by npm run e2e:cluster-api); `cdktf deploy` of an `ha-option-b`
 * topology with `target: cluster-api` has CAPD create the workload cluster: 3 control planes and
 * 1 worker Ready, etcd with 3 healthy members, the API through CAPD's load balancer, labels and
 * taints as planned, and `npm run verify` passing. A config change scales the workers 1 -> 2;
 * `cdktf destroy` leaves nothing.
 *
 * Needs what the cluster tier needs (the pinned providers: KINDHA_PROVIDER_DIR, default ../shared/providers) and the Cluster
 * API images; without them it fails with one line. About 20 minutes; not part of `npm test` or CI.
 */
import { existsSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { stringify } from "yaml";
import { findStack } from "../../lib/io/config-file";
import {
  clearLeftoverClusters,
  clusterContainers,
  hasState,
  kubectl,
  makeSandbox,
  MINUTE,
  NODE_IMAGE,
  ROOT,
  run,
  waitFor,
} from "../../test-support/cluster";
import { failed as fail, makeProject, missingForDeploy, type Project } from "../../test-support/deploy";
import { runLogged } from "../../test-support/lifecycle";
import { printedBuild } from "../../tools/cluster-api";
import { workloadKubeconfig } from "../../lib/ops/verify-cluster-api";

const say = (line: string) => process.stderr.write(`production: ${line}\n`);
const WORKLOAD = "dp-prod";

const printed = run("bash", [join(ROOT, "e2e", "cluster-api.sh"), "--print"], process.env);
const build = printedBuild(printed.stdout);

/** Why the Cluster API images are not here, or undefined. */
function missingClusterApi(): string | undefined {
  if (printed.code !== 0) return `e2e/cluster-api.sh --print failed: ${printed.output.trim()}`;
  const absent = [...Object.values(build.managers), build.loadBalancer].find(
    (image) => run("docker", ["image", "inspect", image], process.env).code !== 0,
  );
  return absent || !existsSync(build.components)
    ? `Cluster API's images or components are missing (${absent ?? build.components}); build them: npm run e2e:cluster-api`
    : undefined;
}

/** The workload cluster's containers (CAPD labels them as kind does). */
const workloadContainers = () => clusterContainers(WORKLOAD);

const why = missingForDeploy() ?? missingClusterApi() ?? clearLeftoverClusters(say);
if (why) {
  test("the production tier has what it needs", () => {
    throw new Error(`production tier cannot run: ${why}`);
  });
} else {
  const sandbox = makeSandbox(["single"], { single: "    clusterApiManagement: true\n" });
  const prod = (workers: number) =>
    `  prod:\n    availability: ha\n    target: cluster-api\n    clusterName: ${WORKLOAD}\n    nodeImage: ${NODE_IMAGE}\n    allowCgroupV1: true\n` +
    `    workers: [{ role: combined, count: ${workers} }]\n    clusterApi: { loadBalancerImage: ${build.loadBalancer} }\n`;
  const base = readFileSync(sandbox.configFile, "utf8");
  writeFileSync(sandbox.configFile, base + prod(1));
  const management = findStack("single", sandbox.configFile).topology.clusterName;
  const kubeconfig = join(sandbox.home, ".kube", `kindha-${management}.yaml`);
  const workloadConfig = join(sandbox.home, ".kube", `${WORKLOAD}.yaml`);
  let p: Project;
  let env: NodeJS.ProcessEnv;
  const k = (...args: string[]) => kubectl(kubeconfig, env, args);
  const w = (...args: string[]) => kubectl(workloadConfig, env, args);
  const json = (text: string) => JSON.parse(text);
  const cdktf = (...args: string[]) => p.cdktf(...args);
  /** Ready, and the node lifecycle controller has lifted its own taints (not-ready, unreachable). */
  const settled = (n: any) =>
    n.status.conditions.some((c: any) => c.type === "Ready" && c.status === "True") &&
    !(n.spec.taints ?? []).some((t: any) => t.key.startsWith("node.kubernetes.io/"));
  const volumes = () => run("docker", ["volume", "ls", "-q"], process.env).stdout.split("\n").filter(Boolean);
  /** Docker's volumes before the workload cluster: CAPD's machines each make one. */
  let volumesBefore: string[] = [];

  beforeAll(() => {
    p = makeProject(sandbox);
    env = p.env;
  }, 30 * MINUTE);

  afterAll(async () => {
    if (hasState(join(sandbox.dir, "terraform.prod.tfstate")) && workloadContainers().length > 0) {
      await runLogged("npx cdktf destroy prod --auto-approve --skip-provider-lock", {
        cwd: sandbox.dir,
        env,
        logFile: sandbox.logFile,
        timeoutMs: 15 * MINUTE,
      });
    }
    // Machines CAPD could not delete (its management cluster failed first) are this test's own.
    const left = workloadContainers();
    if (left.length > 0) run("docker", ["rm", "-f", "-v", ...left], process.env, undefined, 3 * MINUTE);
    run("kind", ["delete", "cluster", "--name", management], env, undefined, 3 * MINUTE);
    if (process.env.KINDHA_KEEP_SANDBOX !== "1") rmSync(sandbox.dir, { recursive: true, force: true });
  }, 20 * MINUTE);

  test(
    "cdktf deploy single with clusterApiManagement, then npm run cluster-api -- install: the four controllers are Available",
    async () => {
      const d = await cdktf("deploy", "single");
      if (d.code !== 0) throw fail("cdktf deploy single", d);
      say(`cdktf deploy single (the management cluster) took ${d.seconds} s`);
      const mounts = run(
        "docker",
        ["inspect", "-f", "{{range .Mounts}}{{.Destination}} {{end}}", ...clusterContainers(management)],
        env,
      ).stdout;
      expect(
        mounts
          .trim()
          .split("\n")
          .map((l) => l.includes("/var/run/docker.sock")),
      ).toEqual([true, true]);
      const r = await p.tool("cluster-api", "install", "single");
      if (r.code !== 0) throw fail("npm run cluster-api -- install single", r);
      say(`cluster-api install took ${r.seconds} s`);
      expect(r.output).toContain("cluster-api: the management cluster is ready");
      const deployments = json(k("get", "deployments", "-A", "-l", "cluster.x-k8s.io/provider", "-o", "json")).items.map((d: any) => [
        d.metadata.name,
        d.status.availableReplicas === d.spec.replicas,
        d.spec.template.spec.containers[0].image,
      ]);
      expect(deployments.sort()).toEqual([
        ["capd-controller-manager", true, "kindha.local/capd-manager:v1.13.7"],
        ["capi-controller-manager", true, "kindha.local/cluster-api-controller:v1.13.6"],
        ["capi-kubeadm-bootstrap-controller-manager", true, "kindha.local/kubeadm-bootstrap-controller:v1.13.6"],
        ["capi-kubeadm-control-plane-controller-manager", true, "kindha.local/kubeadm-control-plane-controller:v1.13.6"],
      ]);
      // Installing again keeps the certificates: the webhooks answer throughout.
      const again = await p.tool("cluster-api", "install", "single");
      if (again.code !== 0) throw fail("npm run cluster-api -- install single (again)", again);
      expect(again.output).toContain("kept the installed CA and certificates");
      say(`cluster-api install again took ${again.seconds} s`);
    },
    30 * MINUTE,
  );

  test(
    "cdktf deploy prod (ha-option-b, target cluster-api): CAPD creates 3 control planes + 1 worker, Ready, etcd 3 healthy members, the API through its load balancer, labels and taints as planned; npm run verify passes",
    async () => {
      // The workload cluster's pod network: kindha's (in the node image), through a ClusterResourceSet.
      const cni = readFileSync(join(ROOT, "e2e", "image", "default-cni.yaml"), "utf8");
      kubectl(
        kubeconfig,
        env,
        ["apply", "-f", "-"],
        [
          stringify({
            apiVersion: "v1",
            kind: "ConfigMap",
            metadata: { name: "kindha-podnet", namespace: "default" },
            data: { "podnet.yaml": cni },
          }),
          stringify({
            apiVersion: "addons.cluster.x-k8s.io/v1beta2",
            kind: "ClusterResourceSet",
            metadata: { name: "kindha-podnet", namespace: "default" },
            spec: {
              strategy: "ApplyOnce",
              clusterSelector: { matchLabels: { "cluster.x-k8s.io/cluster-name": WORKLOAD } },
              resources: [{ kind: "ConfigMap", name: "kindha-podnet" }],
            },
          }),
        ].join("---\n"),
      );
      volumesBefore = volumes();
      const t0 = Date.now();
      const d = await cdktf("deploy", "prod");
      if (d.code !== 0) throw fail("cdktf deploy prod", d);
      say(`cdktf deploy prod took ${d.seconds} s`);
      await waitFor(
        "the workload cluster's control plane and workers ready",
        25 * MINUTE,
        () => {
          const kcp = json(k("get", "kubeadmcontrolplane", `${WORKLOAD}-control-plane`, "-o", "json")).status ?? {};
          const md = json(k("get", "machinedeployment", `${WORKLOAD}-combined`, "-o", "json")).status ?? {};
          return kcp.readyReplicas === 3 && md.readyReplicas === 1 ? true : undefined;
        },
        10_000,
      );
      say(`the workload cluster was ready ${Math.round((Date.now() - t0) / 1000)} s after cdktf deploy prod started`);

      // Its kubeconfig, through the port CAPD's load balancer publishes on this machine (127.0.0.1 is in the API's SANs).
      const lbPort = run("docker", ["port", `${WORKLOAD}-lb`, "6443/tcp"], env)
        .stdout.trim()
        .split("\n")[0]
        .split(":")
        .pop();
      const secret = json(k("get", "secret", `${WORKLOAD}-kubeconfig`, "-o", "json")).data.value;
      writeFileSync(workloadConfig, workloadKubeconfig(secret, `https://127.0.0.1:${lbPort}`).text, { mode: 0o600 });
      expect(w("get", "--raw", "/readyz").trim()).toBe("ok");

      const planned = findStack("prod", sandbox.configFile).topology;
      const nodes = await waitFor("4 workload nodes Ready", 10 * MINUTE, () => {
        const items = json(w("get", "nodes", "-o", "json")).items;
        return items.length === 4 && items.every(settled) ? items : undefined;
      });
      const shape = (n: any) => ({
        role: n.metadata.labels["kindha.io/role"],
        controlPlane: "node-role.kubernetes.io/control-plane" in n.metadata.labels,
        taints: (n.spec.taints ?? []).map((t: any) => `${t.key}=${t.value ?? ""}:${t.effect}`).sort(),
      });
      const want = [
        ...planned.controlPlanes.map(() => ({
          role: "control-plane",
          controlPlane: true,
          taints: ["node-role.kubernetes.io/control-plane=:NoSchedule"],
        })),
        ...planned.workers.map((x) => ({
          role: x.role,
          controlPlane: false,
          taints: x.taints.map((t) => `${t.key}=${t.value}:${t.effect}`),
        })),
      ];
      expect(nodes.map(shape).sort((a: any, b: any) => a.role.localeCompare(b.role))).toEqual(
        want.sort((a, b) => a.role.localeCompare(b.role)),
      );

      // etcd: scripts/etcd.sh, as verify runs it, through the first control plane's etcd pod.
      const cp = nodes.find((n: any) => shape(n).controlPlane).metadata.name;
      const health = run(
        "bash",
        [join(ROOT, "scripts", "etcd.sh"), "--mode", "kind", "--kubeconfig", workloadConfig, "--node", cp, "health", "--expect", "3"],
        env,
        undefined,
        2 * MINUTE,
      );
      expect({ code: health.code, out: health.code === 0 ? "" : health.output }).toEqual({ code: 0, out: "" });
      // The load balancer routes to all three API servers.
      const lbConfig = run("docker", ["exec", `${WORKLOAD}-lb`, "cat", "/usr/local/etc/haproxy/haproxy.cfg"], env).stdout;
      expect(lbConfig.match(/^\s*server \S+ \S+:6443 /gm)?.length).toBe(3);

      // npm run verify reads all of it through the management cluster.
      const v = await p.tool("verify", "prod", "--workload-server", `https://127.0.0.1:${lbPort}`);
      expect({ code: v.code, out: v.code === 0 ? "" : v.output }).toEqual({ code: 0, out: "" });
      expect(v.output).toContain("verify: all 7 checks pass");
    },
    45 * MINUTE,
  );

  test(
    "workers 1 -> 2 by changing kindha.config.yaml: cdktf deploy prod scales the MachineDeployment, 5 nodes Ready; a second plan is a no-op",
    async () => {
      writeFileSync(sandbox.configFile, base + prod(2));
      const t0 = Date.now();
      const d = await cdktf("deploy", "prod");
      if (d.code !== 0) throw fail("cdktf deploy prod (2 workers)", d);
      expect(json(k("get", "machinedeployment", `${WORKLOAD}-combined`, "-o", "json")).spec.replicas).toBe(2);
      const workers = await waitFor(
        "2 workers Ready",
        15 * MINUTE,
        () => {
          const ready = json(w("get", "nodes", "-l", "kindha.io/role=combined", "-o", "json")).items.filter(settled);
          return ready.length === 2 ? ready : undefined;
        },
        5_000,
      );
      say(`scaling to 2 workers took ${Math.round((Date.now() - t0) / 1000)} s`);
      expect(workers.map((n: any) => n.spec.taints ?? [])).toEqual([[], []]);
      expect(json(w("get", "nodes", "-o", "json")).items).toHaveLength(5);
      const noop = p.plan("prod");
      expect({ code: noop.code, said: noop.stdout.includes("No changes.") }).toEqual({ code: 0, said: true });
    },
    30 * MINUTE,
  );

  test(
    "cdktf destroy prod deletes the workload cluster: no Cluster API objects, no containers, no volumes left",
    async () => {
      const t0 = Date.now();
      const d = await cdktf("destroy", "prod");
      if (d.code !== 0) throw fail("cdktf destroy prod", d);
      await waitFor(
        "the workload cluster's containers gone",
        10 * MINUTE,
        () => (workloadContainers().length === 0 ? true : undefined),
        5_000,
      );
      say(`deleting the workload cluster took ${Math.round((Date.now() - t0) / 1000)} s`);
      const kinds =
        "clusters.cluster.x-k8s.io,machines.cluster.x-k8s.io,machinedeployments.cluster.x-k8s.io,kubeadmcontrolplanes.controlplane.cluster.x-k8s.io,dockerclusters.infrastructure.cluster.x-k8s.io,dockermachines.infrastructure.cluster.x-k8s.io,dockermachinetemplates.infrastructure.cluster.x-k8s.io,kubeadmconfigtemplates.bootstrap.cluster.x-k8s.io";
      expect(k("get", kinds, "-A", "-o", "name").trim()).toBe("");
      expect(volumes().filter((v) => !volumesBefore.includes(v))).toEqual([]);
    },
    20 * MINUTE,
  );
}
