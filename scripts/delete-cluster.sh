#!/usr/bin/env bash
# Deletes the kind cluster of a stack and its kubeconfig; run by the destroy-time provisioner.
# Idempotent: a cluster that is already gone is not an error. Snapshots are kept.
#
# Env: KINDHA_CLUSTER_NAME, KINDHA_KUBECONFIG
set -euo pipefail

name="${KINDHA_CLUSTER_NAME:?KINDHA_CLUSTER_NAME is not set}"
kubeconfig="${KINDHA_KUBECONFIG:?KINDHA_KUBECONFIG is not set}"
command -v kind >/dev/null 2>&1 || { echo "delete-cluster: kind is not installed or not on PATH; cannot delete $name" >&2; exit 1; }

echo "delete-cluster: deleting $name" >&2
kind delete cluster --name "$name" --kubeconfig "$kubeconfig"
rm -f "$kubeconfig"
