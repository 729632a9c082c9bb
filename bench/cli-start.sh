#!/bin/bash
# How fast the command line starts, in one run:
#   1. the read-only commands (ps -a, images, inspect, logs) over a data root holding busybox
#      and one exited container (and ps -a over an empty one), next to the floor every command
#      stands on: the interpreter (python3 -c pass) and the CLI library (python3 -c 'import
#      typer', click being most of it);
#   2. `run --rm /bin/true` with --network none and on the default bridge, next to runc and
#      crun on the same busybox rootfs (crun through in_legacy_cgroup_ns, whose own cost is
#      measured beside it as crun-wrapper);
#   3. where the time goes: each phase of a command in its own process (medians), and the
#      modules each command imports beyond typer's.
# Prints medians and ratios.
#
# Usage: bench/cli-start.sh      (RUNS=30 by default; needs hyperfine, runc, jq; crun if present)
set -euo pipefail
RUNS=${RUNS:-30}
source "$(dirname "$0")/common.sh"
trap drop_work EXIT
# in_legacy_cgroup_ns (crun refuses this machine's hybrid cgroup layout); RESULTS: ours
RESULTS=$results source "$SHARED_BENCH/bench-common.sh"

busybox_bundle
"${td[@]}" run --network none c1 echo hello >/dev/null
mkdir "$work/empty"  # a data root with nothing in it yet

hyperfine -N --style basic --warmup 3 --runs "$RUNS" --export-json "$results/cli-start.json" \
  -n python "$PY -c pass" \
  -n click "$PY -c 'import click'" \
  -n typer "$PY -c 'import typer'" \
  -n ps-empty "$PY -m tinydocker --root $work/empty ps -a" \
  -n ps "${td[*]} ps -a" \
  -n images "${td[*]} images" \
  -n inspect "${td[*]} inspect c1" \
  -n logs "${td[*]} logs c1" >/dev/null
ratios "$results/cli-start.json" python typer
echo

crun=()
if command -v crun >/dev/null && in_legacy_cgroup_ns "$SHARED_BENCH/bench-oci-run.sh" crun "$work/bundle"; then
  wrap="unshare --mount --propagation private -- sh -c 'umount /sys/fs/cgroup/unified 2>/dev/null; exec \"\$@\"' sh"
  crun=(-n crun "$wrap $SHARED_BENCH/bench-oci-run.sh crun $work/bundle" -n crun-wrapper "$wrap true")
fi
hyperfine -N --style basic --warmup 3 --runs "$RUNS" --export-json "$results/cli-run.json" \
  -n runc "$SHARED_BENCH/bench-oci-run.sh runc $work/bundle" \
  "${crun[@]}" \
  -n run-none "${td[*]} run --rm --network none r1 /bin/true" \
  -n run-bridge "${td[*]} run --rm r2 /bin/true" >/dev/null
ratios "$results/cli-run.json" runc
echo

# each phase in the command's own process, as cli.main goes through them (median of RUNS/2)
phases() {
  for _ in $(seq $((RUNS / 2))); do
    "$PY" - --root "$work/root" "$@" <<'PY' 2>&1 >/dev/null | tail -1
import time
t = [time.perf_counter()]
import typer
t.append(time.perf_counter())
import gc, os, sys
from typer.main import get_command
from tinydocker import cli
t.append(time.perf_counter())
chosen = cli._app_for(sys.argv[1:])  # the command's own module
t.append(time.perf_counter())
gc.freeze()
command = get_command(chosen)  # typer's click command
t.append(time.perf_counter())
sys.stdout = open(os.devnull, "w")
try:
    command.main(args=sys.argv[1:], prog_name="tinydocker", standalone_mode=False)
except BaseException:
    pass
t.append(time.perf_counter())
print(*[f"{(b - a) * 1000:.2f}" for a, b in zip(t, t[1:])], file=sys.stderr)
PY
  done | "$PY" -c '
import statistics, sys
rows = [list(map(float, line.split())) for line in sys.stdin if line[:1].isdigit()]
print(f"{sys.argv[1]:<12}" + "".join(f"{statistics.median(c):>10.1f}" for c in zip(*rows))
      + f"{statistics.median(map(sum, rows)):>10.1f}")' "$1"
}
echo "where the time goes (ms, medians; the interpreter's own start is python's line above):"
printf '%-12s%10s%10s%10s%10s%10s%10s\n' command "typer" "cli" "module" "click" "work" "total"
phases ps -a
phases images
phases inspect c1
phases logs c1
phases run --rm --network none r3 /bin/true
echo

# the modules each command imports beyond what `import typer` does (least self time of 5 runs;
# -X importtime leaves out a module imported through importlib.import_module, as the command's
# own cli module is: the phases' "module" column has it)
"$PY" -X importtime -c 'import typer' 2> "$work/typer.imports"
for args in "ps -a" "images" "inspect c1" "logs c1" "run --rm --network none r4 /bin/true"; do
  for i in 1 2 3 4 5; do
    # shellcheck disable=SC2086
    "$PY" -X importtime -m tinydocker --root "$work/root" $args 2> "$work/imports.$i" >/dev/null || true
  done
  "$PY" - "$args" "$work/typer.imports" "$work"/imports.? <<'PY'
import sys
def read(path):
    for line in open(path):
        if line.startswith("import time:") and "self [us]" not in line:
            own, _, name = line[12:].split("|")
            yield name.strip(), int(own)
typers = {name for name, _ in read(sys.argv[2])}
least = {}
for path in sys.argv[3:]:
    for name, own in read(path):
        least[name] = min(least.get(name, own), own)
ours = sorted(((own, name) for name, own in least.items() if name not in typers), reverse=True)
print(f"{sys.argv[1]}: {len(ours)} modules beyond typer's, {sum(o for o, _ in ours) / 1000:.1f} ms under -X importtime; "
      + ", ".join(f"{name} {own / 1000:.1f}" for own, name in ours[:8]))
PY
done
