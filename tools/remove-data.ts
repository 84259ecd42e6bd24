/**
 * `npm run remove-data -- <stack> --yes`: deletes the stack's data directory (every volume of its
 * cluster). The only command that does; destroy, migrate and re-creation keep it.
 */
import { existsSync, readdirSync, readFileSync, rmSync, statSync } from "node:fs";
import { join } from "node:path";
import { expandHome, resolveDataDir } from "../lib/io/paths";
import { DATA_OWNER_FILE } from "../lib/model/storage";
import { kindClusterPsArgs } from "../lib/model/topology";
import { containerCli, EXIT, parseToolArgs, processIo, runMain, runTool, singleStack, toolDeps, UsageError, type Io, type ToolDeps } from "./cli";

export const USAGE = `Usage: npm run remove-data -- <stack> --yes

Deletes the data directory of <stack>'s cluster (default ~/.kindha/data/<cluster>): every
PersistentVolume's bytes. Nothing else deletes it: cdktf destroy, a topology change and
npm run migrate keep it for the next cluster of that name.

Refuses while the cluster exists (destroy it first), when the directory belongs to another
cluster, and without --yes (then it lists what would go).

Options:
  --yes       delete it
  -h, --help  this help`;

/** `<namespace>/<claim>` directories under a data directory. */
export function volumesIn(dir: string): string[] {
  const subdirs = (d: string) => readdirSync(d, { withFileTypes: true }).filter((e) => e.isDirectory()).map((e) => e.name).sort();
  return subdirs(dir).flatMap((ns) => {
    try {
      return subdirs(join(dir, ns)).map((claim) => `${ns}/${claim}`);
    } catch {
      return [`${ns}/?`];
    }
  });
}

export async function main(argv: readonly string[], io: Io = processIo, given: Partial<ToolDeps> = {}): Promise<number> {
  return runTool(io, USAGE, argv, async () => {
    const { values, positionals } = parseToolArgs(argv, { yes: { type: "boolean" } });
    const stack = singleStack(positionals);
    const deps = toolDeps(given);
    const name = stack.topology.clusterName;
    const configured = resolveDataDir(stack.definition.dataDir, name);
    if (configured === undefined) throw new UsageError(`stack ${stack.id} has no data directory (dataDir: false): its volumes lived inside the nodes`);
    const dir = expandHome(configured, deps.env.HOME || undefined);
    if (!existsSync(dir)) {
      io.out(`remove-data: ${dir} does not exist; nothing to delete`);
      return EXIT.ok;
    }
    if (!statSync(dir).isDirectory()) throw new Error(`${dir} is not a directory; not touching it`);
    const owner = existsSync(join(dir, DATA_OWNER_FILE)) ? readFileSync(join(dir, DATA_OWNER_FILE), "utf8").trim() : undefined;
    if (owner !== undefined && owner !== name) throw new Error(`${dir} belongs to cluster ${JSON.stringify(owner)}, not ${name}; not touching it`);
    const cli = containerCli(deps.env);
    const nodes = await deps.exec(cli, kindClusterPsArgs(name), { env: deps.env, timeoutMs: 30_000 });
    if (nodes.code !== 0) throw new Error(`cannot tell whether cluster ${name} exists (${cli} ps failed: ${nodes.stderr.trim() || nodes.code}); not deleting`);
    if (nodes.stdout.trim() !== "") throw new Error(`cluster ${name} exists and uses ${dir}; destroy it first (npx cdktf destroy ${stack.id})`);
    const volumes = volumesIn(dir);
    const listing = volumes.length === 0 ? "no volumes" : `${volumes.length} volume(s): ${volumes.join(", ")}`;
    if (values.yes !== true) throw new UsageError(`add --yes to delete ${dir} (${listing})`);
    try {
      rmSync(dir, { recursive: true });
    } catch (e) {
      throw new Error(`deleting ${dir} failed: ${(e as Error).message}; files written by containers may belong to other users: sudo rm -rf ${dir}`);
    }
    io.out(`remove-data: deleted ${dir} (${listing})`);
    return EXIT.ok;
  });
}

if (require.main === module) runMain(main);
