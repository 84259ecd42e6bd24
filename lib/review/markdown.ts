/**
 * Small GitHub-flavoured markdown helpers: code spans and table cells that survive any text.
 */
import type { Json } from "./json";

/** An inline code span, safe inside a table cell (pipes escaped, newlines folded). */
export function code(text: string): string {
  const flat = text.replace(/\r?\n/g, " ⏎ ").replace(/\|/g, "\\|");
  if (!flat.includes("`")) return `\`${flat}\``;
  const longest = Math.max(...(flat.match(/`+/g) ?? [""]).map((m) => m.length));
  const fence = "`".repeat(longest + 1);
  return `${fence} ${flat} ${fence}`;
}

/** Plain text for a table cell. */
export function cell(text: string): string {
  return text.replace(/\r?\n/g, " ").replace(/\|/g, "\\|");
}

/** A GFM table; `align` per column: "l" or "r". */
export function table(header: readonly string[], rows: readonly (readonly string[])[], align?: readonly ("l" | "r")[]): string {
  const sep = header.map((_, i) => ((align?.[i] ?? "l") === "r" ? "---:" : "---"));
  const line = (cells: readonly string[]) => `| ${cells.join(" | ")} |`;
  return [line(header), line(sep), ...rows.map(line)].join("\n");
}

/** A signed number: `+4`, `−2`, `±0`. */
export function signed(n: number): string {
  if (n === 0) return "±0";
  return n > 0 ? `+${n}` : `−${-n}`;
}

/** `a → b (+d)` for a number that may have changed. */
export function delta(before: number, after: number, unit = ""): string {
  return before === after ? `${after}${unit} (unchanged)` : `${before}${unit} → ${after}${unit} (${signed(after - before)}${unit})`;
}

const HASH = /^[0-9a-fA-F]{32,}$/;

/**
 * A short, readable form of one attribute value: hashes cut to 12 characters, multi-line text
 * reduced to its line count, long strings cut.
 */
export function shortValue(value: Json | undefined): string {
  if (value === undefined) return "(absent)";
  if (typeof value === "string") {
    if (value.includes("\n")) return `(${value.split("\n").length} lines of text)`;
    if (HASH.test(value)) return code(`${value.slice(0, 12)}…`);
    return code(value.length > 60 ? `${value.slice(0, 57)}…` : value);
  }
  const text = JSON.stringify(value);
  return code(text.length > 60 ? `${text.slice(0, 57)}…` : text);
}

/** Lines only in `after` (+) and only in `before` (−), as multisets: a cheap text diff summary. */
export function lineChanges(before: string, after: string): { added: number; removed: number } {
  const count = (text: string) => {
    const m = new Map<string, number>();
    for (const l of text.split("\n")) m.set(l, (m.get(l) ?? 0) + 1);
    return m;
  };
  const b = count(before);
  const a = count(after);
  let added = 0;
  let removed = 0;
  for (const [l, n] of a) added += Math.max(0, n - (b.get(l) ?? 0));
  for (const [l, n] of b) removed += Math.max(0, n - (a.get(l) ?? 0));
  return { added, removed };
}
