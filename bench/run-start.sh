#!/bin/bash
# How fast `tinydocker run` starts, side by side with runc and the unshare+chroot floor,
# on the same busybox rootfs, in one run. Prints medians and ratios.
#
# Usage: bench/run-start.sh            (RUNS=50 by default; needs hyperfine, runc, jq)
set -euo pipefail
RUNS=${RUNS:-50}
source "$(dirname "$0")/common.sh"
trap drop_work EXIT

busybox_bundle

hyperfine -N --style basic --warmup 3 --runs "$RUNS" --export-json "$results/run-start.json" \
  -n floor "unshare --fork --pid --mount --uts --ipc --net chroot $rootfs /bin/true" \
  -n runc "$SHARED_BENCH/bench-oci-run.sh runc $work/bundle" \
  -n tinydocker "${td[*]} run --rm bench1 /bin/true" >/dev/null

ratios "$results/run-start.json" floor runc

# where tinydocker's own start-up time goes: the cumulative import cost on run's path
"$PY" -X importtime -m tinydocker --root "$work/root" run --rm bench2 /bin/true 2> "$work/imports.txt"
echo
echo "imports on run's path (cumulative microseconds, top level):"
grep -E '\|   ?[a-z_.]+$|\| [a-z_]+$' "$work/imports.txt" | awk -F'|' '{gsub(/ /,"",$2); print $2, $3}' \
  | sort -rn | head -8
