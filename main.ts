/**
 * The app: one stack per topology. `cdktf deploy <id>` (single, ha-option-b, ha-option-a, or an
 * id from kindha.config.yaml) is the whole user command.
 */
import { App, TerraformStack } from "cdktf";
import { dirname, join, relative, resolve } from "node:path";
import { type ResolvedStack } from "./lib/model/resolved-stack";
import { loadStacks } from "./lib/io/config-file";
import { guardStateFiles } from "./lib/io/state-files";
import { ValidationError } from "./lib/model/validation";
import { ClusterApiStack } from "./stacks/cluster-api-stack";
import { ClusterStack } from "./stacks/cluster-stack";
import { HaStack } from "./stacks/ha-stack";
import { SingleStack } from "./stacks/single-stack";

/** Builds every stack, resolved (validated) before: bad input throws before anything is created. */
export function buildApp(makeApp: () => App = () => new App(), stacks: readonly ResolvedStack[] = loadStacks()): App {
  const app = makeApp();
  for (const stack of stacks) {
    if (stack.definition.target === "cluster-api") new ClusterApiStack(app, stack);
    else if (stack.definition.availability === "single") new SingleStack(app, stack);
    else new HaStack(app, stack);
  }
  return app;
}

if (require.main === module) {
  try {
    const app = buildApp();
    app.synth();
    const cwd = process.cwd();
    // Each stack's backend path is ../../../terraform.<id>.tfstate from cdktf.out/stacks/<id>.
    guardStateFiles(
      dirname(resolve(app.outdir)),
      app.node.children.filter((s) => s instanceof TerraformStack).map((s) => s.node.id),
    );
    for (const stack of app.node.children) {
      if (!(stack instanceof TerraformStack)) continue;
      console.log(`${stack.node.id}: ${relative(cwd, join(app.outdir, "stacks", stack.node.id, "cdk.tf.json"))}`);
      if (stack instanceof ClusterStack || stack instanceof ClusterApiStack)
        for (const w of stack.topology.warnings) console.error(`warning: stack ${stack.node.id}: ${w}`);
    }
  } catch (err) {
    // Bad input is the user's to fix: the message alone, no stack trace; anything else is a bug.
    console.error(err instanceof ValidationError ? err.message : err);
    process.exit(1);
  }
}
