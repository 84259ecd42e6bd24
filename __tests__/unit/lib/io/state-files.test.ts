/** The local state files of each stack: 0600 before OpenTofu first writes them. */
import { mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { guardStateFiles, stateFiles } from "../../../../lib/io/state-files";

describe("guardStateFiles", () => {
  const dir = mkdtempSync(join(tmpdir(), "kindha-state-"));
  afterAll(() => rmSync(dir, { recursive: true, force: true }));
  const mode = (f: string) => statSync(f).mode & 0o777;

  test("creates each stack's state and backup empty and 0600, under any umask", () => {
    const umask = process.umask(0o000);
    try {
      guardStateFiles(dir, ["single", "ha-option-b"]);
    } finally {
      process.umask(umask);
    }
    const files = ["single", "ha-option-b"].flatMap((id) => stateFiles(dir, id));
    expect(files.map((f) => f.slice(dir.length + 1))).toEqual([
      "terraform.single.tfstate",
      "terraform.single.tfstate.backup",
      "terraform.ha-option-b.tfstate",
      "terraform.ha-option-b.tfstate.backup",
    ]);
    for (const f of files) expect({ f, mode: mode(f), size: statSync(f).size }).toEqual({ f, mode: 0o600, size: 0 });
  });

  test("makes a state an older kindha left 0644 private, its content untouched", () => {
    const [state] = stateFiles(dir, "old");
    writeFileSync(state, '{"version":4}', { mode: 0o644 });
    guardStateFiles(dir, ["old"]);
    expect(mode(state)).toBe(0o600);
    expect(readFileSync(state, "utf8")).toBe('{"version":4}');
  });
});
