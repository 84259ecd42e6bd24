#!/usr/bin/env bash
# The roll resource's provisioner (constructs/rolling-upgrade.ts): runs `npm run upgrade --
# --terraform-hook` in the kindha project above the stack directory, which reads KINDHA_STACK,
# KINDHA_NODE_IMAGE and KINDHA_KUBECONFIG. It returns at once when the cluster already runs the
# image's version everywhere (a first deploy), and rolls it otherwise.
set -euo pipefail
for v in KINDHA_STACK KINDHA_NODE_IMAGE KINDHA_KUBECONFIG; do
  [ -n "${!v:-}" ] || { echo "upgrade-hook: $v is not set" >&2; exit 1; }
done
dir=$PWD
while [ "$dir" != / ]; do
  if [ -f "$dir/package.json" ]; then
    if grep -q '"upgrade"' "$dir/package.json"; then
      cd "$dir"
      exec npm run --silent upgrade -- --terraform-hook
    fi
    break
  fi
  dir=$(dirname "$dir")
done
echo "upgrade-hook: no kindha project (package.json with an upgrade script) above $PWD; roll the cluster by hand: npm run upgrade -- $KINDHA_STACK --to $KINDHA_NODE_IMAGE" >&2
exit 1
