#!/bin/bash
# `ps -a` over many recorded containers (issue 12: under a tenth of a second for 1000),
# side by side with podman's, in one run:
#   1. the API call the 0.1 s applies to: tinydocker.api.ps(all=True), plain and filtered,
#      over N records (median of 15 calls in one process, imports excluded);
#   2. the CLI (hyperfine medians): `tinydocker ps -a` over N records, over none, with a
#      name filter, and `podman ps -a` over N created containers in a throwaway podman root.
# A quarter of the records are exited, the rest created (nothing runs: ps's cost here is
# reading records; a running container adds a liveness check and a freezer read).
#
# Usage: bench/ps-many.sh [N]    (N=1000, RUNS=20; NO_PODMAN=1 skips podman, whose
#        `podman create` takes about 50 ms a container)
set -euo pipefail
N=${1:-1000}
RUNS=${RUNS:-20}
source "$(dirname "$0")/common.sh"
export CONTAINERS_CONF=$SHARED_BENCH/containers.conf
# its own storage, run and tmp directories: nothing of the machine's podman is touched
pod=(podman --root "$work/podman" --runroot "$work/podman-run" --tmpdir "$work/podman-tmp" --storage-driver vfs)

cleanup() {
  # podman rm gives back each container's lock in podman's machine-wide shared memory
  if [ -d "$work/podman" ]; then "${pod[@]}" rm -a -f >/dev/null 2>&1 || true; fi
  drop_work
}
trap cleanup EXIT

echo "making $N containers (tinydocker.api.create; every fourth then recorded as exited):"
start=$(date +%s.%N)
"$PY" - "$work/root" "$N" <<'PY'
from pathlib import Path
import sys
from tinydocker import api
from tinydocker.state.root import DataRoot
from tinydocker.state.store import EXITED, Store, now

root, n = sys.argv[1], int(sys.argv[2])
store = Store(DataRoot(Path(root)))
for i in range(n):
    api.create(f"c{i}", ["true"], root=root, labels=[f"n={i % 10}", "bench=1"], network="none")
    if i % 4 == 3:
        store.update(store.load(f"c{i}"), status=EXITED, exit_code=0, started=now(), finished=now())
PY
printf '  tinydocker   %6.1f s\n' "$(awk "BEGIN{print $(date +%s.%N) - $start}")"
mkdir -p "$work/empty"

podman_cmd=()
if [ -z "${NO_PODMAN:-}" ] && command -v podman >/dev/null; then
  rootfs=$(layer_dir busybox)
  start=$(date +%s.%N)
  for i in $(seq 0 $((N - 1))); do
    "${pod[@]}" create --network none --name "c$i" --label "n=$((i % 10))" --rootfs "$rootfs" /bin/true >/dev/null
  done
  printf '  podman       %6.1f s\n' "$(awk "BEGIN{print $(date +%s.%N) - $start}")"
  podman_cmd=(-n podman "${pod[*]} ps -a")
fi

echo
echo "tinydocker.api.ps over $N records (median of 15 calls, ms):"
"$PY" - "$work/root" <<'PY'
import statistics, sys, time
from tinydocker import api

root = sys.argv[1]
start = time.perf_counter()
api.ps(all=True, root=root)  # the first listing parses every record, and keeps them (state/records.cache)
print(f"  {'first listing (parses all)':<28}{(time.perf_counter() - start) * 1000:7.1f}")
for filters in ([], ["name=c5"], ["label=n=3"], ["status=exited"]):
    times = []
    for _ in range(15):
        start = time.perf_counter()
        found = api.ps(all=True, filters=filters, root=root)
        times.append(time.perf_counter() - start)
    what = f"all=True {' '.join(filters)}"
    print(f"  {what:<28}{statistics.median(times) * 1000:7.1f}   ({len(found)} listed)")
PY

echo
echo "ps -a from the command line (hyperfine medians; td-0 over no containers, the others over $N):"
hyperfine -N --style basic --warmup 3 --runs "$RUNS" --export-json "$results/ps-many.json" \
  -n td-0 "$PY -m tinydocker --root $work/empty ps -a" \
  -n td-all "${td[*]} ps -a" \
  -n td-name=c5 "${td[*]} ps -a --filter name=c5" \
  "${podman_cmd[@]}" >/dev/null

if [ ${#podman_cmd[@]} -gt 0 ]; then
  ratios "$results/ps-many.json" td-0 podman
else
  ratios "$results/ps-many.json" td-0
fi
