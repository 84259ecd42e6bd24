#!/usr/bin/env bash
# The roll resource's provisioner (constructs/rolling-upgrade.ts): runs `npm run upgrade --
# --terraform-hook` in the kindha project above the stack directory, which reads KINDHA_STACK,
# KINDHA_NODE_IMAGE, KINDHA_KUBECONFIG and KINDHA_PLANNED_STACK (the topology and paths the plan saw). It returns at once when the cluster already runs the
# image's version everywhere (a first deploy), and rolls it otherwise.
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/project.sh"

for v in KINDHA_STACK KINDHA_NODE_IMAGE KINDHA_KUBECONFIG KINDHA_PLANNED_STACK; do
  [ -n "${!v:-}" ] || { echo "upgrade-hook: $v is not set" >&2; exit 1; }
done
project=$(kindha_project upgrade)
if [ -n "$project" ]; then
  cd "$project"
  exec npm run --silent upgrade -- --terraform-hook
fi
echo "upgrade-hook: no kindha project (package.json with an upgrade script) above $PWD; roll the cluster by hand: npm run upgrade -- $KINDHA_STACK --to $KINDHA_NODE_IMAGE" >&2
exit 1
