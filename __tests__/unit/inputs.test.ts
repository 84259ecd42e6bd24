/**
 * Every input is data, never code: hostile and careless config files and command lines, through
 * the real app and tools (spawned), refused in one message that names field, value and rule, with
 * nothing written; and a scan proving no user string becomes a Terraform expression.
 */
import { spawnSync } from "node:child_process";
import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, symlinkSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { CONFIG_LIMITS } from "../../lib/model/stack-config";

const ROOT = join(__dirname, "..", "..");
const made: string[] = [];
afterAll(() => made.forEach((d) => rmSync(d, { recursive: true, force: true })));

/** A working directory and HOME of its own, so "nothing written" can be checked. */
function sandbox() {
  const dir = mkdtempSync(join(tmpdir(), "kindha-inputs-"));
  made.push(dir);
  const home = join(dir, "home");
  mkdirSync(home);
  return { dir, home };
}

/** The app (`npm run synth`) with a config text; what it printed and what it left behind. */
function synth(config: string | undefined, extraEnv: Record<string, string> = {}) {
  const s = sandbox();
  const file = join(s.dir, "kindha.config.yaml");
  if (config !== undefined) writeFileSync(file, config);
  const r = spawnSync(process.execPath, [join(ROOT, "tools", "dev", "run.js"), "main"], {
    cwd: s.dir,
    env: {
      ...process.env,
      HOME: s.home,
      KINDHA_CONFIG: config === undefined ? "" : file,
      CDKTF_OUTDIR: join(s.dir, "cdktf.out"),
      ...extraEnv,
    },
    encoding: "utf8",
  });
  return {
    ...s,
    code: r.status,
    stderr: r.stderr,
    stdout: r.stdout,
    wrote: existsSync(join(s.dir, "cdktf.out")) || readdirSync(s.home).length > 0,
  };
}

/** A stack's cdk.tf.json from a config that synthesizes cleanly (no output on stderr, exit 0). */
function synthesized(config: string, stackId: string): string {
  const r = synth(config);
  expect(r.stderr).toBe("");
  expect(r.code).toBe(0);
  return readFileSync(join(r.dir, "cdktf.out", "stacks", stackId, "cdk.tf.json"), "utf8");
}

/** Exit 1, one message naming the field and value, no stack trace, nothing written. */
function expectRefused(r: ReturnType<typeof synth>, ...parts: string[]) {
  expect(r.code).toBe(1);
  for (const p of parts) expect(r.stderr).toContain(p);
  expect(r.stderr).not.toMatch(/^\s+at /m);
  expect(r.stderr.length).toBeLessThan(4000);
  expect(r.wrote).toBe(false);
}

const stack = (settings: string) => `stacks:\n  single:\n${settings}`;

describe("no setting becomes code", () => {
  test.each([
    [
      "a Terraform template in the node image",
      stack('    nodeImage: "kindest/node:${file(\\"/etc/passwd\\")}"\n'),
      "stacks.single.nodeImage",
    ],
    [
      "a template directive in the node image",
      stack('    nodeImage: "kindest/node:%{ for x in [1] }a%{ endfor }"\n'),
      "stacks.single.nodeImage",
    ],
    [
      "a newline that would add a mount of / to the kind config",
      stack('    nodeImage: "kindest/node:v1\\n    extraMounts: [{hostPath: /, containerPath: /host}]"\n'),
      "stacks.single.nodeImage",
    ],
    ["a template in the data directory", stack('    dataDir: "/tmp/${file(\\"/etc/shadow\\")}"\n'), "stacks.single.dataDir"],
    ["a quote in the data directory", stack('    dataDir: "/tmp/a\\")} ${file(\\"x"\n'), "stacks.single.dataDir"],
    [
      "a template in the backup schedule",
      'stacks:\n  ha-option-b:\n    scheduledBackups: { schedule: "${file(\\"/etc/passwd\\")}" }\n',
      "stacks.ha-option-b.scheduledBackups.schedule",
    ],
    [
      "a template in a backup image",
      'stacks:\n  ha-option-b:\n    scheduledBackups: { shellImage: "busybox:${path.cwd}" }\n',
      "stacks.ha-option-b.scheduledBackups.shellImage",
    ],
    [
      "a template in the management kubeconfig",
      'stacks:\n  prod:\n    availability: ha\n    target: cluster-api\n    clusterApi: { managementKubeconfig: "~/${file(\\"/etc/passwd\\")}" }\n',
      "stacks.prod.clusterApi.managementKubeconfig",
    ],
    [
      "a template in the Cluster API version",
      'stacks:\n  prod:\n    availability: ha\n    target: cluster-api\n    clusterApi: { kubernetesVersion: "v1.36.1${path.cwd}" }\n',
      "stacks.prod.clusterApi.kubernetesVersion",
    ],
    [
      "a template in the Cluster API namespace",
      'stacks:\n  prod:\n    availability: ha\n    target: cluster-api\n    clusterApi: { namespace: "${path.cwd}" }\n',
      "stacks.prod.clusterApi.namespace",
    ],
  ])("refuses %s", (_what, config, field) => {
    expectRefused(synth(config), field, "must be");
  });

  test("every ${...} in cdk.tf.json is one of the program's own expressions, with every setting given", () => {
    const config = [
      "stacks:",
      "  custom:",
      "    availability: ha",
      "    clusterName: team-a",
      "    controlPlanes: 5",
      "    apiServerAddress: 192.168.50.10",
      "    apiServerPort: 7443",
      "    nodeImage: registry.example.com:5000/team/kind-node:v1.36.1-rc.1@sha256:3489c7674813ba5d8b1a9977baea8a6e553784dab7b84759d1014dbd78f7ebd5",
      "    allowCgroupV1: true",
      "    dataDir: ~/data/team-a_volumes.1",
      "    workers: [{ role: infrastructure, count: 2, budget: { cpu: 2, memoryGiB: 4 } }, { role: workload }]",
      "    scheduledBackups: { schedule: '*/15 1-5 * JAN-MAR MON,FRI', retention: 12, etcdImage: 'registry.k8s.io/etcd:3.6.8-0', shellImage: 'busybox:1.37' }",
    ].join("\n");
    const text = synthesized(config, "custom");
    const strings: string[] = [];
    const walk = (x: unknown): void => {
      if (typeof x === "string") strings.push(x);
      else if (Array.isArray(x)) x.forEach(walk);
      else if (x && typeof x === "object") Object.values(x).forEach(walk);
    };
    walk(JSON.parse(text));
    const OWN = [
      /^\$\{path\.module\}/,
      /^\$\{self\.(triggers\.[a-z_]+|id)\}/,
      /^\$\{(local_file|null_resource)\.[A-Za-z0-9_]+\.(filename|id)\}/,
      /^\$\{data\.local_sensitive_file\.[A-Za-z0-9_]+\.content\}/,
      /^\$\{pathexpand\("[A-Za-z0-9._@+/~-]*"\)\}/,
      /^\$\{(base64decode\()?yamldecode\(data\.local_sensitive_file\.[A-Za-z0-9_]+\.content\)\.(clusters|users)\.0\.(cluster|user)(\.server|\["[a-z-]+"\])\)?\}/,
    ];
    const expressions = strings.flatMap((s) => [...s.matchAll(/\$\{/g)].map((m) => s.slice(m.index)));
    expect(expressions.length).toBeGreaterThan(20);
    expect(expressions.filter((e) => !OWN.some((re) => re.test(e)))).toEqual([]);
    expect(strings.filter((s) => s.includes("%{"))).toEqual([]);
    // The user's values are there, as data.
    expect(text).toContain("registry.example.com:5000/team/kind-node:v1.36.1-rc.1@sha256:");
    expect(text).toContain('pathexpand(\\"~/data/team-a_volumes.1\\")');
  });

  test("a cluster-api stack's every ${...} is the program's own, with every setting given", () => {
    const config = [
      "stacks:",
      "  prod:",
      "    availability: ha",
      "    target: cluster-api",
      "    clusterName: team-prod",
      "    nodeImage: registry.example.com:5000/team/kind-node:v1.36.1",
      "    workers: [{ role: infrastructure }, { role: workload, count: 3 }]",
      "    clusterApi: { kubernetesVersion: v1.37.2, namespace: team-prod, managementKubeconfig: ~/.kube/mgmt_1.yaml }",
    ].join("\n");
    const text = synthesized(config, "prod");
    expect([...text.matchAll(/\$\{[^}]*\}/g)].map((m) => m[0])).toEqual(['${pathexpand(\\"~/.kube/mgmt_1.yaml\\")}']);
    expect(text).not.toContain("%{");
    expect(text).toContain('"version": "v1.37.2"');
  });
});

describe("grammars at synth time", () => {
  test.each([
    [
      "a cron schedule of 6 fields",
      'stacks:\n  ha-option-b:\n    scheduledBackups: { schedule: "0 0 */6 * * *" }\n',
      "must be a cron schedule of 5 fields",
    ],
    [
      "a cron hour of 24",
      'stacks:\n  ha-option-b:\n    scheduledBackups: { schedule: "0 24 * * *" }\n',
      "is not a cron schedule: hour 24 is outside 0-23",
    ],
    [
      "a cron month name that is not one",
      'stacks:\n  ha-option-b:\n    scheduledBackups: { schedule: "0 0 1 FOO *" }\n',
      'month "FOO" is not a number or a name',
    ],
    [
      "a retention of 10 million",
      "stacks:\n  ha-option-b:\n    scheduledBackups: { retention: 10000000 }\n",
      "must be a whole number of snapshots from 1 to 1000",
    ],
    [
      "an empty image",
      'stacks:\n  ha-option-b:\n    scheduledBackups: { etcdImage: "" }\n',
      'scheduledBackups.etcdImage: "" must be an image reference',
    ],
    ["a stack id of 64 characters", `stacks:\n  ${"a".repeat(64)}:\n    availability: single\n`, "at most 63 characters"],
    [
      "a decimal budget",
      stack("    controlPlaneBudget: { cpu: 2.5 }\n"),
      "stacks.single.controlPlaneBudget.cpu: 2.5 must be a whole number of CPUs from 1 to 1024",
    ],
    [
      "a huge budget (the preflight's arithmetic)",
      stack("    workers: [{ role: combined, budget: { memoryGiB: 99999999999999999999 } }]\n"),
      "must be a whole number of GiB from 1 to 4096",
    ],
    [
      "a control plane without the memory one needs",
      stack("    controlPlaneBudget: { memoryGiB: 1 }\n"),
      "must be a whole number of GiB from 2 to 4096",
    ],
    ["a multicast API address", stack("    apiServerAddress: 224.0.0.1\n"), "multicast addresses cannot be bound"],
    [
      "scheduled backups that nothing would run (platform objects off)",
      "stacks:\n  ha-option-b:\n    platformObjects: false\n    scheduledBackups: { retention: 3 }\n",
      'scheduledBackups: {"retention":3} needs platformObjects',
    ],
  ])("refuses %s", (_what, config, message) => {
    expectRefused(synth(config), message);
  });

  test("accepts the API on every address, printing a warning", () => {
    const r = synth(stack("    apiServerAddress: 0.0.0.0\n"));
    expect(r.code).toBe(0);
    expect(r.stderr).toBe(
      "warning: stack single: apiServerAddress: 0.0.0.0 publishes the API on every address of this host, to every network it is on\n",
    );
  });

  test("platform objects off alone turn the schedule off too: no mount is made for a CronJob that will not exist", () => {
    const r = synth("stacks:\n  ha-option-b:\n    platformObjects: false\n");
    expect(r.code).toBe(0);
    expect(readFileSync(join(r.dir, "cdktf.out", "stacks", "ha-option-b", "cdk.tf.json"), "utf8")).not.toContain("/var/lib/kindha/backups");
  });
});

describe("parser limits", () => {
  test("refuses a file over 1 MiB without parsing it", () => {
    expectRefused(
      synth(`# ${"x".repeat(CONFIG_LIMITS.bytes)}\nstacks: {}\n`),
      "is 1048590 bytes; a config file may have at most 1048576 (1 MiB)",
    );
  });

  test("refuses an alias bomb in well under a second", () => {
    const lines = ["a: &a [1,1,1,1,1,1,1,1,1,1]"];
    for (const [i, name] of ["b", "c", "d", "e", "f", "g", "h", "i"].entries())
      lines.push(`${name}: &${name} [${Array(10).fill(`*${"abcdefghi"[i]}`).join(",")}]`);
    const started = Date.now();
    const r = synth(`${lines.join("\n")}\nstacks: {}\n`);
    expectRefused(r, "uses too many aliases", "at most 50");
    expect(Date.now() - started).toBeLessThan(10_000);
  });

  test("refuses nesting deeper than 16 levels", () => {
    expectRefused(synth(`stacks: ${"[".repeat(40)}${"]".repeat(40)}\n`), "nests too deep; a config may nest at most 16 levels");
  });

  test("refuses 5,000 nested [ in one line, where the YAML parser would exhaust the stack", () => {
    const r = synth(`stacks: ${"[".repeat(5000)}\n`);
    expectRefused(r, "nests too deeply for the parser; a config may nest at most 16 levels");
    expect(r.stderr).not.toContain("RangeError");
  });

  test("refuses more than 20,000 keys and values, fast", () => {
    const started = Date.now();
    const r = synth(`stacks:\n  single:\n${Array.from({ length: 12_000 }, (_, i) => `    k${i}: ${i}`).join("\n")}\n`);
    expectRefused(r, "has too many keys and values; a config may have at most 20000");
    expect(r.stderr.split("\n").length).toBeLessThan(5);
    expect(Date.now() - started).toBeLessThan(10_000);
  });

  test.each([
    ["!!omap", "stacks:\n  single: !!omap [{ controlPlanes: 1 }]\n", '"!!omap" is a YAML tag a config may not use'],
    ["!!set", "stacks:\n  single:\n    workers: !!set { a, b }\n", '"!!set" is a YAML tag a config may not use'],
    ["a custom tag", "stacks:\n  single:\n    nodeImage: !env NODE_IMAGE\n", '"!env" is a YAML tag a config may not use'],
  ])("refuses the tag %s instead of dropping it", (_tag, config, message) => {
    expectRefused(synth(config), message);
  });

  test('refuses true and "true" as two keys of one map, which would merge', () => {
    expectRefused(synth(stack('    true: 1\n    "true": 2\n')), 'line 4, column 5: "true" is a second key of this map that reads the same');
  });

  test("escapes control characters in keys and values and bounds the message", () => {
    const r = synth(`stacks:\n  "bad\\u001b[31mid":\n    availability: single\n  single:\n    nodeImage: "${"a".repeat(500)}\\u0007"\n`);
    expectRefused(r, "stacks.bad\\u001b[31mid", "...");
    expect(r.stderr).not.toContain("\u001b");
    expect(r.stderr).not.toContain("\u0007");
    expect(Math.max(...r.stderr.split("\n").map((l) => l.length))).toBeLessThan(400);
  });
});

describe("paths", () => {
  test.each([
    ["a directory", (d: string) => (mkdirSync(join(d, "conf")), join(d, "conf")), "names a directory, not a file"],
    ["a dangling link", (d: string) => (symlinkSync(join(d, "gone"), join(d, "link")), join(d, "link")), "is a link to nothing"],
    ["a missing file", (d: string) => join(d, "missing.yaml"), "names a file that does not exist"],
  ])("KINDHA_CONFIG naming %s is one line, never a fallback to the presets", (_what, make, message) => {
    const s = sandbox();
    const path = make(s.dir);
    const r = spawnSync(process.execPath, [join(ROOT, "tools", "dev", "run.js"), "main"], {
      cwd: s.dir,
      env: { ...process.env, HOME: s.home, KINDHA_CONFIG: path, CDKTF_OUTDIR: join(s.dir, "cdktf.out") },
      encoding: "utf8",
    });
    expect(r.status).toBe(1);
    expect(r.stderr).toBe(
      `Invalid configuration (1 problem):\n  - KINDHA_CONFIG: ${JSON.stringify(path)} ${message}${message.endsWith("nothing") ? " (its target does not exist)" : ""}\n`,
    );
    expect(existsSync(join(s.dir, "cdktf.out"))).toBe(false);
    // Every tool says the same, as a usage error.
    const v = spawnSync(process.execPath, [join(ROOT, "tools", "dev", "run.js"), "tools/verify", "single"], {
      cwd: s.dir,
      env: { ...process.env, HOME: s.home, KINDHA_CONFIG: path },
      encoding: "utf8",
    });
    expect(v.status).toBe(2);
    expect(v.stderr).toContain(`KINDHA_CONFIG: ${JSON.stringify(path)} ${message}`);
  });

  test("kindha.config.yaml that is a directory is named, not skipped", () => {
    const s = sandbox();
    mkdirSync(join(s.dir, "kindha.config.yaml"));
    const r = spawnSync(process.execPath, [join(ROOT, "tools", "dev", "run.js"), "main"], {
      cwd: s.dir,
      env: { ...process.env, HOME: s.home, KINDHA_CONFIG: "", CDKTF_OUTDIR: join(s.dir, "cdktf.out") },
      encoding: "utf8",
    });
    expect(r.status).toBe(1);
    expect(r.stderr).toContain('kindha.config.yaml: "kindha.config.yaml" names a directory, not a file');
  });

  test.each([
    ["missing", (d: string) => join(d, "nope"), "does not exist"],
    ["a file", (d: string) => (writeFileSync(join(d, "f"), ""), join(d, "f")), "is a file, not a directory"],
    ["without cdktf.json", (d: string) => (mkdirSync(join(d, "p")), join(d, "p")), "has no cdktf.json"],
  ])("migrate --project-dir %s is named before anything runs", (_what, make, message) => {
    const s = sandbox();
    const dir = make(s.dir);
    const r = spawnSync(
      process.execPath,
      [join(ROOT, "tools", "dev", "run.js"), "tools/migrate", "--from", "single", "--to", "ha-option-b", "--project-dir", dir],
      { cwd: s.dir, env: { ...process.env, HOME: s.home, KINDHA_CONFIG: "" }, encoding: "utf8" },
    );
    expect(r.status).toBe(2);
    expect(r.stderr.split("\n")[0]).toBe(
      `error: --project-dir: ${dir} ${message}${message.startsWith("has no") ? "; name the directory of the kindha checkout (or project) to deploy from" : ""}`,
    );
    expect(readdirSync(s.home)).toEqual([]);
  });
});
