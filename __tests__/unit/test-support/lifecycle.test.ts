/**
 * The cluster tier's reader of the synthesized lifecycle (test-support/lifecycle.ts), on the
 * compiled app's real output: what it resolves must be what Terraform would write and run.
 */
import { execFileSync } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { parse } from "yaml";
import { readLifecycle } from "../../../test-support/lifecycle";

const ROOT = join(__dirname, "..", "..", "..");
const dir = mkdtempSync(join(tmpdir(), "kindha-lifecycle-"));
afterAll(() => rmSync(dir, { recursive: true, force: true }));
execFileSync(process.execPath, [join(ROOT, "tools", "dev", "run.js"), "main"], {
  cwd: dir,
  env: { ...process.env, KINDHA_CONFIG: "", CDKTF_OUTDIR: join(dir, "out") },
  stdio: "pipe",
});

test.each(["single", "ha-option-b", "ha-option-a"])(
  "%s: the kind config is written resolved, where create reads it, with the env Terraform passes",
  (stack) => {
    const home = join(dir, "home");
    const life = readLifecycle(join(dir, "out", "stacks", stack), home);
    const path = life.writeConfig();
    expect(path).toBe(join(dir, "out", "stacks", stack, "kind-config.yaml"));
    const text = readFileSync(path, "utf8");
    expect(text).not.toContain("${");
    const nodes = parse(text).nodes;
    const mounts = nodes.flatMap((n: any) => n.extraMounts ?? []).map((m: any) => `${m.hostPath} -> ${m.containerPath}`);
    const data = join(home, ".kindha/data/data-platform-local");
    const backups = `${join(home, ".kindha/backups/data-platform-local/scheduled")} -> /var/lib/kindha/backups`;
    // Every node mounts the data directory; HA control planes also the scheduled backups.
    expect(mounts.filter((m: string) => m === `${data} -> /var/local-path-provisioner`)).toHaveLength(nodes.length);
    expect(mounts.filter((m: string) => m === backups)).toHaveLength(stack === "single" ? 0 : 3);
    expect(mounts).toHaveLength(nodes.length + (stack === "single" ? 0 : 3));
    const stackDir = join(dir, "out", "stacks", stack);
    expect(readFileSync(join(stackDir, "provisioner-config.json"), "utf8")).toContain("sharedFileSystemPath");
    expect(readFileSync(join(stackDir, "storage-class.yaml"), "utf8")).toContain("pathPattern");
    expect(life.create.environment).toMatchObject({
      KINDHA_KIND_CONFIG: path,
      KINDHA_KUBECONFIG: join(home, ".kube/kindha-data-platform-local.yaml"),
      KINDHA_DATA_DIR: data,
      KINDHA_STORAGE_CLASS: join(stackDir, "storage-class.yaml"),
      KINDHA_STORAGE_CONFIG: join(stackDir, "provisioner-config.json"),
    });
    expect(life.destroy.environment).toMatchObject({ KINDHA_DATA_DIR: data, KINDHA_STACK: stack });
    expect(life.create.command).toBe('bash "assets/Scripts/current/create-cluster.sh"');
  },
);
