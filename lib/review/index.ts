/**
 * The pull-request review artifact, as pure functions (no cdktf, no I/O); tools/review.ts
 * gathers the data (synthesis, git, engine) and writes the file.
 */
export * from "./json";
export * from "./markdown";
export * from "./mermaid";
export * from "./nodes";
export * from "./plan";
export * from "./render";
export * from "./resources";
