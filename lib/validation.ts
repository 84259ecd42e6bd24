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
        violations.map((v) => `  - ${v.field}: ${show(v.value)} ${v.rule}`).join("\n"),
    );
    this.name = "ValidationError";
  }
}

/** A value as the messages show it: JSON where it has one. */
export function show(value: unknown): string {
  return JSON.stringify(value) ?? String(value);
}
