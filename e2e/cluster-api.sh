#!/usr/bin/env bash
# Builds what a management cluster runs for the cluster-api target, from Go modules and Debian
# packages only (nothing is pulled from a container registry, no source is copied here):
#
#   e2e/cluster-api.sh          build what is missing or stale (npm run e2e:cluster-api)
#   e2e/cluster-api.sh --print  print the images and the components file, build nothing
#
# Images (docker), loaded into the management cluster by `npm run cluster-api -- install`:
#   kindha.local/cluster-api-controller:v1.13.6             Cluster API core   (sigs.k8s.io/cluster-api)
#   kindha.local/kubeadm-bootstrap-controller:v1.13.6       kubeadm bootstrap  (same module)
#   kindha.local/kubeadm-control-plane-controller:v1.13.6   kubeadm control plane (same module)
#   kindha.local/capd-manager:v1.13.7                       CAPD (sigs.k8s.io/cluster-api/test; its
#                                                           `replace sigs.k8s.io/cluster-api => ../`
#                                                           pinned to v1.13.6, the core it runs with)
# and, used by CAPD on this machine's Docker engine:
#   kindha.local/haproxy:bookworm   the workload cluster's API load balancer: Debian's haproxy
#                                   behind image/capd-haproxy (a first config, and a connection
#                                   cap that fits this machine's file limit)
# Components: each provider's config/default rendered by kustomize (sigs.k8s.io/kustomize/kustomize/v5)
# into one file, $KINDHA_CACHE/e2e/cluster-api/components-<key>.yaml, as clusterctl would fetch it
# from a release (with cert-manager objects; the install makes the certificates instead).
# Everything is cached by content key (e2e/lib.sh), as for the node image; a second run takes seconds.
# Needs go and a running Docker engine with kindha.local/tools:bookworm (npm run e2e:image).
set -euo pipefail
E2E_LOG_PREFIX=e2e:cluster-api
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

CORE=sigs.k8s.io/cluster-api@v1.13.6
CAPD=sigs.k8s.io/cluster-api/test@v1.13.7
KUSTOMIZE=sigs.k8s.io/kustomize/kustomize/v5@v5.8.1
TOOLS_IMAGE=kindha.local/tools:bookworm
LB_IMAGE=kindha.local/haproxy:bookworm
# name, module, package, kustomize directory (in the module)
PROVIDERS=(
  "cluster-api-controller $CORE . config/default"
  "kubeadm-bootstrap-controller $CORE ./bootstrap/kubeadm bootstrap/kubeadm/config/default"
  "kubeadm-control-plane-controller $CORE ./controlplane/kubeadm controlplane/kubeadm/config/default"
  "capd-manager $CAPD ./infrastructure/docker infrastructure/docker/config/default"
)

image_of() { echo "kindha.local/$1:${2##*@}"; }

# build_manager OUT MODULE PACKAGE: the manager, static, as OUT/manager; CAPD's replace of its own
# repository pinned to the core it runs with.
build_manager() {
  local bin
  GO_PIN_VERSION="${CORE##*@}" CGO_ENABLED=0 go_build_module "$2" "$1" -ldflags "-s -w" "$3"
  bin=("$1"/*); mv "${bin[0]}" "$1/manager"
}

# manager_image NAME MODULE PACKAGE: the manager at /manager (where the components' Deployments
# run it) on the tools image (a shell, /tmp, CA certificates).
manager_image() {
  local name="$1" mod="$2" pkg="$3" dir ctx
  dir=$(cached "$name" "${mod##*@}" build_manager "$mod" "$pkg")
  ctx=$(mktemp -d)
  cp "$dir/manager" "$ctx/manager"
  printf 'FROM %s\nCOPY manager /manager\nENTRYPOINT ["/manager"]\n' "$TOOLS_IMAGE" >"$ctx/Dockerfile"
  docker_build "$(image_of "$name" "$mod")" "$(cd "$ctx" && content_key "$(image_key "$TOOLS_IMAGE")" Dockerfile manager)" "$ctx"
  rm -rf "$ctx"
}

# components: every provider's kustomize output, one file keyed by the modules and kustomize.
components() {
  local key file kustomize p name mod pkg dir
  key=$(content_key "$CORE $CAPD $KUSTOMIZE")
  file="$cache/cluster-api/components-$key.yaml"
  if [ ! -f "$file" ]; then
    kustomize="$cache/bin/kustomize-${KUSTOMIZE##*@}"
    [ -x "$kustomize/kustomize" ] || { mkdir -p "$kustomize"; step "build kustomize ${KUSTOMIZE##*@}" env GOBIN="$kustomize" CGO_ENABLED=0 go install "$KUSTOMIZE" >&2; }
    mkdir -p "$cache/cluster-api"
    for p in "${PROVIDERS[@]}"; do
      read -r name mod pkg dir <<<"$p"
      "$kustomize/kustomize" build "$(go_module_dir "$mod")/$dir" || die "kustomize build $mod $dir failed"
      echo "---"
    done >"$file.tmp"
    mv "$file.tmp" "$file"
    log "components rendered: $file"
  fi
  printf '%s\n' "$file"
}

main() {
  need go docker sha256sum
  timeout 10 docker info >/dev/null 2>&1 || die "no Docker engine answers; start one with e2e/docker-engine.sh start"
  docker image inspect "$TOOLS_IMAGE" >/dev/null 2>&1 || die "$TOOLS_IMAGE is missing; build it with npm run e2e:image"
  local t0=$SECONDS p name mod pkg dir file
  mkdir -p "$cache/bin"
  for p in "${PROVIDERS[@]}"; do
    read -r name mod pkg dir <<<"$p"
    manager_image "$name" "$mod" "$pkg"
  done
  file_image "$LB_IMAGE" "$TOOLS_IMAGE" '["haproxy", "-W", "-db", "-f", "/usr/local/etc/haproxy/haproxy.cfg"]' "$E2E_DIR/image/capd-haproxy:haproxy"
  file=$(components)
  docker image prune -f --filter label=io.kindha.key >/dev/null
  log "Cluster API images and components ready in $((SECONDS - t0))s"
  echo "COMPONENTS=$file"
}

if [ "${1:-}" = --print ]; then
  for p in "${PROVIDERS[@]}"; do read -r name mod _ <<<"$p"; image_of "$name" "$mod"; done
  echo "$LB_IMAGE"
  echo "$cache/cluster-api/components-$(content_key "$CORE $CAPD $KUSTOMIZE").yaml"
elif [ $# -gt 0 ]; then
  sed -n '2,/^set -euo/p' "$0" | sed '$d; s/^# \{0,1\}//'; exit 2
else
  main
fi
