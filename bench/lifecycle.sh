#!/bin/bash
# Detached containers side by side with runc and podman, in one run:
#   1. N (default 50) detached `sleep` containers started at once from this shell (`&` + `wait`):
#      wall time and failures, for tinydocker, runc (run --detach) and podman (run -d);
#   2. what stays resident per detached container: tinydocker's monitor (one for all of a
#      data root's containers) next to podman's conmon (one each), their PSS and RSS from
#      /proc/PID/smaps_rollup shared out over the N containers; runc leaves no process;
#   3. kill and `stop -t 2` of them all at once, next to runc's and podman's kill;
#   4. the floor under every "from the shell" figure: N `python3 -c 'import typer'` at once,
#      what any typer CLI pays before it parses its first option;
#   5. `tinydocker ps -a` with 0, 100 and 1000 containers recorded (hyperfine medians).
#
# Usage: bench/lifecycle.sh    (N=50; needs runc, jq, hyperfine; podman is skipped if absent)
# Peer scripts and podman's settings come from ../shared/bench (SHARED_BENCH overrides).
set -euo pipefail
N=${N:-50}
source "$(dirname "$0")/common.sh"
export CONTAINERS_CONF=$SHARED_BENCH/containers.conf

cleanup() {
  for i in $(seq 1 "$N"); do runc delete -f "tdb-$$-$i" >/dev/null 2>&1 || true; done
  command -v podman >/dev/null && podman rm -f -t 0 --filter label=tdbench=$$ >/dev/null 2>&1 || true
  "${td[@]}" ps -q --no-trunc 2>/dev/null | xargs -r "${td[@]}" rm -f >/dev/null 2>&1 || true
  "${td[@]}" container prune -f >/dev/null 2>&1 || true
  drop_work
}
trap cleanup EXIT

"${td[@]}" image build busybox >/dev/null
rootfs=$(layer_dir busybox)
"$SHARED_BENCH/make-bundle.sh" "$work/bundle" "$rootfs" '["/bin/sleep","600"]' >/dev/null

now() { date +%s.%N; }
# parallel NAME CMD...: start N at once ("{}" in CMD is replaced by the index); prints "wall failures"
parallel() {
  local name=$1; shift
  local start fails=0 pids=()
  start=$(now)
  for i in $(seq 1 "$N"); do
    "${@//\{\}/$i}" </dev/null >/dev/null 2>>"$work/$name.err" &
    pids+=($!)
  done
  for p in "${pids[@]}"; do wait "$p" || fails=$((fails + 1)); done
  echo "$(awk "BEGIN{print $(now) - $start}") $fails"
}

# PSS and RSS in KiB of the given pids (each counted once), summed, then shared out over
# $2 containers: "PSS RSS processes"
resident() {
  local per=$1 pss=0 rss=0 n=0
  shift
  for p in $(printf '%s\n' "$@" | sort -u); do
    pss=$((pss + $(awk '/^Pss:/{print $2}' "/proc/$p/smaps_rollup")))
    rss=$((rss + $(awk '/^Rss:/{print $2}' "/proc/$p/smaps_rollup")))
    n=$((n + 1))
  done
  [ "$n" -gt 0 ] && echo "$((pss / per)) $((rss / per)) $n" || echo "- - 0"
}

echo "the floor: $N CLIs that only import typer, at once (wall seconds):"
read -r floor_wall _ < <(parallel floor "$PY" -c 'import typer')
printf '  %-12s %6.2f s\n' "import typer" "$floor_wall"
echo
echo "$N detached containers started at once (wall seconds, failures):"
read -r td_wall td_fail < <(parallel tinydocker "${td[@]}" run -d --network none "b{}" sleep 600)
printf '  %-12s %6.2f s  %s failed\n' tinydocker "$td_wall" "$td_fail"
mapfile -t monitors < <(for f in "$work"/root/state/containers/*/record.toml; do
  awk -F' = ' '$1=="monitor_pid"{print $2}' "$f"; done)
read -r td_pss td_rss td_n < <(resident "$N" "${monitors[@]}")

read -r runc_wall runc_fail < <(parallel runc runc run --detach --bundle "$work/bundle" "tdb-$$-{}")
printf '  %-12s %6.2f s  %s failed\n' runc "$runc_wall" "$runc_fail"

podman_line="  podman       (not installed)"
pod_pss=- pod_rss=- pod_n=0
if command -v podman >/dev/null; then
  podman rm -f -t 0 --filter label=tdbench=$$ >/dev/null 2>&1 || true
  read -r pod_wall pod_fail < <(parallel podman podman run -d --label tdbench=$$ --network none \
    --name "tdb-$$-p{}" --rootfs "$rootfs" /bin/sleep 600)
  podman_line=$(printf '  %-12s %6.2f s  %s failed' podman "$pod_wall" "$pod_fail")
  mapfile -t conmons < <(pgrep -x conmon || true)
  read -r pod_pss pod_rss pod_n < <(resident "$N" "${conmons[@]}")
fi
echo "$podman_line"
echo
echo "resident per detached container (KiB: what the monitoring processes hold, shared out over $N):"
printf '  %-28s PSS %6s  RSS %6s  (%s processes)\n' "tinydocker monitor" "$td_pss" "$td_rss" "$td_n"
printf '  %-28s PSS %6s  RSS %6s  (%s processes)\n' "podman conmon" "$pod_pss" "$pod_rss" "$pod_n"

echo
echo "killing them all at once (wall seconds, failures; each command sends SIGKILL and returns):"
read -r w f < <(parallel td-kill "${td[@]}" kill "b{}")
printf '  %-12s %6.2f s  %s failed\n' tinydocker "$w" "$f"
read -r w f < <(parallel runc-kill runc kill "tdb-$$-{}" KILL)
printf '  %-12s %6.2f s  %s failed\n' runc "$w" "$f"
if command -v podman >/dev/null; then
  read -r w f < <(parallel podman-kill podman kill "tdb-$$-p{}")
  printf '  %-12s %6.2f s  %s failed\n' podman "$w" "$f"
fi
"${td[@]}" wait $(seq -f 'b%g' 1 "$N") >/dev/null

echo
echo "started again, then stopped all at once with a 2 s timeout (sleep as PID 1 ignores SIGTERM):"
read -r w f < <(parallel td-start "${td[@]}" start "b{}")
printf '  %-12s %6.2f s  %s failed  (start)\n' tinydocker "$w" "$f"
read -r w f < <(parallel td-stop "${td[@]}" stop -t 2 "b{}")
printf '  %-12s %6.2f s  %s failed  (stop -t 2: the floor is 2 s after the last CLI has started;\n' tinydocker "$w" "$f"
printf '  %-12s %6s    the typer floor above plus 2 s: %.2f s)\n' "" "" "$(awk "BEGIN{print $floor_wall + 2}")"
"${td[@]}" container prune -f >/dev/null

echo
echo "tinydocker ps -a with N containers recorded (hyperfine median):"
# records are copies of one real exited container's directory, renamed: what ps reads is the same
"${td[@]}" run proto true
proto=$work/proto.toml
cp "$work/root/state/containers/proto/record.toml" "$proto"
"${td[@]}" rm proto >/dev/null
proto_id=$(awk -F'"' '/^id = /{print $2; exit}' "$proto")
populate() {
  local have=$1 want=$2
  for i in $(seq "$have" $((want - 1))); do
    local id
    id=$(printf '%064x' $((i + 1000)))
    mkdir "$work/root/state/containers/r$i"
    sed -e "s/$proto_id/$id/" -e "s/^name = \"proto\"/name = \"r$i\"/" "$proto" \
      > "$work/root/state/containers/r$i/record.toml"
  done
}
prev=0
for count in 0 100 1000; do
  populate "$prev" "$count"; prev=$count
  hyperfine -N --style none --warmup 2 --runs 15 --export-json "$results/ps-$count.json" \
    "${td[*]} ps -a" >/dev/null
  printf '  %5d containers  %7.1f ms\n' "$count" \
    "$(jq '.results[0].median * 1000' "$results/ps-$count.json")"
done
