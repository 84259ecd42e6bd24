/**
 * Terraform's local state of a kind stack holds the cluster's admin key (the kubeconfig data
 * source and output). OpenTofu keeps the mode of a state file it finds and creates new ones 0644,
 * so the app makes each stack's state and its backup 0600 before the engine first writes them.
 */
import { chmodSync, writeFileSync } from "node:fs";
import { join } from "node:path";

/** The local backend's files of stack `id`, beside cdktf.json. */
export function stateFiles(projectDir: string, id: string): string[] {
  const state = join(projectDir, `terraform.${id}.tfstate`);
  return [state, `${state}.backup`];
}

/** Creates each stack's state files empty and 0600 (OpenTofu reads an empty one as no state), or makes existing ones 0600. */
export function guardStateFiles(projectDir: string, ids: readonly string[]): void {
  for (const file of ids.flatMap((id) => stateFiles(projectDir, id))) {
    try {
      writeFileSync(file, "", { flag: "wx", mode: 0o600 });
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== "EEXIST") throw e;
      chmodSync(file, 0o600);
    }
  }
}
