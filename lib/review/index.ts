/**
 * The pull-request review artifact, as pure functions (no cdktf, no I/O). Beside them, base.ts
 * (the base revision, synthesized in a temporary copy) and engine.ts (plan counts) run processes
 * and are imported directly; tools/review.ts synthesizes this checkout and writes the file.
 */
export * from "./json";
export * from "./markdown";
export * from "./mermaid";
export * from "./nodes";
export * from "./plan";
export * from "./render";
export * from "./resources";
