/**
 * Runs a synthesized stack's cluster lifecycle without an engine: reads the kind cluster's
 * `null_resource` and `local_file` from cdk.tf.json and resolves the few expressions they use
 * (`${path.module}`, `pathexpand("~/...")`, `local_file.X.filename`, `self.triggers.X`), as
 * Terraform would at apply time. Any other expression is an error, so a change to the resource
 * that this reader does not understand fails the tier instead of running something else.
 */
import { spawn } from "node:child_process";
import { createWriteStream, mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { dirname, join } from "node:path";

/** One local-exec provisioner, resolved. */
export interface Provisioner {
  readonly command: string;
  readonly environment: Readonly<Record<string, string>>;
}

export interface Lifecycle {
  /** The stack directory, where Terraform runs local-exec commands. */
  readonly stackDir: string;
  readonly triggers: Readonly<Record<string, string>>;
  readonly create: Provisioner;
  readonly destroy: Provisioner;
  /**
   * Writes the files the create command reads (the kind config and, with a data directory, the
   * storage configuration: their local_file resources); returns the kind config's path.
   */
  writeConfig(): string;
}

type Json = Record<string, any>;

export function readLifecycle(stackDir: string, home: string): Lifecycle {
  const json: Json = JSON.parse(readFileSync(join(stackDir, "cdk.tf.json"), "utf8"));
  const files: Json = json.resource?.local_file ?? {};
  const cluster = Object.values<Json>(json.resource?.null_resource ?? {}).find(
    (r) => r.triggers && "config_sha256" in r.triggers && "cluster_name" in r.triggers,
  );
  if (!cluster) throw new Error(`${stackDir}: no null_resource with config_sha256 and cluster_name triggers (the kind cluster)`);

  const resolve = (value: string, self: Record<string, string> = {}): string => {
    const out = value
      .replace(/\$\{path\.module\}/g, stackDir)
      .replace(/\$\{pathexpand\("([^"]*)"\)\}/g, (_, path: string) => (path.startsWith("~/") ? join(home, path.slice(2)) : path))
      .replace(/\$\{local_file\.([\w]+)\.filename\}/g, (_, name: string) => {
        if (!files[name]) throw new Error(`local_file.${name} is not in ${stackDir}`);
        return resolve(files[name].filename);
      })
      // What the null provider gives a new resource: a decimal id.
      .replace(/\$\{self\.id\}/g, "5577006791947779410")
      .replace(/\$\{self\.triggers\.(\w+)\}/g, (_, name: string) => {
        if (!(name in self)) throw new Error(`self.triggers.${name} is not a trigger`);
        return self[name];
      });
    if (out.includes("${")) throw new Error(`cannot resolve ${JSON.stringify(value)} without an engine`);
    return out;
  };

  const triggers = Object.fromEntries(Object.entries<string>(cluster.triggers).map(([k, v]) => [k, resolve(v)]));
  const provisioner = (when: "create" | "destroy"): Provisioner => {
    const p = (cluster.provisioner as Json[]).map((x) => x["local-exec"]).find((x) => (x.when ?? "create") === when);
    if (!p) throw new Error(`the cluster resource has no ${when}-time local-exec`);
    return {
      command: resolve(p.command, triggers),
      environment: Object.fromEntries(Object.entries<string>(p.environment ?? {}).map(([k, v]) => [k, resolve(v, triggers)])),
    };
  };
  const fileAt = (path: string) => Object.values<Json>(files).find((f) => resolve(f.filename) === path);
  const configFile = fileAt(triggers.config_path);
  if (!configFile) throw new Error("no local_file writes the kind config the cluster reads");
  // The storage configuration files the create step reads (with a data directory).
  const storageFiles = ["storage_class_path", "storage_config_path"].flatMap((key) => {
    if (!triggers[key]) return [];
    const file = fileAt(triggers[key]);
    if (!file) throw new Error(`no local_file writes ${key}, which the cluster reads`);
    return [[triggers[key], file] as const];
  });

  return {
    stackDir,
    triggers,
    create: provisioner("create"),
    destroy: provisioner("destroy"),
    writeConfig: () => {
      mkdirSync(dirname(triggers.config_path), { recursive: true });
      // Terraform interpolates the content too (the mounts' `pathexpand("~/...")`).
      writeFileSync(triggers.config_path, resolve(configFile.content), { mode: 0o644 });
      for (const [path, file] of storageFiles) writeFileSync(path, resolve(file.content), { mode: 0o644 });
      return triggers.config_path;
    },
  };
}

/** Result of a command run by {@link runLogged}. */
export interface Ran {
  readonly code: number | null;
  /** The signal that ended it, if one did. */
  readonly signal?: NodeJS.Signals | null;
  /** stdout and stderr, interleaved. */
  readonly output: string;
  readonly seconds: number;
}

/**
 * Runs a shell command like Terraform's local-exec (`/bin/sh -c`, in `cwd`), teeing its output to
 * `logFile`; never throws for a non-zero exit. With `interruptWhen`, the shell gets SIGINT (a
 * user's Ctrl-C) once the output matches it: start the command with `exec` for the signal to reach it.
 */
export function runLogged(
  command: string,
  opts: { cwd: string; env: NodeJS.ProcessEnv; logFile: string; timeoutMs: number; interruptWhen?: RegExp },
): Promise<Ran> {
  const started = Date.now();
  return new Promise((resolvePromise) => {
    const child = spawn("/bin/sh", ["-c", command], { cwd: opts.cwd, env: opts.env, stdio: ["ignore", "pipe", "pipe"] });
    const log = createWriteStream(opts.logFile, { flags: "a" });
    let output = "";
    const take = (chunk: Buffer) => {
      output += chunk.toString();
      log.write(chunk);
      if (opts.interruptWhen?.test(output) && child.exitCode === null && !child.killed) child.kill("SIGINT");
    };
    child.stdout.on("data", take);
    child.stderr.on("data", take);
    const timer = setTimeout(() => child.kill("SIGTERM"), opts.timeoutMs);
    child.on("close", (code, signal) => {
      clearTimeout(timer);
      log.end();
      resolvePromise({ code, signal, output, seconds: Math.round((Date.now() - started) / 100) / 10 });
    });
  });
}
