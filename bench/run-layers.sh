#!/bin/bash
# What each image layer costs `run`: images of 1, 10 and 100 layers side by side, with runc
# on the busybox tree as the peer, in one run. Prints medians, ratios, and the cost of one
# more layer. The 10- and 100-layer images are the tests' many_layers fixture.
#
# Usage: bench/run-layers.sh            (RUNS=30 by default; needs hyperfine, runc)
set -euo pipefail
RUNS=${RUNS:-30}
source "$(dirname "$0")/common.sh"
trap drop_work EXIT

busybox_bundle
for n in 10 100; do
  many_layers_fixture "$n"
  "${td[@]}" load -q -i "$work/fixtures/many-$n"
done

hyperfine -N --style basic --warmup 3 --runs "$RUNS" --export-json "$results/run-layers.json" \
  -n runc "$SHARED_BENCH/bench-oci-run.sh runc $work/bundle" \
  -n layers-1 "${td[*]} run --rm b1 /bin/true" \
  -n layers-10 "${td[*]} run --rm --image many-10 b10 /bin/true" \
  -n layers-100 "${td[*]} run --rm --image many-100 b100 /bin/true" >/dev/null

ratios "$results/run-layers.json" runc
"$PY" - "$results/run-layers.json" <<'PY'
import json, statistics, sys
res = {r["command"]: statistics.median(r["times"]) * 1000 for r in json.load(open(sys.argv[1]))["results"]}
print(f"one more layer: {(res['layers-10'] - res['layers-1']) / 9:.2f} ms (1->10), "
      f"{(res['layers-100'] - res['layers-1']) / 99:.2f} ms (1->100)")
PY
