#!/usr/bin/env bash
# Checks, before a cluster is created, that this host can run it: docker reachable, kind and
# kubectl present, and CPU and memory (as docker reports them) at least the stack's budget.
# Prints one line per failure and exits 1 if any; creates nothing.
#
# Env: KINDHA_REQUIRED_CPUS, KINDHA_REQUIRED_MEMORY_GIB (the budget);
#      KINDHA_ALLOW_OVERCOMMIT=1 to proceed when the host is smaller than the budget;
#      KINDHA_ALLOW_CGROUP_V1=1 when the stack's kind config lets kubelet run on cgroup v1;
#      KINDHA_KIND_VERSION: the kind release to name when kind is missing;
#      KINDHA_DATA_DIR (the host directory of the cluster's volumes; empty: none) and
#      KINDHA_CLUSTER_NAME: the directory must be creatable or writable, and not another cluster's
#      (by its owner file KINDHA_DATA_OWNER_FILE);
#      KINDHA_HOST_PORTS: the host ports the `ports` setting publishes (address:port/protocol,
#      space-separated), each of which must be free;
#      KINDHA_REGISTRY_NAME (and the rest of registry.sh's env): the machine's registry must be able
#      to serve this stack (registry.sh check); empty: the stack uses none.
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"

required_cpus="${KINDHA_REQUIRED_CPUS:?KINDHA_REQUIRED_CPUS is not set}"
required_gib="${KINDHA_REQUIRED_MEMORY_GIB:?KINDHA_REQUIRED_MEMORY_GIB is not set}"
failures=()

command -v kind >/dev/null 2>&1 || failures+=("kind is not installed or not on PATH (install kind ${KINDHA_KIND_VERSION:-of the version kindha pins}: https://kind.sigs.k8s.io/docs/user/quick-start/)")
command -v kubectl >/dev/null 2>&1 || failures+=("kubectl is not installed or not on PATH (needed to wait for and verify the cluster)")
command -v jq >/dev/null 2>&1 || failures+=("jq is not installed or not on PATH (etcd.sh reads etcdctl's JSON with it to check etcd after create)")

if ! command -v docker >/dev/null 2>&1; then
  failures+=("docker is not installed or not on PATH (kind runs every node as a docker container)")
elif ! info=$(docker info --format '{{.NCPU}} {{.MemTotal}} {{.CgroupVersion}}' 2>&1); then
  failures+=("docker is not reachable: $(printf '%s' "$info" | grep -v '^$' | tail -n 1) (is the docker daemon running, and may this user use it?)")
else
  read -r host_cpus host_mem_bytes cgroup_version <<<"$info"
  if [ "$cgroup_version" = "1" ] && [ "${KINDHA_ALLOW_CGROUP_V1:-0}" != "1" ]; then
    failures+=("docker runs on a cgroup v1 host, and kubelet v1.35+ refuses to start there; set allowCgroupV1: true for this stack (kindha.config.yaml) to configure kubelet with failCgroupV1: false")
  fi
  host_gib=$(( host_mem_bytes / 1073741824 ))
  short=()
  (( host_cpus >= required_cpus )) || short+=("$host_cpus CPUs, the stack plans $required_cpus")
  (( host_gib >= required_gib )) || short+=("$host_gib GiB of memory, the stack plans $required_gib GiB")
  if (( ${#short[@]} > 0 )); then
    msg="docker reports $(IFS=';'; echo "${short[*]}" | sed 's/;/ and /')"
    if [ "${KINDHA_ALLOW_OVERCOMMIT:-0}" = "1" ]; then
      echo "preflight: warning: $msg; continuing because KINDHA_ALLOW_OVERCOMMIT=1" >&2
    else
      failures+=("$msg; free resources, pick a smaller stack, or set KINDHA_ALLOW_OVERCOMMIT=1 to over-commit knowingly")
    fi
  fi
fi

data_dir="${KINDHA_DATA_DIR:-}"
if [ -n "$data_dir" ]; then
  cluster="${KINDHA_CLUSTER_NAME:?KINDHA_CLUSTER_NAME is not set}"
  owner_file="$data_dir/${KINDHA_DATA_OWNER_FILE:?KINDHA_DATA_OWNER_FILE is not set}"
  if [ -e "$data_dir" ] && [ ! -d "$data_dir" ]; then
    failures+=("data directory $data_dir exists and is not a directory; move it away or set dataDir to another path")
  elif [ -d "$data_dir" ]; then
    if [ ! -w "$data_dir" ] || [ ! -x "$data_dir" ]; then
      failures+=("data directory $data_dir is not writable by $(id -un); fix its owner or mode, or set dataDir to another path")
    elif [ -f "$owner_file" ] && [ "$(head -c 256 "$owner_file")" != "$cluster" ]; then
      failures+=("data directory $data_dir belongs to cluster $(head -c 256 "$owner_file" | tr -cd '[:alnum:]-'), not $cluster; set dataDir to another path (its volumes are kept)")
    fi
  else
    parent="$data_dir"
    while [ ! -e "$parent" ]; do parent="$(dirname "$parent")"; done
    if [ ! -d "$parent" ] || [ ! -w "$parent" ] || [ ! -x "$parent" ]; then
      failures+=("data directory $data_dir cannot be created: $parent is not a writable directory for $(id -un); set dataDir to another path")
    fi
  fi
fi

# Each host port a `ports` mapping publishes (address:port/protocol) must be free: kind would fail
# half-way, after the node containers exist.
for mapping in ${KINDHA_HOST_PORTS:-}; do
  proto="${mapping##*/}" hostport="${mapping%/*}"
  port="${hostport##*:}"
  case "$proto" in TCP) flag=-t ;; UDP) flag=-u ;; SCTP) flag=-S ;; *) failures+=("host port $mapping: unknown protocol $proto"); continue ;; esac
  if ! command -v ss >/dev/null 2>&1; then
    failures+=("ss (iproute2) is not installed; it tells whether host port $hostport/$proto is free")
  elif [ -n "$(ss -H -ln "$flag" "( sport = :$port )" 2>/dev/null)" ]; then
    failures+=("host port $hostport/$proto (setting ports) is in use on this host; free it or choose another hostPort")
  fi
done

# Asked only of a reachable docker (host_cpus is set then).
if [ -n "${KINDHA_REGISTRY_NAME:-}" ] && [ -n "${host_cpus:-}" ]; then
  while IFS= read -r problem; do failures+=("$problem"); done < <(bash "$here/registry.sh" check 2>&1 || true)
fi

if (( ${#failures[@]} > 0 )); then
  for f in "${failures[@]}"; do echo "preflight: $f" >&2; done
  echo "preflight: nothing was created" >&2
  exit 1
fi
echo "preflight: ok (docker, kind, kubectl; budget $required_cpus CPUs / $required_gib GiB${data_dir:+; data in $data_dir})" >&2
