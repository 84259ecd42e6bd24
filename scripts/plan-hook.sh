#!/usr/bin/env bash
# The plan's look at the cluster (Terraform's external data source, constructs/kind-cluster.ts):
# runs `npm run recover -- --terraform-hook` in the kindha project above the stack directory, with
# Terraform's query on stdin. Outside such a project it answers that it did not look.
set -euo pipefail

dir=$PWD
while [ "$dir" != / ]; do
  if [ -f "$dir/package.json" ]; then
    if grep -q '"recover"' "$dir/package.json"; then
      cd "$dir"
      exec npm run --silent recover -- --terraform-hook
    fi
    break
  fi
  dir=$(dirname "$dir")
done
cat >/dev/null
printf '{"state":"not-checked","detail":"no kindha project (package.json with a recover script) above %s"}\n' "$(printf '%s' "$PWD" | sed 's/[\\"]/\\&/g')"
