/**
 * JSON values as synthesized Terraform JSON holds them, flattened to attribute paths for diffing.
 */

export type Json = null | boolean | number | string | readonly Json[] | { readonly [key: string]: Json };
export type JsonObject = { readonly [key: string]: Json };

export function isJsonObject(value: unknown): value is JsonObject {
  return typeof value === "object" && value !== null && !Array.isArray(value);
}

/** A copy without cdktf's `"//"` metadata keys, at any depth. */
export function withoutMetadata(value: Json): Json {
  if (Array.isArray(value)) return value.map(withoutMetadata);
  if (isJsonObject(value)) {
    const out: Record<string, Json> = {};
    for (const key of Object.keys(value).sort()) if (key !== "//") out[key] = withoutMetadata(value[key]);
    return out;
  }
  return value as Json;
}

/**
 * Leaf values by path: `triggers.config_sha256`, `provisioner[0].local-exec.command`. Empty
 * objects and arrays are leaves, so `{}` and a missing key differ.
 */
export function flatten(value: Json, prefix = ""): Map<string, Json> {
  const out = new Map<string, Json>();
  const walk = (v: Json, path: string): void => {
    if (Array.isArray(v) && v.length > 0) {
      v.forEach((item: Json, i: number) => walk(item, `${path}[${i}]`));
    } else if (isJsonObject(v) && Object.keys(v).length > 0) {
      for (const key of Object.keys(v).sort()) walk(v[key], path === "" ? key : `${path}.${key}`);
    } else {
      out.set(path, v);
    }
  };
  walk(value, prefix);
  return out;
}

/** Equality of JSON values (key order ignored). */
export function jsonEqual(a: Json | undefined, b: Json | undefined): boolean {
  return stableStringify(a) === stableStringify(b);
}

export function stableStringify(value: Json | undefined): string {
  if (value === undefined) return "undefined";
  return JSON.stringify(value, (_key, v: unknown) =>
    isJsonObject(v)
      ? Object.fromEntries(
          Object.keys(v)
            .sort()
            .map((k) => [k, v[k]]),
        )
      : v,
  );
}
