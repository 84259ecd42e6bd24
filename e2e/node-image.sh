#!/usr/bin/env bash
# Builds the kind node images kindha.local/node:<Kubernetes version> (for kind v0.32.0) and the
# images the clusters need, from Debian packages and Go modules only: nothing is pulled from a
# container registry, and no source is copied into this repository.
#
#   e2e/node-image.sh [--all | VERSION...]  build what is missing or stale (npm run e2e:image);
#                                           default: the clusters' version (v1.36.1); --all adds
#                                           every version below (v1.37.2, what upgrades roll to)
#   e2e/node-image.sh --print [--all | VERSION...]  print the image names, build nothing
#
# Every piece is cached under $KINDHA_CACHE/e2e (default ~/.cache/kindha/e2e) by a content key:
# the versions below, the Go toolchain and the text of the function that builds it; images carry
# their key as a label. A second run with nothing changed takes seconds.
#
# Images (docker):
#   kindha.local/node:<version>          the node: Debian bookworm, systemd, kind's base files,
#                                        containerd, runc, crictl, CNI plugins, kubeadm, kubelet,
#                                        kubectl, and these images pre-loaded into containerd:
#   registry.k8s.io/kube-{apiserver,controller-manager,scheduler,proxy}:<version>, and etcd,
#   coredns and pause exactly as that version's kubeadm lists them (see k8s_pins; v1.36.1:
#   etcd:3.6.8-0, coredns/coredns:v1.14.2, pause:3.10.2), pause also as :3.10 (the sandbox
#   image kind's containerd config names),
#   kindha.local/podnet:v1 (the pod network, see image/podnet.sh), kindha.local/tools:bookworm
#   (a Debian shell image: the backup CronJob's shell, the storage helper pods and the tests'
#   pods), kindha.local/local-path-provisioner:v0.0.30 (dynamic volumes, the class `standard`,
#   installed from /kind/manifests/default-storage.yaml as kindest/node does)
#   docker.io/envoyproxy/envoy:v1.36.2   stand-in for kind's HA load balancer: haproxy driven by
#                                        the Envoy xDS files kind writes (see image/envoy)
#   kindha.local/postgres:15             PostgreSQL from Debian (image/postgres): the test tiers'
#                                        database, pre-loaded too (no registry serves it, and a
#                                        cluster that migrate creates must find it)
#   kindha.local/registry:2.8.2          the machine's local image registry (scripts/registry.sh):
#                                        distribution from Debian's docker-registry (image/registry);
#                                        a host container, not pre-loaded into the nodes
# Needs root (debootstrap), go, gcc, a running Docker engine (e2e/docker-engine.sh start).
set -euo pipefail
E2E_LOG_PREFIX=e2e:image
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

# Kubernetes versions built by default; the first is the one the clusters are created at.
K8S_VERSIONS=(v1.36.1 v1.37.2)
# The kind release is written once, in lib/model/defaults.ts.
KIND_VERSION=$(sed -n 's/^export const KIND_VERSION = "\(v[0-9.]*\)";$/\1/p' "$(dirname "${BASH_SOURCE[0]}")/../lib/model/defaults.ts")
[ -n "$KIND_VERSION" ] || die "cannot read KIND_VERSION from lib/model/defaults.ts"
CONTAINERD_VERSION=v2.3.1
RUNC_VERSION=v1.4.2
CRICTL_VERSION=v1.37.0   # kind pins v1.36.0, which the Go module proxy does not serve
CNI_VERSION=v1.9.1
LOCAL_PATH_VERSION=v0.0.30   # the newest the Go module proxy serves (kind v0.32 ships v0.0.34)
DEBIAN_SUITE=bookworm

LB_IMAGE=docker.io/envoyproxy/envoy:v1.36.2
TOOLS_IMAGE=kindha.local/tools:$DEBIAN_SUITE
PODNET_IMAGE=kindha.local/podnet:v1
LOCAL_PATH_IMAGE=kindha.local/local-path-provisioner:$LOCAL_PATH_VERSION
POSTGRES_IMAGE=kindha.local/postgres:15
# The registry's image is named once, in lib/model/registry.ts.
REGISTRY_IMAGE=$(sed -n 's/^  image: "\(kindha.local\/registry:[0-9.]*\)",$/\1/p' "$(dirname "${BASH_SOURCE[0]}")/../lib/model/registry.ts")
[ -n "$REGISTRY_IMAGE" ] || die "cannot read the registry's image from lib/model/registry.ts"
REG=registry.k8s.io
KIND_SANDBOX_IMAGE=$REG/pause:3.10

# k8s_pins VERSION: sets the images one Kubernetes version's kubeadm asks for (checked at build
# against `kubeadm config images list`).
k8s_pins() {
  K8S_VERSION="$1"
  case "$K8S_VERSION" in
    v1.36.1) ETCD_VERSION=v3.6.8 COREDNS_VERSION=v1.14.2 PAUSE_VERSION=3.10.2 ;;
    v1.37.2) ETCD_VERSION=v3.7.0 COREDNS_VERSION=v1.14.6 PAUSE_VERSION=3.10.2 ;;
    *) die "no pins for Kubernetes $K8S_VERSION (known: ${K8S_VERSIONS[*]}); add them to k8s_pins" ;;
  esac
  NODE_IMAGE=kindha.local/node:$K8S_VERSION
  ETCD_IMAGE=$REG/etcd:${ETCD_VERSION#v}-0
  COREDNS_IMAGE=$REG/coredns/coredns:$COREDNS_VERSION
  PAUSE_IMAGE=$REG/pause:$PAUSE_VERSION
}

NODE_PACKAGES=systemd,systemd-sysv,dbus,conntrack,iptables,nftables,iproute2,ethtool,util-linux,mount,kmod,libseccomp2,pigz,bash,ca-certificates,curl,jq,procps,e2fsprogs
TOOLS_PACKAGES=bash,iptables,nftables,conntrack,iproute2,haproxy,busybox,ca-certificates,curl,jq,procps
POSTGRES_PACKAGES=bash,postgresql,procps
REGISTRY_PACKAGES=docker-registry

image_dir="$E2E_DIR/image"

build_kind() { GOBIN="$1" CGO_ENABLED=0 go install "sigs.k8s.io/kind@$KIND_VERSION"; }

build_kubernetes() {
  local work ld="-s -w" p; work=$(mktemp -d)
  module_copy "k8s.io/kubernetes@$K8S_VERSION" "$work/src"
  # The release pins its staging modules as ./staging/src/k8s.io/X, absent from the module zip.
  pin_local_replaces "$work/src" "v0${K8S_VERSION#v1}"
  local minor=${K8S_VERSION#v1.}; minor=${minor%%.*}
  for p in k8s.io/component-base/version k8s.io/client-go/pkg/version; do
    ld="$ld -X $p.gitVersion=$K8S_VERSION -X $p.gitMajor=1 -X $p.gitMinor=$minor -X $p.gitTreeState=clean"
  done
  (cd "$work/src" && GOWORK=off GOFLAGS=-mod=mod CGO_ENABLED=0 go build -trimpath -ldflags "$ld" -o "$1/" \
    ./cmd/kubeadm ./cmd/kubelet ./cmd/kubectl ./cmd/kube-apiserver ./cmd/kube-controller-manager \
    ./cmd/kube-scheduler ./cmd/kube-proxy) || { chmod -R u+w "$work"; rm -rf "$work"; die "building Kubernetes failed"; }
  chmod -R u+w "$work"; rm -rf "$work"
}

build_containerd() {
  CGO_ENABLED=0 go_build_module "github.com/containerd/containerd/v2@$CONTAINERD_VERSION" "$1" \
    -tags "no_btrfs no_devmapper no_zfs no_aufs" \
    -ldflags "-s -w -X github.com/containerd/containerd/v2/version.Version=$CONTAINERD_VERSION" \
    ./cmd/containerd ./cmd/containerd-shim-runc-v2 ./cmd/ctr
}

# runc with seccomp, linked statically against Debian's libseccomp (libseccomp-dev).
build_runc() {
  [ -f /usr/lib/x86_64-linux-gnu/libseccomp.a ] || [ -n "$(find /usr/lib -name libseccomp.a 2>/dev/null | head -1)" ] \
    || die "libseccomp-dev is not installed (apt-get install libseccomp-dev); runc needs it"
  CGO_ENABLED=1 go_build_module "github.com/opencontainers/runc@$RUNC_VERSION" "$1" \
    -tags "seccomp netgo osusergo" \
    -ldflags "-s -w -X main.version=${RUNC_VERSION#v} -extldflags -static" .
}

build_crictl() { CGO_ENABLED=0 go_build_module "sigs.k8s.io/cri-tools@$CRICTL_VERSION" "$1" -ldflags "-s -w -X sigs.k8s.io/cri-tools/pkg/version.Version=$CRICTL_VERSION" ./cmd/crictl; }

build_cni() {
  CGO_ENABLED=0 go_build_module "github.com/containernetworking/plugins@$CNI_VERSION" "$1" -ldflags "-s -w" \
    ./plugins/main/ptp ./plugins/ipam/host-local ./plugins/main/loopback ./plugins/meta/portmap
}

build_etcd() {
  local v=$ETCD_VERSION
  # go names a binary after the last path element that is not a major-version suffix.
  CGO_ENABLED=0 go_build_module "go.etcd.io/etcd/server/v3@$v" "$1" -ldflags "-s -w" .
  mv "$1/server" "$1/etcd"
  CGO_ENABLED=0 go_build_module "go.etcd.io/etcd/etcdctl/v3@$v" "$1" -ldflags "-s -w" .
  CGO_ENABLED=0 go_build_module "go.etcd.io/etcd/etcdutl/v3@$v" "$1" -ldflags "-s -w" .
}

build_local_path() { CGO_ENABLED=0 go_build_module "github.com/rancher/local-path-provisioner@$LOCAL_PATH_VERSION" "$1" -ldflags "-s -w -X main.VERSION=$LOCAL_PATH_VERSION" .; }

build_coredns() { CGO_ENABLED=0 go_build_module "github.com/coredns/coredns@$COREDNS_VERSION" "$1" -ldflags "-s -w" .; }

build_pause() {
  local src; src=$(go_module_dir "k8s.io/kubernetes@$K8S_VERSION")
  gcc -Os -Wall -Werror -static -DVERSION="v$PAUSE_VERSION" -o "$1/pause" "$src/build/pause/linux/pause.c"
}

# The Debian mirror apt uses on this machine (debootstrap needs one).
debian_mirror() {
  local m
  m=$(awk '/^URIs:/ {print $2; exit}' /etc/apt/sources.list.d/*.sources 2>/dev/null | grep -v security | head -1 || true)
  [ -n "$m" ] || m=$(awk '$1 == "deb" && $0 !~ /security/ {print $2; exit}' /etc/apt/sources.list 2>/dev/null || true)
  [ -n "$m" ] || die "no Debian mirror found in /etc/apt/sources.list*; debootstrap needs one"
  printf '%s\n' "$m"
}

# rootfs NAME PACKAGES: a debootstrap'ed Debian root filesystem as a tarball (cached); prints it.
rootfs() {
  local name="$1" packages="$2" key tarball dir
  key=$(content_key "$name $DEBIAN_SUITE $packages $(declare -f rootfs)")
  tarball="$cache/rootfs/$name-$DEBIAN_SUITE-$key.tar"
  if [ ! -f "$tarball" ]; then
    need debootstrap
    [ "$(id -u)" = 0 ] || die "debootstrap needs root"
    dir=$(mktemp -d)
    mkdir -p "$cache"
    step "debootstrap $name ($DEBIAN_SUITE)" quiet "$cache/debootstrap-$name.log" \
      debootstrap --variant=minbase --include="$packages" "$DEBIAN_SUITE" "$dir" "$(debian_mirror)" || { tail -n 20 "$cache/debootstrap-$name.log" >&2; rm -rf "$dir"; die "debootstrap $name failed (log $cache/debootstrap-$name.log)"; }
    rm -rf "$dir"/var/cache/apt/archives/*.deb "$dir"/var/lib/apt/lists/*
    mkdir -p "$(dirname "$tarball")"
    tar -C "$dir" -cf "$tarball.tmp" . && mv "$tarball.tmp" "$tarball"
    rm -rf "$dir"
  fi
  printf '%s\n' "$tarball"
}

# registry_version IMAGE: the registry image's tag is the version of Debian's docker-registry in it.
registry_version() {
  local have; have=$(docker run --rm --entrypoint dpkg-query "$1" -W -f '${Version}' docker-registry)
  [[ "$have" == "${REGISTRY_IMAGE##*:}+"* ]] || die "Debian's docker-registry is $have, and lib/model/registry.ts names ${REGISTRY_IMAGE}; update the name"
}

# import_rootfs IMAGE TARBALL: a base image from a root filesystem tarball.
import_rootfs() {
  local image="$1" tarball="$2" key; key=$(basename "$tarball" .tar)
  if [ "$(image_key "$image")" = "$key" ]; then return 0; fi
  step "docker import $image" docker import --change "LABEL io.kindha.key=$key" \
    --change 'ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin' "$tarball" "$image" >/dev/null
}

main() {
  need go gcc docker tar sha256sum
  timeout 10 docker info >/dev/null 2>&1 || die "no Docker engine answers; start one with e2e/docker-engine.sh start"
  local t0=$SECONDS v
  mkdir -p "$cache"

  local kind ctrd runc crictl cni local_path
  kind=$(cached kind "$KIND_VERSION" build_kind)
  ctrd=$(cached containerd "$CONTAINERD_VERSION" build_containerd)
  runc=$(cached runc "$RUNC_VERSION" build_runc)
  crictl=$(cached crictl "$CRICTL_VERSION" build_crictl)
  cni=$(cached cni-plugins "$CNI_VERSION" build_cni)
  local_path=$(cached local-path-provisioner "$LOCAL_PATH_VERSION" build_local_path)

  local node_tar tools_tar postgres_tar registry_tar
  node_tar=$(rootfs node "$NODE_PACKAGES")
  tools_tar=$(rootfs tools "$TOOLS_PACKAGES")
  postgres_tar=$(rootfs postgres "$POSTGRES_PACKAGES")
  registry_tar=$(rootfs registry "$REGISTRY_PACKAGES")
  import_rootfs kindha.local/rootfs-node:$DEBIAN_SUITE "$node_tar"
  import_rootfs "$TOOLS_IMAGE" "$tools_tar"
  import_rootfs kindha.local/rootfs-postgres:$DEBIAN_SUITE "$postgres_tar"
  import_rootfs kindha.local/rootfs-registry:$DEBIAN_SUITE "$registry_tar"
  registry_version "kindha.local/rootfs-registry:$DEBIAN_SUITE"
  file_image "$REGISTRY_IMAGE" kindha.local/rootfs-registry:$DEBIAN_SUITE '["/usr/local/bin/registry"]' "$image_dir/registry:registry"
  file_image "$POSTGRES_IMAGE" kindha.local/rootfs-postgres:$DEBIAN_SUITE '["/usr/local/bin/postgres-entrypoint"]' "$image_dir/postgres:postgres-entrypoint"
  file_image "$PODNET_IMAGE" "$TOOLS_IMAGE" '["/usr/local/bin/podnet"]' "$image_dir/podnet.sh:podnet"
  file_image "$LB_IMAGE" "$TOOLS_IMAGE" "" "$image_dir/envoy:envoy"
  file_image "$LOCAL_PATH_IMAGE" "$TOOLS_IMAGE" "" "$local_path/local-path-provisioner"

  local k8s=""
  for v in "${versions[@]}"; do
    k8s_pins "$v"
    k8s=$(version_images)
    node_image "$kind" "$k8s" "$ctrd" "$runc" "$crictl" "$cni"
  done
  # Earlier builds of these images, now untagged, would pile up on disk.
  docker image prune -f --filter label=io.kindha.key >/dev/null
  # The tools the cluster tier runs: kind, and the kubectl of the clusters' version.
  k8s_pins "${versions[0]}"
  k8s=$(cached kubernetes "$K8S_VERSION" build_kubernetes)
  mkdir -p "$cache/tools"
  ln -sfn "$kind/kind" "$cache/tools/kind"
  ln -sfn "$k8s/kubectl" "$cache/tools/kubectl"
  log "all images ready in $((SECONDS - t0))s: ${versions[*]/#/kindha.local/node:}, $LB_IMAGE"
  echo "KIND=$kind/kind"
  echo "KUBECTL=$k8s/kubectl"
}

# version_images: builds the Kubernetes binaries and the images of the version k8s_pins set, checks
# them against what its kubeadm asks for; prints the Kubernetes binaries' directory.
version_images() {
  local k8s etcd coredns pause c want have
  k8s=$(cached kubernetes "$K8S_VERSION" build_kubernetes)
  etcd=$(cached etcd "$ETCD_VERSION" build_etcd)
  coredns=$(cached coredns "$COREDNS_VERSION" build_coredns)
  pause=$(cached pause "$PAUSE_VERSION" build_pause)
  # kubeadm must ask for exactly the images built here, or a node would try to pull.
  want=$(printf '%s\n' "$REG/kube-apiserver:$K8S_VERSION" "$REG/kube-controller-manager:$K8S_VERSION" \
    "$REG/kube-scheduler:$K8S_VERSION" "$REG/kube-proxy:$K8S_VERSION" "$COREDNS_IMAGE" "$PAUSE_IMAGE" "$ETCD_IMAGE" | sort)
  have=$("$k8s/kubeadm" config images list --kubernetes-version "$K8S_VERSION" 2>/dev/null | sort)
  [ "$want" = "$have" ] || die "kubeadm $K8S_VERSION asks for other images than this script builds:"$'\n'"$have"
  for c in kube-apiserver kube-controller-manager kube-scheduler; do
    file_image "$REG/$c:$K8S_VERSION" scratch "" "$k8s/$c" >&2
  done
  file_image "$ETCD_IMAGE" scratch "" "$etcd/etcd" "$etcd/etcdctl" "$etcd/etcdutl" >&2
  file_image "$COREDNS_IMAGE" scratch '["/usr/local/bin/coredns"]' "$coredns/coredns" >&2
  file_image "$PAUSE_IMAGE" scratch '["/usr/local/bin/pause"]' "$pause/pause" >&2
  file_image "$REG/kube-proxy:$K8S_VERSION" "$TOOLS_IMAGE" "" "$k8s/kube-proxy" >&2
  printf '%s\n' "$k8s"
}

# The images a node pre-loads, in the names kubeadm and the manifests use.
preloaded_images() {
  printf '%s\n' "$REG/kube-apiserver:$K8S_VERSION" "$REG/kube-controller-manager:$K8S_VERSION" \
    "$REG/kube-scheduler:$K8S_VERSION" "$REG/kube-proxy:$K8S_VERSION" "$ETCD_IMAGE" "$COREDNS_IMAGE" \
    "$PAUSE_IMAGE" "$PODNET_IMAGE" "$TOOLS_IMAGE" "$LOCAL_PATH_IMAGE" "$POSTGRES_IMAGE"
}

node_image() {
  local kind="$1" k8s="$2" ctrd="$3" runc="$4" crictl="$5" cni="$6"
  local ctx key img ids=""
  for img in $(preloaded_images) kindha.local/rootfs-node:$DEBIAN_SUITE; do ids="$ids $(docker image inspect -f '{{.Id}}' "$img")"; done
  # Of image/, the node holds default-cni.yaml; podnet, envoy and postgres count through their images' ids.
  key=$(content_key "node $ids $(declare -f node_image) $(declare -f node_context) $(declare -f storage_manifest)" \
    "$ctrd/containerd" "$runc/runc" "$crictl/crictl" "$k8s/kubelet" "$k8s/kubeadm" "$k8s/kubectl" "$image_dir/default-cni.yaml")
  if [ "$(image_key "$NODE_IMAGE")" = "$key" ]; then log "$NODE_IMAGE is current ($key)"; return 0; fi

  ctx=$(mktemp -d)
  node_context "$ctx" "$@"
  step "docker build node base" quiet "$cache/docker-build.log" docker build -t kindha.local/node-base:build "$ctx" \
    || { tail -n 30 "$cache/docker-build.log" >&2; die "docker build of the node base failed"; }
  rm -rf "$ctx"

  # Pre-load images as kind does: containerd in a build container, `ctr import --no-unpack`.
  local id="kindha-node-build-$$" stale
  # A build container left by an interrupted run, and ours on any exit (die exits the script).
  stale=$(docker ps -aq --filter name=kindha-node-build-)
  [ -z "$stale" ] || docker rm -f $stale >/dev/null
  trap 'docker rm -f "'"$id"'" >/dev/null 2>&1 || true' EXIT
  docker run -d --name "$id" --privileged --entrypoint=sleep kindha.local/node-base:build infinity >/dev/null
  docker exec "$id" bash -c 'nohup containerd >/dev/null 2>&1 & for i in $(seq 1 30); do [ -S /run/containerd/containerd.sock ] && ctr version >/dev/null 2>&1 && exit 0; sleep 1; done; exit 1' \
    || die "containerd did not start in the build container"
  step "pre-load $(preloaded_images | wc -l) images" quiet "$cache/preload.log" bash -c '
    for img in "${@:2}"; do
      docker save "$img" | docker exec -i "$1" ctr --namespace=k8s.io images import --label=io.cri-containerd.pinned=pinned --all-platforms --no-unpack --digests - || exit 1
    done' _ "$id" $(preloaded_images) || { tail -n 20 "$cache/preload.log" >&2; die "pre-loading images failed"; }
  docker exec "$id" ctr --namespace=k8s.io images tag --force "$PAUSE_IMAGE" "$KIND_SANDBOX_IMAGE" >/dev/null 2>&1
  # The imported names must be exactly the ones kubeadm and the manifests use.
  local missing="" listed
  listed=$(docker exec "$id" ctr --namespace=k8s.io images list -q 2>/dev/null)
  for img in $(preloaded_images) "$KIND_SANDBOX_IMAGE"; do
    grep -qx -- "$(docker_ref "$img")" <<<"$listed" || missing="$missing $img"
  done
  [ -z "$missing" ] || die "not pre-loaded:$missing"
  docker exec "$id" pkill containerd || true
  sleep 1
  step "commit $NODE_IMAGE" docker commit \
    --change 'ENTRYPOINT [ "/usr/local/bin/entrypoint", "/sbin/init" ]' --change 'CMD []' \
    --change "LABEL io.kindha.key=$key" "$id" "$NODE_IMAGE" >/dev/null
  docker rmi kindha.local/node-base:build >/dev/null 2>&1 || true
}

# The reference containerd records for a docker image name (docker.io/library/... for short names).
docker_ref() {
  local r="$1"
  case "${r%%/*}" in *.*|*:*|localhost) ;; *) r="docker.io/$r" ;; esac
  case "$r" in docker.io/*/*) ;; docker.io/*) r="docker.io/library/${r#docker.io/}" ;; esac
  printf '%s\n' "$r"
}

# kind's own storage manifest (read from the kind module, as kindest/node ships it), naming this
# project's provisioner image and the tools image as the helper (it has the /bin/sh the volume
# setup and teardown scripts run).
storage_manifest() {
  local src out
  src="$(go_module_dir "sigs.k8s.io/kind@$KIND_VERSION")/pkg/build/nodeimage/const_storage.go"
  out=$(awk '/^const defaultStorageManifest = `$/ {on = 1; next} on && /^`$/ {exit} on' "$src" |
    sed -e "s|\` + storageProvisionerImage + \`|$LOCAL_PATH_IMAGE|" -e "s|\` + storageHelperImage + \`|$TOOLS_IMAGE|")
  grep -q "image: $LOCAL_PATH_IMAGE" <<<"$out" && grep -q -- "- $TOOLS_IMAGE" <<<"$out" && ! grep -q '`' <<<"$out" \
    || die "kind $KIND_VERSION's storage manifest has changed shape ($src); update storage_manifest"
  printf '%s\n' "$out"
}

# node_context DIR KIND K8S CONTAINERD RUNC CRICTL CNI: the docker build context of the node.
node_context() {
  local ctx="$1" kind="$2" k8s="$3" ctrd="$4" runc="$5" crictl="$6" cni="$7"
  local base; base="$(go_module_dir "sigs.k8s.io/kind@$KIND_VERSION")/images/base/files"
  mkdir -p "$ctx/files/usr/bin" "$ctx/files/usr/local/bin" "$ctx/files/usr/local/sbin" "$ctx/files/opt/cni/bin" "$ctx/files/kind/manifests"
  cp -r "$base/." "$ctx/files/"
  chmod -R u+w "$ctx/files"
  # Nested containers need CAP_SYS_RESOURCE to lower oom_score_adj, which these VMs lack.
  sed -i 's/^\([[:space:]]*restrict_oom_score_adj[[:space:]]*=\).*/\1 true/' "$ctx/files/etc/containerd/config.toml"
  grep -q 'restrict_oom_score_adj = true' "$ctx/files/etc/containerd/config.toml" || die "kind's containerd config has no restrict_oom_score_adj to set"
  cp "$k8s/kubeadm" "$k8s/kubelet" "$k8s/kubectl" "$ctx/files/usr/bin/"
  cp "$ctrd/containerd" "$ctrd/containerd-shim-runc-v2" "$ctrd/ctr" "$crictl/crictl" "$ctx/files/usr/local/bin/"
  cp "$runc/runc" "$ctx/files/usr/local/sbin/runc"
  cp "$cni/ptp" "$cni/host-local" "$cni/loopback" "$cni/portmap" "$ctx/files/opt/cni/bin/"
  printf '%s' "$K8S_VERSION" >"$ctx/files/kind/version"
  cp "$image_dir/default-cni.yaml" "$ctx/files/kind/manifests/"
  storage_manifest >"$ctx/files/kind/manifests/default-storage.yaml"
  cat >"$ctx/Dockerfile" <<DOCKERFILE
FROM kindha.local/rootfs-node:$DEBIAN_SUITE
COPY files/ /
RUN chmod 755 /kind /kind/bin /kind/bin/* /usr/local/bin/* /usr/local/sbin/runc /opt/cni/bin/* /usr/bin/kube* \\
 && ctr oci spec | jq '.hooks.createContainer[.hooks.createContainer | length] |= . + {"path": "/kind/bin/mount-product-files.sh"}' \\
    | jq 'del(.process.rlimits)' >/etc/containerd/cri-base.json \\
 && find /lib/systemd/system/sysinit.target.wants/ -name systemd-tmpfiles-setup.service -delete \\
 && rm -f /lib/systemd/system/multi-user.target.wants/* /etc/systemd/system/*.wants/* \\
    /lib/systemd/system/local-fs.target.wants/* /lib/systemd/system/sockets.target.wants/*udev* \\
    /lib/systemd/system/sockets.target.wants/*initctl* /lib/systemd/system/basic.target.wants/* \\
 && echo "ReadKMsg=no" >>/etc/systemd/journald.conf \\
 && ln -sf /usr/lib/systemd/systemd /sbin/init \\
 && systemctl enable kubelet.service containerd.service undo-mount-hacks.service \\
 && systemctl mask systemd-binfmt.service \\
 && mkdir -p /etc/kubernetes/manifests
ENV container=docker
STOPSIGNAL SIGRTMIN+3
ENTRYPOINT [ "/usr/local/bin/entrypoint", "/sbin/init" ]
DOCKERFILE
}

usage() { echo "usage: e2e/node-image.sh [--print] [--all | VERSION...] (versions: ${K8S_VERSIONS[*]})" >&2; exit 2; }
print=0
case "${1:-}" in
  -h|--help) sed -n '2,/^set -euo/p' "$0" | sed '$d; s/^# \{0,1\}//'; exit 0 ;;
  --print) print=1; shift ;;
esac
versions=("$@")
if [ "${1:-}" = --all ]; then versions=("${K8S_VERSIONS[@]}"); (( $# == 1 )) || usage; fi
[[ "${1:-}" != -* || "${1:-}" = --all ]] || usage
(( ${#versions[@]} > 0 )) || versions=("${K8S_VERSIONS[0]}")
for v in "${versions[@]}"; do [[ "$v" =~ ^v[0-9]+\.[0-9]+\.[0-9]+$ ]] || usage; (k8s_pins "$v"); done
if (( print )); then
  echo "$LB_IMAGE"
  echo "$REGISTRY_IMAGE"
  for v in "${versions[@]}"; do k8s_pins "$v"; echo "$NODE_IMAGE"; preloaded_images; done | awk '!seen[$0]++'
else
  main
fi
