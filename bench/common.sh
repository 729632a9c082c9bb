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
results=${RESULTS:-$here/results}
mkdir -p "$results"
td=("$PY" -m tinydocker --root "$work/root")

# the directory of a one-layer image's layer (busybox's): the tree the peers run from
layer_dir() {
  "${td[@]}" image inspect "$1" | "$PY" -c \
    'import json, sys; print(json.load(sys.stdin)[0]["GraphDriver"]["Data"]["LowerDir"])'
}
