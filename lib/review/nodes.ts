/**
 * Node-level facts of a topology and their difference between two revisions.
 */
import type { NodeBudget } from "../model/topology";
import { compare } from "./resources";

/** What the review needs of a node; PlannedNode fits. */
export interface NodeFacts {
  readonly name: string;
  readonly role: string;
  readonly budget: NodeBudget;
}

/** What the review needs of a base revision's topology; Topology fits. */
export interface NodeLayout {
  readonly nodes: readonly NodeFacts[];
  readonly totals: NodeBudget;
}

export interface NodeDiff {
  readonly added: readonly NodeFacts[];
  readonly removed: readonly NodeFacts[];
  /** Same name, other role or budget. */
  readonly changed: readonly { readonly before: NodeFacts; readonly after: NodeFacts }[];
  readonly totalsBefore: NodeBudget;
  readonly totalsAfter: NodeBudget;
}

export function diffNodes(base: NodeLayout, head: NodeLayout): NodeDiff {
  const before = new Map(base.nodes.map((n) => [n.name, n]));
  const after = new Map(head.nodes.map((n) => [n.name, n]));
  const same = (a: NodeFacts, b: NodeFacts) =>
    a.role === b.role && a.budget.cpu === b.budget.cpu && a.budget.memoryGiB === b.budget.memoryGiB;
  return {
    added: head.nodes.filter((n) => !before.has(n.name)),
    removed: base.nodes.filter((n) => !after.has(n.name)),
    changed: head.nodes
      .filter((n) => before.has(n.name) && !same(before.get(n.name)!, n))
      .map((n) => ({ before: before.get(n.name)!, after: n }))
      .sort((x, y) => compare(x.after.name, y.after.name)),
    totalsBefore: base.totals,
    totalsAfter: head.totals,
  };
}

export function nodeDiffIsEmpty(d: NodeDiff): boolean {
  return (
    d.added.length === 0 &&
    d.removed.length === 0 &&
    d.changed.length === 0 &&
    d.totalsBefore.cpu === d.totalsAfter.cpu &&
    d.totalsBefore.memoryGiB === d.totalsAfter.memoryGiB
  );
}

/**
 * Checks that a value parsed from another revision's output has the node layout shape; returns
 * it typed, or undefined.
 */
export function asNodeLayout(value: unknown): NodeLayout | undefined {
  const isBudget = (b: unknown): b is NodeBudget =>
    typeof b === "object" && b !== null && typeof (b as NodeBudget).cpu === "number" && typeof (b as NodeBudget).memoryGiB === "number";
  if (typeof value !== "object" || value === null) return undefined;
  const { nodes, totals } = value as { nodes?: unknown; totals?: unknown };
  if (!Array.isArray(nodes) || !isBudget(totals)) return undefined;
  const ok = nodes.every(
    (n: unknown) =>
      typeof n === "object" &&
      n !== null &&
      typeof (n as NodeFacts).name === "string" &&
      typeof (n as NodeFacts).role === "string" &&
      isBudget((n as NodeFacts).budget),
  );
  if (!ok) return undefined;
  return {
    nodes: (nodes as NodeFacts[]).map((n) => ({
      name: n.name,
      role: n.role,
      budget: { cpu: n.budget.cpu, memoryGiB: n.budget.memoryGiB },
    })),
    totals: { cpu: totals.cpu, memoryGiB: totals.memoryGiB },
  };
}
