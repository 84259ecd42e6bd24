#!/usr/bin/env bash
# The Docker engine the cluster tier runs kind on. Idempotent.
#
#   e2e/docker-engine.sh start   install Debian's docker.io if dockerd is missing; start dockerd
#                                (with the OCI runtime wrapper, see oci-runtime.sh) unless a
#                                daemon already answers; wait until `docker info` answers; raise
#                                the inotify limits many nodes need (host_limits)
#   e2e/docker-engine.sh stop    stop dockerd only if `start` started it
#   e2e/docker-engine.sh status  say whether a daemon answers and who started it
#   e2e/docker-engine.sh run CMD...  start a daemon if none answers, run CMD, and stop the daemon
#                                afterwards if this call started it (even when CMD fails) and no
#                                container runs on it any more (another run may use it meanwhile)
#
# Env: KINDHA_CACHE (default ~/.cache/kindha): the wrapper, pid file and daemon log live there.
set -euo pipefail
E2E_LOG_PREFIX=docker-engine
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

state="$KINDHA_CACHE/dockerd"
pidfile="$state/dockerd.pid"
runtime="$state/oci-runtime.sh"

answers() { timeout 10 docker info >/dev/null 2>&1; }
ours() { [ -f "$pidfile" ] && kill -0 "$(cat "$pidfile")" 2>/dev/null; }

install_engine() {
  command -v dockerd >/dev/null 2>&1 && command -v jq >/dev/null 2>&1 && return 0
  [ "$(id -u)" = 0 ] || die "dockerd or jq is missing and installing them needs root: apt-get install docker.io jq"
  log "installing Debian's docker.io and jq"
  apt-get update -qq >/dev/null
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq docker.io jq >/dev/null
}

# Every node container runs systemd, containerd and kubelet, each holding inotify instances; the
# kernel's default of 128 per user runs out at about 8 nodes (a node logs "Failed to create inotify
# object: Too many open files" and never boots). Raises the limits to kind's documented values.
host_limits() {
  local kv key want have
  for kv in fs.inotify.max_user_instances=512 fs.inotify.max_user_watches=524288; do
    key=${kv%=*} want=${kv#*=}
    have=$(sysctl -n "$key" 2>/dev/null || echo 0)
    (( have >= want )) && continue
    if [ "$(id -u)" = 0 ] && sysctl -qw "$key=$want" 2>/dev/null; then log "raised $key from $have to $want"
    else log "warning: $key is $have; many kind nodes need $want (as root: sysctl -w $key=$want)"; fi
  done
}

start() {
  host_limits
  if answers; then
    log "a Docker engine already answers$(ours && echo ' (started by kindha)' || echo ''); using it"
    return 0
  fi
  install_engine
  mkdir -p "$state"
  # A stable copy: the daemon outlives the checkout that started it.
  install -m 0755 "$E2E_DIR/oci-runtime.sh" "$runtime"
  local real; real=$(command -v runc) || die "runc is missing (Debian's docker.io depends on it)"
  [ "$real" != "$runtime" ] || die "runc on PATH is the wrapper itself"
  log "starting dockerd (default runtime: kindha-runc -> $real; log $state/dockerd.log)"
  KINDHA_REAL_RUNC="$real" setsid dockerd \
    --add-runtime "kindha-runc=$runtime" --default-runtime kindha-runc \
    --pidfile "$pidfile" >"$state/dockerd.log" 2>&1 < /dev/null &
  local deadline=$((SECONDS + 60))
  until answers; do
    if ! kill -0 $! 2>/dev/null; then tail -n 20 "$state/dockerd.log" >&2; die "dockerd exited during start (log $state/dockerd.log)"; fi
    (( SECONDS < deadline )) || die "dockerd did not answer within 60s (log $state/dockerd.log)"
    sleep 1
  done
  log "dockerd is up ($(docker version --format '{{.Server.Version}}' 2>/dev/null), cgroup v$(docker info --format '{{.CgroupVersion}}'))"
}

stop() {
  if ! ours; then
    log "no dockerd started by kindha is running; nothing to stop"
    return 0
  fi
  local pid; pid=$(cat "$pidfile")
  log "stopping dockerd (pid $pid)"
  kill "$pid"
  for _ in $(seq 1 30); do kill -0 "$pid" 2>/dev/null || { log "stopped"; return 0; }; sleep 1; done
  die "dockerd (pid $pid) did not stop within 30s"
}

status() {
  if answers; then log "a Docker engine answers$(ours && echo ' (started by kindha)' || echo ' (not started by kindha)')"
  else log "no Docker engine answers"; return 1; fi
}

# Stops the daemon this run started, unless containers it did not make still run on it: another
# run (a test tier during an image build) started using it meanwhile, and stopping it would kill
# that run's clusters.
stop_if_unused() {
  local running; running=$(docker ps -q 2>/dev/null | wc -l)
  if (( running > 0 )); then log "leaving dockerd running: $running container(s) still run on it"; return 0; fi
  stop
}

with_engine() {
  local started=0 rc=0
  if answers; then host_limits; else start; started=1; fi
  trap '[ "$started" = 1 ] && stop_if_unused' EXIT
  "$@" || rc=$?
  exit "$rc"
}

case "${1:-}" in
  start) start ;;
  stop) stop ;;
  status) status ;;
  run) shift; [ $# -gt 0 ] || { echo "usage: e2e/docker-engine.sh run CMD..." >&2; exit 2; }; with_engine "$@" ;;
  *) echo "usage: e2e/docker-engine.sh start|stop|status|run CMD..." >&2; exit 2 ;;
esac
