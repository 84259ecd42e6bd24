#!/usr/bin/env bash
# The machine's local image registry (lib/model/registry.ts): one container shared by every kindha
# cluster, started with --restart=always, answering at 127.0.0.1:<port> and, by its name, on kind's
# network. Nothing here removes the registry or its storage.
#
#   registry.sh check   the preflight's part: the registry this stack asks for can run here (a
#                       registry already running has this port and directory; else the port is
#                       free and the image is here). Prints each problem on one line, exits 1.
#   registry.sh up      starts it (or starts it again), connects it to kind's network, writes
#                       containerd's host entry for localhost:<port> into every node of the
#                       cluster, and waits until the first node gets an answer from it.
#
# Env: KINDHA_REGISTRY_NAME, KINDHA_REGISTRY_IMAGE, KINDHA_REGISTRY_PORT (host port),
#      KINDHA_REGISTRY_CONTAINER_PORT, KINDHA_REGISTRY_DIR (its storage, made 0700 when new),
#      KINDHA_REGISTRY_HOSTS_TOML and KINDHA_REGISTRY_HOSTS_DIR (containerd's entry and where it goes),
#      KINDHA_CLUSTER_NAME (up), KIND_EXPERIMENTAL_DOCKER_NETWORK (default kind).
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/container-cli.sh"
say() { echo "registry: $*" >&2; }
die() { say "error: $*"; exit 1; }

name="${KINDHA_REGISTRY_NAME:?KINDHA_REGISTRY_NAME is not set}"
image="${KINDHA_REGISTRY_IMAGE:?KINDHA_REGISTRY_IMAGE is not set}"
port="${KINDHA_REGISTRY_PORT:?KINDHA_REGISTRY_PORT is not set}"
inner="${KINDHA_REGISTRY_CONTAINER_PORT:?KINDHA_REGISTRY_CONTAINER_PORT is not set}"
dir="${KINDHA_REGISTRY_DIR:?KINDHA_REGISTRY_DIR is not set}"
network="${KIND_EXPERIMENTAL_DOCKER_NETWORK:-kind}"
storage=/var/lib/registry

# The problems that keep the registry from serving this stack, one per line (none: it can).
problems() {
  if "$cli" inspect "$name" >/dev/null 2>&1; then
    local have_port have_dir
    have_port=$("$cli" inspect -f "{{range \$p, \$b := .HostConfig.PortBindings}}{{range \$b}}{{.HostPort}}{{end}}{{end}}" "$name")
    have_dir=$("$cli" inspect -f "{{range .Mounts}}{{if eq .Destination \"$storage\"}}{{.Source}}{{end}}{{end}}" "$name")
    if [ "$have_port" != "$port" ] || [ "$have_dir" != "$dir" ]; then
      echo "the machine's registry $name serves localhost:$have_port from $have_dir, and this stack's registry setting asks for localhost:$port from $dir; set the stack's registry to match, or remove the container ($cli rm -f $name; its storage stays)"
    fi
    return 0
  fi
  "$cli" image inspect "$image" >/dev/null 2>&1 || echo "the registry's image $image is not on this machine; build it: npm run e2e:image"
  if ! command -v ss >/dev/null 2>&1; then
    echo "ss (iproute2) is not installed; it tells whether the registry's host port 127.0.0.1:$port is free"
  elif [ -n "$(ss -H -ltn "( sport = :$port )" 2>/dev/null)" ]; then
    echo "host port 127.0.0.1:$port/TCP (setting registry.port) is in use on this host; free it or choose another registry.port"
  fi
}

check() {
  local found; found=$(problems)
  [ -z "$found" ] || { printf '%s\n' "$found"; exit 1; }
}

up() {
  local cluster="${KINDHA_CLUSTER_NAME:?KINDHA_CLUSTER_NAME is not set}"
  local toml="${KINDHA_REGISTRY_HOSTS_TOML:?KINDHA_REGISTRY_HOSTS_TOML is not set}"
  local entry="${KINDHA_REGISTRY_HOSTS_DIR:?KINDHA_REGISTRY_HOSTS_DIR is not set}"
  local found node nodes
  found=$(problems)
  [ -z "$found" ] || die "$found"
  if [ ! -d "$dir" ]; then
    mkdir -p "$dir"
    chmod 700 "$dir"
  fi
  if ! "$cli" inspect "$name" >/dev/null 2>&1; then
    "$cli" run -d --restart=always --name "$name" -p "127.0.0.1:$port:$inner" -v "$dir:$storage" "$image" >/dev/null
    say "started $name at localhost:$port (storage $dir)"
  elif [ "$("$cli" inspect -f '{{.State.Running}}' "$name")" != true ]; then
    "$cli" start "$name" >/dev/null
    say "started $name again"
  fi
  if [ "$("$cli" inspect -f "{{json (index .NetworkSettings.Networks \"$network\")}}" "$name")" = null ]; then
    "$cli" network connect "$network" "$name"
  fi
  # Nodes, not the load balancer; the entry survives restarts (it is in the node's own filesystem).
  nodes=$("$cli" ps -a --filter "label=io.x-k8s.kind.cluster=$cluster" --format '{{.Names}} {{.Label "io.x-k8s.kind.role"}}' |
    awk '$2 != "external-load-balancer" { print $1 }' | sort)
  [ -n "$nodes" ] || die "no node of cluster $cluster"
  for node in $nodes; do
    printf '%s' "$toml" | "$cli" exec -i "$node" sh -c 'mkdir -p "$1" && cat >"$1/hosts.toml"' sh "$entry"
  done
  node=$(head -n 1 <<<"$nodes")
  for _ in $(seq 1 30); do
    if "$cli" exec "$node" curl -fsS -o /dev/null "http://$name:$inner/v2/" 2>/dev/null; then
      say "localhost:$port/<image> pulls from $name on every node of $cluster"
      return 0
    fi
    sleep 1
  done
  die "$node gets no answer from http://$name:$inner/v2/ after 30 s ($cli logs $name)"
}

case "${1:-}" in
  check) check ;;
  up) up ;;
  *) die "usage: registry.sh check|up" ;;
esac
