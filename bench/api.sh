#!/bin/bash
# The Python API's run() side by side with crun and runc on the same busybox rootfs, in one run:
#   1. one run after another: the mean time of a `tinydocker.run(..., remove=True)` of
#      /bin/true with --network none, in one long-lived script, next to `crun run` and
#      `runc run` of the same rootfs (hyperfine medians; each includes an exec of the runtime);
#   2. the same runs from 1, 2 and 4 threads of one script: throughput (runs per second)
#      and its ratio to one thread's.
#
# Usage: bench/api.sh      (RUNS=40 runs each; needs hyperfine, runc, crun, jq)
set -euo pipefail
RUNS=${RUNS:-40}
source "$(dirname "$0")/common.sh"
source "$SHARED_BENCH/bench-common.sh"
trap drop_work EXIT

busybox_bundle

# crun refuses this machine's hybrid cgroup layout: in a mount namespace without cgroup2
hyperfine -N --style basic --warmup 3 --runs "$RUNS" --export-json "$results/api-peers.json" \
  -n runc "$SHARED_BENCH/bench-oci-run.sh runc $work/bundle" \
  -n crun "unshare --mount --propagation private -- sh -c 'umount /sys/fs/cgroup/unified 2>/dev/null; exec $SHARED_BENCH/bench-oci-run.sh crun $work/bundle'" \
  >/dev/null

"$PY" - "$work/root" "$RUNS" "$results/api-peers.json" <<'PY'
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
for i in range(runs):
    t = time.perf_counter()
    one(f"seq{i}")
    times.append((time.perf_counter() - t) * 1000)
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
PY
