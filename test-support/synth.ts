import { App, Testing } from "cdktf";
import { parse } from "yaml";
import { preset, type TopologyOption } from "../lib/model/presets";
import type { ClusterStack, ClusterStackProps } from "../stacks/cluster-stack";
import { HaStack } from "../stacks/ha-stack";
import { SingleStack } from "../stacks/single-stack";
import { scratchDir } from "./scratch";

/** Synthesized Terraform JSON of one stack, as Testing.synth gives it (sorted, no metadata). */
export interface Synth {
  readonly stack: ClusterStack;
  readonly text: string;
  readonly json: TerraformJson;
}

export interface TerraformJson {
  terraform: { required_providers: Record<string, { source: string; version: string }>; backend: Record<string, unknown> };
  provider: Record<string, unknown[]>;
  resource: Record<string, Record<string, any>>;
  data: Record<string, Record<string, any>>;
  output: Record<string, { value: unknown; sensitive?: boolean; description?: string }>;
}

export function synthStack(id: string, availability: "single" | "ha", props: ClusterStackProps = {}): Synth {
  const app: App = Testing.app({ outdir: scratchDir() });
  const stack = availability === "single" ? new SingleStack(app, id, props) : new HaStack(app, id, props);
  const text = Testing.synth(stack);
  return { stack, text, json: JSON.parse(text) as TerraformJson };
}

export function synthPreset(option: TopologyOption, overrides: ClusterStackProps = {}): Synth {
  const p = preset(option);
  return synthStack(option, p.availability, { ...p.spec, ...overrides });
}

/** All resources of one type, by name. */
export function resources(json: TerraformJson, type: string): Record<string, any> {
  return json.resource[type] ?? {};
}

export function only<T>(record: Record<string, T>): T {
  const values = Object.values(record);
  if (values.length !== 1) throw new Error(`expected exactly one, got ${values.length}`);
  return values[0];
}

/** The kind config the stack writes, parsed back from YAML. */
export function kindConfigOf(json: TerraformJson): any {
  const file = Object.values(resources(json, "local_file")).find((f) => f.filename.endsWith("/kind-config.yaml"));
  return parse(file.content);
}

/** Count of resources per type. */
export function resourceCounts(json: TerraformJson): Record<string, number> {
  return Object.fromEntries(Object.entries(json.resource).map(([type, byName]) => [type, Object.keys(byName).length]));
}
