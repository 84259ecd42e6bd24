#!/bin/bash
# kindha's pod network, the stand-in for kindnet (kind's default CNI, whose module no registry
# here serves). Runs on every node (DaemonSet, host network). It writes this node's CNI config
# (ptp + host-local over the node's podCIDR, portmap) and keeps a route to every other node's
# podCIDR via that node's InternalIP, so pods on different nodes reach each other. Traffic from
# this node's pods to anything but a pod network (the Docker network, this machine, beyond) leaves
# with the node's address (masquerade, as kindnet does), so the answers find their way back.
# Unlike kindnet: no network policies.
set -euo pipefail
node="${NODE_NAME:?NODE_NAME is not set}"
sa=/var/run/secrets/kubernetes.io/serviceaccount
api="https://${CONTROL_PLANE_ENDPOINT:-${KUBERNETES_SERVICE_HOST}:${KUBERNETES_SERVICE_PORT}}"
conf_dir="${CNI_CONF_DIR:-/etc/cni/net.d}"
conf="$conf_dir/10-kindha-podnet.conflist"
say() { echo "podnet: $*" >&2; }
chain=KINDHA-PODNET-MASQ
masq_rules=""

# masquerade CIDR PODCIDRS...: this node's pods' traffic to anything outside every pod network
# leaves with the node's address (chain $chain, rebuilt when the pod networks change).
masquerade() {
  local own="$1" want c; shift
  want=$(for c in "$@"; do echo "-A $chain -d $c -j RETURN"; done; echo "-A $chain -j MASQUERADE")
  [ "$want" != "$masq_rules" ] || return 0
  iptables -t nat -N "$chain" 2>/dev/null || iptables -t nat -F "$chain"
  while read -r rule; do iptables -t nat $rule; done <<<"$want"
  iptables -t nat -C POSTROUTING -s "$own" -j "$chain" 2>/dev/null || iptables -t nat -A POSTROUTING -s "$own" -j "$chain"
  masq_rules=$want
  say "masquerading $own to all but $*"
}

nodes() { curl -sSf --max-time 10 --cacert "$sa/ca.crt" -H "Authorization: Bearer $(cat "$sa/token")" "$api/api/v1/nodes"; }

while true; do
  if ! list=$(nodes); then say "cannot list nodes at $api; retrying"; sleep 2; continue; fi
  cidr=$(jq -r --arg n "$node" '.items[] | select(.metadata.name == $n) | .spec.podCIDR // empty' <<<"$list")
  if [ -z "$cidr" ]; then say "node $node has no podCIDR yet"; sleep 2; continue; fi
  want=$(jq -n --arg cidr "$cidr" '{cniVersion: "1.0.0", name: "kindha-podnet", plugins: [
    {type: "ptp", ipMasq: false, mtu: 1500,
     ipam: {type: "host-local", dataDir: "/run/cni-ipam-state", ranges: [[{subnet: $cidr}]], routes: [{dst: "0.0.0.0/0"}]}},
    {type: "portmap", capabilities: {portMappings: true}}]}')
  if [ "$(cat "$conf" 2>/dev/null)" != "$want" ]; then
    mkdir -p "$conf_dir"
    printf '%s\n' "$want" >"$conf.tmp" && mv "$conf.tmp" "$conf"
    say "wrote $conf for $cidr"
  fi
  masquerade "$cidr" $(jq -r '.items[] | .spec.podCIDR // empty' <<<"$list" | sort)
  jq -r --arg n "$node" '.items[] | select(.metadata.name != $n and .spec.podCIDR != null)
    | [.spec.podCIDR, (.status.addresses[]? | select(.type == "InternalIP") | .address)] | select(length == 2) | @tsv' <<<"$list" |
    while IFS=$'\t' read -r other via; do
      case "$(ip route show "$other" 2>/dev/null)" in *"via $via "*) continue ;; esac
      ip route replace "$other" via "$via" && say "route $other via $via"
    done
  sleep 5
done
