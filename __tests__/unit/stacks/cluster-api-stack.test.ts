/**
 * ClusterApiStack: a topology's Cluster API objects as kubernetes_manifest resources against the
 * management cluster. Snapshot for review; then the provider, the objects and their order.
 */
import { Testing } from "cdktf";
import { preset } from "../../../lib/model/presets";
import { ClusterApiStack } from "../../../stacks/cluster-api-stack";
import { scratchDir } from "../../../test-support/scratch";
import type { TerraformJson } from "../../../test-support/synth";

const synth = (props = {}) => {
  const p = preset("ha-option-a");
  const stack = new ClusterApiStack(Testing.app({ outdir: scratchDir() }), "production", p.availability, {
    ...p.spec,
    clusterName: "data-platform-prod",
    ...props,
  });
  const text = Testing.synth(stack);
  return { stack, text, json: JSON.parse(text) as TerraformJson };
};

test("snapshot", () => {
  expect(synth().text).toMatchSnapshot();
});

test("the Kubernetes provider reads the management cluster's kubeconfig, kindha's single stack's by default, expanded at apply time", () => {
  expect(synth().json.provider.kubernetes).toEqual([{ config_path: '${pathexpand("~/.kube/kindha-data-platform-local.yaml")}' }]);
  expect(synth({ clusterApi: { managementKubeconfig: "/etc/mgmt/kubeconfig" } }).json.provider.kubernetes).toEqual([
    { config_path: '${pathexpand("/etc/mgmt/kubeconfig")}' },
  ]);
});

test("one manifest per Cluster API object and nothing of kind; templates first, made before the old one goes; their users after them; the Cluster last (first on destroy)", () => {
  const { json, stack } = synth();
  expect(Object.keys(json.resource)).toEqual(["kubernetes_manifest"]);
  const all = json.resource.kubernetes_manifest;
  const manifests = Object.values(all);
  expect(manifests.map((m) => `${m.manifest.kind}/${m.manifest.metadata.name}`).sort()).toEqual(
    stack.cluster.objects.map((o) => `${o.kind}/${o.metadata.name}`).sort(),
  );
  const [cluster] = manifests.filter((m) => m.manifest.kind === "Cluster");
  expect(cluster.depends_on).toHaveLength(manifests.length - 1);
  const nameOf = (dep: string) => all[dep.replace(/^kubernetes_manifest\./, "")].manifest.metadata.name;
  for (const m of manifests.filter((x) => x.manifest.kind.endsWith("Template"))) {
    expect(m.depends_on).toBeUndefined();
    expect(m.lifecycle).toEqual({ create_before_destroy: true });
  }
  for (const m of manifests.filter((x) => x.manifest.kind === "MachineDeployment" || x.manifest.kind === "KubeadmControlPlane")) {
    const named = JSON.stringify(m.manifest.spec)
      .match(/"name":"[^"]+-[0-9a-f]{8}"/g)!
      .map((r) => r.slice(8, -1));
    expect(m.depends_on.map(nameOf).sort()).toEqual(named.sort());
  }
  expect(json.output.cluster_api_objects.value).toEqual(stack.cluster.objects.map((o) => `${o.kind}/${o.metadata.name}`));
});

test("fails when the settings break a rule, before anything is created: one message, field, value and rule", () => {
  expect(() => synth({ clusterApi: { kubernetesVersion: "latest" } })).toThrow(
    'clusterApi.kubernetesVersion: "latest" must be a Kubernetes version',
  );
  expect(() => synth({ controlPlanes: 4 })).toThrow("controlPlanes: 4 is even; etcd quorum needs an odd count (1, 3, 5, 7)");
});
