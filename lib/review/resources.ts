/**
 * Resources of a synthesized stack (cdk.tf.json) and the difference between two syntheses,
 * judged by address and body the way Terraform would plan it, without an engine. Just over 250
 * lines: the reader of cdk.tf.json and the differ share their types.
 */
import { parse } from "yaml";
import { hostPortLabel, type KindConfig } from "../model/kind-config";
import { flatten, isJsonObject, jsonEqual, withoutMetadata, type Json, type JsonObject } from "./json";

/** One resource or data source of a stack's Terraform JSON. */
export interface SynthResource {
  /** Terraform address: `null_resource.Cluster_Lifecycle_472BBF24`, `data.local_sensitive_file.X`. */
  readonly address: string;
  readonly mode: "managed" | "data";
  readonly type: string;
  readonly name: string;
  /** The construct path cdktf records, e.g. `ha-option-a/Cluster/Lifecycle`. */
  readonly constructPath?: string;
  /** The body without cdktf's `"//"` metadata. */
  readonly body: JsonObject;
}

/** Every resource and data source of a cdk.tf.json document, sorted by address. */
export function resourcesOf(document: unknown): SynthResource[] {
  const out: SynthResource[] = [];
  if (!isJsonObject(document)) return out;
  for (const mode of ["managed", "data"] as const) {
    const block = document[mode === "managed" ? "resource" : "data"];
    if (!isJsonObject(block)) continue;
    for (const type of Object.keys(block)) {
      const byName = block[type];
      if (!isJsonObject(byName)) continue;
      for (const name of Object.keys(byName)) {
        const raw = byName[name];
        if (!isJsonObject(raw)) continue;
        const meta = raw["//"];
        const path = isJsonObject(meta) && isJsonObject(meta.metadata) ? meta.metadata.path : undefined;
        out.push({
          address: `${mode === "data" ? "data." : ""}${type}.${name}`,
          mode,
          type,
          name,
          ...(typeof path === "string" ? { constructPath: path } : {}),
          body: withoutMetadata(raw) as JsonObject,
        });
      }
    }
  }
  return out.sort((a, b) => compare(a.address, b.address));
}

/**
 * What a plan would do to one resource:
 * - `create`/`destroy`: address only in the change / only in the base;
 * - `replace`: an attribute the provider cannot update changed (null_resource `triggers`,
 *   any `local_file` argument);
 * - `update`: another attribute changed (in place, or a replacement the engine decides);
 * - `read`: a data source's arguments changed;
 * - `no-op`: only provisioners, `depends_on`, `lifecycle` or `connection` changed, which are
 *   not part of the state.
 */
export type ChangeKind = "create" | "destroy" | "replace" | "update" | "read" | "no-op";
export const CHANGE_ORDER: readonly ChangeKind[] = ["replace", "destroy", "create", "update", "read", "no-op"];

export interface AttributeChange {
  readonly path: string;
  readonly before?: Json;
  readonly after?: Json;
  /** Why an attribute that reads the same changes at apply time (markdown). */
  readonly note?: string;
}

export interface ResourceChange {
  readonly address: string;
  readonly kind: ChangeKind;
  readonly type: string;
  readonly constructPath?: string;
  /** Changed attribute paths (only for replace, update, read, no-op). */
  readonly attributes: readonly AttributeChange[];
}

export interface ResourceDiff {
  /** Sorted by {@link CHANGE_ORDER}, then address. */
  readonly changes: readonly ResourceChange[];
  readonly unchanged: number;
}

/** Paths that never make a plan change by themselves. */
const NOT_IN_STATE = /^(provisioner|depends_on|lifecycle|connection)(\.|\[|$)/;

/** Types whose every argument forces replacement, and per-type arguments that do. */
const ALL_FORCE_NEW = new Set(["local_file", "local_sensitive_file"]);
const FORCE_NEW_PATHS: Readonly<Record<string, RegExp>> = { null_resource: /^triggers(\.|$)/ };

function forcesReplacement(type: string, path: string): boolean {
  if (NOT_IN_STATE.test(path)) return false;
  return ALL_FORCE_NEW.has(type) || (FORCE_NEW_PATHS[type]?.test(path) ?? false);
}

/** The changed leaf paths between two bodies. */
export function attributeChanges(before: JsonObject, after: JsonObject): AttributeChange[] {
  const b = flatten(before);
  const a = flatten(after);
  const paths = [...new Set([...b.keys(), ...a.keys()])].sort(compare);
  const out: AttributeChange[] = [];
  for (const path of paths) {
    const was = b.get(path);
    const is = a.get(path);
    if (jsonEqual(was, is)) continue;
    out.push({ path, ...(b.has(path) ? { before: was } : {}), ...(a.has(path) ? { after: is } : {}) });
  }
  return out;
}

/** Compares two stacks' resources by address and body. */
export function diffResources(base: readonly SynthResource[], head: readonly SynthResource[]): ResourceDiff {
  const before = new Map(base.map((r) => [r.address, r]));
  const after = new Map(head.map((r) => [r.address, r]));
  const found = new Map<string, ResourceChange>();
  for (const r of head) {
    const old = before.get(r.address);
    if (!old) {
      found.set(r.address, { address: r.address, kind: "create", type: r.type, constructPath: r.constructPath, attributes: [] });
      continue;
    }
    const attributes = attributeChanges(old.body, r.body);
    if (attributes.length === 0) continue;
    let kind: ChangeKind;
    if (attributes.every((c) => NOT_IN_STATE.test(c.path))) kind = "no-op";
    else if (r.mode === "data") kind = "read";
    else if (attributes.some((c) => forcesReplacement(r.type, c.path))) kind = "replace";
    else kind = "update";
    found.set(r.address, { address: r.address, kind, type: r.type, constructPath: r.constructPath, attributes });
  }
  cascadeReplacements(head, found);
  const changes = [...found.values()];
  for (const r of base) {
    if (!after.has(r.address)) {
      changes.push({ address: r.address, kind: "destroy", type: r.type, constructPath: r.constructPath, attributes: [] });
    }
  }
  changes.sort((x, y) => CHANGE_ORDER.indexOf(x.kind) - CHANGE_ORDER.indexOf(y.kind) || compare(x.address, y.address));
  return { changes, unchanged: head.length - found.size };
}

/**
 * A replaced resource gets a new `id`, unknown until apply; a resource whose replacing arguments
 * interpolate that id (e.g. a null_resource trigger `${null_resource.X.id}`) is replaced too.
 */
function cascadeReplacements(head: readonly SynthResource[], found: Map<string, ResourceChange>): void {
  let grew = true;
  while (grew) {
    grew = false;
    const replaced = [...found.values()].filter((c) => c.kind === "replace").map((c) => c.address);
    for (const r of head) {
      const current = found.get(r.address);
      if (r.mode !== "managed" || current?.kind === "replace" || current?.kind === "create") continue;
      const extra: AttributeChange[] = [];
      for (const [path, value] of flatten(r.body)) {
        if (typeof value !== "string" || !forcesReplacement(r.type, path)) continue;
        const cause = replaced.find((a) => value.includes(`\${${a}.id}`));
        if (cause) extra.push({ path, before: value, note: `known after apply: \`${cause}\` is replaced` });
      }
      if (extra.length === 0) continue;
      found.set(r.address, {
        address: r.address,
        kind: "replace",
        type: r.type,
        constructPath: r.constructPath,
        attributes: [...(current?.attributes ?? []), ...extra].sort((a, b) => compare(a.path, b.path)),
      });
      grew = true;
    }
  }
}

/**
 * The kind cluster's lifecycle resource: the `null_resource` whose triggers hold `config_sha256`
 * and `cluster_name` (the preflight step shares the config hash, not the name).
 */
export function isKindCluster(r: SynthResource): boolean {
  const triggers = r.body.triggers;
  return (
    r.mode === "managed" &&
    r.type === "null_resource" &&
    isJsonObject(triggers) &&
    typeof triggers.config_sha256 === "string" &&
    typeof triggers.cluster_name === "string"
  );
}

export interface ClusterReplacement {
  /** Address of the cluster resource in the change (or in the base, when it is gone). */
  readonly address: string;
  /** True when the kind config itself changed (`triggers.config_sha256`). */
  readonly configChanged: boolean;
  /** Why the cluster is replaced, one sentence each (markdown). */
  readonly reasons: readonly string[];
}

/**
 * Whether applying the change destroys the running kind cluster: its config hash or another
 * trigger changed (null_resource triggers force replacement), its address changed, or it is gone.
 * A cluster that exists only in the change is created, not replaced: undefined.
 */
export function clusterReplacement(base: readonly SynthResource[], head: readonly SynthResource[]): ClusterReplacement | undefined {
  const old = base.find(isKindCluster);
  if (!old) return undefined;
  const now = head.find(isKindCluster);
  if (!now) {
    return {
      address: old.address,
      configChanged: false,
      reasons: [`the kind cluster resource \`${old.address}\` is no longer synthesized`],
    };
  }
  const reasons: string[] = [];
  if (now.address !== old.address) {
    reasons.push(`its address changed from \`${old.address}\` to \`${now.address}\`, so Terraform destroys one and creates the other`);
  }
  const triggers = (r: SynthResource) => (isJsonObject(r.body.triggers) ? r.body.triggers : {});
  const was = triggers(old);
  const is = triggers(now);
  const configChanged = !jsonEqual(was.config_sha256, is.config_sha256);
  if (configChanged) {
    reasons.push(`the kind config changed (\`triggers.config_sha256\` ${short(was.config_sha256)} → ${short(is.config_sha256)})`);
  }
  const [portsWere, portsAre] = [hostPortsOf(base), hostPortsOf(head)];
  if (portsWere.join() !== portsAre.join()) {
    reasons.push(
      `its host ports changed (setting \`ports\`: ${portsWere.join(", ") || "none"} → ${portsAre.join(", ") || "none"}), and kind publishes a node's ports only when it creates the node`,
    );
  }
  const others = [...new Set([...Object.keys(was), ...Object.keys(is)])]
    .filter((k) => k !== "config_sha256" && !jsonEqual(was[k], is[k]))
    .sort(compare);
  if (others.length > 0) {
    reasons.push(
      `trigger${others.length === 1 ? "" : "s"} ${others.map((k) => `\`${k}\``).join(", ")} changed, and any change of a null_resource's triggers replaces it`,
    );
  }
  return reasons.length === 0 ? undefined : { address: now.address, configChanged, reasons };
}

/** The host ports a stack's kind config publishes, `address:port/protocol → NodePort n`, from its kind-config.yaml file. */
export function hostPortsOf(resources: readonly SynthResource[]): string[] {
  const file = resources.find((r) => r.type === "local_file" && String(r.body.filename).endsWith("/kind-config.yaml"));
  if (!file || typeof file.body.content !== "string") return [];
  const config = parse(file.body.content) as Partial<Pick<KindConfig, "nodes">>;
  return (config.nodes ?? [])
    .flatMap((n) => n.extraPortMappings ?? [])
    .map((m) => `${hostPortLabel(m)} → NodePort ${m.containerPort}`)
    .sort(compare);
}

function short(value: Json | undefined): string {
  return typeof value === "string" ? `\`${value.slice(0, 12)}…\`` : "(none)";
}

/** Code-point order: the same on every machine and locale. */
export function compare(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}

/** The roll resource (constructs/rolling-upgrade.ts): a null_resource whose trigger is the node image. */
export function isRollingUpgrade(r: SynthResource): boolean {
  return (
    r.mode === "managed" && r.type === "null_resource" && isJsonObject(r.body.triggers) && typeof r.body.triggers.node_image === "string"
  );
}

/** A node image change that rolls the live cluster in place. */
export interface ImageRoll {
  /** Address of the roll resource. */
  readonly address: string;
  readonly from: string;
  readonly to: string;
}

/** The node image change between base and change, when both have a roll resource; undefined otherwise. */
export function imageRoll(base: readonly SynthResource[], head: readonly SynthResource[]): ImageRoll | undefined {
  const image = (r: SynthResource | undefined) => (r && isJsonObject(r.body.triggers) ? r.body.triggers.node_image : undefined);
  const now = head.find(isRollingUpgrade);
  const from = image(base.find(isRollingUpgrade));
  const to = image(now);
  return now && typeof from === "string" && typeof to === "string" && from !== to ? { address: now.address, from, to } : undefined;
}
