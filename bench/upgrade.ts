/**
 * Benchmark: `npm run upgrade` v1.36.1 -> v1.37.2 on real kind clusters, the roll time of each
 * node and the outage the 1-second probes saw, per stack (ha-option-b, then single). Clusters are
 * created and deleted the way the cluster tier does (the synthesized create and delete scripts),
 * so no Terraform providers are needed. About 25 minutes on 2 cores.
 * Usage: npm run bench -- --upgrade [--stacks ha-option-b,single]
 */
import { rmSync } from "node:fs";
import { join } from "node:path";
import { parseArgs } from "node:util";
import { makeSandbox, missingPrerequisite, MINUTE, NODE_IMAGE, rollFigures, ROOT, run, UPGRADE_IMAGE } from "../test-support/cluster";
import { runLogged } from "../test-support/lifecycle";

async function main(): Promise<void> {
  const { values } = parseArgs({ args: process.argv.slice(2), options: { stacks: { type: "string", default: "ha-option-b,single" } } });
  const why = missingPrerequisite([NODE_IMAGE, UPGRADE_IMAGE]);
  if (why) throw new Error(`the upgrade bench cannot run: ${why}`);
  const stacks = values.stacks.split(",").filter(Boolean);
  const sandbox = makeSandbox(stacks);
  const env = sandbox.env();
  const lines: string[] = [];
  try {
    for (const stack of stacks) {
      const life = sandbox.synth(stack);
      life.writeConfig();
      const created = await runLogged(life.create.command, {
        cwd: life.stackDir,
        env: { ...env, ...life.create.environment },
        logFile: sandbox.logFile,
        timeoutMs: 15 * MINUTE,
      });
      if (created.code !== 0) throw new Error(`create ${stack} failed:\n${created.output.split("\n").slice(-20).join("\n")}`);
      try {
        const started = Date.now();
        const r = run(
          process.execPath,
          [join(ROOT, "dist", "tools", "upgrade.js"), stack, "--to", UPGRADE_IMAGE],
          env,
          undefined,
          40 * MINUTE,
        );
        if (r.code !== 0) throw new Error(`upgrade ${stack} failed:\n${r.output.split("\n").slice(-30).join("\n")}`);
        const f = rollFigures(r.output);
        const line = `${stack.padEnd(12)} ${((Date.now() - started) / 1000).toFixed(0).padStart(5)} s in all; ${f.nodes.map(([n, s]) => `${n.replace(/^.*?-(control-plane\d*|worker\d*)$/, "$1")} ${s.toFixed(0)} s`).join(", ")}; writes unavailable ${f.writesS} s, API ${f.apiS} s`;
        lines.push(line);
        console.log(line);
      } finally {
        await runLogged(life.destroy.command, {
          cwd: life.stackDir,
          env: { ...env, ...life.destroy.environment },
          logFile: sandbox.logFile,
          timeoutMs: 5 * MINUTE,
        });
      }
    }
  } finally {
    if (process.env.KINDHA_KEEP_SANDBOX !== "1") rmSync(sandbox.dir, { recursive: true, force: true });
  }
  console.log(`\nupgrade v1.36.1 -> ${UPGRADE_IMAGE}, per stack and node:\n${lines.join("\n")}`);
}

main().catch((e) => {
  console.error(e instanceof Error ? e.message : String(e));
  process.exit(1);
});
