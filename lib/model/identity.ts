/**
 * The stack's mark on its cluster: create (scripts/nodes.sh mark) writes the stack id and the id
 * Terraform gave the cluster's resource into every node; the plan's hook acts only on a cluster
 * whose nodes carry the ids the plan's state names. Pure: reading and comparing.
 */

/** Where the mark lives in each node container. */
export const IDENTITY_PATH = "/kind/kindha-identity";

export interface Identity {
  readonly stack: string;
  /** The cluster resource's id in the Terraform state that made it. */
  readonly create: string;
  /** The directory of that state (the project's), when the mark names it. */
  readonly project?: string;
}

/** `stack=<id>\ncreate=<id>\n[project=<dir>\n]`, or undefined when the stack or create line is missing. */
export function parseIdentity(text: string): Identity | undefined {
  const values = new Map(
    text
      .split("\n")
      .map((l) => l.match(/^(stack|create)=(\S+)$/) ?? l.match(/^(project)=(\/.*)$/))
      .filter((m): m is RegExpMatchArray => m !== null)
      .map((m) => [m[1], m[2]]),
  );
  const stack = values.get("stack");
  const create = values.get("create");
  const project = values.get("project");
  return stack && create ? { stack, create, ...(project ? { project } : {}) } : undefined;
}

/**
 * The first file of a tar stream (what `docker cp <container>:<file> -` prints, stopped containers
 * included), or undefined when the stream holds none. The header's size field is octal.
 */
export function firstTarMember(tar: string): string | undefined {
  if (tar.length < 512) return undefined;
  const size = parseInt(tar.slice(124, 136).replace(/[\0 ]/g, ""), 8);
  if (!Number.isInteger(size) || tar.length < 512 + size) return undefined;
  return tar.slice(512, 512 + size);
}

/** The mark in what `docker cp <node>:IDENTITY_PATH -` printed, or undefined. */
export function identityOfCopy(tar: string): Identity | undefined {
  return parseIdentity(firstTarMember(tar) ?? "");
}

/** Why a node's mark is not the stack's, or undefined when it is. */
export function identityMismatch(node: string, found: Identity | undefined, want: Identity): string | undefined {
  if (!found) return `${node} carries no kindha mark (${IDENTITY_PATH}): not made by this stack's deploy`;
  if (found.stack !== want.stack) return `${node} is stack ${found.stack}'s, not ${want.stack}'s`;
  if (found.create !== want.create) return `${node} was made by another deploy (create id ${found.create}; this state's is ${want.create})`;
  return undefined;
}
