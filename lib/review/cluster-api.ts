/**
 * What a change to a cluster-api stack makes Cluster API do, read from the manifests of two
 * syntheses: which machines roll (a new version, a new template), which pools scale, which come
 * or go. Pure.
 */
import type { SynthResource } from "./resources";

interface Manifest {
  readonly kind: string;
  readonly name: string;
  readonly spec: Record<string, unknown>;
}

const manifests = (rs: readonly SynthResource[]): Manifest[] =>
  rs.flatMap((r) => {
    const m =
      r.type === "kubernetes_manifest"
        ? (r.body.manifest as { kind?: string; metadata?: { name?: string }; spec?: Record<string, unknown> } | undefined)
        : undefined;
    return m?.kind && m.metadata?.name ? [{ kind: m.kind, name: m.metadata.name, spec: m.spec ?? {} }] : [];
  });

const at = (o: unknown, path: string): unknown =>
  path.split(".").reduce<unknown>((x, k) => (x && typeof x === "object" ? (x as Record<string, unknown>)[k] : undefined), o);

/** The sentences of a rollout, one per control plane or pool that changes; empty when none does. */
export function clusterApiRollout(base: readonly SynthResource[], head: readonly SynthResource[]): string[] {
  const [before, after] = [manifests(base), manifests(head)];
  const cluster = after.find((m) => m.kind === "Cluster")?.name ?? before.find((m) => m.kind === "Cluster")?.name ?? "";
  const pool = (name: string) => `\`${name.replace(`${cluster}-`, "")}\``;
  const out: string[] = [];
  const find = (list: Manifest[], m: Manifest) => list.find((x) => x.kind === m.kind && x.name === m.name);

  for (const now of after.filter((m) => m.kind === "KubeadmControlPlane")) {
    const was = find(before, now);
    if (!was) continue;
    const [v0, v1] = [at(was.spec, "version"), at(now.spec, "version")];
    if (v0 !== v1) out.push(`The control planes roll from ${v0} to ${v1}, one machine at a time (a new one first, etcd checked between).`);
    else if (at(was.spec, "machineTemplate.spec.infrastructureRef.name") !== at(now.spec, "machineTemplate.spec.infrastructureRef.name")) {
      out.push("The control-plane machines are replaced one at a time: their machine template changed.");
    }
    const [r0, r1] = [at(was.spec, "replicas"), at(now.spec, "replicas")];
    if (r0 !== r1) out.push(`The control planes go from ${r0} to ${r1}.`);
  }
  for (const now of after.filter((m) => m.kind === "MachineDeployment")) {
    const was = find(before, now);
    if (!was) {
      out.push(`Pool ${pool(now.name)} is added with ${at(now.spec, "replicas")} machine(s).`);
      continue;
    }
    const [v0, v1] = [at(was.spec, "template.spec.version"), at(now.spec, "template.spec.version")];
    const templates = (m: Manifest) =>
      `${at(m.spec, "template.spec.infrastructureRef.name")}/${at(m.spec, "template.spec.bootstrap.configRef.name")}`;
    if (v0 !== v1) out.push(`Pool ${pool(now.name)} rolls from ${v0} to ${v1}.`);
    else if (templates(was) !== templates(now)) out.push(`Pool ${pool(now.name)} rolls: its machine or bootstrap template changed.`);
    const [r0, r1] = [at(was.spec, "replicas"), at(now.spec, "replicas")];
    if (r0 !== r1) out.push(`Pool ${pool(now.name)} scales from ${r0} to ${r1} machine(s).`);
  }
  for (const was of before.filter((m) => m.kind === "MachineDeployment" && !find(after, m))) {
    out.push(`Pool ${pool(was.name)} is removed: its ${at(was.spec, "replicas")} machine(s) are deleted.`);
  }
  return out;
}
