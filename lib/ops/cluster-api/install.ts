/**
 * Makes a kind cluster of kindha a Cluster API management cluster: Cluster API's core, the kubeadm
 * bootstrap and control-plane providers and CAPD, from the images and components e2e/cluster-api.sh
 * builds. No cert-manager: the install makes a CA and each webhook's serving certificate
 * (openssl, in a private directory it removes), and the components trust that CA
 * (lib/model/cluster-api-components.ts). Each step is checked; the first failure stops the install.
 * Over 300 lines because each install step is written out with its own check.
 */
import { readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { stringify } from "yaml";
import type { Executor } from "../../io/exec";
import { prepareComponents, type PreparedComponents, type ServingCertificate } from "../../model/cluster-api-components";
import { DEFAULTS } from "../../model/defaults";
import { kindClusterPsArgs } from "../../model/topology";
import { failed, failedCommand, ok, pollUntil, type Clock, type Step } from "../steps";

export interface InstallContext {
  /** The management cluster's stack id (for what to do next). */
  readonly stackId: string;
  readonly clusterName: string;
  readonly kubeconfig: string;
  readonly exec: Executor;
  readonly env: NodeJS.ProcessEnv;
  readonly containerCli: string;
  /** The components as kustomize rendered them (e2e/cluster-api.sh). */
  readonly components: string;
  /** Each manager image's base name (`capd-manager`) and the image built here. */
  readonly images: Readonly<Record<string, string>>;
  /** A directory only this user reads (0700), for keys and manifests; the caller removes it. */
  readonly workDir: string;
  /** Bound of the wait for the controllers. */
  readonly waitMs: number;
  readonly clock: Clock;
}

/** What the steps hand on: the components, prepared for the CA, and whether the installed certificates stay. */
interface State {
  prepared?: PreparedComponents;
  keepCertificates?: boolean;
}

const OPENSSL_CONFIG = `[req]
distinguished_name = dn
[dn]
[ca]
basicConstraints = critical,CA:TRUE
keyUsage = critical,keyCertSign,cRLSign
subjectKeyIdentifier = hash
[leaf]
basicConstraints = critical,CA:FALSE
keyUsage = critical,digitalSignature,keyEncipherment
extendedKeyUsage = serverAuth
subjectAltName = $ENV::KINDHA_SANS
`;
/** One object per provider's webhooks, valid, for a server-side dry run. */
const WEBHOOK_PROBE = [
  {
    apiVersion: "cluster.x-k8s.io/v1beta2",
    kind: "Cluster",
    spec: { controlPlaneRef: { apiGroup: "controlplane.cluster.x-k8s.io", kind: "KubeadmControlPlane", name: "kindha-install-probe" } },
  },
  {
    apiVersion: "bootstrap.cluster.x-k8s.io/v1beta2",
    kind: "KubeadmConfigTemplate",
    spec: { template: { spec: { format: "cloud-config" } } },
  },
  {
    apiVersion: "controlplane.cluster.x-k8s.io/v1beta2",
    kind: "KubeadmControlPlane",
    spec: {
      version: "v1.36.1",
      machineTemplate: {
        spec: {
          infrastructureRef: { apiGroup: "infrastructure.cluster.x-k8s.io", kind: "DockerMachineTemplate", name: "kindha-install-probe" },
        },
      },
    },
  },
  { apiVersion: "infrastructure.cluster.x-k8s.io/v1beta2", kind: "DockerMachineTemplate", spec: { template: { spec: {} } } },
]
  .map((o) => stringify({ ...o, metadata: { name: "kindha-install-probe", namespace: "default" } }))
  .join("---\n");
const KEY = ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes"];
const DAYS = "3650";

export function installSteps(c: InstallContext): Step<InstallContext>[] {
  const s: State = {};
  const kubectl = (args: string[], timeoutMs = 120_000) =>
    c.exec("kubectl", ["--kubeconfig", c.kubeconfig, ...args], { env: c.env, timeoutMs });
  const openssl = (args: string[], sans = "") =>
    c.exec("openssl", args, { env: { ...c.env, KINDHA_SANS: sans }, cwd: c.workDir, timeoutMs: 60_000 });
  const file = (name: string, text: string) => {
    const path = join(c.workDir, name);
    writeFileSync(path, text, { mode: 0o600 });
    return path;
  };
  return [
    {
      name: "the nodes mount the Docker socket",
      next: `set clusterApiManagement: true for stack ${c.stackId}, re-create it (npx cdktf deploy ${c.stackId}), then install again`,
      run: async () => {
        const ps = await c.exec(c.containerCli, kindClusterPsArgs(c.clusterName), { env: c.env });
        if (ps.code !== 0) return failedCommand(`${c.containerCli} ps`, ps);
        const ids = ps.stdout.split("\n").filter(Boolean);
        if (ids.length === 0) return failed(`no node container of kind cluster ${c.clusterName}`);
        const r = await c.exec(c.containerCli, ["inspect", "-f", "{{.Name}} {{range .Mounts}}{{.Destination}} {{end}}", ...ids], {
          env: c.env,
        });
        if (r.code !== 0) return failedCommand(`${c.containerCli} inspect`, r);
        const without = r.stdout
          .split("\n")
          .filter(Boolean)
          .filter((l) => !l.split(" ").includes(DEFAULTS.dockerSocket))
          .map((l) => l.split(" ")[0].replace(/^\//, ""));
        if (without.length > 0)
          return failed(
            `${without.join(", ")} do not mount ${DEFAULTS.dockerSocket}, which CAPD needs: set clusterApiManagement: true for the stack and re-create it`,
          );
        return ok(`${ids.length} nodes`);
      },
    },
    {
      name: "the webhooks' CA: the installed one while it lasts, else a new one",
      next: "check that openssl runs and that npm run e2e:cluster-api rendered the components; nothing was changed in the cluster",
      run: async () => {
        try {
          const installed = await installedCa(prepareComponents(c.components, c.images, "").certificates);
          if (installed === undefined) {
            file("openssl.cnf", OPENSSL_CONFIG);
            const r = await openssl([
              "req",
              "-x509",
              "-config",
              "openssl.cnf",
              "-extensions",
              "ca",
              ...KEY,
              "-keyout",
              "ca.key",
              "-out",
              "ca.crt",
              "-days",
              DAYS,
              "-subj",
              "/CN=kindha-cluster-api-webhooks",
            ]);
            if (r.code !== 0) return failedCommand("openssl (CA)", r);
          }
          s.keepCertificates = installed !== undefined;
          s.prepared = prepareComponents(c.components, c.images, installed ?? readFileSync(join(c.workDir, "ca.crt"), "utf8"));
        } catch (e) {
          return failed((e as Error).message);
        }
        const p = s.prepared;
        return ok(
          `${s.keepCertificates ? "kept the installed CA and certificates" : "a new CA"}; ${p.objects.length} objects, ${p.certificates.length} serving certificates, images ${p.images.join(", ")}`,
        );
      },
    },
    {
      name: "load the controller images into the nodes",
      next: "check the Docker engine and the nodes' disk space, then install again; nothing was applied yet",
      run: async () => {
        const r = await c.exec("kind", ["load", "docker-image", "--name", c.clusterName, ...s.prepared!.images], {
          env: c.env,
          timeoutMs: 15 * 60_000,
        });
        return r.code === 0 ? ok() : failedCommand("kind load docker-image", r);
      },
    },
    {
      name: "namespaces and serving certificates",
      next: `check the management cluster (npm run verify -- ${c.stackId}), then install again`,
      run: async () => {
        const p = s.prepared!;
        const namespaces = p.objects.filter((o) => o.kind === "Namespace");
        const ns = await kubectl([
          "apply",
          "--server-side",
          "--force-conflicts",
          "--field-manager",
          "kindha",
          "-f",
          file("namespaces.yaml", namespaces.map((o) => stringify(o)).join("---\n")),
        ]);
        if (ns.code !== 0) return failedCommand("kubectl apply (namespaces)", ns);
        for (const cert of s.keepCertificates ? [] : p.certificates) {
          const why = await servingCertificate(cert);
          if (why) return failed(why);
        }
        return ok(p.certificates.map((x) => `${x.namespace}/${x.secretName}`).join(", "));
      },
    },
    {
      name: "apply the components",
      next: `check the management cluster (npm run verify -- ${c.stackId}), then install again: apply is idempotent`,
      run: async () => {
        const rest = s.prepared!.objects.filter((o) => o.kind !== "Namespace");
        const r = await kubectl(
          [
            "apply",
            "--server-side",
            "--force-conflicts",
            "--field-manager",
            "kindha",
            "-f",
            file("components.yaml", rest.map((o) => stringify(o)).join("---\n")),
          ],
          5 * 60_000,
        );
        return r.code === 0 ? ok(`${rest.length} objects`) : failedCommand("kubectl apply (components)", r);
      },
    },
    {
      name: "the controllers are available and their webhooks answer",
      next: `look at the controllers' pods (kubectl get pods -A -l cluster.x-k8s.io/provider) and their logs; install again once they run`,
      run: async () => {
        const namespaces = [
          ...new Set(
            s
              .prepared!.objects.filter((o) => o.kind === "Deployment")
              .map((o) => String((o.metadata as Record<string, unknown>).namespace)),
          ),
        ];
        for (const ns of namespaces) {
          const r = await kubectl(
            ["wait", "--for=condition=Available", "deployment", "--all", "-n", ns, `--timeout=${Math.round(c.waitMs / 1000)}s`],
            c.waitMs + 30_000,
          );
          if (r.code !== 0) return failedCommand(`waiting for the deployments of ${ns}`, r);
        }
        // A Deployment is Available before its Service routes to it: dry-run one object per
        // webhook until every webhook answers.
        const probe = file("probe.yaml", WEBHOOK_PROBE);
        const last = await pollUntil(
          async () => {
            const r = await kubectl(["create", "--dry-run=server", "-f", probe]);
            return { done: r.code === 0 || !/failed calling webhook|connection refused|no endpoints available/.test(r.stderr), r };
          },
          { timeoutMs: c.waitMs, intervalMs: 2_000, clock: c.clock },
        );
        return last.r.code === 0
          ? ok(`${namespaces.join(", ")}; webhooks answer`)
          : failedCommand("a dry run through the webhooks", last.r);
      },
    },
  ];

  /**
   * The CA of an earlier install, when every serving certificate's Secret holds the same one and
   * it is good for 30 days more: a second install then keeps them, and the webhooks never stop
   * answering (new certificates take kubelet a minute or so to hand to the managers).
   */
  async function installedCa(certs: readonly ServingCertificate[]): Promise<string | undefined> {
    const cas = new Set<string>();
    for (const cert of certs) {
      const r = await kubectl([
        "get",
        "secret",
        "-n",
        cert.namespace,
        cert.secretName,
        "--ignore-not-found",
        "-o",
        "jsonpath={.data.ca\\.crt}",
      ]);
      if (r.code !== 0 || r.stdout.trim() === "") return undefined;
      cas.add(r.stdout.trim());
    }
    if (cas.size !== 1) return undefined;
    const pem = Buffer.from([...cas][0], "base64").toString("utf8");
    file("installed-ca.crt", pem);
    const lasting = await openssl(["x509", "-checkend", String(30 * 24 * 3600), "-noout", "-in", "installed-ca.crt"]);
    return lasting.code === 0 ? pem : undefined;
  }

  /** One webhook's key and certificate, signed by the CA, as the Secret its manager mounts (replaced). */
  async function servingCertificate(cert: ServingCertificate): Promise<string | undefined> {
    const base = `${cert.namespace}-${cert.secretName}`;
    const r = await openssl(
      [
        "req",
        "-x509",
        "-config",
        "openssl.cnf",
        "-extensions",
        "leaf",
        "-CA",
        "ca.crt",
        "-CAkey",
        "ca.key",
        ...KEY,
        "-keyout",
        `${base}.key`,
        "-out",
        `${base}.crt`,
        "-days",
        DAYS,
        "-subj",
        `/CN=${cert.dnsNames[0].split(".")[0].slice(0, 64)}`,
      ],
      cert.dnsNames.map((d) => `DNS:${d}`).join(","),
    );
    if (r.code !== 0) return `openssl (${base}) failed (exit ${r.code}): ${r.stderr.trim().split("\n").pop()}`;
    const del = await kubectl(["delete", "secret", "--ignore-not-found", "-n", cert.namespace, cert.secretName]);
    if (del.code !== 0) return `kubectl delete secret ${cert.namespace}/${cert.secretName} failed: ${del.stderr.trim()}`;
    const at = (f: string) => join(c.workDir, f);
    const create = await kubectl([
      "create",
      "secret",
      "generic",
      cert.secretName,
      "-n",
      cert.namespace,
      "--type",
      "kubernetes.io/tls",
      `--from-file=tls.crt=${at(`${base}.crt`)}`,
      `--from-file=tls.key=${at(`${base}.key`)}`,
      `--from-file=ca.crt=${at("ca.crt")}`,
    ]);
    return create.code === 0 ? undefined : `kubectl create secret ${cert.namespace}/${cert.secretName} failed: ${create.stderr.trim()}`;
  }
}
