/**
 * The pull-request review artifact: lib/review (pure rendering) and tools/review (synthesis, git,
 * engine). Stacks are synthesized in-process; only the git base and the engine run as processes.
 */
import { spawnSync } from "node:child_process";
import { chmodSync, mkdtempSync, readFileSync, rmSync, symlinkSync, writeFileSync } from "node:fs";
import { homedir, tmpdir } from "node:os";
import { join } from "node:path";
import { parse } from "yaml";
import { preset, TOPOLOGY_OPTIONS } from "../../../../lib/model/presets";
import { projectRoot } from "../../../../lib/io/project";
import {
  analyze,
  comparisonTable,
  diffResources,
  isKindCluster,
  isRollingUpgrade,
  planCounts,
  renderReview,
  resourcesOf,
  topologyFlowchart,
  type BaseStack,
  type HeadStack,
  type JsonObject,
  type ReviewInput,
  type SynthResource,
} from "../../../../lib/review";
import { imageTag } from "../../../../lib/model/grammar";
import { type Topology } from "../../../../lib/model/topology";
import { planTopology } from "../../../../lib/model/plan-topology";
import {
  EXAMPLE_FILE,
  EXAMPLE_HEAD_CONFIG,
  exampleReview,
  findEngine,
  parseCli,
  planStacks,
  synthesizeCheckout,
  synthesizeRef,
  type Engine,
} from "../../../../tools/review";

const root = projectRoot();
const work = mkdtempSync(join(tmpdir(), "kindha-review-test-"));
const outdir = join(work, "head");
let head: HeadStack[];
let markdown: string;

const NO_PLAN = { kind: "not-computed", reason: "test" } as const;

beforeAll(() => {
  head = synthesizeCheckout(outdir, EXAMPLE_HEAD_CONFIG);
  markdown = renderReview({ head, base: { kind: "none" }, plan: NO_PLAN, command: "npm run review" });
});
afterAll(() => rmSync(work, { recursive: true, force: true }));

// ---- reading the markdown back -------------------------------------------------------------

/** `## Stack \`id\`` sections by id, in order. */
function sections(md: string): Map<string, string> {
  const out = new Map<string, string>();
  const parts = md.split(/^## /m).slice(1);
  for (const p of parts) {
    const m = /^Stack `([^`]+)`/.exec(p);
    if (m) out.set(m[1], p);
  }
  return out;
}

function section(md: string, id: string): string {
  const s = sections(md).get(id);
  if (!s) throw new Error(`no section for stack ${id}`);
  return s;
}

/** Rows of the first table whose header starts with `header`, as trimmed cells. */
function tableRows(text: string, header: string): string[][] {
  const lines = text.split("\n");
  const start = lines.findIndex((l) => l.startsWith(header));
  if (start < 0) throw new Error(`no table with header ${header}`);
  const rows: string[][] = [];
  for (const l of lines.slice(start + 2)) {
    if (!l.startsWith("|")) break;
    rows.push(
      l
        .slice(1, -1)
        .split(" | ")
        .map((c) => c.trim()),
    );
  }
  return rows;
}

const num = (cell: string) => Number(cell.replace(/\*/g, ""));

function nodeTable(sectionText: string) {
  const rows = tableRows(sectionText, "| Node | Role | CPU | Memory (GiB) |");
  const total = rows.find((r) => r[0].startsWith("**Total**"));
  if (!total) throw new Error("node table has no total row");
  const nodes = rows
    .filter((r) => r !== total)
    .map((r) => ({ name: r[0].replace(/`/g, ""), role: r[1], cpu: num(r[2]), memoryGiB: num(r[3]) }));
  return { nodes, total: { cpu: num(total[2]), memoryGiB: num(total[3]) } };
}

function mermaid(sectionText: string): string {
  const m = /```mermaid\n([\s\S]*?)\n```/.exec(sectionText);
  if (!m) throw new Error("no mermaid block");
  return m[1];
}

function presetTopology(id: (typeof TOPOLOGY_OPTIONS)[number]): Topology {
  const p = preset(id);
  return planTopology(p.availability, p.spec, id);
}

function stack(id: string): HeadStack {
  const s = head.find((h) => h.id === id);
  if (!s) throw new Error(`stack ${id} not synthesized`);
  return s;
}

/** A copy of the resources with one resource's body changed. */
function edit(
  resources: readonly SynthResource[],
  pick: (r: SynthResource) => boolean,
  change: (body: Record<string, unknown>) => void,
): SynthResource[] {
  let hit = 0;
  const out = resources.map((r) => {
    if (!pick(r)) return r;
    hit++;
    const body = JSON.parse(JSON.stringify(r.body)) as Record<string, unknown>;
    change(body);
    return { ...r, body: body as JsonObject };
  });
  if (hit !== 1) throw new Error(`edit matched ${hit} resources`);
  return out;
}

function compared(headStacks: readonly HeadStack[], base: readonly BaseStack[]): string {
  const input: ReviewInput = {
    head: headStacks,
    base: { kind: "synthesized", label: "`base`", stacks: base },
    plan: NO_PLAN,
    command: "test",
  };
  return renderReview(input);
}

const asBase = (s: HeadStack): BaseStack => ({ id: s.id, layout: s.topology, resources: s.resources });

// ---- the report of a checkout -------------------------------------------------------------

describe("review of this checkout", () => {
  test("has one section per stack, in the app's order", () => {
    expect(head.map((h) => h.id)).toEqual([...TOPOLOGY_OPTIONS]);
    expect([...sections(markdown).keys()]).toEqual([...TOPOLOGY_OPTIONS]);
    expect(markdown.match(/^## Stack /gm)).toHaveLength(TOPOLOGY_OPTIONS.length);
  });

  test.each([
    ["single", 10, 20, 2],
    ["ha-option-b", 14, 28, 4],
    ["ha-option-a", 18, 36, 5],
  ] as const)("node table of %s: totals %d CPU / %d GiB, the sum of its %d nodes and the topology's", (id, cpu, memoryGiB, count) => {
    const t = nodeTable(section(markdown, id));
    expect(t.nodes).toHaveLength(count);
    expect(t.total).toEqual({ cpu, memoryGiB });
    expect({ cpu: t.nodes.reduce((s, n) => s + n.cpu, 0), memoryGiB: t.nodes.reduce((s, n) => s + n.memoryGiB, 0) }).toEqual(t.total);
    const topology = presetTopology(id);
    expect(t.total).toEqual(topology.totals);
    expect(t.nodes).toEqual(topology.nodes.map((n) => ({ name: n.name, role: n.role, cpu: n.budget.cpu, memoryGiB: n.budget.memoryGiB })));
  });

  test("each section states quorum and tolerated failures from the topology", () => {
    for (const id of TOPOLOGY_OPTIONS) {
      const { etcd } = presetTopology(id);
      expect(section(markdown, id)).toContain(`quorum ${etcd.quorum}, tolerated failures ${etcd.toleratedFailures}.`);
    }
  });

  test("the ha-option-a diagram: a load balancer in front of 3 API servers, 3 etcd members, 2 workers with their roles", () => {
    const m = mermaid(section(markdown, "ha-option-a"));
    expect(m.startsWith("flowchart ")).toBe(true);
    const apis = m.match(/^\s*api\d+\["API server"\]$/gm) ?? [];
    expect(apis).toHaveLength(3);
    expect(m.match(/^\s*etcd\d+\[\("etcd member \d+"\)\]$/gm)).toHaveLength(3);
    expect(m).toMatch(/^\s*lb\["Load balancer: kind's built-in<br\/>data-platform-local-external-load-balancer/m);
    for (const i of [1, 2, 3]) expect(m).toMatch(new RegExp(`^\\s*lb --> api${i}$`, "m"));
    const workers = [...m.matchAll(/^\s*w\d+\["([^<]+)<br\/>(\S+) · (\d+) CPU \/ (\d+) GiB/gm)].map((x) => [x[1], x[2]]);
    expect(workers).toEqual([
      ["data-platform-local-worker", "infrastructure"],
      ["data-platform-local-worker2", "workload"],
    ]);
    expect(m).toContain("taint kindha.io/role=infrastructure:NoSchedule");
    // Mermaid breaks on a bare lowercase `end` used as an id, and on unbalanced subgraphs.
    expect(m.match(/^\s*subgraph /gm)?.length).toBe(m.match(/^\s*end$/gm)?.length);
  });

  test("the single diagram has no load balancer: clients reach the one API server", () => {
    const m = mermaid(section(markdown, "single"));
    expect(m).not.toMatch(/^\s*lb[[\s]/m);
    expect(m.match(/^\s*api\d+\["API server"\]$/gm)).toHaveLength(1);
    expect(m).toMatch(/^\s*clients --> api1$/m);
    expect(m).toMatch(/^\s*w1\["data-platform-local-worker<br\/>combined · 8 CPU \/ 16 GiB"\]$/m);
  });

  test("the single-vs-HA table's figures are the topologies' own", () => {
    const compare = markdown.split("## Single vs HA")[1];
    const rows = tableRows(compare, "|  | `single` | `ha-option-b` | `ha-option-a` |");
    const row = (name: string) => rows.find((r) => r[0] === name)!.slice(1);
    const ts = TOPOLOGY_OPTIONS.map(presetTopology);
    expect(row("Tolerated control-plane failures").map(Number)).toEqual(ts.map((t) => t.etcd.toleratedFailures));
    expect(row("CPU total").map(Number)).toEqual(ts.map((t) => t.totals.cpu));
    expect(row("Memory total (GiB)").map(Number)).toEqual(ts.map((t) => t.totals.memoryGiB));
    expect(row("etcd members").map(Number)).toEqual(ts.map((t) => t.etcd.members.length));
    expect(row("etcd quorum").map(Number)).toEqual(ts.map((t) => t.etcd.quorum));
    expect(row("CPU total").map(Number)).toEqual([10, 14, 18]);
    expect(row("Memory total (GiB)").map(Number)).toEqual([20, 28, 36]);
    expect(row("Load balancer")[0]).toMatch(/^none: the API server at `https:\/\/127\.0\.0\.1:6443`$/);
    expect(row("Load balancer")[1]).toMatch(
      /^kind's built-in \(`data-platform-local-external-load-balancer`\) at `https:\/\/127\.0\.0\.1:6443`$/,
    );
  });

  test("the comparison table follows the topology it is given (nothing hand-typed)", () => {
    const five = planTopology("ha", { controlPlanes: 5, workers: [{ role: "workload", count: 2 }], apiServerPort: 7443 }, "five");
    const rows = tableRows(comparisonTable([{ id: "five", topology: five }]), "|  | `five` |");
    const value = (name: string) => rows.find((r) => r[0] === name)![1];
    expect(value("Tolerated control-plane failures")).toBe("2");
    expect(value("etcd members")).toBe("5");
    expect(value("etcd quorum")).toBe("3");
    expect(value("CPU total")).toBe(String(5 * 2 + 2 * 8));
    expect(value("Memory total (GiB)")).toBe(String(5 * 4 + 2 * 16));
    expect(value("Workers")).toBe("2 workload");
    expect(value("Load balancer")).toContain("`https://127.0.0.1:7443`");
  });

  test("a 5-control-plane diagram meshes every pair of etcd members", () => {
    const five = planTopology("ha", { controlPlanes: 5 }, "five");
    const m = topologyFlowchart(five);
    expect(m.match(/^\s*api\d+\["API server"\]$/gm)).toHaveLength(5);
    expect(m.match(/ -\. raft \.- /g)).toHaveLength(10);
  });

  test("is deterministic: same text twice, no paths of this machine, no dates", () => {
    const again = renderReview({
      head: synthesizeCheckout(join(work, "again"), EXAMPLE_HEAD_CONFIG),
      base: { kind: "none" },
      plan: NO_PLAN,
      command: "npm run review",
    });
    expect(again).toBe(markdown);
    for (const path of [work, tmpdir(), root, homedir()]) expect(markdown).not.toContain(path);
    expect(markdown).not.toMatch(/\b20\d\d-\d\d-\d\d\b/);
  });
});

// ---- differences against a base --------------------------------------------------------------

describe("differences against a base", () => {
  test("a changed config_sha256 yields the replacement warning, at the top and in the stack's section", () => {
    const b = stack("ha-option-b");
    const base = edit(b.resources, isKindCluster, (body) => {
      (body.triggers as Record<string, string>).config_sha256 = "0".repeat(64);
    });
    const md = compared(
      head,
      head.map((h) => (h.id === "ha-option-b" ? { ...asBase(h), resources: base } : asBase(h))),
    );
    const warning = "> **Stack `ha-option-b`: the kind cluster will be DESTROYED and re-created**";
    expect(md.indexOf(warning)).toBeGreaterThan(0);
    expect(md.indexOf(warning)).toBeLessThan(md.indexOf("## Summary"));
    expect(section(md, "ha-option-b")).toContain("> [!WARNING]");
    expect(section(md, "ha-option-b")).toContain("the kind config changed (`triggers.config_sha256` `000000000000…` →");
    expect(section(md, "ha-option-b")).toContain("Take a backup first: `npm run backup -- ha-option-b`.");
    expect(md.match(/> \[!WARNING\]/g)).toHaveLength(2);
    for (const id of ["single", "ha-option-a"]) expect(section(md, id)).not.toContain("[!WARNING]");
    const clusterRow = tableRows(section(md, "ha-option-b"), "| Plan | Address | What differs |").find((r) =>
      r[1].includes("Cluster_Lifecycle"),
    );
    expect(clusterRow?.[0]).toBe("replace");
  });

  test("a new node image is a rolling upgrade: a note instead of the destroy warning, in the summary and the stack's section", () => {
    const b = stack("ha-option-b");
    const base = edit(b.resources, isRollingUpgrade, (body) => {
      (body.triggers as Record<string, string>).node_image = "kindha.local/node:v1.35.4";
    });
    const md = compared(
      head,
      head.map((h) => (h.id === "ha-option-b" ? { ...asBase(h), resources: base } : asBase(h))),
    );
    const note = `> **Stack \`ha-option-b\`: rolling upgrade v1.35.4 → ${imageTag(b.topology.nodeImage)}, no re-create.**`;
    expect(md.indexOf(note)).toBeGreaterThan(0);
    expect(md.indexOf(note)).toBeLessThan(md.indexOf("## Summary"));
    expect(section(md, "ha-option-b")).toContain("> [!NOTE]");
    expect(section(md, "ha-option-b")).toContain("`npm run upgrade -- ha-option-b --to ");
    expect(md).not.toContain("[!WARNING]");
    expect(tableRows(md, "| Stack | Layout |").find((r) => r[0] === "`ha-option-b`")?.[6]).toContain(
      `rolling upgrade v1.35.4 → ${imageTag(b.topology.nodeImage)}, no re-create`,
    );
    const rows = tableRows(section(md, "ha-option-b"), "| Plan | Address | What differs |");
    expect(rows.find((r) => r[1].includes("Upgrade_Roll"))?.[0]).toBe("replace");
    expect(rows.find((r) => r[1].includes("Cluster_Lifecycle"))).toBeUndefined();
  });

  test("a new node image together with a topology change replaces the cluster: the warning alone", () => {
    const b = stack("ha-option-b");
    let base = edit(b.resources, isRollingUpgrade, (body) => {
      (body.triggers as Record<string, string>).node_image = "kindha.local/node:v1.35.4";
    });
    base = edit(base, isKindCluster, (body) => {
      (body.triggers as Record<string, string>).config_sha256 = "0".repeat(64);
    });
    const [review] = analyze({ head: [b], base: { kind: "synthesized", label: "b", stacks: [{ ...asBase(b), resources: base }] } });
    expect(review.replacement).toBeDefined();
    expect(review.roll).toBeUndefined();
  });

  test("an identical base yields no warning and no resource change", () => {
    const md = compared(head, head.map(asBase));
    expect(md).not.toContain("[!WARNING]");
    for (const id of TOPOLOGY_OPTIONS) {
      expect(section(md, id)).toContain("**Nodes:** unchanged.");
      expect(section(md, id)).toMatch(/\*\*Resources:\*\* no difference \(\d+ unchanged\)\./);
    }
  });

  test("another trigger of the cluster (the scripts' asset hash) also replaces it, and is named", () => {
    const a = stack("ha-option-a");
    const base = edit(a.resources, isKindCluster, (body) => {
      (body.triggers as Record<string, string>).scripts_dir = "assets/Scripts/OLD";
    });
    const [review] = analyze({ head: [a], base: { kind: "synthesized", label: "b", stacks: [{ ...asBase(a), resources: base }] } });
    expect(review.replacement?.configChanged).toBe(false);
    expect(review.replacement?.reasons.join(" ")).toContain("trigger `scripts_dir` changed");
  });

  test("nodes added and removed, with the CPU and memory delta", () => {
    const b = stack("ha-option-b");
    const single = presetTopology("single");
    const md = compared([b], [{ id: b.id, layout: single, resources: b.resources }]);
    const s = section(md, "ha-option-b");
    expect(s).toContain(
      "- **Nodes added:** `data-platform-local-control-plane2` (control-plane, 2 CPU / 4 GiB), `data-platform-local-control-plane3` (control-plane, 2 CPU / 4 GiB)",
    );
    expect(s).toContain("- **CPU:** 10 → 14 (+4)");
    expect(s).toContain("- **Memory:** 20 GiB → 28 GiB (+8 GiB)");
    const reverse = section(compared([{ ...stack("single"), id: "x" }], [{ id: "x", layout: b.topology, resources: [] }]), "x");
    expect(reverse).toContain("- **Nodes removed:** `data-platform-local-control-plane2`");
    expect(reverse).toContain("- **CPU:** 14 → 10 (−4)");
  });

  test("resources are classified by address and body as a plan would", () => {
    const b = stack("ha-option-a").resources;
    const byType = (t: string) => (r: SynthResource) => r.type === t && !r.address.startsWith("data.");
    const ns = (r: SynthResource) => r.address.includes("InfrastructureNamespace");
    let base = edit(
      b,
      (r) => byType("local_file")(r) && r.address.includes("Cluster_Config"),
      (body) => (body.content = "old"),
    );
    base = edit(base, ns, (body) => ((body.metadata as { labels: Record<string, string> }).labels["kindha.io/tier"] = "old"));
    base = edit(
      base,
      (r) => r.address.includes("Etcd_BackupBeforeDestroy"),
      (body) => (body.provisioner = []),
    );
    base = edit(
      base,
      (r) => r.type === "local_sensitive_file",
      (body) => (body.filename = "old"),
    );
    base = base.filter((r) => !r.address.includes("WorkloadsNamespace"));
    base = [...base, { ...base[0], address: "null_resource.Gone", name: "Gone", body: {} }];
    const kinds = Object.fromEntries(diffResources(base, b).changes.map((c) => [c.address.replace(/_[0-9A-F]{8}$/, ""), c.kind]));
    expect(kinds).toEqual({
      "local_file.Cluster_Config": "replace",
      "kubernetes_namespace_v1.Platform_InfrastructureNamespace": "update",
      "null_resource.Etcd_BackupBeforeDestroy": "no-op",
      "data.local_sensitive_file.Cluster_Kubeconfig": "read",
      "kubernetes_namespace_v1.Platform_WorkloadsNamespace": "create",
      "null_resource.Gone": "destroy",
    });
  });

  test("a resource whose trigger reads a replaced resource's id is replaced with it", () => {
    const b = stack("ha-option-b").resources;
    const base = edit(b, isKindCluster, (body) => ((body.triggers as Record<string, string>).config_sha256 = "x"));
    const backup = diffResources(base, b).changes.find((c) => c.address.includes("Etcd_BackupBeforeDestroy"));
    expect(backup?.kind).toBe("replace");
    expect(backup?.attributes[0].note).toMatch(/^known after apply: `null_resource\.Cluster_Lifecycle_[0-9A-F]+` is replaced$/);
  });

  test("fails when the base lacks a stack: the report says it is new, and lists a removed one", () => {
    const extra = synthesizeCheckout(join(work, "extra"), "stacks:\n  ha-five:\n    availability: ha\n    controlPlanes: 5\n");
    const five = extra.find((s) => s.id === "ha-five")!;
    const md = compared(extra, head.map(asBase));
    expect(section(md, "ha-five")).toContain("New stack: the base has no stack `ha-five`.");
    expect(md).toContain(`| \`ha-five\` | 5 control planes + 1 combined worker | 6 | ${five.topology.totals.cpu} |`);
    const removed = compared(head, extra.map(asBase));
    expect(removed).toContain("## Stack `ha-five` (removed)");
    expect(removed).toContain("> **Stack `ha-five` is removed: its kind cluster will be DESTROYED**");
  });

  test("fails when the base could not be synthesized: says so once and still renders every stack", () => {
    const md = renderReview({
      head,
      base: { kind: "unavailable", label: "`origin/main` (`abc`)", reason: "it fails to synthesize: boom" },
      plan: NO_PLAN,
      command: "test",
    });
    expect(md).toContain("**Base:** `origin/main` (`abc`) could not be used: it fails to synthesize: boom. No differences are shown.");
    expect([...sections(md).keys()]).toEqual([...TOPOLOGY_OPTIONS]);
    expect(md).not.toContain("### Against the base");
  });
});

// ---- the base from git ---------------------------------------------------------------------

describe("host ports against a base", () => {
  const single = (settings: string) =>
    synthesizeCheckout(join(work, `ports-${Math.random().toString(36).slice(2, 8)}`), `stacks:\n  single:\n${settings}`).find(
      (s) => s.id === "single",
    )!;

  test("a new mapping re-creates the cluster, and the report says why; the stack section lists the mappings", () => {
    const before = single("    platformObjects: true\n");
    const after = single("    ports: [{ hostPort: 8080, nodePort: 30080 }]\n");
    const base = {
      kind: "synthesized" as const,
      label: "`b`",
      stacks: [{ id: "single", layout: before.topology, resources: before.resources }],
    };
    const [review] = analyze({ head: [after], base });
    expect(review.replacement?.reasons).toContain(
      "its host ports changed (setting `ports`: none → 127.0.0.1:8080/TCP → NodePort 30080), and kind publishes a node's ports only when it creates the node",
    );
    const md = renderReview({ head: [after], base, plan: NO_PLAN, command: "npm run review" });
    expect(section(md, "single")).toContain("- **Host ports:** `127.0.0.1:8080` → NodePort 30080 (TCP) on `data-platform-local-worker`.");
    expect(section(md, "single")).toContain("the kind cluster will be DESTROYED and re-created");
  });
});

describe("a cluster-api stack against a base", () => {
  const capi = (settings: string) =>
    synthesizeCheckout(
      join(work, `capi-${settings.length}-${Math.random().toString(36).slice(2, 8)}`),
      `stacks:\n  prod:\n    availability: ha\n    target: cluster-api\n    clusterName: dp-prod\n${settings}`,
    ).find((s) => s.id === "prod")!;
  const asBaseOf = (s: HeadStack) => ({ id: s.id, layout: s.topology, resources: s.resources });
  const before = capi("    nodeImage: kindha.local/node:v1.36.1\n    workers: [{ role: infrastructure }, { role: workload }]\n");

  test("is reviewed with its target, and a change says what Cluster API does: roll, scale, add, remove", () => {
    expect(before.target).toBe("cluster-api");
    const after = capi("    nodeImage: kindha.local/node:v1.37.2\n    workers: [{ role: workload, count: 3 }, { role: combined }]\n");
    const [review] = analyze({ head: [after], base: { kind: "synthesized", label: "b", stacks: [asBaseOf(before)] } });
    expect(review.replacement).toBeUndefined();
    expect(review.rollout).toEqual([
      "The control planes roll from v1.36.1 to v1.37.2, one machine at a time (a new one first, etcd checked between).",
      "Pool `combined` is added with 1 machine(s).",
      "Pool `workload` rolls from v1.36.1 to v1.37.2.",
      "Pool `workload` scales from 1 to 3 machine(s).",
      "Pool `infrastructure` is removed: its 1 machine(s) are deleted.",
    ]);
    const md = renderReview({
      head: [after],
      base: { kind: "synthesized", label: "`b`", stacks: [asBaseOf(before)] },
      plan: NO_PLAN,
      command: "npm run review",
    });
    const s = section(md, "prod");
    expect(s).toContain("- **Target:** Cluster API: ");
    expect(s).toContain("**Rollout** (what Cluster API does on apply):\n- The control planes roll from v1.36.1 to v1.37.2");
    expect(md).toMatch(/\| `prod` \|.*Cluster API rollout \(5 changes\)/);
  });

  test("a new image alone rolls every machine through new templates; no change, no rollout", () => {
    const [rolled] = analyze({
      head: [
        capi(
          "    nodeImage: kindha.local/node:v1.36.1-b\n    clusterApi: { kubernetesVersion: v1.36.1 }\n    workers: [{ role: infrastructure }, { role: workload }]\n",
        ),
      ],
      base: { kind: "synthesized", label: "b", stacks: [asBaseOf(before)] },
    });
    expect(rolled.rollout).toEqual([
      "The control-plane machines are replaced one at a time: their machine template changed.",
      "Pool `infrastructure` rolls: its machine or bootstrap template changed.",
      "Pool `workload` rolls: its machine or bootstrap template changed.",
    ]);
    const [same] = analyze({ head: [before], base: { kind: "synthesized", label: "b", stacks: [asBaseOf(before)] } });
    expect(same.rollout).toBeUndefined();
  });
});

describe("base from a git revision", () => {
  /** A throwaway clone of this repository's committed HEAD, sharing its objects. */
  function clone(): string {
    const dir = mkdtempSync(join(work, "clone-"));
    const r = spawnSync("git", ["clone", "--quiet", "--shared", root, dir]);
    if (r.status !== 0) throw new Error(`git clone failed: ${r.stderr}`);
    symlinkSync(join(root, "node_modules"), join(dir, "node_modules"), "dir");
    return dir;
  }

  function commit(dir: string, file: string, text: string): void {
    writeFileSync(join(dir, file), text);
    const git = (...args: string[]) => spawnSync("git", ["-c", "user.name=t", "-c", "user.email=t@t", "-C", dir, ...args]);
    git("add", file);
    if (git("commit", "--quiet", "-m", "test").status !== 0) throw new Error("git commit failed");
  }

  test("synthesizes a committed revision with its stacks and topologies", () => {
    const dir = clone();
    const base = synthesizeRef("HEAD", dir);
    if (base.kind !== "synthesized") throw new Error(`base not synthesized: ${JSON.stringify(base)}`);
    expect(base.label).toMatch(/^`HEAD` \(`[0-9a-f]{12}`\)$/);
    for (const id of TOPOLOGY_OPTIONS) {
      const s = base.stacks.find((x) => x.id === id);
      expect(s?.resources.some(isKindCluster)).toBe(true);
      expect(s?.layout?.totals).toEqual(presetTopology(id).totals);
    }
  });

  test("synthesizes a revision from before lib/model and lib/io (the flat lib/ layout) with its topologies", () => {
    const dir = clone();
    const removed = spawnSync("git", ["-C", dir, "log", "--diff-filter=D", "-1", "--format=%H", "--", "lib/topology.ts"], {
      encoding: "utf8",
    }).stdout.trim();
    expect(removed).toMatch(/^[0-9a-f]{40}$/);
    const base = synthesizeRef(`${removed}^`, dir);
    if (base.kind !== "synthesized") throw new Error(`base not synthesized: ${JSON.stringify(base)}`);
    expect(base.stacks.find((x) => x.id === "ha-option-a")?.layout?.totals).toEqual(presetTopology("ha-option-a").totals);
  });

  test("fails when the base revision does not synthesize: the reason, without this machine's paths", () => {
    const dir = clone();
    commit(dir, "kindha.config.yaml", "stacks:\n  broken:\n    availability: ha\n    controlPlanes: 2\n");
    const base = synthesizeRef("HEAD", dir);
    expect(base.kind).toBe("unavailable");
    const reason = base.kind === "unavailable" ? base.reason : "";
    expect(reason).toMatch(/^it fails to synthesize: .*broken/);
    expect(reason).not.toContain(tmpdir());
  });

  test("fails when the base ref does not exist", () => {
    const base = synthesizeRef("no-such-branch-kindha", root);
    expect(base).toEqual({
      kind: "unavailable",
      label: "`no-such-branch-kindha`",
      reason: "it is not a commit of this repository (fetch it first, e.g. `git fetch origin`)",
    });
  });
});

// ---- plan counts -------------------------------------------------------------------------------

describe("plan counts", () => {
  test("counted from show -json as the engine does: a replacement adds and destroys", () => {
    const rc = (actions: string[], mode = "managed") => ({ mode, change: { actions } });
    const plan = {
      format_version: "1.2",
      resource_changes: [
        rc(["create"]),
        rc(["delete", "create"]),
        rc(["create", "delete"]),
        rc(["update"]),
        rc(["no-op"]),
        rc(["delete"]),
        rc(["read"], "data"),
      ],
    };
    expect(planCounts(plan)).toEqual({ add: 3, change: 1, destroy: 3, replace: 2 });
  });

  test("fails when the document is not a JSON plan", () => {
    expect(() => planCounts({ resource_changes: [] })).toThrow("not a JSON plan");
  });

  test("fails when no engine is available: one line says why", () => {
    const empty = mkdtempSync(join(work, "path-"));
    const engine = findEngine({ PATH: empty });
    expect(engine).toEqual({
      reason: expect.stringContaining("no Terraform engine here (TERRAFORM_BINARY_NAME is not set and `tofu` is not on PATH"),
    });
    const md = renderReview({
      head,
      base: { kind: "none" },
      plan: { kind: "not-computed", reason: (engine as { reason: string }).reason },
      command: "t",
    });
    expect(md.match(/^\*\*Plan counts:\*\* not computed: no Terraform engine here/gm)).toHaveLength(1);
  });

  /** A stand-in engine: `version`, `init` (fails when FAKE_INIT_FAIL is set), `plan -out=`, `show -json`. */
  function fakeEngine(showJson: unknown): { engine: Engine; env: NodeJS.ProcessEnv } {
    const dir = mkdtempSync(join(work, "engine-"));
    const bin = join(dir, "fake-tofu");
    writeFileSync(join(dir, "show.json"), JSON.stringify(showJson));
    writeFileSync(
      bin,
      `#!/bin/sh
case "$1" in
  version) echo "OpenTofu v1.12.6" ;;
  init) if [ -n "$FAKE_INIT_FAIL" ]; then echo "Error: Failed to query available provider packages" >&2; exit 1; fi ;;
  plan) for a in "$@"; do case "$a" in -out=*) echo plan > "\${a#-out=}" ;; esac; done ;;
  show) test -f review.tfplan && cat "${join(dir, "show.json")}" ;;
esac
`,
    );
    chmodSync(bin, 0o755);
    const env = { PATH: process.env.PATH, TERRAFORM_BINARY_NAME: bin };
    const found = findEngine(env);
    if ("reason" in found) throw new Error(found.reason);
    return { engine: found, env };
  }

  test("with an engine: per-stack counts from init, plan and show -json", () => {
    const { engine, env } = fakeEngine({ format_version: "1.2", resource_changes: [{ mode: "managed", change: { actions: ["create"] } }] });
    expect(engine.name).toBe("fake-tofu");
    const plan = planStacks(engine, outdir, ["single", "ha-option-a"], join(work, "no-state-here"), env);
    expect(plan).toEqual({
      kind: "computed",
      engine: "fake-tofu",
      stacks: {
        single: {
          ok: true,
          counts: { add: 1, change: 0, destroy: 0, replace: 0 },
          against: "against no state: nothing is deployed from this checkout",
        },
        "ha-option-a": {
          ok: true,
          counts: { add: 1, change: 0, destroy: 0, replace: 0 },
          against: "against no state: nothing is deployed from this checkout",
        },
      },
    });
    const md = renderReview({ head, base: { kind: "none" }, plan, command: "t" });
    expect(section(md, "single")).toContain(
      "**Plan** (`fake-tofu`, against no state: nothing is deployed from this checkout): 1 to add, 0 to change, 0 to destroy.",
    );
    expect(section(md, "ha-option-b")).toContain("**Plan:** not computed for this stack.");
  });

  test("fails when the engine's init fails: one line with its error", () => {
    const { engine, env } = fakeEngine({ format_version: "1.2" });
    const plan = planStacks(engine, outdir, ["single", "ha-option-b"], root, { ...env, FAKE_INIT_FAIL: "1" });
    expect(plan).toEqual({ kind: "not-computed", reason: "`fake-tofu init` failed: Error: Failed to query available provider packages" });
  });
});

// ---- the example and the command line -------------------------------------------------------

describe("docs/review-example.md", () => {
  let example: string;
  beforeAll(() => {
    example = exampleReview();
  });

  test("is current (regenerated in memory and compared with the file)", () => {
    const onDisk = readFileSync(join(root, EXAMPLE_FILE), "utf8");
    if (onDisk !== example) {
      const a = onDisk.split("\n");
      const b = example.split("\n");
      const line = a.findIndex((l, i) => l !== b[i]);
      throw new Error(
        `${EXAMPLE_FILE} is out of date (first difference at line ${line + 1}): run \`npm run review -- --example\` and commit the result`,
      );
    }
  });

  test("shows ha-option-b growing from one control plane to three, with the replacement warning, and nothing else changing", () => {
    const b = section(example, "ha-option-b");
    expect(b).toContain("> [!WARNING]");
    expect(b).toContain("the kind config changed (`triggers.config_sha256`");
    expect(b).toContain("- **CPU:** 10 → 14 (+4)");
    expect(example).toContain("`ha-option-b` is a single-control-plane stack");
    for (const id of ["single", "ha-option-a"]) expect(section(example, id)).toMatch(/\*\*Resources:\*\* no difference/);
    expect(example).toContain("**Plan counts:** not computed: the example is generated without a Terraform engine");
  });
});

describe("command line", () => {
  test("defaults: no base, review.md", () => {
    expect(parseCli([])).toEqual({ out: "review.md", example: false, help: false });
    expect(parseCli(["--base", "origin/main", "--out", "x.md"])).toEqual({ base: "origin/main", out: "x.md", example: false, help: false });
    expect(parseCli(["--example"]).out).toBe(EXAMPLE_FILE);
    expect(parseCli(["--help"]).help).toBe(true);
  });

  test("fails when an option is unknown, --base is empty, or --example is given a base", () => {
    expect(() => parseCli(["--bogus"])).toThrow(/Unknown option '--bogus'/);
    expect(() => parseCli(["--base", ""])).toThrow("--base needs a git ref");
    expect(() => parseCli(["--example", "--base", "main"])).toThrow("--example compares with its own built-in base");
  });

  test("fails when --base names no commit or has no value: a usage error, exit 2, nothing written", () => {
    const cli = join(projectRoot(), "dist", "tools", "review.js");
    const cwd = mkdtempSync(join(tmpdir(), "kindha-review-cli-"));
    try {
      const bad = spawnSync(process.execPath, [cli, "--base", "no-such-ref-kindha"], { cwd, encoding: "utf8" });
      expect(bad.status).toBe(2);
      expect(bad.stderr).toContain("error: --base no-such-ref-kindha is not a commit of this repository");
      const empty = spawnSync(process.execPath, [cli, "--base"], { cwd, encoding: "utf8" });
      expect(empty.status).toBe(2);
      expect(empty.stderr).toContain("argument missing");
      expect(spawnSync("ls", [cwd], { encoding: "utf8" }).stdout).toBe("");
    } finally {
      rmSync(cwd, { recursive: true, force: true });
    }
  });
});

describe("pull-request workflow", () => {
  test("checks out full history, runs the unit tests and the review against the PR base, and posts review.md", () => {
    const wf = parse(readFileSync(join(root, ".github", "workflows", "review.yml"), "utf8")) as {
      on: Record<string, unknown>;
      jobs: Record<string, { steps: { uses?: string; run?: string; with?: Record<string, unknown> }[] }>;
    };
    expect(Object.keys(wf.on)).toEqual(["pull_request"]);
    const steps = Object.values(wf.jobs)[0].steps;
    const uses = (prefix: string) => steps.find((s) => s.uses?.startsWith(prefix));
    expect(uses("actions/checkout@")?.with?.["fetch-depth"]).toBe(0);
    expect(uses("actions/setup-node@")?.with?.["node-version"]).toBe(20);
    const runs = steps.map((s) => s.run).filter(Boolean);
    expect(runs).toEqual(expect.arrayContaining(["npm ci", "npm run test:unit", "npm run review -- --base origin/${{ github.base_ref }}"]));
    expect(runs.indexOf("npm run test:unit")).toBeLessThan(runs.indexOf("npm run review -- --base origin/${{ github.base_ref }}"));
    expect(uses("marocchino/sticky-pull-request-comment@")?.with?.path).toBe("review.md");
  });
});

// Keeps resourcesOf honest on a hand-made document (the synthesized ones are exercised above).
test("resourcesOf reads resources and data sources without cdktf metadata", () => {
  const doc = {
    resource: { null_resource: { A: { "//": { metadata: { path: "s/A" } }, triggers: { b: "1", a: "2" } } } },
    data: { local_file: { D: { filename: "f" } } },
  };
  expect(resourcesOf(doc)).toEqual([
    { address: "data.local_file.D", mode: "data", type: "local_file", name: "D", body: { filename: "f" } },
    {
      address: "null_resource.A",
      mode: "managed",
      type: "null_resource",
      name: "A",
      constructPath: "s/A",
      body: { triggers: { a: "2", b: "1" } },
    },
  ]);
});
