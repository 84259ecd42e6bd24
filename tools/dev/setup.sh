#!/usr/bin/env bash
# Installs what the test tiers drive, then builds the cluster tier's images:
#   Debian packages: etcd (server and client), haproxy, openssl (etcd and haproxy tiers); docker.io,
#   jq, debootstrap, libseccomp-dev (cluster tier: the Docker engine and the node image build).
#   The kind node image and its companions (e2e/node-image.sh; cached, seconds when current),
#   built with a Docker engine that is started for the build and stopped after it if none ran.
#   Cluster API's CRDs (Go modules sigs.k8s.io/cluster-api v1.13.6 and its test module v1.13.7,
#   CAPD's), into Go's module cache: the cluster tier validates the cluster-api target's objects
#   against them.
#   OpenTofu and the pinned providers' filesystem mirror (tools/dev/engine.sh; cached): the engine
#   and cluster tiers run `cdktf` with them.
# Prints each step's time. KINDHA_SETUP_SKIP_IMAGE=1 installs the packages only.
#
# Usage: npm run setup [-- --upgrade-image]
#   --upgrade-image  also build the node image upgrades roll to (v1.37.2; the scenario tier and
#                    `npm run upgrade` need it; test:scenarios builds it when missing)
set -euo pipefail
cd "$(dirname "$0")/../.."
images=()
case "${1:-}" in
  "") ;;
  --upgrade-image) images=(--all) ;;
  *) echo "setup: unknown option $1 (usage: npm run setup [-- --upgrade-image])" >&2; exit 2 ;;
esac
t0=$SECONDS
packages=(etcd-server etcd-client haproxy openssl docker.io jq debootstrap libseccomp-dev iproute2)
missing=()
for p in "${packages[@]}"; do dpkg -s "$p" >/dev/null 2>&1 || missing+=("$p"); done
if (( ${#missing[@]} == 0 )); then
  echo "setup: packages present (${packages[*]})" >&2
else
  if [ "$(id -u)" -eq 0 ]; then sudo=(); elif command -v sudo >/dev/null; then sudo=(sudo); else
    echo "setup: missing ${missing[*]}; run as root: apt-get install -y ${missing[*]}" >&2; exit 1
  fi
  echo "setup: installing ${missing[*]}" >&2
  "${sudo[@]}" apt-get update -qq
  DEBIAN_FRONTEND=noninteractive "${sudo[@]}" apt-get install -y -qq "${missing[@]}" >/dev/null
  echo "setup: packages installed in $((SECONDS - t0))s" >&2
fi
t1=$SECONDS
for m in sigs.k8s.io/cluster-api@v1.13.6 sigs.k8s.io/cluster-api/test@v1.13.7; do
  GOFLAGS=-mod=mod go mod download "$m" || { echo "setup: go mod download $m failed (the Go module proxy serves it)" >&2; exit 1; }
done
echo "setup: Cluster API modules ready in $((SECONDS - t1))s" >&2
t1=$SECONDS
bash tools/dev/engine.sh
echo "setup: engine ready in $((SECONDS - t1))s" >&2
if [ "${KINDHA_SETUP_SKIP_IMAGE:-0}" != 1 ]; then
  t1=$SECONDS
  bash e2e/docker-engine.sh run bash e2e/node-image.sh "${images[@]}" >/dev/null
  echo "setup: images ready in $((SECONDS - t1))s" >&2
fi
echo "setup: done in $((SECONDS - t0))s" >&2
