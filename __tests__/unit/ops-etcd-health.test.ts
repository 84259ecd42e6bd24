/**
 * lib/etcd: parsers on etcdctl output recorded from real etcd 3.4.23 processes, and the health
 * judgement (healthy / degraded / quorum lost) as a table.
 */
import { spawnSync } from "node:child_process";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { judgeEtcdHealth, snapshotFileName } from "../../test-support/etcd-oracle";
import { EtcdOutputError, parseEndpointHealth, parseEndpointStatus, parseHealthReport, parseSnapshotStatus } from "../../lib/model/etcd";
import { backupArgs, connectionArgs } from "../../lib/ops/etcd-script";
import { recorded } from "../fixtures/recorded/load";

const eps = (healthy: number, total: number) =>
  Array.from({ length: total }, (_, i) => ({ endpoint: `https://10.0.0.${i + 1}:2379`, healthy: i < healthy }));

describe("judgeEtcdHealth", () => {
  test.each`
    healthy | members | state            | quorum | tolerated
    ${1}    | ${1}    | ${"healthy"}     | ${1}   | ${0}
    ${0}    | ${1}    | ${"quorum-lost"} | ${1}   | ${0}
    ${3}    | ${3}    | ${"healthy"}     | ${2}   | ${1}
    ${2}    | ${3}    | ${"degraded"}    | ${2}   | ${1}
    ${1}    | ${3}    | ${"quorum-lost"} | ${2}   | ${1}
    ${0}    | ${3}    | ${"quorum-lost"} | ${2}   | ${1}
    ${5}    | ${5}    | ${"healthy"}     | ${3}   | ${2}
    ${4}    | ${5}    | ${"degraded"}    | ${3}   | ${2}
    ${3}    | ${5}    | ${"degraded"}    | ${3}   | ${2}
    ${2}    | ${5}    | ${"quorum-lost"} | ${3}   | ${2}
    ${4}    | ${7}    | ${"degraded"}    | ${4}   | ${3}
    ${3}    | ${7}    | ${"quorum-lost"} | ${4}   | ${3}
  `("$healthy of $members healthy is $state (quorum $quorum, tolerates $tolerated)", ({ healthy, members, state, quorum, tolerated }) => {
    expect(judgeEtcdHealth(eps(healthy, members), members)).toMatchObject({ state, healthy, members, quorum, tolerated });
  });

  test("scripts/etcd.sh judges exactly as judgeEtcdHealth: state, quorum, tolerance and message, for every count of 1 to 7 members", () => {
    const script = readFileSync(join(__dirname, "..", "..", "scripts", "etcd.sh"), "utf8");
    const judge = /^judge\(\) \{\n[\s\S]*?\n\}\n/m.exec(script)?.[0];
    expect(judge).toBeDefined();
    const cases = Array.from({ length: 7 }, (_, i) => i + 1).flatMap((n) => Array.from({ length: n + 1 }, (_, h) => [h, n] as const));
    const bash = spawnSync(
      "bash",
      ["-c", `${judge}\nfor c in ${cases.map(([h, n]) => `${h}:${n}`).join(" ")}; do judge "\${c%:*}" "\${c#*:}"; done`],
      { encoding: "utf8" },
    );
    expect(bash.status).toBe(0);
    const fromBash = bash.stdout
      .trimEnd()
      .split("\n")
      .map((l) => {
        const [state, quorum, tolerated, message] = l.split("|");
        return { state, quorum: Number(quorum), tolerated: Number(tolerated), message };
      });
    expect(fromBash).toEqual(
      cases.map(([h, n]) => {
        const { state, quorum, tolerated, message } = judgeEtcdHealth(eps(h, n), n);
        return { state, quorum, tolerated, message };
      }),
    );
    expect(fromBash).toHaveLength(35);
  });

  test("names the counts in the quorum-lost message", () => {
    expect(judgeEtcdHealth(eps(1, 3), 3).message).toBe("quorum lost: 1 of 3 members healthy, quorum needs 2");
  });

  test("says how many more failures a degraded cluster survives", () => {
    expect(judgeEtcdHealth(eps(4, 5), 5).message).toBe(
      "degraded: 4 of 5 members healthy, quorum needs 3 (held); 1 more failures tolerated",
    );
  });

  test("fails when members did not answer at all: absent members count as unhealthy", () => {
    expect(judgeEtcdHealth(eps(2, 2), 3)).toMatchObject({ state: "degraded", healthy: 2, members: 3 });
    expect(judgeEtcdHealth([], 3)).toMatchObject({ state: "quorum-lost", healthy: 0 });
  });

  test("fails when one healthy endpoint is listed twice: it counts once and cannot fake a majority", () => {
    const twice = [
      { endpoint: "https://a:2379", healthy: true },
      { endpoint: "https://a:2379", healthy: true },
    ];
    expect(judgeEtcdHealth(twice, 3)).toMatchObject({ state: "quorum-lost", healthy: 1 });
  });

  test("fails when more members answer than expected: the extra one counts against quorum", () => {
    expect(judgeEtcdHealth(eps(3, 4), 3)).toMatchObject({ state: "degraded", members: 4, quorum: 3 });
  });

  test("fails when the member count is not a positive whole number", () => {
    expect(() => judgeEtcdHealth([], 0)).toThrow(RangeError);
    expect(() => judgeEtcdHealth([], 2.5)).toThrow("memberCount must be a whole number of at least 1, got 2.5");
  });

  test.each(["etcd-script-health-healthy", "etcd-script-health-degraded", "etcd-script-health-quorum-lost"])(
    "agrees with scripts/etcd.sh on its recorded report %s",
    (name) => {
      const report = parseHealthReport(recorded(name).stdout);
      const judged = judgeEtcdHealth(report.endpoints, report.members);
      expect(judged).toEqual({
        state: report.state,
        healthy: report.healthy,
        members: report.members,
        quorum: report.quorum,
        tolerated: report.tolerated,
        message: report.message,
      });
    },
  );
});

describe("etcdctl output parsers (recorded from real etcd 3.4.23)", () => {
  test("endpoint health: every endpoint with its health and error", () => {
    const all = parseEndpointHealth(recorded("etcd-endpoint-health").stdout);
    expect(all).toHaveLength(3);
    expect(all.every((e) => e.healthy)).toBe(true);
    const degraded = parseEndpointHealth(recorded("etcd-endpoint-health-degraded").stdout);
    expect(degraded.filter((e) => !e.healthy)).toEqual([
      expect.objectContaining({ endpoint: "http://127.0.0.1:23823", error: "context deadline exceeded" }),
    ]);
  });

  test("endpoint status: 64-bit member ids keep every digit (as hex) and the one leader is found", () => {
    const status = parseEndpointStatus(recorded("etcd-endpoint-status").stdout);
    expect(status.map((s) => s.memberId)).toEqual(["d8812d7cd4d463e", "9e8217a12029fcba", "3eb5319275c205c9"]);
    expect(status.filter((s) => s.isLeader).map((s) => s.endpoint)).toEqual(["http://127.0.0.1:23821"]);
    expect(new Set(status.map((s) => s.clusterId)).size).toBe(1);
    expect(status[0]).toMatchObject({ version: "3.4.23", revision: 21, raftTerm: 2 });
  });

  test("snapshot status: key count, revision, size", () => {
    expect(parseSnapshotStatus(recorded("etcd-snapshot-status").stdout)).toEqual({
      hash: 3002080589,
      revision: 21,
      totalKey: 26,
      totalSize: 24576,
    });
  });

  test("health report of scripts/etcd.sh, including the one printed with exit 1 on quorum loss", () => {
    const lost = recorded("etcd-script-health-quorum-lost");
    expect(lost.code).toBe(1);
    expect(lost.stderr).toContain("quorum lost: 0 of 3 members healthy, quorum needs 2");
    expect(parseHealthReport(lost.stdout)).toMatchObject({ state: "quorum-lost", healthy: 0, members: 3, quorum: 2 });
  });

  test("fails when the output is not JSON, naming the command", () => {
    expect(() => parseEndpointHealth("Error: context deadline exceeded")).toThrow(EtcdOutputError);
    expect(() => parseEndpointHealth("Error: context deadline exceeded")).toThrow(/^etcdctl endpoint health -w json: is not JSON/);
  });

  test("fails when an entry lacks its health field", () => {
    expect(() => parseEndpointHealth('[{"endpoint":"x"}]')).toThrow("entry 0 lacks endpoint or health");
  });

  test("fails when snapshot status has no key count", () => {
    expect(() => parseSnapshotStatus('{"hash":1,"revision":2,"totalSize":3}')).toThrow("lacks a numeric totalKey");
  });

  test("fails when a health report has an unknown state", () => {
    expect(() => parseHealthReport('{"state":"fine","healthy":1,"members":1,"quorum":1,"tolerated":0}')).toThrow(
      /state healthy, degraded or quorum-lost/,
    );
  });
});

describe("etcd.sh arguments", () => {
  test("kind connection passes kubeconfig, node and member URLs", () => {
    expect(
      connectionArgs({ mode: "kind", kubeconfig: "/k", node: "c-control-plane", endpoints: ["https://a:2379", "https://b:2379"] }),
    ).toEqual(["--mode", "kind", "--kubeconfig", "/k", "--node", "c-control-plane", "--endpoints", "https://a:2379,https://b:2379"]);
  });

  test("fails when a local connection has no endpoint", () => {
    expect(() => connectionArgs({ mode: "local", endpoints: [] })).toThrow("needs at least one endpoint");
  });

  test("backup arguments and the snapshot name <cluster>-<stack>-<UTC yyyymmddThhmmssZ>.db", () => {
    expect(backupArgs({ cluster: "c", stack: "single", kubeconfig: "/k", backupDir: "/b" })).toEqual([
      "backup",
      "--cluster",
      "c",
      "--stack",
      "single",
      "--kubeconfig",
      "/k",
      "--backup-dir",
      "/b",
    ]);
    expect(snapshotFileName("/b", "c", "single", new Date("2026-01-02T03:04:05.678Z"))).toBe("/b/c-single-20260102T030405Z.db");
  });
});
