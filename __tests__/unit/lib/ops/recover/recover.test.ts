/**
 * Recovery after a Docker restart: kind's load-balancer configuration as kind v0.32 writes it, the
 * address plan over `docker inspect` output, and a whole run over a fake Docker.
 */
import { isEmptyLbConfig, kindLbConfig } from "../../../../../lib/model/kind-lb-config";
import {
  parseContainers,
  parseHolders,
  planAddresses,
  recoverSteps,
  startOrder,
  type ContainerState,
  type RecoverContext,
} from "../../../../../lib/ops/recover/recover";
import { realClock, runSteps, type Clock } from "../../../../../lib/ops/steps";
import { findStack } from "../../../../../lib/io/config-file";
import { spawn } from "node:child_process";
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { lockPath } from "../../../../../lib/ops/lock";
import { main as recoverMain, terraformHook } from "../../../../../tools/recover";
import { capture, clusterFixtures, etcdServerCert, fakeClock, fakeExec, line, okResult } from "../../../../fixtures/recorded/load";

const C = "data-platform-local";
const ha = findStack("ha-option-b").topology;
const LB = `${C}-external-load-balancer`;

describe("kind's load-balancer configuration", () => {
  test("is the text kind v0.32's templates render (its own test vector, one backend node0)", () => {
    const { cds, lds } = kindLbConfig(["node0"]);
    expect(lds).toBe(
      '\nresources:\n- "@type": type.googleapis.com/envoy.config.listener.v3.Listener\n  name: listener_apiserver\n  address:\n    socket_address:\n      address: "0.0.0.0"\n      port_value: 6443\n' +
        '  filter_chains:\n  - filters:\n    - name: envoy.filters.network.tcp_proxy\n      typed_config:\n        "@type": type.googleapis.com/envoy.extensions.filters.network.tcp_proxy.v3.TcpProxy\n        stat_prefix: ingress_tcp\n        cluster: kube_apiservers\n',
    );
    expect(
      cds.startsWith(
        '\nresources:\n- "@type": type.googleapis.com/envoy.config.cluster.v3.Cluster\n  name: kube_apiservers\n  connect_timeout: 0.25s\n  type: STRICT_DNS\n',
      ),
    ).toBe(true);
    expect(cds).toContain(
      "  dns_lookup_family: V4_PREFERRED\n  health_checks:\n  - timeout: 3s\n    interval: 2s\n    unhealthy_threshold: 2\n    healthy_threshold: 1\n",
    );
    expect(
      cds.endsWith(
        "    - lb_endpoints:\n      - endpoint:\n          address:\n            socket_address:\n              address: node0\n              port_value: 6443\n",
      ),
    ).toBe(true);
    expect(kindLbConfig(["node0"], true).cds).toContain("dns_lookup_family: AUTO");
  });

  test("names every control plane by container name, in Go's map order (sorted)", () => {
    const { cds } = kindLbConfig([`${C}-control-plane3`, `${C}-control-plane`, `${C}-control-plane2`]);
    expect([...cds.matchAll(/address: (\S+)\n\s+port_value: 6443/g)].map((m) => m[1])).toEqual([
      `${C}-control-plane`,
      `${C}-control-plane2`,
      `${C}-control-plane3`,
    ]);
  });

  test("tells the reset state (what the entrypoint writes) from a configured one", () => {
    expect(isEmptyLbConfig("resources: []")).toBe(true);
    expect(isEmptyLbConfig("")).toBe(true);
    expect(isEmptyLbConfig(kindLbConfig(["a"]).cds)).toBe(false);
  });
});

/** What `docker cp <container>:<file> -` prints: a tar stream of the one file. */
function tarOf(content: string, name = "kindha-identity"): string {
  const header = (name.padEnd(100, "\0") + "0000644\0".padEnd(24, "\0") + content.length.toString(8).padStart(11, "0") + "\0").padEnd(
    512,
    "\0",
  );
  return header + content.padEnd(Math.ceil(content.length / 512) * 512, "\0") + "\0".repeat(1024);
}
const MARK = "stack=ha-option-b\ncreate=4242\n";

/** `docker inspect` JSON of containers: name, running, address, fixed address. */
function inspected(cs: readonly { name: string; running?: boolean; ip?: string; pinned?: string }[]): string {
  return JSON.stringify(
    cs.map((c) => ({
      Name: `/${c.name}`,
      State: { Running: c.running ?? true },
      NetworkSettings: {
        Networks: { kind: { IPAddress: c.running === false ? "" : (c.ip ?? ""), IPAMConfig: c.pinned ? { IPv4Address: c.pinned } : null } },
      },
    })),
  );
}

describe("the address plan", () => {
  const order = startOrder(ha);
  const states = (cs: Parameters<typeof inspected>[0]): ContainerState[] => parseContainers(inspected(cs), "kind");

  test("lists control planes, then workers, then the load balancer", () => {
    expect(order).toEqual([`${C}-control-plane`, `${C}-control-plane2`, `${C}-control-plane3`, `${C}-worker`, LB]);
  });

  test("leaves alone what runs at its fixed address", () => {
    const plan = planAddresses(
      order,
      states(order.map((name, i) => ({ name, ip: `172.18.0.${i + 2}`, pinned: `172.18.0.${i + 2}` }))),
      new Map(),
    );
    expect(plan).toEqual({ inPlace: order, moves: [], conflicts: [], unknown: [] });
  });

  test("starts stopped pinned containers at their addresses, control planes first, nothing to re-fix", () => {
    const cs = order.map((name, i) => ({
      name,
      running: i % 2 === 1 ? false : true,
      ip: `172.18.0.${i + 2}`,
      pinned: `172.18.0.${i + 2}`,
    }));
    const plan = planAddresses(order, states(cs), new Map());
    expect(plan.moves).toEqual([
      { name: `${C}-control-plane2`, address: "172.18.0.3", stopFirst: false, pin: false },
      { name: `${C}-worker`, address: "172.18.0.5", stopFirst: false, pin: false },
    ]);
  });

  test("moves unpinned control planes that Docker shuffled back where their certificates say, restarting them", () => {
    // After a restart: control-plane2 .5 -> .3, control-plane3 .3 -> .4, control-plane .4 -> .5 (as seen on ha-option-b).
    const cs = [
      { name: `${C}-control-plane`, ip: "172.18.0.5" },
      { name: `${C}-control-plane2`, ip: "172.18.0.3" },
      { name: `${C}-control-plane3`, ip: "172.18.0.4" },
      { name: `${C}-worker`, ip: "172.18.0.2" },
      { name: LB, ip: "172.18.0.6" },
    ];
    const want = new Map([
      [`${C}-control-plane`, "172.18.0.4"],
      [`${C}-control-plane2`, "172.18.0.5"],
      [`${C}-control-plane3`, "172.18.0.3"],
    ]);
    const holders = new Map(cs.map((c) => [c.ip, c.name]));
    const plan = planAddresses(order, states(cs), holders, want);
    expect(plan.conflicts).toEqual([]);
    expect(plan.inPlace).toEqual([`${C}-worker`, LB]);
    expect(plan.moves.map((m) => [m.name, m.address, m.stopFirst, m.pin])).toEqual([
      [`${C}-control-plane`, "172.18.0.4", true, true],
      [`${C}-control-plane2`, "172.18.0.5", true, true],
      [`${C}-control-plane3`, "172.18.0.3", true, true],
    ]);
  });

  test("fails on an address held by a container outside the cluster, naming it", () => {
    const cs = order.map((name, i) => ({
      name,
      running: name !== `${C}-control-plane2`,
      ip: `172.18.0.${i + 2}`,
      pinned: `172.18.0.${i + 2}`,
    }));
    const plan = planAddresses(order, states(cs), new Map([["172.18.0.3", "someone-elses-db"]]));
    expect(plan.conflicts).toEqual([{ name: `${C}-control-plane2`, address: "172.18.0.3", holder: "someone-elses-db" }]);
  });

  test("starts containers with no known address last, wherever Docker puts them", () => {
    const cs = order.map((name, i) => ({
      name,
      running: name !== `${C}-worker`,
      ip: `172.18.0.${i + 2}`,
      pinned: name === `${C}-worker` ? undefined : `172.18.0.${i + 2}`,
    }));
    expect(planAddresses(order, states(cs), new Map()).unknown).toEqual([`${C}-worker`]);
  });

  test("reads who holds which address from docker network inspect", () => {
    const net = JSON.stringify([
      {
        Name: "kind",
        Containers: { a1: { Name: `${C}-worker`, IPv4Address: "172.18.0.2/16" }, b2: { Name: "x", IPv4Address: "172.18.0.9/16" } },
      },
    ]);
    expect([...parseHolders(net)]).toEqual([
      ["172.18.0.2", `${C}-worker`],
      ["172.18.0.9", "x"],
    ]);
  });
});

describe("recover over a fake Docker after a restart", () => {
  /** All containers stopped, every one fixed at its address; the load balancer's config reset. */
  function world(marks: Record<string, string> = {}) {
    const running = new Set<string>();
    let cds = "resources: []";
    const ips: Record<string, string> = {
      [`${C}-control-plane`]: "172.18.0.4",
      [`${C}-control-plane2`]: "172.18.0.6",
      [`${C}-control-plane3`]: "172.18.0.5",
      [`${C}-worker`]: "172.18.0.3",
      [LB]: "172.18.0.7",
    };
    const healthy = clusterFixtures({ nodes: "kubectl-nodes-ha-option-a" });
    const fake = fakeExec((file, args) => {
      if (file === "docker" && args[0] === "inspect" && args[1] !== "-f") {
        return okResult(inspected(Object.entries(ips).map(([name, ip]) => ({ name, running: running.has(name), ip, pinned: ip }))));
      }
      if (file === "docker" && args[0] === "network" && args[1] === "inspect") return okResult(JSON.stringify([{ Containers: {} }]));
      if (file === "docker" && args[0] === "ps") return okResult(Object.keys(ips).join("\n"));
      if (file === "kubectl" && args.includes("/readyz") && (!running.has(LB) || isEmptyLbConfig(cds)))
        return { code: 1, stdout: "", stderr: "The connection to the server 127.0.0.1:6443 was refused" };
      if (file === "docker" && args[0] === "cp" && args[1] === `${args[1].split(":")[0]}:/kind/kindha-identity`)
        return okResult(tarOf(marks[args[1].split(":")[0]] ?? MARK));
      if (file === "docker" && args[0] === "start") return (running.add(args[1]), okResult(args[1]));
      if (file === "docker" && args[0] === "exec" && args[1] === LB && args[2] === "cat") return okResult(cds);
      if (file === "docker" && args[0] === "exec" && args[1] === LB && args[2] === "sh") return ((cds = args[6]), okResult());
      if (file === "docker" && args[0] === "exec" && args[3]?.endsWith("server.crt"))
        return okResult(etcdServerCert(ips[args[1]], args[1]));
      return healthy(file, args);
    });
    return { ...fake, running, cds: () => cds };
  }

  const context = (w: ReturnType<typeof world>, log: string[]): RecoverContext => ({
    stackId: "ha-option-b",
    topology: ha,
    kubeconfig: "/k",
    etcdScript: "/repo/scripts/etcd.sh",
    exec: w.exec,
    containerCli: "docker",
    clock: fakeClock(),
    log: (l) => void log.push(l),
    network: "kind",
    waitMs: 60_000,
  });

  test("starts control planes first, then the worker and the load balancer, writes kind's config back, and verifies", async () => {
    const w = world();
    const log: string[] = [];
    const report = await runSteps(recoverSteps(context(w, log)), context(w, log), (l) => void log.push(l));
    expect(report.failed).toBeUndefined();
    expect(w.calls.filter((c) => c.file === "docker" && c.args[0] === "start").map(line)).toEqual(
      startOrder(ha).map((n) => `docker start ${n}`),
    );
    expect(w.cds()).toBe(kindLbConfig(ha.controlPlanes.map((n) => n.name)).cds);
    expect(log.join("\n")).toContain("3 backends (it had none: reset by its restart)");
    // Nothing was re-fixed: every container kept its fixed address.
    expect(w.calls.some((c) => c.args[0] === "network" && c.args[1] === "connect")).toBe(false);
  });

  test("npm run recover prints each step and its total time", async () => {
    const w = world();
    const c = capture();
    expect(
      await recoverMain(["ha-option-b", "--kubeconfig", "/k"], c.io, {
        exec: w.exec,
        env: { KINDHA_LOCK_DIR: process.env.KINDHA_LOCK_DIR },
        clock: fakeClock(),
        exists: () => true,
      }),
    ).toBe(0);
    expect(c.out[0]).toBe("recover: stack ha-option-b (4 nodes and a load balancer)");
    expect(c.out[c.out.length - 1]).toMatch(/^recover: done in \d+ s; stack ha-option-b verified$/);
  });

  test("fails when a container is gone, saying the cluster must be re-created", async () => {
    const w = world();
    const exec: typeof w.exec = (file, args, opts) =>
      file === "docker" && args[0] === "inspect" && args[1] !== "-f"
        ? Promise.resolve({
            code: 1,
            stdout: inspected([{ name: `${C}-control-plane`, ip: "172.18.0.4" }]),
            stderr: `Error: No such object: ${C}-control-plane2`,
          })
        : w.exec(file, args, opts);
    const log: string[] = [];
    const ctx = { ...context(w, log), exec };
    const report = await runSteps(recoverSteps(ctx), ctx, (l) => void log.push(l));
    expect(report.failed?.step).toBe(`find the containers of ${C}`);
    expect(report.failed?.reason).toContain(`no container ${C}-control-plane2`);
    expect(report.failed?.next).toContain("re-create it");
  });

  describe("the plan's hook (Terraform's external data source)", () => {
    const home = mkdtempSync(join(tmpdir(), "kindha-hook-"));
    afterAll(() => rmSync(home, { recursive: true, force: true }));
    const query = JSON.stringify({ stack: "ha-option-b", kubeconfig: "/k", create_id: "4242" });
    const hook = async (
      w: { exec: ReturnType<typeof world>["exec"] },
      opts: { env?: NodeJS.ProcessEnv; input?: string; exists?: boolean; clock?: Clock } = {},
    ) => {
      const c = capture();
      const code = await terraformHook(opts.input ?? query, c.io, {
        exec: w.exec,
        env: { HOME: home, ...opts.env },
        clock: opts.clock ?? fakeClock(),
        exists: () => opts.exists ?? true,
      });
      return { code, answer: c.out.length === 1 ? JSON.parse(c.out[0]) : c.out, err: c.err.join("\n") };
    };
    const started = (w: ReturnType<typeof world>) => w.calls.filter((c) => c.args[0] === "start").length;

    test("recovers a stopped cluster before the Kubernetes provider reads it, answers one JSON object and keeps a log", async () => {
      const w = world();
      const r = await hook(w);
      expect(r.code).toBe(0);
      expect(r.answer).toEqual({
        state: "recovered",
        detail: expect.stringMatching(/^stopped: data-platform-local-control-plane, .*; recovered in \d+ s \(log: .*recover\.log\)$/),
      });
      expect(started(w)).toBe(5);
      expect(w.cds()).toBe(kindLbConfig(ha.controlPlanes.map((n) => n.name)).cds);
      const log = join(home, ".kindha", "logs", C, "recover.log");
      expect(readFileSync(log, "utf8")).toContain("recover: done in");
      expect(r.err).toContain("[1/5] find the containers");
      // The hook's one test is the API: it ends there, with no verify of workloads and claims.
      expect(r.err).toContain("[5/5] wait for etcd quorum and the API");
      expect(r.err).not.toContain("verify stack");
    });

    test("leaves a cluster whose API answers alone: it reads the containers, each node's mark and /readyz, nothing else", async () => {
      const w = world();
      await hook(w);
      const before = w.calls.length;
      const r = await hook(w);
      expect(r.answer).toEqual({ state: "healthy", detail: "the API answers at https://127.0.0.1:6443" });
      expect(w.calls.slice(before).map((c) => c.args[0])).toEqual(["ps", "cp", "cp", "cp", "cp", "--kubeconfig"]);
    });

    test("acts only on the API: a stopped worker or a control plane out of the load balancer (an operation's doing) is left alone while the API answers", async () => {
      const w = world();
      await hook(w);
      w.running.delete(`${C}-worker`);
      const before = w.calls.length;
      expect((await hook(w)).answer).toEqual({ state: "healthy", detail: "the API answers at https://127.0.0.1:6443" });
      expect(w.calls.slice(before).some((c) => ["start", "stop", "network", "sh"].includes(c.args[0]) || c.args[2] === "sh")).toBe(false);
    });

    test("leaves a cluster without this state's mark alone: none (hand-made, or made before marks), another stack's, another deploy's", async () => {
      for (const [mark, why] of [
        ["", `${C}-control-plane carries no kindha mark (/kind/kindha-identity): not made by this stack's deploy`],
        ["stack=single\ncreate=4242\n", `${C}-control-plane is stack single's, not ha-option-b's`],
        ["stack=ha-option-b\ncreate=99\n", `${C}-control-plane was made by another deploy (create id 99; this state's is 4242)`],
      ]) {
        const w = world({ [`${C}-control-plane`]: mark });
        expect((await hook(w)).answer).toEqual({ state: "not-ours", detail: why });
        expect(started(w)).toBe(0);
      }
      // A node whose mark cannot be read (docker cp fails) is not the stack's either.
      const w = world();
      const exec: typeof w.exec = (file, args, opts) =>
        args[0] === "cp"
          ? Promise.resolve({ code: 1, stdout: "", stderr: "Could not find the file /kind/kindha-identity" })
          : w.exec(file, args, opts);
      expect((await hook({ exec })).answer.state).toBe("not-ours");
    });

    test("leaves an absent cluster, another topology's cluster and a missing engine to Terraform", async () => {
      const none = fakeExec((_file, args) => (args[0] === "ps" ? okResult("") : undefined));
      expect((await hook(none)).answer).toEqual({ state: "absent", detail: `no container of cluster ${C}` });
      expect((await hook(none, { exists: false })).answer).toEqual({ state: "absent", detail: "no kubeconfig at /k" });
      const other = fakeExec((_file, args) => (args[0] === "ps" ? okResult(`${C}-control-plane\n${C}-worker`) : undefined));
      expect((await hook(other)).answer).toEqual({
        state: "other-topology",
        detail: expect.stringContaining(`has ${C}-control-plane, ${C}-worker; the stack plans`),
      });
      expect(other.calls.map((c) => c.args[0])).toEqual(["ps"]);
      const down = fakeExec(() => ({ code: 1, stdout: "", stderr: "Cannot connect to the Docker daemon" }));
      expect((await hook(down)).answer).toEqual({ state: "no-engine", detail: "docker ps failed: Cannot connect to the Docker daemon" });
    });

    test("KINDHA_RECOVER_ON_PLAN=0 or false only reports; 1 or true recovers; any other value is refused before anything runs", async () => {
      for (const value of ["0", "false"]) {
        const w = world();
        expect((await hook(w, { env: { KINDHA_RECOVER_ON_PLAN: value } })).answer).toEqual({
          state: "unhealthy",
          detail: expect.stringMatching(new RegExp(`^stopped: .* \\(KINDHA_RECOVER_ON_PLAN=${value}: not recovered\\)$`)),
        });
        expect(started(w)).toBe(0);
      }
      for (const value of ["1", "true"])
        expect((await hook(world(), { env: { KINDHA_RECOVER_ON_PLAN: value } })).answer.state).toBe("recovered");
      for (const value of ["no", "off", "yes", "TRUE", " 0"]) {
        const w = world();
        await expect(hook(w, { env: { KINDHA_RECOVER_ON_PLAN: value } })).rejects.toThrow(
          `KINDHA_RECOVER_ON_PLAN=${JSON.stringify(value)}: must be 1, true, 0 or false`,
        );
        expect(w.calls).toEqual([]);
      }
    });

    test("waits for an operation that holds the cluster's lock and, after the bound, refuses naming it, touching nothing", async () => {
      const lock = lockPath(C, { KINDHA_LOCK_DIR: process.env.KINDHA_LOCK_DIR });
      mkdirSync(dirname(lock), { recursive: true });
      // A live process that is not this one: what runs renew-certs.
      writeFileSync(
        lock,
        JSON.stringify({ holder: "renew-certs ha-option-b", pid: process.ppid, started: "2026-12-06T05:00:00.000Z", token: "t" }),
      );
      try {
        const w = world();
        await expect(hook(w, { env: { KINDHA_LOCK_DIR: process.env.KINDHA_LOCK_DIR, KINDHA_LOCK_WAIT: "0" } })).rejects.toThrow(
          /^cluster data-platform-local is busy: renew-certs ha-option-b \(pid \d+, since 2026-12-06T05:00:00.000Z\) holds/,
        );
        expect(started(w)).toBe(0);
        expect(w.cds()).toBe("resources: []");
      } finally {
        rmSync(lock, { force: true });
      }
    });

    test("looks again once the lock is free: what the operation left running is not recovered a second time", async () => {
      const w = world();
      const child = spawn(process.execPath, ["-e", "setTimeout(() => {}, 60000)"], { stdio: "ignore" });
      const lock = lockPath(C, { KINDHA_LOCK_DIR: process.env.KINDHA_LOCK_DIR });
      mkdirSync(dirname(lock), { recursive: true });
      writeFileSync(
        lock,
        JSON.stringify({ holder: "recover ha-option-b", pid: child.pid, started: "2026-12-06T05:00:00.000Z", token: "t" }),
      );
      // The other recover finishes: every container up, kind's configuration back, and it exits.
      setTimeout(() => {
        for (const n of startOrder(ha)) w.running.add(n);
        void w.exec("docker", ["exec", LB, "sh", "-c", "", "-", kindLbConfig(ha.controlPlanes.map((n) => n.name)).cds]);
        child.kill("SIGKILL");
      }, 300);
      const before = started(w);
      const r = await hook(w, { clock: realClock, env: { KINDHA_LOCK_DIR: process.env.KINDHA_LOCK_DIR, KINDHA_LOCK_WAIT: "30" } });
      expect(r.answer).toEqual({
        state: "healthy",
        detail: "the API answers at https://127.0.0.1:6443 (after waiting for the cluster's lock)",
      });
      expect(started(w)).toBe(before);
      expect(r.err).toContain("lock: waiting for recover ha-option-b");
      expect(r.err).toMatch(/lock: taking over .* its holder recover ha-option-b \(pid \d+, .*\) is gone/);
    });

    test("a failed recovery fails the plan (exit 1) with the step and what to do, on stderr; nothing on stdout", async () => {
      const w = world();
      const exec: typeof w.exec = (file, args, opts) =>
        args[0] === "start" ? Promise.resolve({ code: 1, stdout: "", stderr: "port is already allocated" }) : w.exec(file, args, opts);
      const r = await hook({ exec });
      expect(r.code).toBe(1);
      expect(r.answer).toEqual([]);
      expect(r.err).toContain("port is already allocated");
      expect(r.err).toContain("the plan stops here (the cluster is not replaced)");
    });

    test("refuses a query that is not Terraform's: not JSON, or without the stack, kubeconfig and create id", async () => {
      const w = world();
      expect((await hook(w, { input: "stack=single" })).code).toBe(2);
      expect((await hook(w, { input: '{"stack":"ha-option-b"}' })).err).toContain('"stack", "kubeconfig" and "create_id" as strings');
      expect((await hook(w, { input: '{"stack":"ha-option-b","kubeconfig":"/k"}' })).code).toBe(2);
      expect(w.calls).toEqual([]);
    });
  });
});

describe("verify that must hold", () => {
  test("is done only after every check kept passing for the hold time; a failure in between starts it again", async () => {
    const { waitForSteadyVerify } = await import("../../../../../lib/ops/verify");
    // Passes, fails once (a pod goes unready after its kubelet synced), then passes for good.
    let call = 0;
    const healthy = clusterFixtures();
    const flapping = clusterFixtures({ workloads: "kubectl-workloads-degraded" });
    const { exec } = fakeExec((file, args) => {
      if (file === "kubectl" && args.includes("deployments,statefulsets,daemonsets"))
        return (call++ === 1 ? flapping : healthy)(file, args);
      return healthy(file, args);
    });
    const clock = fakeClock();
    const t0 = clock.now();
    const last = await waitForSteadyVerify(
      ha,
      { kubeconfig: "/k", etcdScript: "/repo/scripts/etcd.sh", exec },
      { timeoutMs: 60_000, intervalMs: 3_000, holdMs: 30_000, clock },
    );
    expect(last.done).toBe(true);
    // First pass at 0 s, the failure at 3 s, passing again from 6 s: done at 36 s, not 30.
    expect(clock.now() - t0).toBe(36_000);
  });
});
