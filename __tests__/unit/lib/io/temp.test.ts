/**
 * Private temporary directories (keys, kubeconfigs): 0700, removed after the work and on Ctrl-C or
 * SIGTERM, in a real Node process that gets the signal.
 */
import { spawn } from "node:child_process";
import { existsSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { transpileModule } from "typescript";
import { withPrivateTempDir } from "../../../../lib/io/temp";

const scratch = mkdtempSync(join(tmpdir(), "kindha-temp-test-"));
afterAll(() => rmSync(scratch, { recursive: true, force: true }));
const lib = join(scratch, "temp.js");
writeFileSync(
  lib,
  transpileModule(readFileSync(join(__dirname, "..", "..", "..", "..", "lib", "io", "temp.ts"), "utf8"), {
    compilerOptions: { module: 1 /* CommonJS */, target: 9 /* ES2022 */ },
  }).outputText,
);

/** A process that makes a directory with a key in it, prints the path and waits; `signal` it, and what is left. */
function interrupted(signal: NodeJS.Signals): Promise<{ dir: string; signal: NodeJS.Signals | null }> {
  const script = `require(${JSON.stringify(lib)}).withPrivateTempDir("kindha-capi-", async (dir) => {
    require("node:fs").writeFileSync(dir + "/ca.key", "secret", { mode: 0o600 });
    console.log(dir);
    await new Promise((r) => setTimeout(r, 60000));
  });`;
  const child = spawn(process.execPath, ["-e", script], { stdio: ["ignore", "pipe", "inherit"] });
  return new Promise((resolve) => {
    let dir = "";
    child.stdout.on("data", (chunk: Buffer) => {
      dir += chunk.toString();
      if (dir.endsWith("\n")) {
        expect(existsSync(join(dir.trim(), "ca.key"))).toBe(true);
        child.kill(signal);
      }
    });
    child.on("exit", (_code, got) => resolve({ dir: dir.trim(), signal: got }));
  });
}

describe("withPrivateTempDir", () => {
  test("gives an owner-only directory and removes it when the work ends, or fails", async () => {
    let seen = "";
    await withPrivateTempDir("kindha-verify-", async (dir) => {
      seen = dir;
      expect(statSync(dir).mode & 0o777).toBe(0o700);
    });
    expect(existsSync(seen)).toBe(false);
    await expect(
      withPrivateTempDir("kindha-verify-", async (dir) => {
        seen = dir;
        throw new Error("boom");
      }),
    ).rejects.toThrow("boom");
    expect(existsSync(seen)).toBe(false);
    expect(process.listenerCount("SIGINT")).toBe(0);
  });

  test.each(["SIGINT", "SIGTERM"] as const)(
    "%s removes the directory and its key, then ends the process by that signal",
    async (signal) => {
      const r = await interrupted(signal);
      expect(r.dir).toMatch(/kindha-capi-/);
      expect(existsSync(r.dir)).toBe(false);
      expect(r.signal).toBe(signal);
    },
  );
});
