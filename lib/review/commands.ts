/**
 * What the review says about a failed command: its first informative line, with this machine's
 * paths replaced so the report reads the same everywhere.
 */
import { homedir } from "node:os";
import { outputLines, type CommandResult } from "../io/exec";

/**
 * The first informative line of a failed command's output, with the machine's paths replaced, so
 * the report stays the same wherever it is generated.
 */
export function firstError(r: CommandResult, paths: Readonly<Record<string, string>>): string {
  const lines = outputLines(`${r.stderr}\n${r.stdout}`);
  // A validation error is a heading and its problems: keep them together on one line.
  const heading = lines.findIndex((l) => /^Invalid .* \(\d+ problems?\):$/.test(l));
  const line =
    heading >= 0
      ? [lines[heading], ...lines.slice(heading + 1).filter((l) => l.startsWith("- "))].join(" ")
      : (lines.find((l) => /error/i.test(l)) ?? lines[0] ?? `exit code ${r.code}`);
  return scrub(line, paths).slice(0, 300);
}

function scrub(text: string, paths: Readonly<Record<string, string>>): string {
  let out = text;
  const entries = Object.entries({ ...paths, "~": homedir() }).sort((a, b) => b[1].length - a[1].length);
  for (const [name, path] of entries) if (path.length > 1) out = out.split(path).join(name);
  return out;
}
