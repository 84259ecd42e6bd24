/**
 * Counts of a Terraform/OpenTofu plan, from `show -json <planfile>`.
 */
import { isJsonObject } from "./json";

export interface PlanCounts {
  /** Resources created, replacements included (Terraform's "to add"). */
  readonly add: number;
  /** Resources updated in place ("to change"). */
  readonly change: number;
  /** Resources destroyed, replacements included ("to destroy"). */
  readonly destroy: number;
  /** Of those, destroyed and created again. */
  readonly replace: number;
}

/**
 * Counts the managed resources' actions of a JSON plan, as the engine's own summary line does:
 * a replacement (`["delete","create"]` or `["create","delete"]`) counts as one add and one destroy.
 *
 * @throws when the document is not a JSON plan
 */
export function planCounts(plan: unknown): PlanCounts {
  if (!isJsonObject(plan) || !("format_version" in plan)) throw new Error("not a JSON plan: no format_version");
  const changes = Array.isArray(plan.resource_changes) ? plan.resource_changes : [];
  let add = 0;
  let change = 0;
  let destroy = 0;
  let replace = 0;
  for (const rc of changes) {
    if (!isJsonObject(rc) || rc.mode === "data" || !isJsonObject(rc.change)) continue;
    const actions = Array.isArray(rc.change.actions) ? rc.change.actions.map(String) : [];
    const has = (a: string) => actions.includes(a);
    if (has("create") && has("delete")) {
      replace++;
      add++;
      destroy++;
    } else if (has("create")) add++;
    else if (has("delete")) destroy++;
    else if (has("update")) change++;
  }
  return { add, change, destroy, replace };
}

export function renderPlanCounts(c: PlanCounts): string {
  const base = `${c.add} to add, ${c.change} to change, ${c.destroy} to destroy`;
  return c.replace === 0 ? base : `${base} (${c.replace} replacement${c.replace === 1 ? "" : "s"})`;
}
