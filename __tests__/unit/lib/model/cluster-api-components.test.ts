import { prepareComponents, withVariableDefaults } from "../../../../lib/model/cluster-api-components";

/** A provider's components in the shape kustomize renders Cluster API's config/default. */
const COMPONENTS = `apiVersion: apiextensions.k8s.io/v1
kind: CustomResourceDefinition
metadata:
  annotations:
    cert-manager.io/inject-ca-from: capd-system/capd-serving-cert
  name: dockerclusters.infrastructure.cluster.x-k8s.io
spec:
  conversion:
    strategy: Webhook
    webhook:
      clientConfig:
        service: { name: capd-webhook-service, namespace: capd-system, path: /convert }
      conversionReviewVersions: [v1]
  group: infrastructure.cluster.x-k8s.io
---
apiVersion: v1
kind: Namespace
metadata:
  name: capd-system
---
apiVersion: apps/v1
kind: Deployment
metadata:
  name: capd-controller-manager
  namespace: capd-system
spec:
  template:
    spec:
      containers:
        - args:
            - --diagnostics-address=\${CAPI_DIAGNOSTICS_ADDRESS:=:8443}
            - --feature-gates=MachinePool=\${EXP_MACHINE_POOL:=true},ClusterTopology=\${CLUSTER_TOPOLOGY:=false}
          env:
            - name: DOCKER_HOST
              value: \${CAPD_DOCKER_HOST:=""}
          image: gcr.io/k8s-staging-cluster-api/capd-manager:main
          imagePullPolicy: Always
          name: manager
---
apiVersion: cert-manager.io/v1
kind: Issuer
metadata:
  name: capd-selfsigned-issuer
  namespace: capd-system
spec:
  selfSigned: {}
---
apiVersion: cert-manager.io/v1
kind: Certificate
metadata:
  name: capd-serving-cert
  namespace: capd-system
spec:
  dnsNames:
    - capd-webhook-service.capd-system.svc
    - capd-webhook-service.capd-system.svc.cluster.local
  issuerRef: { kind: Issuer, name: capd-selfsigned-issuer }
  secretName: capd-webhook-service-cert
---
apiVersion: admissionregistration.k8s.io/v1
kind: ValidatingWebhookConfiguration
metadata:
  annotations:
    cert-manager.io/inject-ca-from: capd-system/capd-serving-cert
  name: capd-validating-webhook-configuration
webhooks:
  - clientConfig:
      service: { name: capd-webhook-service, namespace: capd-system, path: /validate-a }
    name: validation.a
  - clientConfig:
      service: { name: capd-webhook-service, namespace: capd-system, path: /validate-b }
    name: validation.b
`;
const IMAGES = { "capd-manager": "kindha.local/capd-manager:v1.13.7" };
const CA = "-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n";
const CA_B64 = Buffer.from(CA).toString("base64");

describe("Cluster API's components, prepared for a management cluster without cert-manager or a registry", () => {
  const prepared = prepareComponents(COMPONENTS, IMAGES, CA);
  const byKind = (kind: string) => prepared.objects.filter((o) => o.kind === kind) as any[];

  test("clusterctl's variables take their defaults (an empty one stays empty)", () => {
    const manager = byKind("Deployment")[0].spec.template.spec.containers[0];
    expect(manager.args).toEqual(["--diagnostics-address=:8443", "--feature-gates=MachinePool=true,ClusterTopology=false"]);
    expect(manager.env).toEqual([{ name: "DOCKER_HOST", value: "" }]);
  });

  test("a variable without a default is refused by name", () => {
    expect(() => withVariableDefaults("image: ${REGISTRY}/capd")).toThrow("variable REGISTRY has no default (${REGISTRY})");
  });

  test("cert-manager's Issuer and Certificate go; the certificate to make stays, with its secret and DNS names", () => {
    expect(prepared.objects.map((o) => o.apiVersion)).not.toContain("cert-manager.io/v1");
    expect(prepared.certificates).toEqual([
      {
        namespace: "capd-system",
        secretName: "capd-webhook-service-cert",
        dnsNames: ["capd-webhook-service.capd-system.svc", "capd-webhook-service.capd-system.svc.cluster.local"],
      },
    ]);
  });

  test("every webhook and conversion webhook trusts the install's CA; the injection annotation goes", () => {
    expect(byKind("ValidatingWebhookConfiguration")[0].webhooks.map((w: any) => w.clientConfig.caBundle)).toEqual([CA_B64, CA_B64]);
    expect(byKind("CustomResourceDefinition")[0].spec.conversion.webhook.clientConfig.caBundle).toBe(CA_B64);
    for (const o of prepared.objects as any[]) expect(o.metadata.annotations?.["cert-manager.io/inject-ca-from"]).toBeUndefined();
  });

  test("each manager runs the image built here and never pulls", () => {
    const manager = byKind("Deployment")[0].spec.template.spec.containers[0];
    expect({ image: manager.image, pull: manager.imagePullPolicy }).toEqual({ image: "kindha.local/capd-manager:v1.13.7", pull: "Never" });
    expect(prepared.images).toEqual(["kindha.local/capd-manager:v1.13.7"]);
    expect(() => prepareComponents(COMPONENTS, {}, CA)).toThrow("no image built for gcr.io/k8s-staging-cluster-api/capd-manager:main");
  });

  test("Namespaces first, then CRDs, then the rest in their order", () => {
    expect(prepared.objects.map((o) => o.kind)).toEqual([
      "Namespace",
      "CustomResourceDefinition",
      "Deployment",
      "ValidatingWebhookConfiguration",
    ]);
  });
});
