#!/usr/bin/env bash
# Creates the kind cluster of a stack; run by the cluster resource's create-time provisioner.
# Preflight first; if creation or the readiness checks fail, the half-made cluster is deleted.
#
# Env: KINDHA_CLUSTER_NAME, KINDHA_KIND_CONFIG, KINDHA_KUBECONFIG, KINDHA_WAIT, KINDHA_BACKUP_DIR,
#      KINDHA_REQUIRED_CPUS, KINDHA_REQUIRED_MEMORY_GIB (see preflight.sh)
#      KINDHA_SKIP_VERIFY=1 skips the etcd health check (for stand-ins that cannot answer it)
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"

name="${KINDHA_CLUSTER_NAME:?KINDHA_CLUSTER_NAME is not set}"
config="${KINDHA_KIND_CONFIG:?KINDHA_KIND_CONFIG is not set}"
kubeconfig="${KINDHA_KUBECONFIG:?KINDHA_KUBECONFIG is not set}"
wait="${KINDHA_WAIT:-5m}"
backups="${KINDHA_BACKUP_DIR:?KINDHA_BACKUP_DIR is not set}"

[ -f "$config" ] || { echo "create-cluster: kind config $config does not exist" >&2; exit 1; }
bash "$here/preflight.sh"

if kind get clusters 2>/dev/null | grep -qx -- "$name"; then
  echo "create-cluster: a kind cluster named $name already exists and is not in this stack's state;" \
    "delete it (kind delete cluster --name $name) or destroy the stack that owns it" >&2
  exit 1
fi

# Owner-only directories for credentials and snapshots; scheduled snapshots land in a subdirectory
# that control planes mount.
umask 077
mkdir -p "$(dirname "$kubeconfig")" "$backups/scheduled"
chmod 700 "$backups" "$backups/scheduled"

created=0
cleanup() {
  status=$?
  if [ "$status" -ne 0 ] && [ "$created" -eq 1 ]; then
    echo "create-cluster: failed (exit $status); deleting the half-made cluster $name" >&2
    kind delete cluster --name "$name" --kubeconfig "$kubeconfig" >&2 || true
    rm -f "$kubeconfig"
  fi
}
trap cleanup EXIT

echo "create-cluster: creating $name from $config (kind $(kind version 2>/dev/null | awk '{print $2}'))" >&2
created=1
kind create cluster --name "$name" --config "$config" --kubeconfig "$kubeconfig" --wait "$wait"
chmod 600 "$kubeconfig"

kubectl --kubeconfig "$kubeconfig" wait --for=condition=Ready nodes --all --timeout "$wait"
if [ "${KINDHA_SKIP_VERIFY:-0}" != "1" ]; then
  bash "$here/etcd.sh" health --kind --kubeconfig "$kubeconfig" --cluster "$name"
fi
echo "create-cluster: $name is ready; kubeconfig $kubeconfig" >&2
