#!/usr/bin/env bash
# Helpers sourced by the e2e scripts: timed steps, a content-keyed cache, Go module builds.
set -euo pipefail

KINDHA_CACHE="${KINDHA_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/kindha}"
E2E_DIR="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"

log() { echo "${E2E_LOG_PREFIX:-e2e}: $*" >&2; }
die() { echo "${E2E_LOG_PREFIX:-e2e}: error: $*" >&2; exit 1; }
need() { for c in "$@"; do command -v "$c" >/dev/null 2>&1 || die "$c is not installed or not on PATH"; done; }

# step NAME CMD...: runs CMD and prints its time.
step() {
  local name="$1" t0=$SECONDS; shift
  log "$name ..."
  "$@"
  log "$name done in $((SECONDS - t0))s"
}

# quiet LOG CMD...: runs CMD with its output in LOG.
quiet() { local out="$1"; shift; "$@" >"$out" 2>&1; }

# content_key TEXT FILE...: a short hash of TEXT and the named files' names and contents (not
# their directories: a checkout elsewhere gives the same key).
content_key() {
  local text="$1"; shift
  { printf '%s\n' "$text"; for f in "$@"; do basename "$f"; cat "$f"; done; } | sha256sum | cut -c1-16
}

# go_module_dir MODULE@VERSION: downloads a module (Go module proxy) and prints its directory.
go_module_dir() {
  local info dir
  info=$(go mod download -json "$1" 2>&1) || die "go mod download $1 failed: $(printf '%s' "$info" | grep -m1 '"Error"' || printf '%s' "$info" | tail -n 1)"
  dir=$(printf '%s\n' "$info" | sed -n 's/^[[:space:]]*"Dir": "\(.*\)",$/\1/p')
  [ -n "$dir" ] || die "go mod download $1 gave no directory"
  printf '%s\n' "$dir"
}

# module_copy MODULE@VERSION DEST: a writable copy of a module's source.
module_copy() {
  local src; src=$(go_module_dir "$1")
  rm -rf "$2"; mkdir -p "$2"
  cp -r "$src/." "$2/"
  chmod -R u+w "$2"
}

# pin_local_replaces DIR VERSION: rewrites `X => ./path`, `X => ../path` and `X => ../` replace
# directives of DIR/go.mod to `X => X VERSION` (a released module's sibling directories are not in
# its zip).
pin_local_replaces() {
  local dir="$1" version="$2"
  rm -f "$dir/go.work" "$dir/go.work.sum"
  sed -i '/=>[[:space:]]*\.\/FORBIDDEN_DEPENDENCY/d' "$dir/go.mod"
  sed -E -i "s#^([[:space:]]*(replace[[:space:]]+)?)([^[:space:]]+)[[:space:]]+=>[[:space:]]+\.\.?/[^[:space:]]*[[:space:]]*\$#\1\3 => \3 $version#" "$dir/go.mod"
}
