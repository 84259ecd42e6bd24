import { readFileSync } from "node:fs";
import { join } from "node:path";
import { synthPreset } from "../../../../test-support/synth";

/** The provider table tools/dev/engine.sh builds from: `type version module commit`. */
function enginePins(): Record<string, string> {
  const text = readFileSync(join(__dirname, "..", "..", "..", "..", "tools", "dev", "engine.sh"), "utf8");
  const rows = [...text.matchAll(/^\s*"(\w+) (\d+\.\d+\.\d+) (\S+) ([0-9a-f]{40})"$/gm)];
  return Object.fromEntries(rows.map((m) => [m[1], m[2]]));
}

test("the engine bootstrap builds exactly the provider versions the synthesized stacks pin", () => {
  const pinned = Object.fromEntries(
    Object.entries(synthPreset("ha-option-a").json.terraform.required_providers).map(([type, p]) => [type, p.version]),
  );
  expect(enginePins()).toEqual(pinned);
  expect(Object.keys(pinned).sort()).toEqual(["external", "kubernetes", "local", "null"]);
});
