/**
 * Benchmark: `npm run migrate` single <-> ha-option-b with PostgreSQL's small volume, then again
 * with 1 GiB more in that volume. Migration keeps the volumes in the host data directory, so the
 * two should cost the same; this measures it. Checks the rows and the 1 GiB file's sha256 after
 * every migration (a wrong figure from a broken migration is worse than none).
 *
 * Needs what the cluster tier needs (Docker engine, the node image, the pinned providers); about
 * 15 minutes. Usage: npm run bench -- --migrate
 */
import { spawnSync } from "node:child_process";
import { rmSync } from "node:fs";
import { join } from "node:path";
import { findStack } from "../lib/io/config-file";
import { kubectl, makeSandbox, run } from "../test-support/cluster";
import { failed, makeProject, missingForDeploy } from "../test-support/deploy";
import * as pg from "../test-support/postgres";

const BLOB = "/var/lib/postgresql/data/kindha-bench-1gib";

async function main(): Promise<void> {
  const why = missingForDeploy();
  if (why) throw new Error(`the migrate bench cannot run: ${why}`);
  const sandbox = makeSandbox(["single", "ha-option-b"]);
  const p = makeProject(sandbox);
  const cluster = findStack("single", sandbox.configFile).topology.clusterName;
  const db: pg.Db = { kubeconfig: join(sandbox.home, ".kube", `kindha-${cluster}.yaml`), env: p.env };
  const dataDir = join(sandbox.home, ".kindha", "data", cluster);
  const exec = (...args: string[]) => kubectl(db.kubeconfig, p.env, ["-n", pg.NAMESPACE, "exec", pg.POD, "--", ...args]).trim();
  const du = () => spawnSync("du", ["-sm", dataDir], { encoding: "utf8" }).stdout.split("\t")[0];
  const figures: string[] = [];
  let current = "single";
  try {
    const deployed = await p.cdktf("deploy", "single");
    if (deployed.code !== 0) throw failed("cdktf deploy single", deployed);
    kubectl(db.kubeconfig, p.env, ["apply", "-f", "-"], pg.postgresManifest());
    await pg.waitReady(db);
    const rows = pg.writeRows(db);
    let blob = "";

    const migrate = async (label: string, to: string) => {
      const r = await p.tool("migrate", "--from", current, "--to", to, "--project-dir", p.dir, "--skip-provider-lock");
      if (r.code !== 0) throw failed(`migrate ${current} -> ${to}`, r);
      current = to;
      await pg.waitReady(db);
      if (pg.checksum(db) !== rows) throw new Error(`${label}: PostgreSQL's rows changed`);
      if (blob && exec("sha256sum", BLOB).split(" ")[0] !== blob) throw new Error(`${label}: the 1 GiB file changed`);
      const line = `${label.padEnd(44)} ${String(r.seconds).padStart(6)} s  (data directory ${du()} MiB)`;
      figures.push(line);
      console.log(line);
    };

    await migrate("without: single -> ha-option-b", "ha-option-b");
    await migrate("without: ha-option-b -> single", "single");
    exec("dd", "if=/dev/urandom", `of=${BLOB}`, "bs=1M", "count=1024", "status=none");
    blob = exec("sha256sum", BLOB).split(" ")[0];
    await migrate("with 1 GiB: single -> ha-option-b", "ha-option-b");
    await migrate("with 1 GiB: ha-option-b -> single", "single");
  } finally {
    await p.cdktf("destroy", current).catch(() => undefined);
    run("kind", ["delete", "cluster", "--name", cluster], p.env);
    if (process.env.KINDHA_KEEP_SANDBOX !== "1") rmSync(sandbox.dir, { recursive: true, force: true });
  }
  console.log(`\nmigrate, PostgreSQL (10,000 rows) in the data directory, without and with 1 GiB more:\n${figures.join("\n")}`);
}

main().catch((e) => {
  console.error(e instanceof Error ? e.message : String(e));
  process.exit(1);
});
