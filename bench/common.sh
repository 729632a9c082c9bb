# Sourced by the bench/*.sh scripts: where things are, which Python, a scratch directory.
# Peer scripts come from ../shared/bench beside the checkout (SHARED_BENCH overrides).
here=$(cd "$(dirname "${BASH_SOURCE[1]}")" && pwd)
repo=$(dirname "$here")
SHARED_BENCH=${SHARED_BENCH:-$(dirname "$repo")/shared/bench}
PY=${PY:-$(command -v python3)}
[ -x "$repo/.venv/bin/python" ] && PY=${PY_OVERRIDE:-$repo/.venv/bin/python}
# measure what an installed copy does: with its bytecode cached (pip compiles on install),
# not recompiling every module on each start as PYTHONDONTWRITEBYTECODE=1 would force
unset PYTHONDONTWRITEBYTECODE
"$PY" -m compileall -q "$repo/tinydocker" >/dev/null
work=$(mktemp -d /var/tmp/td-bench.XXXXXX)

# The scratch directory goes, and with it what its data root made outside it: the bridge of
# a network (and its nftables elements) outlives the containers, as docker0 does. Every
# script's exit calls this.
drop_work() {
  if [ -f "$work/root/state/networks.toml" ]; then
    "$PY" -c 'import sys; from pathlib import Path
from tinydocker.network.store import NetworkStore; from tinydocker.state.root import DataRoot
NetworkStore(DataRoot(Path(sys.argv[1]))).destroy_all()' "$work/root" 2>/dev/null || true
  fi
  rm -rf "$work"
}
results=${RESULTS:-$here/results}
mkdir -p "$results"
td=("$PY" -m tinydocker --root "$work/root")

# the directory of a one-layer image's layer (busybox's): the tree the peers run from
layer_dir() {
  "${td[@]}" image inspect "$1" | "$PY" -c \
    'import json, sys; print(json.load(sys.stdin)[0]["GraphDriver"]["Data"]["LowerDir"])'
}

# busybox's layer as $rootfs, and an OCI bundle of it at $work/bundle for runc and crun
busybox_bundle() {
  "${td[@]}" image build busybox >/dev/null
  rootfs=$(layer_dir busybox)
  "$SHARED_BENCH/make-bundle.sh" "$work/bundle" "$rootfs" >/dev/null
}

# the tests' many_layers fixture with N layers, as an OCI layout in $work/fixtures/many-N
many_layers_fixture() {
  "$PY" - "$repo/tests" "$work/fixtures" "$1" <<'PY'
import pathlib, sys
sys.path.insert(0, sys.argv[1])
import fixtures
out = pathlib.Path(sys.argv[2]); out.mkdir(exist_ok=True)
fixtures.many_layers(out, int(sys.argv[3]))
PY
}

# hyperfine's JSON as a table: each command's median, and its ratio to each BASE command
ratios() {
  "$PY" - "$@" <<'PY'
import json, statistics, sys
res = {r["command"]: statistics.median(r["times"]) * 1000 for r in json.load(open(sys.argv[1]))["results"]}
bases = sys.argv[2:]
print(f"{'what':<14}{'median':>10}" + "".join(f"{'vs ' + b:>{max(11, len(b) + 5)}}" for b in bases))
for name, ms in res.items():
    print(f"{name:<14}{ms:>8.1f}ms" + "".join(f"{ms / res[b]:>{max(11, len(b) + 5) - 1}.2f}x" for b in bases))
PY
}
