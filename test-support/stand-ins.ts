/**
 * Stand-ins for docker, kind and kubectl: small shell scripts put first on PATH that record their
 * arguments and behave as the test sets through environment variables. They replace only the
 * container runtime layer; the scripts under test run for real in bash.
 */
import { chmodSync, existsSync, mkdirSync, readFileSync, symlinkSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { scratchDir } from "./scratch";

export interface StandIns {
  readonly dir: string;
  readonly bin: string;
  /** Lines `<tool> <args...>` in call order. */
  calls(): string[];
  /** Environment for a child process: PATH with only the chosen stand-ins and the basics. */
  env(extra?: Record<string, string>): NodeJS.ProcessEnv;
}

const SCRIPTS: Record<string, string> = {
  // FAKE_DOCKER: ok (default) | down; FAKE_HOST_CPUS / FAKE_HOST_MEM_BYTES / FAKE_CGROUP_VERSION:
  // what `docker info` reports.
  docker: `
if [ "\${FAKE_DOCKER:-ok}" = down ]; then
  echo "Cannot connect to the Docker daemon at unix:///var/run/docker.sock. Is the docker daemon running?" >&2; exit 1
fi
nets="$FAKE_DIR/networks"; touch "$nets"
case "$1" in
  info) echo "\${FAKE_HOST_CPUS:-32} \${FAKE_HOST_MEM_BYTES:-68719476736} \${FAKE_CGROUP_VERSION:-2}" ;;
  network)
    case "$2" in
      inspect) [ "$3" = bridge ] && exit 0; grep -qx -- "$3" "$nets" || { echo "Error: No such network: $3" >&2; exit 1; }
        case "$*" in *Subnet*) echo "\${FAKE_SUBNETS:-172.18.0.0/16 fc00:f853:ccd:e793::/64 }" ;; esac ;;
      create) echo "\${@: -1}" >> "$nets" ;;
      rm) grep -vx -- "$3" "$nets" > "$nets.new" || true; mv "$nets.new" "$nets" ;;
      # The registry joins kind's network.
      connect) if [ "\${@: -1}" = kindha-registry ]; then touch "$FAKE_DIR/registry.net"; fi ;;
    esac ;;
  # The one node of each cluster kind's stand-in "created", at a fixed address (FAKE_STOPPED: the
  # nodes of stopped clusters on the network, listed by ps -a only).
  ps) sed 's/$/-control-plane/' "$FAKE_DIR/clusters" 2>/dev/null || true
    case " $* " in *" -a "*) if [ -n "\${FAKE_STOPPED:-}" ]; then echo "$FAKE_STOPPED"; fi ;; esac ;;
  inspect)
    # The machine's registry exists once run; FAKE_DIR/registry holds its port and directory.
    case "$*" in
      *kindha-registry*)
        # As docker: with -f, a missing object still prints the (empty) template's line.
        [ -f "$FAKE_DIR/registry" ] || { case "$*" in *-f*) echo ;; esac; echo "Error: No such object: kindha-registry" >&2; exit 1; }
        read -r rport rdir < "$FAKE_DIR/registry"
        case "$*" in
          *State.Running*) echo true ;;
          *PortBindings*) echo "$rport" ;;
          *Mounts*) echo "$rdir" ;;
          *Networks*) if [ -f "$FAKE_DIR/registry.net" ]; then echo '{"IPAddress":"172.18.0.9"}'; else echo null; fi ;;
        esac ;;
      *IPAddress*) echo 172.18.0.2 ;;
    esac ;;
  image) [ "$2" = inspect ] && [ "\${FAKE_NO_IMAGES:-0}" = 1 ] && { echo "Error: No such image: \${@: -1}" >&2; exit 1; }; exit 0 ;;
  run)
    p=""; v=""; prev=""
    for a in "$@"; do case "$prev" in -p) p="$a" ;; -v) v="$a" ;; esac; prev="$a"; done
    p="\${p%:*}"; echo "\${p##*:} \${v%%:*}" > "$FAKE_DIR/registry" ;;
  # What a node is given on stdin (containerd's registry entry), by node.
  exec) if [ "$2" = -i ]; then cat > "$FAKE_DIR/stdin.$3"; fi ;;
  *) ;;
esac`,
  // FAKE_KIND_FAIL=create makes create fail after "creating" (a half-made cluster).
  kind: `
state="$FAKE_DIR/clusters"; touch "$state"
arg() { local want="$1"; shift; while [ $# -gt 0 ]; do [ "$1" = "$want" ] && { echo "$2"; return; }; shift; done; }
case "$1 $2" in
  "get clusters") cat "$state" ;;
  "create cluster")
    name=$(arg --name "$@"); kc=$(arg --kubeconfig "$@")
    echo "$name" >> "$state"
    [ "\${FAKE_KIND_FAIL:-}" = create ] && { echo "ERROR: failed to create cluster: node(s) not ready" >&2; exit 1; }
    printf 'apiVersion: v1\\nkind: Config\\nclusters: []\\n' > "$kc" ;;
  "delete cluster")
    name=$(arg --name "$@"); grep -vx -- "$name" "$state" > "$state.new" || true; mv "$state.new" "$state" ;;
  version*) echo "kind v0.32.0 go1.26 linux/amd64" ;;
esac`,
  // FAKE_KUBECTL_FAIL=wait makes node readiness fail.
  kubectl: `
for a in "$@"; do [ "$a" = wait ] && [ "\${FAKE_KUBECTL_FAIL:-}" = wait ] && { echo "error: timed out waiting for the condition on nodes" >&2; exit 1; }; done
exit 0`,
};

/** Basic tools the scripts use; linked into the sandbox so PATH holds nothing else of the host. */
const BASICS = [
  "bash",
  "env",
  "cat",
  "grep",
  "sed",
  "awk",
  "mkdir",
  "chmod",
  "rm",
  "mv",
  "cp",
  "dirname",
  "basename",
  "tail",
  "head",
  "touch",
  "date",
  "tr",
  "cut",
  "sort",
  "mktemp",
  "ls",
  "stat",
  "sleep",
  "printf",
  "id",
  "sha1sum",
  "wc",
  "paste",
  "ss",
  "seq",
  "jq",
];

function linkBasics(dir: string): void {
  for (const tool of BASICS) {
    const found = ["/usr/bin", "/bin"].map((d) => join(d, tool)).find((p) => existsSync(p));
    if (found) symlinkSync(found, join(dir, tool));
  }
}

export function makeStandIns(tools: readonly string[] = ["docker", "kind", "kubectl"]): StandIns {
  // Removed when the test file ends.
  const dir = scratchDir("standins-");
  const bin = join(dir, "bin");
  const basics = join(dir, "basics");
  mkdirSync(bin);
  mkdirSync(basics);
  linkBasics(basics);
  const log = join(dir, "calls.log");
  for (const tool of tools) {
    const path = join(bin, tool);
    writeFileSync(path, `#!/usr/bin/env bash\nset -eu\necho "${tool} $*" >> "${log}"\n${SCRIPTS[tool]}\n`);
    chmodSync(path, 0o755);
  }
  return {
    dir,
    bin,
    calls: () => (existsSync(log) ? readFileSync(log, "utf8").trim().split("\n").filter(Boolean) : []),
    env: (extra = {}) => ({ PATH: `${bin}:${basics}`, HOME: dir, FAKE_DIR: dir, ...extra }),
  };
}
