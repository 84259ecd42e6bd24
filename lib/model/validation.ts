/**
 * The one validation error of the program: every rule some input broke, each with its field,
 * the value received and the rule, in one message.
 */

/** One broken rule: the field, the value received and the rule. */
export interface Violation {
  readonly field: string;
  readonly value: unknown;
  readonly rule: string;
}

/** All the rules an input broke, in one error; `what` names the input, e.g. `topology for stack "x"`. */
export class ValidationError extends Error {
  constructor(
    readonly what: string,
    readonly violations: readonly Violation[],
  ) {
    super(
      `Invalid ${what} (${violations.length} problem${violations.length === 1 ? "" : "s"}):\n` +
        violations.map((v) => `  - ${fieldName(v.field)}: ${show(v.value)} ${v.rule}`).join("\n"),
    );
    this.name = "ValidationError";
  }
}

/** A field path as messages show it: control characters escaped (keys come from files), at most 120 characters. */
function fieldName(field: string): string {
  const text = JSON.stringify(field).slice(1, -1);
  return text.length <= 120 ? text : `${text.slice(0, 117)}...`;
}

/** A value as the messages show it: JSON where it has one (control characters escaped), at most 80 characters. */
export function show(value: unknown): string {
  let text: string;
  try {
    text = JSON.stringify(value) ?? String(value);
  } catch {
    text = Object.prototype.toString.call(value);
  }
  return text.length <= 80 ? text : `${text.slice(0, 77)}...`;
}
