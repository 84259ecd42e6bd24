#!/usr/bin/env bash
# Creates the kind cluster of a stack; run by the cluster resource's create-time provisioner.
# Preflight first; if creation or the readiness checks fail, the half-made cluster is deleted.
#
# Env: KINDHA_CLUSTER_NAME, KINDHA_KIND_CONFIG, KINDHA_KUBECONFIG, KINDHA_WAIT, KINDHA_BACKUP_DIR,
#      KINDHA_REQUIRED_CPUS, KINDHA_REQUIRED_MEMORY_GIB (see preflight.sh)
#      KINDHA_DATA_DIR: host directory of the cluster's volumes (made 0700 and marked as this
#        cluster's in its file KINDHA_DATA_OWNER_FILE); KINDHA_STORAGE_CLASS, KINDHA_STORAGE_CONFIG: the StorageClass and the merge
#        patch of the provisioner's ConfigMap applied after create (all empty: volumes stay in the nodes)
#      KINDHA_STACK, KINDHA_CREATE_ID: the mark written into the nodes (nodes.sh mark); none without an id
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
data_dir="${KINDHA_DATA_DIR:-}"
if [ -n "$data_dir" ]; then
  for f in KINDHA_STORAGE_CLASS KINDHA_STORAGE_CONFIG; do
    [ -f "${!f:-}" ] || { echo "create-cluster: storage configuration ${!f:-($f unset)} does not exist" >&2; exit 1; }
  done
  mkdir -p "$data_dir"
  chmod 700 "$data_dir"
  printf '%s\n' "$name" >"$data_dir/${KINDHA_DATA_OWNER_FILE:?KINDHA_DATA_OWNER_FILE is not set}"
fi

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
# kind's network, made with its IPv4 subnet named so that node addresses can be fixed.
bash "$here/nodes.sh" network
created=1
kind create cluster --name "$name" --config "$config" --kubeconfig "$kubeconfig" --wait "$wait"
chmod 600 "$kubeconfig"
# A restart of Docker or the host must not move a node: etcd and kubeadm named these addresses.
bash "$here/nodes.sh" pin "$name"
# The plan's hook recovers only a cluster that carries its state's mark (Terraform sets the id).
if [ -n "${KINDHA_CREATE_ID:-}" ]; then bash "$here/nodes.sh" mark "$name"; fi

kubectl --kubeconfig "$kubeconfig" wait --for=condition=Ready nodes --all --timeout "$wait"
if [ -n "$data_dir" ]; then
  # kind installed the image's default-storage.yaml; its class `standard` has immutable
  # parameters, so it is replaced, and only config.json of the provisioner's ConfigMap is set.
  k=(kubectl --kubeconfig "$kubeconfig")
  "${k[@]}" delete storageclass standard --ignore-not-found >/dev/null
  "${k[@]}" create -f "$KINDHA_STORAGE_CLASS" >/dev/null
  "${k[@]}" -n local-path-storage patch configmap local-path-config --type merge --patch-file "$KINDHA_STORAGE_CONFIG" >/dev/null
  "${k[@]}" -n local-path-storage rollout restart deployment/local-path-provisioner >/dev/null
  "${k[@]}" -n local-path-storage rollout status deployment/local-path-provisioner --timeout "$wait" >/dev/null
  echo "create-cluster: volumes of $name live in $data_dir (class standard, shared by every node)" >&2
fi
if [ "${KINDHA_SKIP_VERIFY:-0}" != "1" ]; then
  # Every etcd member healthy; one still catching up after its join gets a minute; then
  # one more try says why and fails the create.
  health=(bash "$here/etcd.sh" health --kind --kubeconfig "$kubeconfig" --cluster "$name" --strict)
  healthy=0
  for _ in $(seq 1 12); do
    if "${health[@]}" 2>/dev/null; then healthy=1; break; fi
    sleep 5
  done
  [ "$healthy" = 1 ] || "${health[@]}"
fi
echo "create-cluster: $name is ready; kubeconfig $kubeconfig" >&2
