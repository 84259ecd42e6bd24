#!/usr/bin/env bash
# Helpers sourced by the e2e scripts: timed steps, a content-keyed cache, Go module builds, images
# keyed by their content.
set -euo pipefail

KINDHA_CACHE="${KINDHA_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/kindha}"
# Where the e2e builds keep binaries, root filesystems and logs.
cache="$KINDHA_CACHE/e2e"
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

# cached NAME VERSION FUNC [ARG...]: runs `FUNC DIR ARG...` once per content key (the name, version,
# Go toolchain, FUNC's text and the args); prints DIR.
cached() {
  local name="$1" version="$2" fn="$3" key dir; shift 3
  : "${go_version:=$(go env GOVERSION 2>/dev/null || echo none)}"
  key=$(content_key "$name $version $go_version $(declare -f "$fn")${*:+ $*}")
  dir="$cache/bin/$name-$version-$key"
  if [ ! -f "$dir/.done" ]; then
    rm -rf "$dir.tmp"; mkdir -p "$dir.tmp"
    step "build $name $version" "$fn" "$dir.tmp" "$@" >&2
    rm -rf "$dir"; mv "$dir.tmp" "$dir"; touch "$dir/.done"
  fi
  printf '%s\n' "$dir"
}

# go_build_module MODULE@VERSION OUT [go build args...]: builds in a writable copy of the module,
# its sibling-directory replaces pinned to GO_PIN_VERSION (default: the module's own version).
go_build_module() {
  local mod="$1" out="$2"; shift 2
  local work; work=$(mktemp -d)
  module_copy "$mod" "$work/src"
  pin_local_replaces "$work/src" "${GO_PIN_VERSION:-${mod##*@}}"
  (cd "$work/src" && GOWORK=off GOFLAGS=-mod=mod go build -trimpath -o "$out/" "$@") || { rm -rf "$work"; die "building $mod failed"; }
  chmod -R u+w "$work"; rm -rf "$work"
}

image_key() { docker image inspect -f '{{index .Config.Labels "io.kindha.key"}}' "$1" 2>/dev/null || true; }

# docker_build IMAGE KEY CONTEXT: builds CONTEXT/Dockerfile as IMAGE unless IMAGE has KEY.
docker_build() {
  local image="$1" key="$2" context="$3"
  if [ "$(image_key "$image")" = "$key" ]; then log "$image is current ($key)"; return 0; fi
  step "docker build $image" quiet "$cache/docker-build.log" docker build --label "io.kindha.key=$key" -t "$image" "$context" \
    || { tail -n 30 "$cache/docker-build.log" >&2; die "docker build $image failed"; }
}

# file_image IMAGE BASE ENTRYPOINT-JSON FILE[:NAME]...: BASE (an image, or scratch) plus FILEs in
# /usr/local/bin, keyed by the base and the files.
file_image() {
  local image="$1" base="$2" entrypoint="$3"; shift 3
  local ctx f key base_key=""; ctx=$(mktemp -d); mkdir -p "$ctx/bin"
  for f in "$@"; do install -m 0755 "${f%%:*}" "$ctx/bin/$(basename "${f#*:}")"; done
  { echo "FROM $base"; echo "COPY bin/ /usr/local/bin/"
    # scratch has no PATH; kubeadm's manifests call the binaries by name.
    [ "$base" != scratch ] || echo "ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
    [ -n "$entrypoint" ] && echo "ENTRYPOINT $entrypoint"; true; } >"$ctx/Dockerfile"
  [ "$base" = scratch ] || base_key=$(image_key "$base")
  key=$(cd "$ctx" && content_key "$base $base_key" Dockerfile bin/*)
  docker_build "$image" "$key" "$ctx"
  rm -rf "$ctx"
}
