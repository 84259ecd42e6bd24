#!/usr/bin/env bash
# The Docker side of a kind cluster's addresses, so a restart of the engine (or the host) cannot
# move a node: Docker gives a restarted container the lowest free address unless the container
# asked for a fixed one, and etcd's members, certificates and kubeadm's manifests name the
# address each node had at create.
#
#   nodes.sh network        create kind's network (KIND_EXPERIMENTAL_DOCKER_NETWORK, default
#                           kind) as kind would, but with its IPv4 subnet named: Docker fixes an
#                           address (--ip) only on a subnet the network names. Does nothing when
#                           the network exists.
#   nodes.sh pin CLUSTER    fix every container of CLUSTER (nodes and load balancer) at the
#                           address it has now (disconnect and connect again with --ip: about
#                           0.3 s without network per container, published ports kept).
#   nodes.sh mark CLUSTER   write the stack's mark into every node of CLUSTER (not the load
#                           balancer): KINDHA_STACK, KINDHA_CREATE_ID (the cluster resource's id
#                           in the Terraform state) and the state's directory (KINDHA_STATE_DIR,
#                           default .), read by the plan's hook (lib/model/identity.ts).
#
# Env: KINDHA_CONTAINER_CLI or KIND_EXPERIMENTAL_PROVIDER (default docker; see container-cli.sh).
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/container-cli.sh"
network="${KIND_EXPERIMENTAL_DOCKER_NETWORK:-kind}"
say() { echo "nodes: $*" >&2; }

# kind's IPv6 subnet for a network name: fc00:<sha1(name + int32 0)[2:8]>::/64, as kind's
# generateULASubnetFromName computes it (so a network made here is the one kind would make).
ula_subnet() {
  local h; h=$(printf '%s\0\0\0\0' "$1" | sha1sum | cut -c5-16)
  printf 'fc00:%x:%x:%x::/64\n' "0x${h:0:4}" "0x${h:4:4}" "0x${h:8:4}"
}

ensure_network() {
  "$cli" network inspect "$network" >/dev/null 2>&1 && return 0
  # Docker picks a free IPv4 subnet for a probe network; the real one names it.
  local probe="kindha-subnet-probe-$$" v4 mtu args
  "$cli" network create "$probe" >/dev/null
  v4=$("$cli" network inspect "$probe" -f '{{range .IPAM.Config}}{{.Subnet}} {{end}}' | tr ' ' '\n' | grep -v ':' | grep . | head -n 1 || true)
  "$cli" network rm "$probe" >/dev/null
  [ -n "$v4" ] || { say "error: docker gave the probe network no IPv4 subnet"; exit 1; }
  args=(network create -d=bridge -o com.docker.network.bridge.enable_ip_masquerade=true)
  mtu=$("$cli" network inspect bridge -f '{{ index .Options "com.docker.network.driver.mtu" }}' 2>/dev/null || true)
  [[ "$mtu" =~ ^[0-9]+$ ]] && args+=(-o "com.docker.network.driver.mtu=$mtu")
  if ! "$cli" "${args[@]}" --ipv6 --subnet "$(ula_subnet "$network")" --subnet "$v4" "$network" >/dev/null 2>&1; then
    # As kind does when IPv6 is off in the engine or the kernel: IPv4 only.
    "$cli" "${args[@]}" --subnet "$v4" "$network" >/dev/null
  fi
  say "created network $network ($v4)"
}

pin() {
  local cluster="$1" names name v4 v6 subnets
  subnets=$("$cli" network inspect "$network" -f '{{range .IPAM.Config}}{{.Subnet}} {{end}}')
  if ! tr ' ' '\n' <<<"$subnets" | grep -q '\.'; then
    say "warning: network $network names no IPv4 subnet (made by kind or another tool before kindha), so Docker cannot fix addresses on it; a restart may move nodes (npm run recover names them)"
    return 0
  fi
  names=$("$cli" ps --filter "label=io.x-k8s.kind.cluster=$cluster" --format '{{.Names}}' | sort)
  [ -n "$names" ] || { say "error: no running container of cluster $cluster"; exit 1; }
  for name in $names; do
    v4=$("$cli" inspect -f "{{with index .NetworkSettings.Networks \"$network\"}}{{.IPAddress}}{{end}}" "$name")
    v6=$("$cli" inspect -f "{{with index .NetworkSettings.Networks \"$network\"}}{{.GlobalIPv6Address}}{{end}}" "$name")
    [ -n "$v4" ] || { say "error: $name has no IPv4 address on $network"; exit 1; }
    "$cli" network disconnect "$network" "$name"
    "$cli" network connect --ip "$v4" ${v6:+--ip6 "$v6"} "$network" "$name"
  done
  say "fixed the addresses of $(wc -w <<<"$names") containers of $cluster"
}

mark() {
  local cluster="$1" names name
  : "${KINDHA_STACK:?KINDHA_STACK is not set}" "${KINDHA_CREATE_ID:?KINDHA_CREATE_ID is not set}"
  names=$("$cli" ps --filter "label=io.x-k8s.kind.cluster=$cluster" --format '{{.Names}} {{.Label "io.x-k8s.kind.role"}}' | awk '$2 != "external-load-balancer" {print $1}' | sort)
  [ -n "$names" ] || { say "error: no running node of cluster $cluster"; exit 1; }
  KINDHA_PROJECT=$(cd "${KINDHA_STATE_DIR:-.}" && pwd -P)
  export KINDHA_PROJECT
  for name in $names; do
    "$cli" exec -e KINDHA_STACK -e KINDHA_CREATE_ID -e KINDHA_PROJECT "$name" sh -c 'printf "stack=%s\ncreate=%s\nproject=%s\n" "$KINDHA_STACK" "$KINDHA_CREATE_ID" "$KINDHA_PROJECT" >/kind/kindha-identity'
  done
  say "marked $(wc -w <<<"$names") nodes of $cluster as stack $KINDHA_STACK's (create id $KINDHA_CREATE_ID)"
}

case "${1:-}" in
  network) ensure_network ;;
  mark) [ -n "${2:-}" ] || { echo "usage: nodes.sh mark CLUSTER" >&2; exit 2; }; mark "$2" ;;
  pin) [ -n "${2:-}" ] || { echo "usage: nodes.sh pin CLUSTER" >&2; exit 2; }; pin "$2" ;;
  *) echo "usage: nodes.sh network | pin CLUSTER | mark CLUSTER" >&2; exit 2 ;;
esac
