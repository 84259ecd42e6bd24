/**
 * The cluster lock of the operations (lib/ops/lock.ts): held by a real process, waited for,
 * refused after the bound naming its holder, taken over when its process is gone, inherited by
 * what a holder runs.
 */
import { spawn, type ChildProcess } from "node:child_process";
import { existsSync, mkdtempSync, readFileSync, rmSync, statSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { acquireLock, lockPath, lockWaitMs, withLock } from "../../../../lib/ops/lock";
import { realClock } from "../../../../lib/ops/steps";

const dir = mkdtempSync(join(tmpdir(), "kindha-lock-test-"));
afterAll(() => rmSync(dir, { recursive: true, force: true }));
const env = (extra: NodeJS.ProcessEnv = {}): NodeJS.ProcessEnv => ({ KINDHA_LOCK_DIR: join(dir, "locks"), ...extra });

/** A real process that writes the lock record of `holder` with its own pid and waits; resolves once the file is there. */
function holder(cluster: string, name: string): Promise<ChildProcess> {
  const path = lockPath(cluster, env());
  const record = { holder: name, started: "2026-12-06T05:00:00.000Z", token: "held-by-child" };
  const script = `const fs = require("node:fs"); fs.mkdirSync(${JSON.stringify(join(dir, "locks"))}, { recursive: true });
    fs.writeFileSync(${JSON.stringify(path)}, JSON.stringify({ ...${JSON.stringify(record)}, pid: process.pid }), { flag: "wx" }); console.log("held"); setTimeout(() => {}, 60000);`;
  const child = spawn(process.execPath, ["-e", script], { stdio: ["ignore", "pipe", "inherit"] });
  return new Promise((resolve) => child.stdout!.once("data", () => resolve(child)));
}

describe("the cluster lock", () => {
  test("is a 0600 file in a 0700 directory naming holder, pid and start; released after the work, even when it fails", async () => {
    const lines: string[] = [];
    await withLock(
      "c1",
      "renew-certs ha-option-b",
      { env: env(), clock: realClock },
      (l) => lines.push(l),
      async () => {
        const path = lockPath("c1", env());
        expect(statSync(path).mode & 0o777).toBe(0o600);
        expect(statSync(join(dir, "locks")).mode & 0o777).toBe(0o700);
        expect(JSON.parse(readFileSync(path, "utf8"))).toEqual({
          holder: "renew-certs ha-option-b",
          pid: process.pid,
          started: expect.stringMatching(/^\d{4}-\d\d-\d\dT/),
          token: expect.any(String),
        });
      },
    );
    expect(existsSync(lockPath("c1", env()))).toBe(false);
    await expect(
      withLock(
        "c1",
        "drill ha-option-b",
        { env: env(), clock: realClock },
        () => undefined,
        async () => Promise.reject(new Error("boom")),
      ),
    ).rejects.toThrow("boom");
    expect(existsSync(lockPath("c1", env()))).toBe(false);
    expect(lines).toEqual([]);
  });

  test("a second holder waits for a live one, saying for whom, and refuses after KINDHA_LOCK_WAIT naming it", async () => {
    const child = await holder("c2", "upgrade ha-option-b");
    try {
      const lines: string[] = [];
      const t0 = Date.now();
      await expect(
        acquireLock("c2", "the plan's recover ha-option-b", { env: env({ KINDHA_LOCK_WAIT: "2" }), clock: realClock }, (l) =>
          lines.push(l),
        ),
      ).rejects.toThrow(
        new RegExp(
          `^cluster c2 is busy: upgrade ha-option-b \\(pid ${child.pid}, since 2026-12-06T05:00:00.000Z\\) holds .*c2\\.lock; waited 2 s \\(KINDHA_LOCK_WAIT\\); run again when it has finished$`,
        ),
      );
      expect(Date.now() - t0).toBeGreaterThanOrEqual(2_000);
      expect(lines).toEqual([
        `lock: waiting for upgrade ha-option-b (pid ${child.pid}, since 2026-12-06T05:00:00.000Z) to finish (up to 2 s; ${lockPath("c2", env())})`,
      ]);
      // The holder's file is untouched.
      expect(JSON.parse(readFileSync(lockPath("c2", env()), "utf8")).pid).toBe(child.pid);
    } finally {
      child.kill();
    }
  });

  test("a lock whose process is gone is taken over with a line saying so", async () => {
    const child = await holder("c3", "restore single");
    const pid = child.pid;
    await new Promise((resolve) => {
      child.once("exit", resolve);
      child.kill("SIGKILL");
    });
    const lines: string[] = [];
    const release = await acquireLock("c3", "recover single", { env: env({ KINDHA_LOCK_WAIT: "0" }), clock: realClock }, (l) =>
      lines.push(l),
    );
    expect(lines).toEqual([
      `lock: taking over ${lockPath("c3", env())}: its holder restore single (pid ${pid}, since 2026-12-06T05:00:00.000Z) is gone`,
    ]);
    expect(JSON.parse(readFileSync(lockPath("c3", env()), "utf8")).holder).toBe("recover single");
    release();
  });

  test("what a holder runs (migrate's cdktf and its plan's hook) holds it through KINDHA_LOCK; others do not", async () => {
    const mine = env();
    await withLock(
      "c4",
      "migrate single -> ha-option-b",
      { env: mine, clock: realClock },
      () => undefined,
      async () => {
        const child = { ...mine };
        const lines: string[] = [];
        const inner = await acquireLock("c4", "the plan's recover single", { env: child, clock: realClock }, (l) => lines.push(l));
        inner();
        expect(existsSync(lockPath("c4", env()))).toBe(true);
        await expect(
          acquireLock("c4", "drill single", { env: env({ KINDHA_LOCK_WAIT: "0" }), clock: realClock }, () => undefined),
        ).rejects.toThrow(/^cluster c4 is busy: migrate single -> ha-option-b/);
        expect(lines).toEqual([]);
      },
    );
    expect(mine.KINDHA_LOCK).toBeUndefined();
  });

  test("KINDHA_LOCK_WAIT is whole seconds from 0 to 86400; anything else is refused", () => {
    expect(lockWaitMs({})).toBe(600_000);
    expect(lockWaitMs({ KINDHA_LOCK_WAIT: "0" })).toBe(0);
    for (const bad of ["-1", "1.5", "ten", "86401"])
      expect(() => lockWaitMs({ KINDHA_LOCK_WAIT: bad })).toThrow(
        `KINDHA_LOCK_WAIT=${JSON.stringify(bad)}: must be whole seconds from 0 to 86400`,
      );
  });
});
