/**
 * Cluster API's provider components (each provider's `config/default`, as kustomize renders it)
 * made ready for a management cluster with no cert-manager and no registry: clusterctl's variables
 * take their defaults, cert-manager's Issuers and Certificates become certificates the install
 * makes (their secrets, names and DNS names), every webhook and conversion webhook trusts the
 * install's CA, and each manager runs the image built here, never pulled. Pure: text in, objects out.
 */
import { parseAllDocuments } from "yaml";
import { imageBaseName } from "./grammar";
import { isRecord } from "./util";

/** A serving certificate cert-manager would have issued: the install makes it. */
export interface ServingCertificate {
  readonly namespace: string;
  /** The `kubernetes.io/tls` Secret the manager mounts. */
  readonly secretName: string;
  readonly dnsNames: readonly string[];
}

export interface PreparedComponents {
  /** The objects to apply, Namespaces first. */
  readonly objects: readonly Record<string, unknown>[];
  readonly certificates: readonly ServingCertificate[];
  /** The manager images the objects name (to load into the management cluster). */
  readonly images: readonly string[];
}

const CERT_MANAGER = "cert-manager.io/";
const INJECT_CA = "cert-manager.io/inject-ca-from";
/** clusterctl's variables: `${NAME}` or `${NAME:=default}`. */
const VARIABLE = /\$\{([A-Za-z_][A-Za-z0-9_]*)(?::=([^}]*))?\}/g;

/** The text with every clusterctl variable at its default; throws naming one that has none. */
export function withVariableDefaults(text: string): string {
  return text.replace(VARIABLE, (whole, name: string, dflt: string | undefined) => {
    if (dflt === undefined) throw new Error(`Cluster API components: variable ${name} has no default (${whole})`);
    return dflt;
  });
}

/**
 * Prepares rendered components: `images` maps each manager image as the components name it
 * (`gcr.io/k8s-staging-cluster-api/capd-manager:main`) by its base name (`capd-manager`) to the
 * image built here; `caBundle` is the PEM of the CA that signs the serving certificates.
 */
export function prepareComponents(text: string, images: Readonly<Record<string, string>>, caBundle: string): PreparedComponents {
  const docs = parseAllDocuments(withVariableDefaults(text));
  const ca = Buffer.from(caBundle).toString("base64");
  const objects: Record<string, unknown>[] = [];
  const certificates: ServingCertificate[] = [];
  const used = new Set<string>();
  for (const doc of Array.isArray(docs) ? docs : [docs]) {
    if (doc.errors.length > 0) throw new Error(`Cluster API components: ${doc.errors[0].message}`);
    const o = doc.toJS() as Record<string, unknown> | null;
    if (!isRecord(o)) continue;
    const apiVersion = String(o.apiVersion ?? "");
    const meta = o.metadata as Record<string, unknown>;
    if (apiVersion.startsWith(CERT_MANAGER)) {
      if (o.kind === "Certificate") {
        const spec = o.spec as { secretName: string; dnsNames: string[] };
        certificates.push({ namespace: String(meta.namespace), secretName: spec.secretName, dnsNames: spec.dnsNames });
      }
      continue;
    }
    const annotations = meta.annotations as Record<string, string> | undefined;
    if (annotations?.[INJECT_CA] !== undefined) {
      delete annotations[INJECT_CA];
      if (Object.keys(annotations).length === 0) delete meta.annotations;
      const clientConfigs =
        o.kind === "CustomResourceDefinition"
          ? [(o.spec as { conversion?: { webhook?: { clientConfig?: Record<string, unknown> } } }).conversion?.webhook?.clientConfig]
          : ((o.webhooks as { clientConfig: Record<string, unknown> }[] | undefined) ?? []).map((w) => w.clientConfig);
      for (const c of clientConfigs) if (c) c.caBundle = ca;
    }
    if (o.kind === "Deployment") {
      const pod = (o.spec as { template: { spec: { containers: { image: string; imagePullPolicy?: string }[] } } }).template.spec;
      for (const c of pod.containers) {
        const built = images[imageBaseName(c.image)];
        if (built === undefined)
          throw new Error(`Cluster API components: no image built for ${c.image} (known: ${Object.keys(images).join(", ")})`);
        c.image = built;
        c.imagePullPolicy = "Never";
        used.add(built);
      }
    }
    objects.push(o);
  }
  const first = (o: Record<string, unknown>) => (o.kind === "Namespace" ? 0 : o.kind === "CustomResourceDefinition" ? 1 : 2);
  objects.sort((a, b) => first(a) - first(b));
  return { objects, certificates, images: [...used] };
}
