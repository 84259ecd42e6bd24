/**
 * A test oracle: the snapshot name scripts/etcd.sh gives, written here to check the script.
 */
import { join } from "node:path";
import { utcStamp } from "../lib/model/util";

/** The name `etcd.sh backup` gives a snapshot, which the script owns: `<dir>/<cluster>-<stack>-<UTC yyyymmddThhmmssZ>.db`. */
export function snapshotFileName(dir: string, cluster: string, stack: string, at: Date): string {
  return join(dir, `${cluster}-${stack}-${utcStamp(at)}.db`);
}
