/**
 * `npm run remove-data -- <stack> --yes`: deletes the stack's data directory (every volume of its
 * cluster). The only command that does; destroy, migrate and re-creation keep it.
 */
import { loadStacks } from "../lib/io/config-file";
import { containerCli } from "../lib/io/container-cli";
import { ClusterClient } from "../lib/ops/client";
import { claimProblem, removeData } from "../lib/ops/remove-data/remove-data";
import {
  clusterAccess,
  EXIT,
  hostPath,
  parseToolArgs,
  processIo,
  runMain,
  runTool,
  singleStack,
  toolDeps,
  UsageError,
  type Io,
  type ToolDeps,
} from "./cli";

export const USAGE = `Usage: npm run remove-data -- <stack> [--claim NAMESPACE/CLAIM] --yes

Deletes the data directory of <stack>'s cluster (default ~/.kindha/data/<cluster>): every
PersistentVolume's bytes. Nothing else deletes it: cdktf destroy, a topology change, npm run
migrate and deleting a claim keep it (kindha's class keeps a deleted claim's directory, and a new
claim of the same name finds the bytes), for the next cluster or claim of that name.

Refuses while the cluster exists (destroy it first), when the directory belongs to another
cluster or has no file naming its cluster (kindha did not make it), when it is a symbolic link or
overlaps the backup directory or another cluster's data directory, and without --yes (then it
lists what would go).

Options:
  --claim NS/NAME  delete only that claim's directory (<data dir>/NS/NAME). While the cluster runs,
                   only when no claim of that name exists in it (delete the claim first); its
                   released volume object goes too
  --yes            delete it
  -h, --help       this help`;

export async function main(argv: readonly string[], io: Io = processIo, given: Partial<ToolDeps> = {}): Promise<number> {
  return runTool(io, USAGE, argv, async () => {
    const { values, positionals } = parseToolArgs(argv, { yes: { type: "boolean" }, claim: { type: "string" } });
    const stack = singleStack(positionals);
    const deps = toolDeps(given);
    const configured = stack.paths.data;
    if (configured === undefined)
      throw new UsageError(`stack ${stack.id} has no data directory (dataDir: false): its volumes lived inside the nodes`);
    const problem = values.claim === undefined ? undefined : claimProblem(values.claim);
    if (problem) throw new UsageError(`--claim: ${problem}`);
    const others = loadStacks().flatMap((s) =>
      s.definition.target === "cluster-api" || s.paths.data === undefined
        ? []
        : [{ path: hostPath(s.paths.data, deps), cluster: s.topology.clusterName, stackId: s.id }],
    );
    const removal = await removeData(
      {
        stackId: stack.id,
        cluster: stack.topology.clusterName,
        dir: hostPath(configured, deps),
        backups: hostPath(stack.paths.backups, deps),
        others,
        exec: deps.exec,
        env: deps.env,
        containerCli: containerCli(deps.env),
        client: () => new ClusterClient(clusterAccess(stack, undefined, deps)),
        yes: values.yes === true,
        log: (line) => io.out(line),
      },
      values.claim,
    );
    if ("confirm" in removal) throw new UsageError(`add --yes to delete ${removal.confirm}`);
    return EXIT.ok;
  });
}

if (require.main === module) runMain(main);
