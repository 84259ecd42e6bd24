/**
 * A stack as everything downstream takes it: validated, its topology planned once, its host paths
 * and registry resolved. The app synthesizes from it, the tools work on it, and the roll's hook
 * gets it back from the plan (lib/io/planned-stack.ts). The one place a stack's topology is planned.
 */
import { clusterApiViolations } from "./cluster-api";
import { managementKubeconfig, stackPaths, type StackPaths } from "./paths";
import { planTopology } from "./plan-topology";
import { planRegistry, registryPortViolations, type PlannedRegistry } from "./registry";
import { readStackDefinitions, settingViolations, STACK_ID, STACK_ID_RULE, type StackDefinition } from "./stack-config";
import type { Topology } from "./topology";
import { isRecord } from "./util";
import { ValidationError, type Violation } from "./validation";

export interface ResolvedStack {
  /** Stack id, as `cdktf deploy <id>` takes it. */
  readonly id: string;
  readonly definition: StackDefinition;
  readonly topology: Topology;
  /** Host paths, `~/` unexpanded; a cluster-api stack's kubeconfig is its management cluster's. */
  readonly paths: StackPaths;
  /** The machine's registry the nodes use; undefined when the stack turns it off, and for cluster-api stacks. */
  readonly registry?: PlannedRegistry;
}

/** One stack; a bad topology is planTopology's error, bad settings one error naming the stack. */
export function resolveStack(d: StackDefinition): ResolvedStack {
  const topology = plan(d);
  const v = [...stackViolations(d, topology), ...settingViolations(d)];
  if (v.length > 0) throw new ValidationError(`settings for stack "${d.id}"`, v);
  return resolved(d, topology);
}

/**
 * The presets adjusted or extended by a config document's text (none: presets only), resolved:
 * what is wrong in the text and in every stack, in one error naming `source`.
 */
export function stacksFromYaml(text: string | undefined, source: string): ResolvedStack[] {
  const read = readStackDefinitions(text);
  const { stacks, violations } = resolveAll(read.defs);
  const v = [...read.violations, ...violations];
  if (v.length > 0) throw new ValidationError(text === undefined ? "stack presets" : `config file ${source}`, v);
  return stacks;
}

/** Every stack, the problems of all of them with fields `stacks.<id>.…`. */
function resolveAll(defs: readonly StackDefinition[]): { stacks: ResolvedStack[]; violations: Violation[] } {
  const violations: Violation[] = [];
  const stacks = defs.flatMap((d) => {
    const prefix = `stacks.${d.id}.`;
    if (!STACK_ID.test(d.id)) violations.push({ field: `stacks.${d.id}`, value: d.id, rule: STACK_ID_RULE });
    let own: Violation[];
    let topology: Topology | undefined;
    try {
      topology = plan(d);
      own = stackViolations(d, topology);
    } catch (e) {
      if (!(e instanceof ValidationError)) throw e;
      own = [...e.violations];
    }
    violations.push(...own.map((x) => ({ ...x, field: `${prefix}${x.field}` })), ...settingViolations(d, prefix));
    return topology && own.length === 0 ? [resolved(d, topology)] : [];
  });
  return { stacks, violations };
}

function plan(d: StackDefinition): Topology {
  return planTopology(d.availability, d.spec, `stack "${d.id}"`);
}

/** The rules that need the planned topology: the registry's port, a cluster-api stack's machines. */
function stackViolations(d: StackDefinition, t: Topology): Violation[] {
  if (d.target !== "cluster-api") return registryPortViolations(d.registry, t, "registry");
  const clusterApi = d.clusterApi === undefined || isRecord(d.clusterApi) ? clusterApiViolations(t, d.clusterApi ?? {}, "clusterApi") : [];
  const ports =
    d.spec.ports === undefined
      ? []
      : [{ field: "ports", value: d.spec.ports, rule: "applies to kind stacks only; a cluster-api stack's machines are the provider's" }];
  return [...clusterApi, ...ports];
}

function resolved(d: StackDefinition, topology: Topology): ResolvedStack {
  const clusterApi = d.target === "cluster-api";
  const paths = stackPaths(d, topology.clusterName, clusterApi ? managementKubeconfig(d.clusterApi?.managementKubeconfig) : undefined);
  const registry = clusterApi ? undefined : planRegistry(d.registry);
  return { id: d.id, definition: d, topology, paths, ...(registry ? { registry } : {}) };
}
