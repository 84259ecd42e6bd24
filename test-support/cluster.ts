/**
 * Helpers of the cluster tier (`npm run test:cluster`): the tools the node-image build leaves in
 * the cache, a synthesized stack in a sandbox HOME, kubectl and docker calls, and polling.
 */
import { IDENTITY_PATH, identityOfCopy } from "../lib/model/identity";
import { execFileSync, spawnSync } from "node:child_process";
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from "node:fs";
import { homedir, tmpdir } from "node:os";
import { join } from "node:path";
import { runSync, type CommandResult } from "../lib/io/exec";
import { pollUntil } from "../lib/ops/steps";
import { projectRoot } from "../lib/io/project";
import { kindClusterPsArgs } from "../lib/model/topology";
import { REGISTRY } from "../lib/model/registry";
import { readLifecycle, type Lifecycle } from "./lifecycle";

/** The project root, from the sources (jest) or from dist/ (the migrate bench). */
export const ROOT = projectRoot();
export const NODE_IMAGE = "kindha.local/node:v1.36.1";
/** The next minor's node image, what the upgrade test rolls clusters to (e2e/node-image.sh builds both). */
export const UPGRADE_IMAGE = "kindha.local/node:v1.37.2";
export const TOOLS_IMAGE = "kindha.local/tools:bookworm";
export const MINUTE = 60_000;

/** The cache e2e/lib.sh uses (images' keys, tools, the Docker engine's pid file), as this process sees it. */
export function kindhaCache(): string {
  return process.env.KINDHA_CACHE ?? join(process.env.XDG_CACHE_HOME ?? join(homedir(), ".cache"), "kindha");
}

/** Where e2e/node-image.sh links kind and kubectl. */
export function toolsDir(): string {
  return join(kindhaCache(), "e2e", "tools");
}

/** Whether a stack's local state file holds a state (the app creates each one empty, 0600). */
export function hasState(file: string): boolean {
  return existsSync(file) && statSync(file).size > 0;
}

/** Why the tier cannot run here, or undefined: the engine, the image and the tools it needs. */
export function missingPrerequisite(images: readonly string[] = [NODE_IMAGE, REGISTRY.image]): string | undefined {
  if (spawnSync("docker", ["info"], { stdio: "ignore", timeout: 15000 }).status !== 0) {
    return "no Docker engine answers (start one: bash e2e/docker-engine.sh start)";
  }
  for (const image of images) {
    if (spawnSync("docker", ["image", "inspect", image], { stdio: "ignore" }).status !== 0)
      return `image ${image} is missing (build it: npm run e2e:image)`;
  }
  for (const tool of ["kind", "kubectl"]) {
    if (!existsSync(join(toolsDir(), tool))) return `${join(toolsDir(), tool)} is missing (npm run e2e:image builds it)`;
  }
  if (!existsSync(join(ROOT, "dist", "main.js"))) return "dist/main.js is missing (npm run build)";
  return undefined;
}

/** Where every sandbox of the cluster, scenario and production tiers lives: `<tmpdir>/kindha-cluster-XXXXXX`. */
export const SANDBOX_PREFIX = join(tmpdir(), "kindha-cluster-");
/** The file in a sandbox naming the pid of the test run that made it. */
export const OWNER_FILE = ".owner-pid";

/** A sandbox still there whose test run still runs. */
function sandboxInUse(dir: string): boolean {
  if (!existsSync(dir)) return false;
  const pid = Number(existsSync(join(dir, OWNER_FILE)) ? readFileSync(join(dir, OWNER_FILE), "utf8") : NaN);
  if (!Number.isInteger(pid) || pid <= 0) return true;
  try {
    process.kill(pid, 0);
    return true;
  } catch (e) {
    return (e as NodeJS.ErrnoException).code === "EPERM";
  }
}

/** A sandbox: its own HOME (kubeconfig, backups) and a config file that points stacks at the local image. */
export interface Sandbox {
  readonly dir: string;
  readonly home: string;
  readonly configFile: string;
  readonly logFile: string;
  env(extra?: Record<string, string>): NodeJS.ProcessEnv;
  /** Synthesizes every stack with the compiled app and returns one stack's lifecycle. */
  synth(stack: string): Lifecycle;
}

/** @param extra YAML lines added to a stack's settings, by stack id */
export function makeSandbox(stacks: readonly string[], extra: Readonly<Record<string, string>> = {}): Sandbox {
  const dir = mkdtempSync(SANDBOX_PREFIX);
  writeFileSync(join(dir, OWNER_FILE), String(process.pid));
  const home = join(dir, "home");
  mkdirSync(home);
  const configFile = join(dir, "kindha.config.yaml");
  // The presets, changed only in image and cgroup v1 (these hosts are cgroup v1).
  writeFileSync(
    configFile,
    `stacks:\n${stacks.map((s) => `  ${s}:\n    nodeImage: ${NODE_IMAGE}\n    allowCgroupV1: true\n${extra[s] ?? ""}`).join("")}`,
  );
  const env = (extra: Record<string, string> = {}): NodeJS.ProcessEnv => ({
    ...process.env,
    PATH: `${toolsDir()}:${process.env.PATH}`,
    HOME: home,
    KINDHA_CONFIG: configFile,
    KINDHA_ALLOW_OVERCOMMIT: "1",
    // The sandbox's HOME must not hide the Docker engine's state (e2e/docker-engine.sh stop/start).
    KINDHA_CACHE: kindhaCache(),
    CHECKPOINT_DISABLE: "1",
    ...extra,
  });
  const out = join(dir, "cdktf.out");
  let synthesized = false;
  return {
    dir,
    home,
    configFile,
    logFile: join(dir, "cluster.log"),
    env,
    synth(stack) {
      if (!synthesized) {
        execFileSync(process.execPath, [join(ROOT, "dist", "main.js")], { cwd: dir, env: env({ CDKTF_OUTDIR: out }), stdio: "pipe" });
        synthesized = true;
      }
      return readLifecycle(join(out, "stacks", stack), home);
    },
  };
}

/** Runs a command; returns its exit code and output, never throws. */
export function run(
  cmd: string,
  args: readonly string[],
  env: NodeJS.ProcessEnv,
  input?: string,
  timeoutMs = 120000,
): CommandResult & { output: string } {
  const r = runSync(cmd, args, { env, input, timeoutMs });
  return { ...r, output: `${r.stdout}${r.stderr}` };
}

/** kubectl against a kubeconfig; throws with kubectl's message when it fails. */
export function kubectl(kubeconfig: string, env: NodeJS.ProcessEnv, args: readonly string[], input?: string): string {
  const r = run("kubectl", ["--kubeconfig", kubeconfig, ...args], env, input);
  if (r.code !== 0) throw new Error(`kubectl ${args.join(" ")} failed (${r.code}): ${r.stderr.trim()}`);
  return r.stdout;
}

/** Stops or starts the project's Docker engine (e2e/docker-engine.sh) as a restart of it does; its output. */
export function dockerEngine(verb: "stop" | "start", env: NodeJS.ProcessEnv): string {
  const r = run("bash", [join(ROOT, "e2e", "docker-engine.sh"), verb], env, undefined, 3 * MINUTE);
  if (r.code !== 0) throw new Error(`docker-engine.sh ${verb} failed: ${r.output}`);
  return r.output;
}

/** Polls `check` (with pollUntil) every `everyMs` until it returns a value or `timeoutMs` passes; then throws the last reason. */
export async function waitFor<T>(
  what: string,
  timeoutMs: number,
  check: () => T | undefined | Promise<T | undefined>,
  everyMs = 2000,
): Promise<T> {
  const last = await pollUntil(
    async () => {
      try {
        const value = await check();
        return { done: value !== undefined, value, why: "" };
      } catch (e) {
        return { done: false, value: undefined, why: e instanceof Error ? e.message : String(e) };
      }
    },
    { timeoutMs, intervalMs: everyMs },
  );
  if (last.done) return last.value as T;
  throw new Error(`timed out after ${timeoutMs / 1000}s waiting for ${what}${last.why ? `: ${last.why}` : ""}`);
}

/**
 * Clears what an earlier run of a tier left on this engine when it was killed before its own
 * clean-up (a session stopped mid-test): a kind cluster whose nodes carry the mark of a tier's
 * project (the `project=` line create writes: a sandbox of SANDBOX_PREFIX) whose run has ended
 * (the sandbox is gone, or the pid in its OWNER_FILE is) holds nothing anyone will use, so it is
 * deleted, with a line saying so; so is the machine's registry when its storage lies in such a
 * sandbox. Any other kind cluster (or registry) is someone's, whatever it mounts: the
 * tier will not touch it and says why it cannot run.
 * @returns why the tier cannot run, or undefined
 */
export function clearLeftoverClusters(say: (line: string) => void, env: NodeJS.ProcessEnv = process.env): string | undefined {
  const names = run(
    "docker",
    ["ps", "-a", "--filter", "label=io.x-k8s.kind.cluster", "--format", '{{.Label "io.x-k8s.kind.cluster"}}'],
    env,
  )
    .stdout.split("\n")
    .filter(Boolean);
  for (const cluster of [...new Set(names)]) {
    const containers = clusterContainers(cluster, env);
    const mark = run("docker", ["cp", `${cluster}-control-plane:${IDENTITY_PATH}`, "-"], env);
    const project = mark.code === 0 ? identityOfCopy(mark.stdout)?.project : undefined;
    const sandbox = sandboxOf(project);
    if (!sandbox || sandboxInUse(sandbox)) {
      return `a kind cluster named ${cluster} already runs on this engine and is not a leftover of a test tier${project ? ` (made from ${project})` : ""}; delete it (kind delete cluster --name ${cluster}) or use another engine`;
    }
    const scratch = mkdtempSync(join(tmpdir(), "kindha-leftover-"));
    // kind on PATH, else the one the node-image build made.
    const r = run(
      "kind",
      ["delete", "cluster", "--name", cluster, "--kubeconfig", join(scratch, "kubeconfig")],
      { ...env, PATH: `${env.PATH}:${toolsDir()}` },
      undefined,
      3 * MINUTE,
    );
    rmSync(scratch, { recursive: true, force: true });
    if (r.code !== 0) return `could not delete ${cluster}, left by an earlier test run in ${sandbox}: ${r.output.trim()}`;
    say(`deleted ${cluster} (${containers.length} containers), left by an earlier test run that has ended (sandbox ${sandbox})`);
  }
  // The machine's registry, when a tier that has ended started it (its storage in that sandbox).
  const storage = registryStorage(env);
  if (storage !== undefined) {
    const sandbox = sandboxOf(storage);
    if (!sandbox || sandboxInUse(sandbox)) {
      return `a registry ${REGISTRY.containerName} already runs on this engine with its storage in ${storage} and is not a leftover of a test tier; remove it (docker rm -f ${REGISTRY.containerName}; its storage stays) or use another engine`;
    }
    run("docker", ["rm", "-f", REGISTRY.containerName], env);
    say(`removed ${REGISTRY.containerName}, left by an earlier test run that has ended (sandbox ${sandbox})`);
  }
  // As delete-cluster.sh: kind's network goes only when no container, running or stopped, is attached.
  if (
    run("docker", ["network", "inspect", "kind"], env).code === 0 &&
    run("docker", ["ps", "-aq", "--filter", "network=kind"], env).stdout.trim() === ""
  ) {
    run("docker", ["network", "rm", "kind"], env);
  }
  return undefined;
}

/** The test sandbox a path lies in, if any. */
function sandboxOf(path: string | undefined): string | undefined {
  return path?.startsWith(SANDBOX_PREFIX) ? SANDBOX_PREFIX + path.slice(SANDBOX_PREFIX.length).split("/")[0] : undefined;
}

/** The host directory of the machine's registry's storage; undefined when there is no registry. */
export function registryStorage(env: NodeJS.ProcessEnv = process.env): string | undefined {
  const format = `{{range .Mounts}}{{if eq .Destination "/var/lib/registry"}}{{.Source}}{{end}}{{end}}`;
  const r = run("docker", ["inspect", "-f", format, REGISTRY.containerName], env);
  return r.code === 0 ? r.stdout.trim() : undefined;
}

/** Containers kind made for a cluster (nodes and load balancer). */
export function clusterContainers(cluster: string, env: NodeJS.ProcessEnv = process.env): string[] {
  const r = run("docker", kindClusterPsArgs(cluster), env);
  return r.stdout.split("\n").filter(Boolean).sort();
}

/** What a rolling tool printed: each node's roll time (upgrade's steps) and the outage figures of the roll (upgrade, renew-certs). */
export function rollFigures(output: string): { nodes: [string, number][]; writesS: number; apiS: number } {
  const nodes = [
    ...output.matchAll(/\] upgrade (?:control-plane|worker) (\S+) to \S+ \(kubeadm upgrade \w+\)\n(?:\s+· [^\n]*\n)*\s+ok in ([\d.]+) s/g),
  ].map((m): [string, number] => [m[1], Number(m[2])]);
  return {
    nodes,
    // The roll's lines, which start the line (upgrade prints the preparation's apart, prefixed).
    writesS: Number(/^writes unavailable for ([\d.]+) s/m.exec(output)?.[1] ?? NaN),
    apiS: Number(/^API unavailable for ([\d.]+) s/m.exec(output)?.[1] ?? NaN),
  };
}
