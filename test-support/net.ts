import { execFileSync } from "node:child_process";
import { createServer, type AddressInfo } from "node:net";

/** A port free on 127.0.0.1 right now: the kernel picks it (bind to 0, read, close). */
export async function freePort(): Promise<number> {
  const probe = createServer();
  await new Promise<void>((resolve, reject) => probe.once("error", reject).listen(0, "127.0.0.1", resolve));
  const { port } = probe.address() as AddressInfo;
  await new Promise((resolve) => probe.close(resolve));
  return port;
}

/** {@link freePort} for code that cannot wait (a describe block's body): asked of a short-lived node process. */
export function freePortSync(): number {
  const script =
    "const s = require('node:net').createServer().listen(0, '127.0.0.1', () => { console.log(s.address().port); s.close(); });";
  return Number(execFileSync(process.execPath, ["-e", script], { encoding: "utf8" }).trim());
}
