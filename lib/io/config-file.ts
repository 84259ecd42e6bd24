/**
 * Finds and reads the config file (kindha.config.yaml, or the file KINDHA_CONFIG names) for the
 * pure parser and resolver in lib/model/. A file that cannot be read is one ValidationError
 * naming it; nothing falls back to the presets.
 */
import { existsSync, lstatSync, readFileSync, statSync } from "node:fs";
import { resolve } from "node:path";
import { CONFIG_LIMITS } from "../model/stack-config";
import { stacksFromYaml, type ResolvedStack } from "../model/resolved-stack";
import { ValidationError } from "../model/validation";

/** Default config file, looked up in the working directory; `KINDHA_CONFIG` names another. */
export const CONFIG_FILE = "kindha.config.yaml";
/** The same file with the other YAML extension, read when CONFIG_FILE is absent. */
export const CONFIG_FILE_YML = "kindha.config.yml";

/**
 * The stacks to synthesize, resolved: presets first, then the config file's entries (same id:
 * merged over the preset; new id: a new stack, `availability` required). Every stack is validated.
 *
 * @param file config file path (absent: presets only); default `KINDHA_CONFIG`, which must exist,
 *   else kindha.config.yaml (or kindha.config.yml) in the working directory
 */
export function loadStacks(file?: string): ResolvedStack[] {
  if (file !== undefined) return stacksFromYaml(existsSync(resolve(file)) ? readConfig(file, "config file") : undefined, file);
  const named = process.env.KINDHA_CONFIG;
  if (named) return stacksFromYaml(readConfig(named, "KINDHA_CONFIG"), named);
  const [yaml, yml] = [present(CONFIG_FILE), present(CONFIG_FILE_YML)];
  if (yaml && yml) {
    throw new ValidationError("configuration", [
      { field: CONFIG_FILE_YML, value: CONFIG_FILE_YML, rule: `exists beside ${CONFIG_FILE}; keep one of the two` },
    ]);
  }
  const found = yaml ? CONFIG_FILE : yml ? CONFIG_FILE_YML : undefined;
  return stacksFromYaml(found === undefined ? undefined : readConfig(found, found), found ?? "(presets)");
}

/** Something stands at the path: a file, a directory or a link, even a dangling one. */
function present(path: string): boolean {
  try {
    lstatSync(path);
    return true;
  } catch {
    return false;
  }
}

/**
 * A config file's text; anything but a readable regular file of at most CONFIG_LIMITS.bytes is
 * one ValidationError naming it (never a fallback to the presets).
 */
function readConfig(path: string, field: string): string {
  const refuse = (rule: string): never => {
    throw new ValidationError("configuration", [{ field, value: path, rule }]);
  };
  if (!present(path)) refuse("names a file that does not exist");
  let size = 0;
  try {
    const st = statSync(path);
    if (st.isDirectory()) refuse("names a directory, not a file");
    if (!st.isFile()) refuse("names something that is not a regular file");
    size = st.size;
  } catch (e) {
    if (e instanceof ValidationError) throw e;
    refuse("is a link to nothing (its target does not exist)");
  }
  if (size > CONFIG_LIMITS.bytes) refuse(`is ${size} bytes; a config file may have at most ${CONFIG_LIMITS.bytes} (1 MiB)`);
  try {
    return readFileSync(path, "utf8");
  } catch (e) {
    return refuse(`cannot be read: ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}`);
  }
}

/** One stack of the config, by id. */
export function findStack(id: string, file?: string): ResolvedStack {
  const stacks = loadStacks(file);
  const stack = stacks.find((s) => s.id === id);
  if (!stack) throw new Error(`stack: ${JSON.stringify(id)} is not defined; known stacks: ${stacks.map((s) => s.id).join(", ")}`);
  return stack;
}
