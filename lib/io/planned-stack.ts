/**
 * The stack as a plan saw it, handed to a provisioner through its environment
 * (`KINDHA_PLANNED_STACK`): the roll's hook then works on the planned topology and paths, never
 * on a kindha.config.yaml edited after the plan.
 */
import { planTopology } from "../model/plan-topology";
import type { RegistrySettings } from "../model/registry";
import type { Availability, Topology, TopologySpec } from "../model/topology";
import type { StackPaths } from "./paths";

/** What the plan knew of a stack: its id, availability, topology settings, host paths and registry. */
export interface PlannedStack {
  readonly id: string;
  readonly availability: Availability;
  readonly spec: TopologySpec;
  readonly paths: StackPaths;
  /** The stack's registry setting, as given (absent: the default). */
  readonly registry?: RegistrySettings | boolean;
}

/** The JSON a provisioner's environment carries. */
export function plannedStackJson(p: PlannedStack): string {
  return JSON.stringify(p);
}

/** Reads {@link plannedStackJson}'s text back, with its topology planned again (a pure function of the same settings). */
export function parsePlannedStack(text: string, what = "KINDHA_PLANNED_STACK"): PlannedStack & { readonly topology: Topology } {
  let p: PlannedStack;
  try {
    p = JSON.parse(text) as PlannedStack;
  } catch (e) {
    throw new Error(`${what}: not JSON (${(e as Error).message})`, { cause: e });
  }
  const strings = (o: unknown, keys: readonly string[]) =>
    typeof o === "object" && o !== null && keys.every((k) => typeof (o as Record<string, unknown>)[k] === "string");
  if (
    !strings(p, ["id", "availability"]) ||
    typeof p.spec !== "object" ||
    p.spec === null ||
    !strings(p.paths, ["kubeconfig", "backups", "logs"])
  ) {
    throw new Error(`${what}: not a planned stack (id, availability, spec, paths)`);
  }
  return { ...p, topology: planTopology(p.availability, p.spec, `stack "${p.id}"`) };
}
