#!/usr/bin/env bash
# Deletes the kind cluster of a stack and its kubeconfig; run by the destroy-time provisioner.
# Idempotent: a cluster that is already gone is not an error. Snapshots and the data directory
# (the cluster's volumes) are kept: only `npm run remove-data` removes that.
#
# Env: KINDHA_CLUSTER_NAME, KINDHA_KUBECONFIG, KINDHA_DATA_DIR and KINDHA_STACK (named in the message),
#      KINDHA_REGISTRY_NAME (the machine's registry container, which alone does not keep kind's network)
set -euo pipefail

name="${KINDHA_CLUSTER_NAME:?KINDHA_CLUSTER_NAME is not set}"
kubeconfig="${KINDHA_KUBECONFIG:?KINDHA_KUBECONFIG is not set}"
command -v kind >/dev/null 2>&1 || { echo "delete-cluster: kind is not installed or not on PATH; cannot delete $name" >&2; exit 1; }

echo "delete-cluster: deleting $name" >&2
kind delete cluster --name "$name" --kubeconfig "$kubeconfig"
rm -f "$kubeconfig"
# kind creates its Docker network on demand and never removes it; remove it once no container is
# attached, stopped ones included: Docker would let it go under a stopped cluster (moby#17160),
# which could then never start again. The machine's registry alone does not keep it: it leaves the
# network (and keeps running, for the host) until the next cluster's registry.sh up connects it.
network="${KIND_EXPERIMENTAL_DOCKER_NETWORK:-kind}"
registry="${KINDHA_REGISTRY_NAME:-}"
source "$(dirname "${BASH_SOURCE[0]}")/container-cli.sh"
if command -v "$cli" >/dev/null 2>&1 && "$cli" network inspect "$network" >/dev/null 2>&1; then
  attached=$("$cli" ps -a --filter "network=$network" --format '{{.Names}}')
  if [ -n "$registry" ] && [ "$attached" = "$registry" ]; then
    "$cli" network disconnect "$network" "$registry" >/dev/null && attached=""
  fi
  if [ -z "$attached" ]; then
    "$cli" network rm "$network" >/dev/null && echo "delete-cluster: removed the unused $cli network $network" >&2
  else
    echo "delete-cluster: kept the $cli network $network: $(wc -l <<<"$attached") other container(s) are attached, running or stopped ($(head -n 3 <<<"$attached" | paste -sd, -))" >&2
  fi
fi
if [ -n "${KINDHA_DATA_DIR:-}" ] && [ -d "$KINDHA_DATA_DIR" ]; then
  echo "delete-cluster: the volumes of $name are kept in $KINDHA_DATA_DIR; a new cluster of this name finds them there." \
    "To delete them: npm run remove-data -- ${KINDHA_STACK:-<stack>} --yes" >&2
fi
