#!/usr/bin/env bash
# Installs the Debian packages the real-process test tiers drive: etcd (server and client),
# haproxy and openssl. Does nothing when they are present.
set -euo pipefail
packages=(etcd-server etcd-client haproxy openssl)
missing=()
for p in "${packages[@]}"; do dpkg -s "$p" >/dev/null 2>&1 || missing+=("$p"); done
if (( ${#missing[@]} == 0 )); then echo "setup: ${packages[*]} present" >&2; exit 0; fi

if [ "$(id -u)" -eq 0 ]; then sudo=(); elif command -v sudo >/dev/null; then sudo=(sudo); else
  echo "setup: missing ${missing[*]}; run as root: apt-get install -y ${missing[*]}" >&2; exit 1
fi
echo "setup: installing ${missing[*]}" >&2
"${sudo[@]}" apt-get update -qq
DEBIAN_FRONTEND=noninteractive "${sudo[@]}" apt-get install -y -qq "${missing[@]}" >/dev/null
