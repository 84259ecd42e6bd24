#!/usr/bin/env bash
# Finds or builds the Terraform engine (OpenTofu) and the exact provider versions the synthesized
# stacks pin, as a local filesystem mirror, so `init` needs no registry. Idempotent and cached.
#
# Usage: tools/dev/engine.sh [--env] [--no-build]
#   --env       print KEY=VALUE lines (TERRAFORM_BINARY_NAME, KINDHA_ENGINE_BIN, TF_CLI_CONFIG_FILE)
#   --no-build  use only what is found or cached; fail at once instead of building
#
# A provider that cannot be built is reported and left to the ordinary registry (a user's machine
# reaches it; this project's CI machines do not, see README "Engine").
#
# Environment:
#   KINDHA_ENGINE_CACHE  where binaries are cached (default: ~/.cache/kindha/engine)
#   KINDHA_PROVIDER_DIR  a directory holding terraform-provider-<type>_v<version> binaries, used in
#                        place as a filesystem mirror (an air-gapped site's provider mirror; with a
#                        SHA256SUMS file there, checked first). Default: ../shared/providers beside
#                        the project, when it exists; else they are built from their Go modules
#   KINDHA_ENGINE        engine to use: tofu (default) or terraform
set -euo pipefail

cache="${KINDHA_ENGINE_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/kindha/engine}"
engine="${KINDHA_ENGINE:-tofu}"
tofu_version="v1.12.6"

# type version go-module commit-of-the-tag (see ENGINE notes in README; checked by a test
# against the versions @cdktf/provider-* pin)
providers=(
  "external 2.3.5 github.com/hashicorp/terraform-provider-external 8c00d8b09dd569b30a80ceedfb3a7aa163999c26"
  "null 3.2.4 github.com/terraform-providers/terraform-provider-null 01034f80eb238732fd9e8673582e0e770cfab578"
  "local 2.6.1 github.com/terraform-providers/terraform-provider-local ba8eb9d12edf493cd3f77ac80a59f6c89b50d4fc"
  "kubernetes 2.38.0 github.com/hashicorp/terraform-provider-kubernetes be88f44271050f69d52f410bca388834afedfe71"
)

log() { echo "engine: $*" >&2; }
die() { echo "engine: error: $*" >&2; exit 1; }

started=$(date +%s)
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
if [ -z "${KINDHA_PROVIDER_DIR:-}" ] && [ -d "$root/../shared/providers" ]; then
  KINDHA_PROVIDER_DIR="$(cd "$root/../shared/providers" && pwd)"
fi
if [ -n "${KINDHA_PROVIDER_DIR:-}" ] && [ -f "$KINDHA_PROVIDER_DIR/SHA256SUMS" ]; then
  (cd "$KINDHA_PROVIDER_DIR" && sha256sum --quiet -c SHA256SUMS >&2) || die "the providers in $KINDHA_PROVIDER_DIR do not match its SHA256SUMS"
fi
want_env=0 no_build=0
for arg in "$@"; do
  case "$arg" in
    --env) want_env=1 ;;
    --no-build) no_build=1 ;;
    *) die "unknown option $arg (usage: tools/dev/engine.sh [--env] [--no-build])" ;;
  esac
done
mkdir -p "$cache/bin" "$cache/mirror"

# Builds the main package in <dir-in-module> of Go module <module>@<ref> into <output>.
go_build() {
  local module="$1" ref="$2" pkg="$3" output="$4" ldflags="${5:-}"
  command -v go >/dev/null || die "go is not installed; it is needed to build $module (or put the binary at $output)"
  local src work info
  info=$(go mod download -json "$module@$ref" 2>&1) || true
  src=$(printf '%s\n' "$info" | sed -n 's/^[[:space:]]*"Dir": "\(.*\)",$/\1/p')
  if [ -z "$src" ]; then
    echo "engine: go mod download $module@$ref failed: $(printf '%s\n' "$info" | sed -n 's/^[[:space:]]*"Error": "\(.*\)"$/\1/p' | sed 's/\\n\\t/ /g')" >&2
    return 1
  fi
  work=$(mktemp -d)
  trap 'chmod -R u+w "$work" 2>/dev/null; rm -rf "$work"' RETURN
  cp -r "$src/." "$work/"
  chmod -R u+w "$work"
  (cd "$work" && CGO_ENABLED=0 go build -trimpath -ldflags "$ldflags" -o "$output.tmp" "$pkg" 2>"$cache/build.log") || { tail -n 20 "$cache/build.log" >&2; die "building $module@$ref failed (log: $cache/build.log)"; }
  mv "$output.tmp" "$output"
}

engine_bin=""
case "$engine" in
  tofu)
    if command -v tofu >/dev/null && tofu version 2>/dev/null | grep -q '^OpenTofu v1\.'; then
      engine_bin=$(command -v tofu)
    else
      engine_bin="$cache/bin/tofu"
      if [ ! -x "$engine_bin" ]; then
        [ "$no_build" = 0 ] || die "no OpenTofu on PATH or in $cache (npm run engine builds it)"
        log "building OpenTofu $tofu_version from its Go module (once; cached in $cache)"
        go_build github.com/opentofu/opentofu "$tofu_version" ./cmd/tofu "$engine_bin" "-X github.com/opentofu/opentofu/version.dev=no" || die "cannot build OpenTofu $tofu_version"
      fi
    fi ;;
  terraform)
    command -v terraform >/dev/null || die "KINDHA_ENGINE=terraform but no terraform on PATH"
    terraform version 2>/dev/null | grep -q '^Terraform v1\.' || die "terraform on PATH is not 1.x: $(terraform version | head -1)"
    engine_bin=$(command -v terraform) ;;
  *) die "KINDHA_ENGINE must be tofu or terraform, not '$engine'" ;;
esac

arch="$(go env GOOS 2>/dev/null || echo linux)_$(go env GOARCH 2>/dev/null || echo amd64)"
mirrored=0
absent=()
for entry in "${providers[@]}"; do
  read -r type version module commit <<<"$entry"
  built="$cache/providers/terraform-provider-${type}_v${version}"
  given="${KINDHA_PROVIDER_DIR:-}/terraform-provider-${type}_v${version}"
  # The given mirror is used in place, never copied.
  [ -n "${KINDHA_PROVIDER_DIR:-}" ] && [ -x "$given" ] && built="$given"
  if [ ! -x "$built" ] && [ "$no_build" = 1 ]; then
    absent+=("terraform-provider-${type}_v${version}")
    continue
  fi
  if [ ! -x "$built" ]; then
    mkdir -p "$cache/providers"
    log "building provider hashicorp/$type $version from $module@$commit (once)"
    if ! go_build "$module" "$commit" . "$built"; then
      log "provider hashicorp/$type $version: not built; \`init\` will need the registry for it"
      absent+=("terraform-provider-${type}_v${version}")
      continue
    fi
  fi
  mirrored=$((mirrored + 1))
  # OpenTofu and Terraform resolve hashicorp/<type> against different default registries.
  for host in registry.opentofu.org registry.terraform.io; do
    dir="$cache/mirror/$host/hashicorp/$type/$version/$arch"
    mkdir -p "$dir"
    ln -sf "$built" "$dir/terraform-provider-${type}_v${version}"
  done
done

cli_config="$cache/cli.tfrc"
cat >"$cli_config.tmp" <<CFG
provider_installation {
  filesystem_mirror {
    path    = "$cache/mirror"
    include = ["registry.opentofu.org/hashicorp/*", "registry.terraform.io/hashicorp/*"]
  }
  direct {
    exclude = ["registry.opentofu.org/hashicorp/*", "registry.terraform.io/hashicorp/*"]
  }
}
CFG
mv "$cli_config.tmp" "$cli_config"

log "using $("$engine_bin" version 2>/dev/null | grep -m1 -E "^(OpenTofu|Terraform) v") at $engine_bin"
log "providers in the local mirror: $mirrored of ${#providers[@]}"
log "ready in $(( $(date +%s) - started ))s"

if [ "$want_env" = 1 ]; then
  echo "TERRAFORM_BINARY_NAME=$(basename "$engine_bin")"
  echo "KINDHA_ENGINE_BIN=$engine_bin"
  echo "KINDHA_ENGINE_PATH=$(dirname "$engine_bin")"
  # Only a complete mirror replaces the registry.
  if [ "$mirrored" -ne "${#providers[@]}" ]; then
  log "missing providers: ${absent[*]} (set KINDHA_PROVIDER_DIR to a directory holding them)"
  exit 1
fi && echo "TF_CLI_CONFIG_FILE=$cli_config"
fi
[ "$mirrored" -eq "${#providers[@]}" ]
