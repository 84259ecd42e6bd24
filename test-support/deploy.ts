/**
 * A user's project directory for the cluster, scenario and production tiers and the migrate bench: cdktf.json, the sandbox's
 * kindha.config.yaml, node_modules, OpenTofu from tools/dev/engine.sh and the pinned providers from
 * KINDHA_PROVIDER_DIR (default ../shared/providers).
 */
import { spawnSync } from "node:child_process";
import { existsSync, symlinkSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { MINUTE, missingPrerequisite, ROOT, type Sandbox } from "./cluster";
import { runLogged, type Ran } from "./lifecycle";

export const PROVIDERS = [
  "terraform-provider-external_v2.3.5",
  "terraform-provider-null_v3.2.4",
  "terraform-provider-local_v2.6.1",
  "terraform-provider-kubernetes_v2.38.0",
];

/** The pinned providers' mirror, as tools/dev/engine.sh finds it: KINDHA_PROVIDER_DIR, else ../shared/providers beside the project. */
export function providerDir(): string | undefined {
  const shared = join(ROOT, "..", "shared", "providers");
  return process.env.KINDHA_PROVIDER_DIR || (existsSync(shared) ? shared : undefined);
}

/** Why a deploy cannot run here (providers, Docker, image, tools), or undefined. */
export function missingForDeploy(images?: readonly string[]): string | undefined {
  const dir = providerDir();
  if (!dir)
    return `no pinned providers: set KINDHA_PROVIDER_DIR to a directory holding ${PROVIDERS.join(", ")} (or put them in ../shared/providers)`;
  const absent = PROVIDERS.filter((p) => !existsSync(join(dir, p)));
  if (absent.length > 0) return `${dir} lacks ${absent.join(", ")}`;
  return missingPrerequisite(images);
}

export interface Project {
  readonly dir: string;
  readonly env: NodeJS.ProcessEnv;
  /** The engine binary (`tofu`). */
  readonly engineBin: string;
  /** `npx cdktf <args> --auto-approve --skip-provider-lock` in the project. */
  cdktf(...args: string[]): Promise<Ran>;
  /** A compiled tool (`dist/tools/<name>.js`) run in the project. */
  tool(name: string, ...args: string[]): Promise<Ran>;
  /** The engine's `plan -detailed-exitcode` of a synthesized stack (exit 0: no changes, 2: changes, 1: error). */
  plan(stack: string): { code: number | null; stdout: string };
}

/** Turns a sandbox into a cdktf project; throws when the engine cannot be bootstrapped. */
export function makeProject(sandbox: Sandbox): Project {
  const boot = spawnSync("bash", [join(ROOT, "tools", "dev", "engine.sh"), "--env"], { encoding: "utf8" });
  if (boot.status !== 0) throw new Error(`engine bootstrap failed:\n${boot.stderr}`);
  const engine = Object.fromEntries(
    boot.stdout
      .trim()
      .split("\n")
      .map((line) => {
        const [key, ...value] = line.split("=");
        return [key, value.join("=")];
      }),
  );
  const dir = sandbox.dir;
  writeFileSync(
    join(dir, "cdktf.json"),
    JSON.stringify({
      language: "typescript",
      app: `node ${join(ROOT, "dist", "main.js")}`,
      projectId: "kindha-deploy-tier",
      sendCrashReports: "false",
    }),
  );
  symlinkSync(join(ROOT, "node_modules"), join(dir, "node_modules"));
  // The plan's recover hook and the roll resource's upgrade hook run `npm run recover` and
  // `npm run upgrade` from cdktf.out/stacks/<id>; npm finds these.
  const tool = (name: string) => `node ${JSON.stringify(join(ROOT, "dist", "tools", `${name}.js`))}`;
  writeFileSync(
    join(dir, "package.json"),
    JSON.stringify({ name: "kindha-deploy-tier", private: true, scripts: { recover: tool("recover"), upgrade: tool("upgrade") } }),
  );
  const env = sandbox.env({
    PATH: `${engine.KINDHA_ENGINE_PATH}:${sandbox.env().PATH}`,
    TERRAFORM_BINARY_NAME: "tofu",
    TF_CLI_CONFIG_FILE: engine.TF_CLI_CONFIG_FILE,
  });
  // cdktf and the tools read the project directory's kindha.config.yaml, as in a user's project.
  delete env.KINDHA_CONFIG;
  const shell = (command: string) => runLogged(command, { cwd: dir, env, logFile: sandbox.logFile, timeoutMs: 30 * MINUTE });
  return {
    dir,
    env,
    engineBin: engine.KINDHA_ENGINE_BIN,
    cdktf: (...args) => shell(`npx cdktf ${args.join(" ")} --auto-approve --skip-provider-lock`),
    tool: (name, ...args) => shell(`node ${JSON.stringify(join(ROOT, "dist", "tools", `${name}.js`))} ${args.join(" ")}`),
    plan: (stack) => {
      const r = spawnSync(engine.KINDHA_ENGINE_BIN, ["plan", "-detailed-exitcode", "-input=false", "-no-color"], {
        cwd: join(dir, "cdktf.out", "stacks", stack),
        env,
        encoding: "utf8",
      });
      return { code: r.status, stdout: r.stdout };
    },
  };
}

/** An error with a failed command's last 40 lines. */
export function failed(what: string, r: Ran): Error {
  return new Error(`${what} exited ${r.code}:\n${r.output.split("\n").slice(-40).join("\n")}`);
}
