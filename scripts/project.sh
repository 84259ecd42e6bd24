# Sourced by the hooks Terraform runs from a stack directory (plan-hook.sh, upgrade-hook.sh).
# kindha_project SCRIPT: prints the kindha project above $PWD, the nearest directory with a
# package.json, when that package.json has the npm script SCRIPT; prints nothing otherwise.
kindha_project() {
  local dir=$PWD
  while [ "$dir" != / ]; do
    if [ -f "$dir/package.json" ]; then
      if grep -q "\"$1\"" "$dir/package.json"; then printf '%s\n' "$dir"; fi
      return 0
    fi
    dir=$(dirname "$dir")
  done
}
