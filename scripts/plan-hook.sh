#!/usr/bin/env bash
# The plan's look at the cluster (Terraform's external data source, constructs/kind-cluster.ts):
# runs `npm run recover -- --terraform-hook` in the kindha project above the stack directory, with
# Terraform's query on stdin. Outside such a project it answers that it did not look.
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/project.sh"

project=$(kindha_project recover)
if [ -n "$project" ]; then
  cd "$project"
  exec npm run --silent recover -- --terraform-hook
fi
cat >/dev/null
jq -cn --arg dir "$PWD" '{state: "not-checked", detail: "no kindha project (package.json with a recover script) above \($dir)"}'
