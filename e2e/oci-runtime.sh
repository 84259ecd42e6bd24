#!/usr/bin/env bash
# OCI runtime wrapper registered as dockerd's default runtime (see docker-engine.sh). Some VMs
# run with a capability bounding set that lacks capabilities (CAP_SYS_RESOURCE here), and runc
# fails to grant what it does not have: `docker run --privileged` (as kind runs every node) fails
# with "unable to apply caps". On create/run/exec this drops from the requested capabilities
# those missing from our own bounding set, then execs the real runc with the same arguments.
set -euo pipefail
real="${KINDHA_REAL_RUNC:-/usr/sbin/runc}"

cmd="" bundle="." process=""
args=("$@")
for ((i = 0; i < ${#args[@]}; i++)); do
  case "${args[i]}" in
    create|run|exec) [ -z "$cmd" ] && cmd="${args[i]}" ;;
    --bundle|-b) bundle="${args[i+1]:-.}" ;;
    --bundle=*) bundle="${args[i]#--bundle=}" ;;
    --process|-p) process="${args[i+1]:-}" ;;
    --process=*) process="${args[i]#--process=}" ;;
  esac
done
case "$cmd" in create|run|exec) ;; *) exec "$real" "$@" ;; esac

# Capability names missing from the bounding set, as a JSON array (bit i = capability number i).
missing=$(awk '/^CapBnd:/ {print $2}' /proc/self/status | python3 -c '
import json, sys
names = "CHOWN DAC_OVERRIDE DAC_READ_SEARCH FOWNER FSETID KILL SETGID SETUID SETPCAP LINUX_IMMUTABLE NET_BIND_SERVICE NET_BROADCAST NET_ADMIN NET_RAW IPC_LOCK IPC_OWNER SYS_MODULE SYS_RAWIO SYS_CHROOT SYS_PTRACE SYS_PACCT SYS_ADMIN SYS_BOOT SYS_NICE SYS_RESOURCE SYS_TIME SYS_TTY_CONFIG MKNOD LEASE AUDIT_WRITE AUDIT_CONTROL SETFCAP MAC_OVERRIDE MAC_ADMIN SYSLOG WAKE_ALARM BLOCK_SUSPEND AUDIT_READ PERFMON BPF CHECKPOINT_RESTORE".split()
bnd = int(sys.stdin.read(), 16)
print(json.dumps(["CAP_" + n for i, n in enumerate(names) if not bnd >> i & 1]))')
[ "$missing" = "[]" ] && exec "$real" "$@"

# strip FILE JQ-PATH: removes the missing capabilities from every list under JQ-PATH in FILE.
strip() {
  local file="$1" obj="$2" tmp
  [ -f "$file" ] || return 0
  tmp=$(mktemp "$file.XXXXXX")
  jq --argjson drop "$missing" \
    "if $obj then $obj |= with_entries(.value |= (if type == \"array\" then . - \$drop else . end)) else . end" \
    "$file" >"$tmp"
  chmod --reference="$file" "$tmp"
  mv "$tmp" "$file"
}
case "$cmd" in
  create|run) strip "$bundle/config.json" ".process.capabilities" ;;
  exec) [ -n "$process" ] && strip "$process" ".capabilities" ;;
esac
exec "$real" "$@"
