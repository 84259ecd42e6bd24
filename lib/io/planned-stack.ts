/**
 * The stack as a plan saw it, handed to a provisioner through its environment
 * (`KINDHA_PLANNED_STACK`): the roll's hook then works on the planned topology and paths, never
 * on a kindha.config.yaml edited after the plan.
 */
import type { StackPaths } from "../model/paths";
import type { RegistrySettings } from "../model/registry";
import { resolveStack, type ResolvedStack } from "../model/resolved-stack";
import { topologySpecOf } from "../model/stack-config";
import type { Availability, TopologySpec } from "../model/topology";

/** What the plan knew of a stack: its id, availability, topology settings, host paths and registry. */
interface PlannedStack {
  readonly id: string;
  readonly availability: Availability;
  readonly spec: TopologySpec;
  readonly paths: StackPaths;
  /** The stack's registry setting, as given (absent: the default). */
  readonly registry?: RegistrySettings | boolean;
}

/** The JSON a provisioner's environment carries. */
export function plannedStackJson(s: ResolvedStack): string {
  const { id, availability, spec, registry } = s.definition;
  const planned: PlannedStack = {
    id,
    availability,
    spec: topologySpecOf(spec),
    paths: s.paths,
    ...(registry !== undefined ? { registry } : {}),
  };
  return JSON.stringify(planned);
}

/** Reads {@link plannedStackJson}'s text back into the stack, resolved again (a pure function of the same settings). */
export function parsePlannedStack(text: string, what = "KINDHA_PLANNED_STACK"): ResolvedStack {
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
  return resolveStack({
    id: p.id,
    availability: p.availability,
    spec: p.spec,
    kubeconfigPath: p.paths.kubeconfig,
    backupDir: p.paths.backups,
    dataDir: p.paths.data ?? false,
    ...(p.registry !== undefined ? { registry: p.registry } : {}),
  });
}
