#!/bin/bash
# The Python API's run() side by side with crun and runc on the same busybox rootfs, in one run:
#   1. one run after another: the mean time of a `tinydocker.run(..., remove=True)` of
#      /bin/true with --network none, in one long-lived script, next to `crun run` and
#      `runc run` of the same rootfs (hyperfine medians; each includes an exec of the runtime);
#   2. the same runs from 1, 2 and 4 threads of one script: throughput (runs per second)
#      and its ratio to one thread's, next to crun's own from 1 and 4 shell loops at once
#      (what this machine's kernel and 2 cores give any runtime: the ceiling of the ratio);
#   3. N (50) detached `sleep` containers started from 4 threads of one script, then all
#      killed from them, next to N `runc run --detach` and `runc kill` started at once from
#      the shell (wall seconds).
#
# Usage: bench/api.sh      (RUNS=40 runs each; needs hyperfine, runc, crun, jq)
set -euo pipefail
RUNS=${RUNS:-40}
N=${N:-50}
source "$(dirname "$0")/common.sh"
source "$SHARED_BENCH/bench-common.sh"
cleanup() {
  for i in $(seq 1 "$N"); do runc delete -f "tda-$$-$i" >/dev/null 2>&1 || true; done
  drop_work
}
trap cleanup EXIT

busybox_bundle
"$SHARED_BENCH/make-bundle.sh" "$work/sleeper" "$rootfs" '["/bin/sleep","600"]' >/dev/null

# crun refuses this machine's hybrid cgroup layout: in a mount namespace without cgroup2
hyperfine -N --style basic --warmup 3 --runs "$RUNS" --export-json "$results/api-peers.json" \
  -n runc "$SHARED_BENCH/bench-oci-run.sh runc $work/bundle" \
  -n crun "unshare --mount --propagation private -- sh -c 'umount /sys/fs/cgroup/unified 2>/dev/null; exec $SHARED_BENCH/bench-oci-run.sh crun $work/bundle'" \
  >/dev/null

now() { date +%s.%N; }
# crun's runs per second from LOOPS shell loops at once, TOTAL runs in all
crun_rate() {
  local loops=$1 total=$2 start
  start=$(now)
  for _ in $(seq 1 "$loops"); do
    (for _ in $(seq 1 $((total / loops))); do
      unshare --mount --propagation private -- sh -c \
        "umount /sys/fs/cgroup/unified 2>/dev/null; exec $SHARED_BENCH/bench-oci-run.sh crun $work/bundle" >/dev/null
    done) &
  done
  wait
  awk "BEGIN{print $total / ($(now) - $start)}"
}
crun_one=$(crun_rate 1 $((RUNS * 2)))
crun_four=$(crun_rate 4 $((RUNS * 2)))
start=$(now)
for i in $(seq 1 "$N"); do runc run --detach --bundle "$work/sleeper" "tda-$$-$i" </dev/null >/dev/null & done
wait
runc_start=$(awk "BEGIN{print $(now) - $start}")
start=$(now)
for i in $(seq 1 "$N"); do runc kill "tda-$$-$i" KILL & done
wait
runc_kill=$(awk "BEGIN{print $(now) - $start}")

"$PY" - "$work/root" "$RUNS" "$results/api-peers.json" "$N" "$runc_start" "$runc_kill" "$crun_one" "$crun_four" <<'PY'
import json, statistics, sys, time
from concurrent.futures import ThreadPoolExecutor

import tinydocker

root, runs = sys.argv[1], int(sys.argv[2])
peers = {r["command"]: statistics.median(r["times"]) * 1000 for r in json.load(open(sys.argv[3]))["results"]}


def one(name):
    code = tinydocker.run(name, ["/bin/true"], image="busybox", network="none", remove=True, root=root)
    assert code == 0, code


for i in range(3):  # warm-up: the image's layers and the seccomp filter cached
    one(f"warm{i}")
times = []
cpu = time.process_time()  # this process's own CPU (the children's is not counted)
for i in range(runs):
    t = time.perf_counter()
    one(f"seq{i}")
    times.append((time.perf_counter() - t) * 1000)
parent_cpu = (time.process_time() - cpu) * 1000 / runs
api = statistics.median(times)
print(f"{'what':<24}{'median':>10}{'vs crun':>10}{'vs runc':>10}")
for name, ms in [("tinydocker.run()", api), ("crun run", peers["crun"]), ("runc run", peers["runc"])]:
    print(f"{name:<24}{ms:>8.1f}ms{ms / peers['crun']:>9.2f}x{ms / peers['runc']:>9.2f}x")

print()
print(f"{'threads':<10}{'runs/s':>10}{'vs 1 thread':>14}")
base = None
for threads in (1, 2, 4):
    total = runs * 2
    t = time.perf_counter()
    with ThreadPoolExecutor(threads) as pool:
        list(pool.map(one, [f"t{threads}-{i}" for i in range(total)]))
    rate = total / (time.perf_counter() - t)
    base = base or rate
    print(f"{threads:<10}{rate:>10.1f}{rate / base:>13.2f}x")
crun_one, crun_four = float(sys.argv[7]), float(sys.argv[8])
# the script's own CPU holds the GIL (a system call lets it go, but most of a run's calls
# are short): however many threads, runs/s cannot pass 1000 / that
print(f"the script's own CPU per run: {parent_cpu:.1f} ms of {api:.1f} ms: at most {api / parent_cpu:.2f}x "
      "one thread, whatever the threads")
print(f"crun, 1 and 4 shell loops: {crun_one:.1f} and {crun_four:.1f} runs/s: {crun_four / crun_one:.2f}x "
      "(the machine's ceiling for any runtime)")

print()
n, runc_start, runc_kill = int(sys.argv[4]), float(sys.argv[5]), float(sys.argv[6])
names = [f"d{i}" for i in range(n)]
with ThreadPoolExecutor(4) as pool:
    t = time.perf_counter()
    list(pool.map(lambda name: tinydocker.run(name, ["sleep", "600"], image="busybox", network="none",
                                              detach=True, root=root), names))
    started = time.perf_counter() - t
    t = time.perf_counter()
    list(pool.map(lambda name: tinydocker.kill(name, root=root), names))
    killed = time.perf_counter() - t
print(f"{n} detached from 4 threads: started {started:.2f} s (runc {runc_start:.2f} s, {started / runc_start:.1f}x), "
      f"killed {killed:.2f} s (runc {runc_kill:.2f} s, {killed / runc_kill:.1f}x)")
for name in names:
    tinydocker.wait(name, root=root)
    tinydocker.remove(name, root=root)
PY
