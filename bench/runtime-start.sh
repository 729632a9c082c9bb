#!/bin/bash
# tinydocker-runtime against runc on the same bundle (`run` of /bin/true: create, start, wait,
# delete), and the engine's `run --rm` on its default (the runtime code in its own process)
# against the same run through a runtime binary (--runtime), in one run. Prints medians and ratios.
#
# Usage: bench/runtime-start.sh          (RUNS=30 by default; needs hyperfine, runc, jq)
set -euo pipefail
RUNS=${RUNS:-30}
source "$(dirname "$0")/common.sh"
trap drop_work EXIT

busybox_bundle
runtime=$(dirname "$PY")/tinydocker-runtime
[ -x "$runtime" ] || { echo "no $runtime: pip install the checkout into .venv first" >&2; exit 1; }

hyperfine -N --style basic --warmup 3 --runs "$RUNS" --export-json "$results/runtime-start.json" \
  -n runc "$SHARED_BENCH/bench-oci-run.sh runc $work/bundle" \
  -n tinydocker-runtime "$SHARED_BENCH/bench-oci-run.sh $runtime $work/bundle" >/dev/null
ratios "$results/runtime-start.json" runc
echo

hyperfine -N --style basic --warmup 3 --runs "$RUNS" --export-json "$results/engine-on-runtime.json" \
  -n in-process "${td[*]} run --rm --network none bench1 /bin/true" \
  -n on-tinydocker-runtime "${td[*]} run --rm --network none --runtime $runtime bench2 /bin/true" \
  -n on-runc "${td[*]} run --rm --network none --runtime runc bench3 /bin/true" >/dev/null
ratios "$results/engine-on-runtime.json" in-process
