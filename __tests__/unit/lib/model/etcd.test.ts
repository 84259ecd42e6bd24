/**
 * lib/etcd: parsers on etcdctl output recorded from real etcd 3.4.23 processes, and the health
 * judgement (healthy / degraded / quorum lost) as a table.
 */
import { snapshotFileName } from "../../../../test-support/etcd-oracle";
import {
  EtcdOutputError,
  judgeEtcdHealth,
  parseEndpointHealth,
  parseEndpointStatus,
  parseHealthReport,
  parseSnapshotStatus,
} from "../../../../lib/model/etcd";
import { backupArgs, connectionArgs } from "../../../../lib/ops/etcd-script";
import { recorded } from "../../../fixtures/recorded/load";

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
    expect(judgeEtcdHealth(healthy, members)).toMatchObject({ state, healthy, members, quorum, tolerated });
  });

  test("names the counts in the quorum-lost message", () => {
    expect(judgeEtcdHealth(1, 3).message).toBe("quorum lost: 1 of 3 members healthy, quorum needs 2");
  });

  test("says how many more failures a degraded cluster survives", () => {
    expect(judgeEtcdHealth(4, 5).message).toBe("degraded: 4 of 5 members healthy, quorum needs 3 (held); 1 more failures tolerated");
  });

  test.each([
    ["etcd-script-health-healthy", "healthy", 3],
    ["etcd-script-health-degraded", "degraded", 2],
    ["etcd-script-health-quorum-lost", "quorum-lost", 1],
  ] as const)("judges scripts/etcd.sh's counts recorded from real etcd: %s", (name, state, healthy) => {
    const r = recorded(name);
    expect(r.code).toBe(0);
    expect(parseHealthReport(r.stdout)).toMatchObject({ state, healthy, members: 3, quorum: 2, tolerated: 1 });
  });
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

  test("health counts of scripts/etcd.sh: with quorum lost, the member still answering endpoint status counts as up", () => {
    const lost = recorded("etcd-script-health-quorum-lost");
    expect(lost.stderr).toBe("etcd.sh: warning: 1 of 3 members healthy");
    const report = parseHealthReport(lost.stdout);
    expect(report.endpoints.every((e) => !e.healthy)).toBe(true);
    expect(report).toMatchObject({
      state: "quorum-lost",
      healthy: 1,
      members: 3,
      message: "quorum lost: 1 of 3 members healthy, quorum needs 2",
    });
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

  test("fails when a health report's counts are missing or impossible", () => {
    expect(() => parseHealthReport('{"state":"healthy","quorum":1}')).toThrow("lacks a whole number members");
    expect(() => parseHealthReport('{"healthy":4,"members":3,"endpoints":[]}')).toThrow("counts 4 healthy of 3 members");
    expect(() => parseHealthReport('{"healthy":0,"members":0,"endpoints":[]}')).toThrow("counts 0 healthy of 0 members");
    expect(() => parseHealthReport('{"healthy":-1,"members":3,"endpoints":[]}')).toThrow("lacks a whole number healthy");
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
