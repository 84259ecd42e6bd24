#!/usr/bin/env bash
# etcd operations of kindha: member health, snapshots, restore, and the backup a stack takes
# before its kind cluster is deleted. Runs against any etcd: `local` mode calls etcdctl on this
# machine; `kind` mode calls etcdctl inside the etcd static pod of a kind control plane.
#
# The script is copied into every synthesized stack and runs from a Terraform destroy-time
# provisioner, so it depends on bash, coreutils, jq and the etcd/kubectl/docker CLIs only.
set -euo pipefail
shopt -s inherit_errexit 2>/dev/null || true
export ETCDCTL_API=3

prog="etcd.sh"

usage() {
  cat <<'EOF'
Usage: etcd.sh [connection options] <command> [arguments]

Commands:
  health [--expect N] [--strict]
      Endpoint health of every member as one JSON object on stdout:
      {"healthy","members","endpoints":[...]}. With no member healthy (no quorum: then no member
      can commit a read), "healthy" counts the members that still answer `endpoint status`.
      `npm run verify` judges it: healthy, degraded (quorum held) or quorum lost.
      --expect N counts members that did not answer at all as unhealthy.
      --strict exits 1 unless every member is healthy (create's gate).
  snapshot-save <file>
      Saves a snapshot, checks it with `snapshot status`, and renames it into place (mode 0600;
      a new parent directory is created 0700). A failed save leaves no file. Prints the path.
  snapshot-status <file>
      `snapshot status -w json` of a snapshot file (etcdutl when present, else etcdctl).
  restore <file> --name NAME --initial-cluster CLUSTER --initial-advertise-peer-urls URLS
                 --data-dir DIR [--initial-cluster-token TOKEN]
      Restores a snapshot into a new data dir on this machine (etcdutl when present, else etcdctl).
  leader
      The leader as one JSON object on stdout: {"name","id"} (member name, hex ID), from
      `member list` and `endpoint status --cluster`.
  move-leader --to NAME
      Hands leadership to member NAME (no-op when it leads already); prints the new leader.
  backup --cluster NAME --stack ID --kubeconfig FILE --backup-dir DIR [--node NODE]
      [env KINDHA_CLUSTER_NAME, KINDHA_STACK, KINDHA_KUBECONFIG, KINDHA_BACKUP_DIR, KINDHA_ETCD_POD]
      Kind mode snapshot of the first control plane's etcd to
      DIR/<cluster>-<stack>-<UTC yyyymmddThhmmssZ>.db, verified; prints the path.
      Fails when the cluster is unreachable unless KINDHA_SKIP_BACKUP=1 (then warns, exits 0).

Connection, local mode (default; --mode local or --local):
  --endpoints URLS   comma-separated client URLs       [env KINDHA_ETCD_ENDPOINTS]
  --cacert FILE      CA of the etcd server certificate  [env KINDHA_ETCD_CACERT]
  --cert FILE        client certificate                 [env KINDHA_ETCD_CERT]
  --key FILE         client key                         [env KINDHA_ETCD_KEY]
Connection, kind mode (--mode kind or --kind):
  --kubeconfig FILE  kubeconfig of the kind cluster     [env KINDHA_KUBECONFIG]
  --node NODE        control plane whose pod etcd-NODE runs etcdctl
                     [env KINDHA_ETCD_NODE, or KINDHA_ETCD_POD=etcd-NODE]
  --cluster NAME     kind cluster name; --node defaults to NAME-control-plane [env KINDHA_CLUSTER_NAME]
  --endpoints URLS   (health only) member URLs as the pod sees them; default: the member list
  Snapshots are written to the pod's /var/lib/etcd (a hostPath of the node container) and copied
  out with `<container cli> cp`, because the etcd image is distroless (no tar or cat for kubectl cp).

Environment:
  KINDHA_ETCD_MODE       local or kind (same as --mode)
  KINDHA_ETCD_TIMEOUT    etcdctl dial and command timeout (default 5s)
  KINDHA_KUBECTL_TIMEOUT upper bound of one kubectl call, in seconds (default 120)
  KINDHA_CONTAINER_CLI   docker, podman or nerdctl (default $KIND_EXPERIMENTAL_PROVIDER or docker)
  KINDHA_SKIP_BACKUP=1   let `backup` warn and exit 0 instead of failing
EOF
}

die() { echo "$prog: error: $*" >&2; exit 1; }
warn() { echo "$prog: warning: $*" >&2; }
log() { echo "$prog: $*" >&2; }

mode="${KINDHA_ETCD_MODE:-local}"
endpoints="${KINDHA_ETCD_ENDPOINTS:-}"
cacert="${KINDHA_ETCD_CACERT:-}"
cert="${KINDHA_ETCD_CERT:-}"
key="${KINDHA_ETCD_KEY:-}"
kubeconfig="${KINDHA_KUBECONFIG:-}"
node="${KINDHA_ETCD_NODE:-}"
# What the stack's provisioners set (constructs/kind-cluster.ts, constructs/etcd-cluster.ts).
pod="${KINDHA_ETCD_POD:-}"
[ -n "$node" ] || [ -z "$pod" ] || node="${pod#etcd-}"
timeout="${KINDHA_ETCD_TIMEOUT:-5s}"
kubectl_timeout="${KINDHA_KUBECTL_TIMEOUT:-120}"
source "$(dirname "${BASH_SOURCE[0]}")/container-cli.sh"

# Paths inside the kubeadm etcd static pod (kind node image).
pod_ca=/etc/kubernetes/pki/etcd/ca.crt
pod_cert=/etc/kubernetes/pki/etcd/server.crt
pod_key=/etc/kubernetes/pki/etcd/server.key
pod_dir=/var/lib/etcd

command=""
positional=()
expect=""
strict=0
name=""
initial_cluster=""
peer_urls=""
data_dir=""
token=""
cluster="${KINDHA_CLUSTER_NAME:-}"
stack="${KINDHA_STACK:-}"
backup_dir="${KINDHA_BACKUP_DIR:-}"
to=""
require_keys=0 # set by `backup`: a snapshot of a live Kubernetes cluster is never empty

while [ $# -gt 0 ]; do
  opt="$1"
  value=""
  has_value=0
  case "$opt" in --*=*) value="${opt#*=}"; opt="${opt%%=*}"; has_value=1 ;; esac
  case "$opt" in
    -h | --help) usage; exit 0 ;;
    --strict) strict=1; shift; continue ;;
    --kind | --local) mode="${opt#--}"; shift; continue ;;
    --mode | --endpoints | --cacert | --cert | --key | --kubeconfig | --node | --expect | --name | \
      --initial-cluster | --initial-advertise-peer-urls | --data-dir | --initial-cluster-token | \
      --cluster | --stack | --backup-dir | --to)
      if [ "$has_value" = 0 ]; then
        [ $# -ge 2 ] || die "$opt needs a value"
        value="$2"
        shift
      fi
      shift ;;
    -*) die "unknown option $opt (see --help)" ;;
    *)
      if [ -z "$command" ]; then command="$opt"; else positional+=("$opt"); fi
      shift
      continue ;;
  esac
  case "$opt" in
    --mode) mode="$value" ;;
    --endpoints) endpoints="$value" ;;
    --cacert) cacert="$value" ;;
    --cert) cert="$value" ;;
    --key) key="$value" ;;
    --kubeconfig) kubeconfig="$value" ;;
    --node) node="$value" ;;
    --expect) expect="$value" ;;
    --name) name="$value" ;;
    --initial-cluster) initial_cluster="$value" ;;
    --initial-advertise-peer-urls) peer_urls="$value" ;;
    --data-dir) data_dir="$value" ;;
    --initial-cluster-token) token="$value" ;;
    --cluster) cluster="$value" ;;
    --stack) stack="$value" ;;
    --backup-dir) backup_dir="$value" ;;
    --to) to="$value" ;;
  esac
done

[ -n "$command" ] || { usage >&2; die "no command given (health, snapshot-save, snapshot-status, restore, backup, leader, move-leader)"; }
case "$mode" in local | kind) ;; *) die "--mode must be local or kind, not '$mode'" ;; esac
[ -z "$expect" ] || [[ "$expect" =~ ^[1-9][0-9]*$ ]] || die "--expect must be a positive whole number, not '$expect'"

# Temporary files of this run; removed on every exit so a failed save leaves nothing behind.
tmp_file=""
err_file=""
pod_file=""
cleanup() {
  [ -z "$tmp_file" ] || rm -f "$tmp_file" "$tmp_file.part"
  [ -z "$err_file" ] || rm -f "$err_file"
  if [ -n "$pod_file" ]; then "$cli" exec "$node" rm -f "$pod_file" "$pod_file.part" >/dev/null 2>&1 || true; fi
}
trap cleanup EXIT
err_file="$(mktemp)"

# Last non-empty line of the captured stderr: the useful part of an etcdctl or kubectl failure.
last_error() { grep -v '^[[:space:]]*$' "$err_file" 2>/dev/null | grep -v '"level":"\(info\|warn\)"' | tail -n 1 || true; }

need_tool() { command -v "$1" >/dev/null 2>&1 || die "$1 is not installed or not on PATH; $2"; }

# Runs a command with an upper bound when coreutils timeout exists (absent on stock macOS).
bounded() {
  if command -v timeout >/dev/null 2>&1; then timeout "$kubectl_timeout" "$@"; else "$@"; fi
}

require_connection() {
  if [ "$mode" = kind ]; then
    need_tool kubectl "kind mode runs etcdctl through kubectl exec"
    [ -n "$kubeconfig" ] || die "kind mode needs --kubeconfig (or KINDHA_KUBECONFIG)"
    [ -f "$kubeconfig" ] || die "kubeconfig $kubeconfig does not exist"
    [ -n "$node" ] || [ -z "$cluster" ] || node="$cluster-control-plane"
    [ -n "$node" ] || die "kind mode needs --node or --cluster (the control plane whose etcd pod runs etcdctl)"
  else
    need_tool etcdctl "local mode runs etcdctl on this machine (Debian: apt-get install etcd-client)"
    [ -n "$endpoints" ] || die "local mode needs --endpoints (or KINDHA_ETCD_ENDPOINTS)"
    if [[ "$endpoints" == *https://* ]] && [ -z "$cacert" ]; then die "https endpoints need --cacert (or KINDHA_ETCD_CACERT)"; fi
    if [ -n "$cert" ] && [ -z "$key" ]; then die "--cert needs --key"; fi
    if [ -z "$cert" ] && [ -n "$key" ]; then die "--key needs --cert"; fi
    local f
    for f in "$cacert" "$cert" "$key"; do [ -z "$f" ] || [ -r "$f" ] || die "cannot read $f"; done
  fi
}

# etcdctl against the given local endpoints.
local_ctl() {
  local eps="$1"
  shift
  local tls=()
  [ -z "$cacert" ] || tls+=(--cacert "$cacert")
  [ -z "$cert" ] || tls+=(--cert "$cert" --key "$key")
  etcdctl --endpoints "$eps" "${tls[@]}" --dial-timeout "$timeout" --command-timeout "$timeout" "$@"
}

# A binary inside the etcd static pod of $node: through the API (kubectl exec) or, when the API
# does not answer (as when etcd lost quorum: every API server then fails the load balancer's
# health check), through the node's CRI (<container cli> exec NODE crictl exec).
pod_via=""
pod_exec() {
  if [ -z "$pod_via" ]; then
    if bounded kubectl --kubeconfig "$kubeconfig" --request-timeout 5s get --raw /livez >/dev/null 2>&1; then
      pod_via=api
    else
      pod_via=cri
      warn "the API does not answer; reaching etcd on $node through $cli exec $node crictl exec"
    fi
  fi
  if [ "$pod_via" = api ]; then
    bounded kubectl --kubeconfig "$kubeconfig" -n kube-system exec "etcd-$node" -- "$@"
    return
  fi
  local id
  id=$(bounded "$cli" exec "$node" crictl ps -q --name '^etcd$' --state running 2>/dev/null | head -n 1) || true
  [ -n "$id" ] || die "no running etcd container on $node (asked its CRI with $cli exec $node crictl ps)"
  bounded "$cli" exec "$node" crictl exec "$id" "$@"
}

# etcdctl inside the pod, with kubeadm's certificates; $1 is the endpoint list.
pod_ctl() {
  local eps="$1"
  shift
  pod_exec etcdctl --endpoints "$eps" --cacert "$pod_ca" --cert "$pod_cert" --key "$pod_key" \
    --dial-timeout "$timeout" --command-timeout "$timeout" "$@"
}

# The local snapshot tool: etcdutl (3.5+, where etcdctl lost `snapshot status/restore`), else etcdctl.
snapshot_tool() {
  if command -v etcdutl >/dev/null 2>&1; then echo etcdutl; elif command -v etcdctl >/dev/null 2>&1; then echo etcdctl; fi
}

# Whether $1 is one JSON array (jq -e passes empty input).
is_json_array() { [ "$(jq -r type <<<"$1" 2>/dev/null)" = array ]; }

# Counts of members and healthy members, as one JSON object with etcdctl's per-member results.
# The verdict (healthy, degraded, quorum lost) is lib/model/etcd.ts's; --strict is create's gate.
cmd_health() {
  need_tool jq "etcd.sh reads etcdctl's JSON with it"
  require_connection
  local raw="" rc=0 members healthy
  if [ "$mode" = kind ]; then
    if [ -n "$endpoints" ]; then
      raw="$(pod_ctl "$endpoints" endpoint health -w json 2>"$err_file")" || rc=$?
    else
      raw="$(pod_ctl https://127.0.0.1:2379 endpoint health --cluster -w json 2>"$err_file")" || rc=$?
      # Without quorum, etcd 3.5+ cannot answer the member list --cluster needs: ask the local member.
      if ! is_json_array "$raw" && [ -n "$expect" ]; then
        warn "member list failed ($(last_error)); checking the local member of etcd-$node only"
        raw="$(pod_ctl https://127.0.0.1:2379 endpoint health -w json 2>"$err_file")" || rc=$?
      fi
    fi
  else
    raw="$(local_ctl "$endpoints" endpoint health -w json 2>"$err_file")" || rc=$?
    local listed; IFS=, read -ra listed <<<"$endpoints"
    [ -n "$expect" ] || expect=${#listed[@]}
  fi
  is_json_array "$raw" || die "health: etcdctl gave no result (exit $rc): $(last_error)"
  # An endpoint listed twice counts once, so a duplicated line cannot fake a majority.
  members=$(jq '[.[].endpoint] | unique | length' <<<"$raw")
  healthy=$(jq '[.[] | select(.health == true) | .endpoint] | unique | length' <<<"$raw")
  # Without quorum no member can commit the read `endpoint health` makes; a member that still
  # answers `endpoint status` (served locally) is up, and counts as healthy in the report.
  if [ "$healthy" = 0 ]; then
    local status_raw=""
    if [ "$mode" = kind ]; then status_raw="$(pod_ctl "${endpoints:-https://127.0.0.1:2379}" endpoint status -w json 2>/dev/null)" || true
    else status_raw="$(local_ctl "$endpoints" endpoint status -w json 2>/dev/null)" || true; fi
    healthy=0
    if is_json_array "$status_raw"; then healthy=$(jq '[.[].Endpoint] | unique | length' <<<"$status_raw"); fi
  fi
  # Members that did not answer at all count as unhealthy.
  [ -z "$expect" ] || [ "$members" -ge "$expect" ] || members="$expect"
  [ "$members" -gt 0 ] || die "health: no members answered and none were expected (use --expect N)"
  [ "$healthy" -le "$members" ] || healthy="$members"
  jq -cn --argjson healthy "$healthy" --argjson members "$members" --argjson endpoints "$raw" \
    '{healthy: $healthy, members: $members, endpoints: $endpoints}'
  if [ "$strict" = 1 ] && [ "$healthy" -lt "$members" ]; then die "$healthy of $members members healthy; --strict needs every member"; fi
  if [ "$healthy" -lt "$members" ]; then warn "$healthy of $members members healthy"; fi
  return 0
}

# `snapshot status -w json` of a local file, on stdout; fails unless it parses.
local_status() {
  local file="$1" tool out
  tool="$(snapshot_tool)"
  [ -n "$tool" ] || die "neither etcdutl nor etcdctl is installed; one is needed to read a snapshot"
  out="$("$tool" snapshot status "$file" -w json 2>"$err_file")" || die "$tool snapshot status $file failed: $(last_error)"
  [[ "$out" =~ \"totalKey\":[0-9]+ ]] || die "$tool snapshot status $file gave no key count: $out"
  echo "$out"
}

# `snapshot status` of a file inside the etcd pod: etcdutl first (etcd 3.6 dropped it from etcdctl).
pod_status() {
  local file="$1" out
  if out="$(pod_exec etcdutl snapshot status "$file" -w json 2>"$err_file")" && [[ "$out" =~ \"totalKey\":[0-9]+ ]]; then
    echo "$out"
    return 0
  fi
  out="$(pod_exec etcdctl snapshot status "$file" -w json 2>"$err_file")" || die "snapshot status in etcd-$node failed: $(last_error)"
  [[ "$out" =~ \"totalKey\":[0-9]+ ]] || die "snapshot status in etcd-$node gave no key count: $out"
  echo "$out"
}

# Creates the snapshot's directory 0700 when missing; warns when an existing one is open to others.
prepare_dir() {
  local dir="$1" perms
  if [ ! -d "$dir" ]; then
    (umask 077 && mkdir -p "$dir") || die "cannot create $dir"
    chmod 700 "$dir"
  fi
  perms="$(stat -c %a "$dir" 2>/dev/null || stat -f %Lp "$dir")"
  case "$perms" in *00) ;; *) warn "$dir has mode $perms; snapshots hold every Secret of the cluster, prefer 0700" ;; esac
}

snapshot_save() {
  trap cleanup EXIT # also in the subshell `backup` runs this in
  local file="$1" dir base status
  [ -n "$file" ] || die "snapshot-save needs a file name"
  require_connection
  dir="$(dirname "$file")"
  base="$(basename "$file")"
  prepare_dir "$dir"
  umask 077
  tmp_file="$dir/.$base.tmp.$$"
  rm -f "$tmp_file"
  if [ "$mode" = kind ]; then
    need_tool "$cli" "kind mode copies snapshots out of the node container with '$cli cp'"
    pod_file="$pod_dir/kindha-snapshot-$$-$RANDOM.db"
    log "saving a snapshot in etcd-$node to $pod_file"
    pod_ctl https://127.0.0.1:2379 snapshot save "$pod_file" >/dev/null 2>"$err_file" ||
      die "snapshot save in etcd-$node failed: $(last_error)"
    status="$(pod_status "$pod_file")"
    "$cli" cp "$node:$pod_file" "$tmp_file" >/dev/null 2>"$err_file" ||
      die "copying $pod_file out of node container $node with $cli cp failed: $(last_error)"
    local size_in size_out
    size_in="$("$cli" exec "$node" stat -c %s "$pod_file" 2>"$err_file")" || die "cannot stat $pod_file in $node: $(last_error)"
    size_out="$(wc -c <"$tmp_file" | tr -d ' ')"
    [ "$size_in" = "$size_out" ] || die "the copied snapshot has $size_out bytes, the one in $node has $size_in"
    if [ -n "$(snapshot_tool)" ]; then status="$(local_status "$tmp_file")"; fi
  else
    local ep saved=0 eps
    IFS=',' read -r -a eps <<<"$endpoints"
    # A snapshot streams from one member; the first one that answers wins.
    for ep in "${eps[@]}"; do
      if local_ctl "$ep" snapshot save "$tmp_file" >/dev/null 2>"$err_file"; then saved=1; break; fi
      warn "snapshot from $ep failed: $(last_error)"
    done
    [ "$saved" = 1 ] || die "snapshot save failed on every endpoint ($endpoints)"
    status="$(local_status "$tmp_file")"
  fi
  if [ "$require_keys" = 1 ] && [[ "$status" =~ \"totalKey\":0[^0-9] ]]; then die "the snapshot holds no keys: $status"; fi
  chmod 600 "$tmp_file"
  mv -f "$tmp_file" "$file"
  tmp_file=""
  log "snapshot $file verified: $status"
  echo "$file"
}

cmd_snapshot_status() {
  local file="${positional[0]:-}"
  [ -n "$file" ] || die "snapshot-status needs a file name"
  [ -f "$file" ] || die "snapshot $file does not exist"
  if [ "$mode" = kind ] && [ -z "$(snapshot_tool)" ]; then
    # No etcd tool here: read it with the pod's, through the node container's hostPath.
    require_connection
    need_tool "$cli" "kind mode copies the snapshot into the node container with '$cli cp'"
    pod_file="$pod_dir/kindha-status-$$-$RANDOM.db"
    "$cli" cp "$file" "$node:$pod_file" >/dev/null 2>"$err_file" || die "copying $file into $node failed: $(last_error)"
    pod_status "$pod_file"
  else
    local_status "$file"
  fi
}

cmd_restore() {
  local file="${positional[0]:-}" tool args
  [ -n "$file" ] || die "restore needs a snapshot file"
  [ -f "$file" ] || die "snapshot $file does not exist"
  [ "$mode" = local ] || die "restore runs on this machine only; for a kind cluster use 'npm run restore -- <stack> --snapshot FILE'"
  [ -n "$name" ] || die "restore needs --name (this member's name)"
  [ -n "$initial_cluster" ] || die "restore needs --initial-cluster (name=peer-url,... of every member)"
  [ -n "$peer_urls" ] || die "restore needs --initial-advertise-peer-urls (this member's peer URL)"
  [ -n "$data_dir" ] || die "restore needs --data-dir (a new directory)"
  [ ! -e "$data_dir" ] || die "--data-dir $data_dir already exists; restore writes a new data dir"
  tool="$(snapshot_tool)"
  [ -n "$tool" ] || die "neither etcdutl nor etcdctl is installed; one is needed to restore"
  args=(snapshot restore "$file" --name "$name" --initial-cluster "$initial_cluster"
    --initial-advertise-peer-urls "$peer_urls" --data-dir "$data_dir")
  [ -z "$token" ] || args+=(--initial-cluster-token "$token")
  "$tool" "${args[@]}" >/dev/null 2>"$err_file" || die "$tool snapshot restore failed: $(last_error)"
  log "restored $file into $data_dir as member $name with $tool"
  echo "$data_dir"
}

cmd_backup() {
  [ -n "$cluster" ] || die "backup needs --cluster (kind cluster name)"
  [ -n "$stack" ] || die "backup needs --stack (stack id)"
  [ -n "$kubeconfig" ] || die "backup needs --kubeconfig"
  [ -n "$backup_dir" ] || die "backup needs --backup-dir"
  node="${node:-$cluster-control-plane}"
  mode=kind
  local skip="${KINDHA_SKIP_BACKUP:-}"
  # Refuses rather than lets the cluster be deleted without a snapshot, unless told to skip.
  unavailable() {
    if [ "$skip" = 1 ]; then
      warn "backup of cluster $cluster (stack $stack) skipped: $1; KINDHA_SKIP_BACKUP=1, so NO SNAPSHOT was taken"
      exit 0
    fi
    die "backup of cluster $cluster (stack $stack) failed: $1. Refusing to go on without a snapshot, so the cluster's data is not deleted unsaved; set KINDHA_SKIP_BACKUP=1 to proceed without a backup"
  }
  command -v kubectl >/dev/null 2>&1 || unavailable "kubectl is not on PATH"
  [ -f "$kubeconfig" ] || unavailable "kubeconfig $kubeconfig does not exist (is the cluster already gone?)"
  bounded kubectl --kubeconfig "$kubeconfig" --request-timeout 10s get --raw /readyz >/dev/null 2>"$err_file" ||
    unavailable "the API server is unreachable ($(last_error))"
  command -v "$cli" >/dev/null 2>&1 || unavailable "$cli is not on PATH (it copies the snapshot out of $node)"
  local file rc=0
  file="$backup_dir/$cluster-$stack-$(date -u +%Y%m%dT%H%M%SZ).db"
  # A subshell so that a failing save comes back here; set -e stays on inside it.
  set +e
  require_keys=1
  (
    set -e
    snapshot_save "$file" >/dev/null
  )
  rc=$?
  set -e
  [ "$rc" = 0 ] || unavailable "taking the snapshot failed (see above)"
  echo "$file"
}

# etcdctl against the members: in kind mode through the pod (its own member, or the URLs given),
# in local mode against --endpoints.
ctl() {
  if [ "$mode" = kind ]; then pod_ctl "${1:-https://127.0.0.1:2379}" "${@:2}"; else local_ctl "${1:-$endpoints}" "${@:2}"; fi
}

# Rows of an etcdctl table as `|`-separated cells, trimmed, with the header's column named $2
# (any case) first: `table_column TABLE NAME` prints one value per row. etcdctl 3.7 draws its
# tables with box characters (`│` between cells, `┌─┬` rules): those become `|` and plain rules.
table_column() {
  printf '%s\n' "$1" | sed 's/│/|/g' | awk -F'|' -v want="$2" '
    /^\|/ { for (i = 2; i < NF; i++) { c = $i; gsub(/^ +| +$/, "", c); cell[i] = c }
             if (!col) { for (i = 2; i < NF; i++) if (toupper(cell[i]) == toupper(want)) col = i; next }
             print cell[col] }'
}

# The members as `id name client-urls` lines (hex IDs, as etcdctl's tables print them).
members_table() {
  local table
  table="$(ctl "" member list -w table 2>"$err_file")" || die "member list failed: $(last_error)"
  paste -d' ' <(table_column "$table" ID) <(table_column "$table" NAME) <(table_column "$table" "CLIENT ADDRS" | tr -d ' ')
}

# The leader's hex ID, from endpoint status of every member.
leader_id() {
  local urls="$1" table ids leaders
  table="$(ctl "$urls" endpoint status -w table 2>"$err_file")" || die "endpoint status failed: $(last_error)"
  ids="$(table_column "$table" ID)"
  leaders="$(table_column "$table" "IS LEADER")"
  paste -d' ' <(printf '%s\n' "$ids") <(printf '%s\n' "$leaders") | awk '$2 == "true" { print $1; exit }'
}

cmd_leader() {
  need_tool jq "etcd.sh prints its JSON with it"
  require_connection
  local members urls id name
  members="$(members_table)"
  urls="$(printf '%s\n' "$members" | awk '{ print $3 }' | paste -sd, -)"
  id="$(leader_id "$urls")"
  [ -n "$id" ] || die "no member reports itself leader (quorum lost?)"
  name="$(printf '%s\n' "$members" | awk -v id="$id" '$1 == id { print $2 }')"
  jq -cn --arg name "$name" --arg id "$id" '{name: $name, id: $id}'
}

cmd_move_leader() {
  need_tool jq "etcd.sh prints its JSON with it"
  require_connection
  [ -n "$to" ] || die "move-leader needs --to NAME (a member name)"
  local members urls target current
  members="$(members_table)"
  target="$(printf '%s\n' "$members" | awk -v n="$to" '$2 == n { print $1 }')"
  [ -n "$target" ] || die "no member named $to (members: $(printf '%s\n' "$members" | awk '{ print $2 }' | paste -sd' ' -))"
  urls="$(printf '%s\n' "$members" | awk '{ print $3 }' | paste -sd, -)"
  current="$(leader_id "$urls")"
  if [ "$current" != "$target" ]; then
    # etcdctl finds the leader among the endpoints and asks it to step down for the target.
    ctl "$urls" move-leader "$target" >/dev/null 2>"$err_file" || die "move-leader to $to failed: $(last_error)"
    current="$(leader_id "$urls")"
  fi
  [ "$current" = "$target" ] || die "leadership did not move to $to (leader now $current)"
  jq -cn --arg name "$to" --arg id "$target" '{name: $name, id: $id}'
}

case "$command" in
  leader) cmd_leader ;;
  move-leader) cmd_move_leader ;;
  health) cmd_health ;;
  snapshot-save) snapshot_save "${positional[0]:-}" ;;
  snapshot-status) cmd_snapshot_status ;;
  restore) cmd_restore ;;
  backup) cmd_backup ;;
  help) usage ;;
  *) die "unknown command '$command' (health, snapshot-save, snapshot-status, restore, backup, leader, move-leader; see --help)" ;;
esac
