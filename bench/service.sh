#!/bin/bash
# The Engine API service side by side with podman's, in one run: docker's own CLI driving
# `tinydocker system service` and `podman system service` (each on a socket of its own, over
# storage of this run's own), then tinydocker's own CLI for the floor under the service:
#   1. `docker run --rm --network none busybox /bin/true` (create, attach, wait, start, remove);
#   2. `docker ps -a` (a listing);
#   3. N (default 20) `docker run --rm` at once from this shell: wall seconds and failures.
#
# Usage: bench/service.sh    (RUNS=20, N=20; needs hyperfine, podman, docker's CLI)
# podman's settings come from ../shared/bench (SHARED_BENCH overrides).
set -euo pipefail
RUNS=${RUNS:-20}
N=${N:-20}
source "$(dirname "$0")/common.sh"
export CONTAINERS_CONF=$SHARED_BENCH/containers.conf
pm=(podman --root "$work/podman-root" --runroot "$work/podman-run")
tsock=$work/td.sock psock=$work/podman.sock
mkdir -p "$work/docker-config"

cleanup() {
  [ -n "${tpid:-}" ] && kill "$tpid" 2>/dev/null && wait "$tpid" 2>/dev/null || true
  [ -n "${ppid_:-}" ] && kill "$ppid_" 2>/dev/null && wait "$ppid_" 2>/dev/null || true
  "${pm[@]}" rm -af -t 0 >/dev/null 2>&1 || true
  "${pm[@]}" system reset -f >/dev/null 2>&1 || true
  "${td[@]}" ps -aq --no-trunc 2>/dev/null | xargs -r "${td[@]}" rm -f >/dev/null 2>&1 || true
  drop_work
}
trap cleanup EXIT

"${td[@]}" image build busybox >/dev/null
"${td[@]}" save busybox | "${pm[@]}" load -q >/dev/null  # the same image in podman's store
"${td[@]}" system service -t 0 "unix://$tsock" 2>"$work/td-service.log" &
tpid=$!
"${pm[@]}" system service -t 0 "unix://$psock" 2>"$work/podman-service.log" &
ppid_=$!
for s in "$tsock" "$psock"; do
  for _ in $(seq 200); do [ -S "$s" ] && break; sleep 0.05; done
done
dk() { DOCKER_CONFIG=$work/docker-config DOCKER_HOST=unix://$1 docker "${@:2}"; }
export -f dk
export work

echo "docker run --rm through each service, and tinydocker's own CLI (no service):"
hyperfine -N --style basic --warmup 2 --runs "$RUNS" --export-json "$work/run.json" \
  -n podman-service "bash -c 'dk $psock run --rm --network none busybox /bin/true'" \
  -n td-service "bash -c 'dk $tsock run --rm --network none busybox /bin/true'" \
  -n td-cli "${td[*]} run --rm --network none --image busybox r1 /bin/true" >/dev/null
ratios "$work/run.json" podman-service
cp "$work/run.json" "$results/service-run.json"

echo
echo "docker ps -a through each service (no containers):"
hyperfine -N --style basic --warmup 2 --runs "$RUNS" --export-json "$work/ps.json" \
  -n podman-service "bash -c 'dk $psock ps -a'" \
  -n td-service "bash -c 'dk $tsock ps -a'" >/dev/null
ratios "$work/ps.json" podman-service

echo
echo "$N docker run --rm at once from this shell (wall seconds, failures):"
for who in podman td; do
  sock=$psock; [ "$who" = td ] && sock=$tsock
  start=$(date +%s.%N)
  fails=0
  pids=()
  for i in $(seq 1 "$N"); do
    dk "$sock" run --rm --network none busybox /bin/true >/dev/null 2>>"$work/$who-burst.err" &
    pids+=($!)
  done
  for p in "${pids[@]}"; do wait "$p" || fails=$((fails + 1)); done
  end=$(date +%s.%N)
  printf '  %-8s %6.2f s  %s failed\n' "$who" "$(awk "BEGIN{print $end - $start}")" "$fails"
done
for who in podman td; do
  [ -s "$work/$who-burst.err" ] && { echo "  $who said:"; sort "$work/$who-burst.err" | uniq -c | head -5; }
done
true
