#!/bin/bash
# `tinydocker build` of a 10-step Containerfile over busybox, side by side with `buildah bud`
# (Debian's buildah; what podman build runs) on vfs and on overlay storage, in one run:
#   1. a cold build: each run starts with the previous result and every cached step removed
#      (tinydocker `rmi` + `builder prune -a -f`, buildah `rmi` + `rmi --prune`), the base
#      image kept, and builds with --no-cache;
#   2. a cached rebuild, nothing changed: every step taken from the cache;
#   3. that cached rebuild again once the store also holds OTHERS (20) other builds of the
#      file (each with an ENV of its own after FROM: ~200 more images in each store).
# tinydocker runs its RUN steps with --network none, buildah with --isolation chroot (no
# OCI runtime) and --layers so it caches steps as tinydocker does, each buildah in a
# throwaway --root/--runroot of its own. Both build FROM the same busybox:
# tinydocker's, saved as an OCI archive for buildah (FROM oci-archive:PATH through an ARG,
# as tests/build/test_against_buildah.py does). Prints medians and the ratios
# tinydocker/buildah; the goal (issue 21): no slower, and a cached rebuild well under 1 s.
#
# Usage: bench/build.sh     (RUNS=10 runs each, OTHERS=20 (0: no 3.); needs hyperfine, buildah)
#        PROFILE=1 bench/build.sh   also times tinydocker's phases in cold and cached
#        builds, in the empty store and the busy one, and keeps a cProfile, python -X
#        importtime and strace -c -f of a cold and a cached build in bench/results/build-*
set -euo pipefail
RUNS=${RUNS:-10}
OTHERS=${OTHERS:-20}
source "$(dirname "$0")/common.sh"

drivers=(vfs)
cleanup() {
  for drv in "${drivers[@]}"; do
    buildah_in "$drv" rm --all >/dev/null 2>&1 || true
    buildah_in "$drv" rmi --all --force >/dev/null 2>&1 || true
    # overlay storage mounts its own directory over itself: unmounted before the store goes
    umount -q "$work/buildah-$drv/root/overlay" 2>/dev/null || true
  done
  drop_work
}
buildah_in() {
  local drv=$1; shift
  buildah --storage-driver "$drv" --root "$work/buildah-$drv/root" --runroot "$work/buildah-$drv/run" "$@"
}
trap cleanup EXIT

# the context: a small app tree (14 files in 6 directories) and a config file
ctx=$work/ctx
mkdir -p "$ctx/app/bin" "$ctx/app/lib/util" "$ctx/app/static/css"
for i in 1 2 3 4 5 6; do printf 'def f%s():\n    return %s\n' "$i" "$i" > "$ctx/app/lib/mod$i.py"; done
for i in 1 2 3; do printf 'X = %s\n' "$i" > "$ctx/app/lib/util/u$i.py"; done
for i in 1 2 3; do printf 'body { color: #%s%s%s }\n' "$i" "$i" "$i" > "$ctx/app/static/css/s$i.css"; done
printf '#!/bin/sh\necho started\n' > "$ctx/app/bin/start"
printf '# app\n' > "$ctx/app/README"
printf '[app]\nlevel = info\n' > "$ctx/config.ini"
printf '*.swp\n' > "$ctx/.dockerignore"
cat > "$ctx/Containerfile" <<'EOF'
ARG BASE
FROM ${BASE}
ENV APP_HOME=/srv/app LANG=C.UTF-8
WORKDIR /srv/app
COPY app/ ./
RUN mkdir -p /var/lib/app && for i in $(seq 1 50); do echo "row $i" >> /var/lib/app/data.txt; done
RUN find . -type f | sort > /var/lib/app/MANIFEST && chmod 0755 bin/start
COPY config.ini /etc/app/config.ini
LABEL org.opencontainers.image.title=bench org.example.stage=test
RUN echo 'app:x:1000:1000::/srv/app:/bin/sh' >> /etc/passwd && mkdir -p /var/log/app && chown 1000:1000 /var/log/app
CMD ["/srv/app/bin/start"]
EOF

"${td[@]}" image build busybox >/dev/null
"${td[@]}" save --format oci-archive -o "$work/busybox.tar" busybox
# overlay storage for buildah where this kernel and filesystem give it (its own probe)
mkdir -p "$work/probe"
if buildah --storage-driver overlay --root "$work/probe/root" --runroot "$work/probe/run" \
     pull -q "oci-archive:$work/busybox.tar" >/dev/null 2>"$work/probe.err"; then
  drivers+=(overlay)
else
  echo "buildah's overlay storage does not work here (only vfs measured): $(tail -1 "$work/probe.err")"
fi
buildah --storage-driver overlay --root "$work/probe/root" --runroot "$work/probe/run" rmi --all --force >/dev/null 2>&1 || true
umount -q "$work/probe/root/overlay" 2>/dev/null || true

tdb() { echo "${td[*]} build -q --network none $* -t bench --build-arg BASE=busybox $ctx"; }
bah() { echo "buildah --storage-driver $1 --root $work/buildah-$1/root --runroot $work/buildah-$1/run"; }
bahb() { echo "$(bah "$1") bud -q --isolation chroot --layers ${2:-} --build-arg BASE=oci-archive:$work/busybox.tar -t bench $ctx"; }
# each buildah store starts with busybox in it, as tinydocker's does
for drv in "${drivers[@]}"; do buildah_in "$drv" pull -q "oci-archive:$work/busybox.tar" >/dev/null; done

cold=(-n tinydocker --prepare "sh -c '${td[*]} rmi bench >/dev/null 2>&1; ${td[*]} builder prune -a -f >/dev/null'"
      "$(tdb --no-cache)")
cached=(-n tinydocker "$(tdb)")
for drv in "${drivers[@]}"; do
  cold+=(-n "buildah-$drv" --prepare "sh -c '$(bah "$drv") rmi -f bench >/dev/null 2>&1; $(bah "$drv") rmi --prune >/dev/null'"
         "$(bahb "$drv" --no-cache)")
  cached+=(-n "buildah-$drv" "$(bahb "$drv")")
done
hyperfine -N --style basic --warmup 1 --runs "$RUNS" --export-json "$results/build-cold.json" "${cold[@]}" >/dev/null
hyperfine -N --style basic --warmup 1 --runs "$RUNS" --export-json "$results/build-cached.json" "${cached[@]}" >/dev/null

# that the cached rebuilds were: every step after FROM taken from the cache, by each builder
hits=$("${td[@]}" build --network none -t bench --build-arg BASE=busybox "$ctx" | grep -c 'Using cache' || true)
line="cache hits in a rebuild (of 9 steps after FROM): tinydocker $hits"
for drv in "${drivers[@]}"; do
  line+=", buildah-$drv $(buildah_in "$drv" bud --isolation chroot --layers --build-arg "BASE=oci-archive:$work/busybox.tar" \
    -t bench "$ctx" 2>&1 | grep -c 'Using cache' || true)"
done

# PROFILE=1: where tinydocker's time goes. PROFILE_RUNS (5) builds cold (the cache pruned
# before each; `builder prune` without -a keeps the steps other named images stand on) and
# as many cached, each in a process of its own that times the builder's phases itself
# (wrapped functions; each phase's own time, without what it calls that is timed too;
# import statements are a phase of their own): a JSON line each, in build-phases-*.jsonl.
PROFILE_RUNS=${PROFILE_RUNS:-5}
prune() { "${td[@]}" rmi bench >/dev/null 2>&1 || true; "${td[@]}" builder prune -f >/dev/null; }
phases() {  # phases FILE BUILD-FLAGS...: one build, its phases as one JSON line added to FILE
  "$PY" - "$work/root" "$@" <<'PY'
import builtins, json, sys, time

t0 = time.perf_counter()
spent, stack = {}, []


def timed(name, fn):
    def wrapper(*args, **kwargs):
        stack.append([name, time.perf_counter(), 0.0])
        try:
            return fn(*args, **kwargs)
        finally:
            _, start, inner = stack.pop()
            took = time.perf_counter() - start
            spent[name] = spent.get(name, 0.0) + took - inner
            if stack:
                stack[-1][2] += took
    return wrapper


import tinydocker.cli
from tinydocker.builder import build as builder, cache, run, sources
from tinydocker.container import removal, runtime
from tinydocker.image import index

startup = time.perf_counter() - t0
B = builder.Builder
index.Index.read = classmethod(timed("image index read (index.toml parsed)", index.Index.read.__func__))
index.Index.write = timed("image index written (TOML, fsync'd)", index.Index.write)
cache.lookup = timed("cache lookups (besides the index read)", cache.lookup)
runtime.run = timed("RUN: the container (create, start, wait, finish)", runtime.run)
removal.discard = timed("RUN: the container removed", removal.discard)
B._publish = timed("step images committed (layer, config; lock)", B._publish)
B._files_step = timed("COPY/WORKDIR: overlay mount and copy", B._files_step)
sources.plan = timed("COPY: context walked and summed", sources.plan)
B._adopt = timed("step configs read", B._adopt)
B._finish = timed("image tagged", B._finish)
builder.sweep = timed("sweep of killed builds", builder.sweep)
builder.parse = timed("Dockerfile parsed", builder.parse)
builtins.__import__ = timed("imports during the build", builtins.__import__)
main = timed("the rest (CLI, context, run_step, Builder)", tinydocker.cli.main)
try:
    main(["--root", sys.argv[1], "build", "-q", *sys.argv[3:]])
except SystemExit as e:
    assert not e.code, e.code
spent["imports before (typer, click, the CLI, the builder)"] = startup
with open(sys.argv[2], "a") as out:
    print(json.dumps({k: v * 1000 for k, v in spent.items()}), file=out)
PY
}
profile() {  # profile LABEL: the phases of PROFILE_RUNS cold and cached builds, as they are now
  local kind flags
  for kind in cold cached; do
    flags=(--network none -t bench --build-arg BASE=busybox "$ctx")
    [ "$kind" = cold ] && flags=(--no-cache "${flags[@]}")
    for i in $(seq 1 "$PROFILE_RUNS"); do
      [ "$kind" = cold ] && prune
      phases "$results/build-phases-$kind$1.jsonl" "${flags[@]}" >/dev/null
    done
  done
}
if [ "${PROFILE:-}" = 1 ]; then
  rm -f "$results"/build-phases-*.jsonl
  profile ""
  # and a cProfile, python -X importtime and strace -c -f of one build of each kind
  for kind in cold cached; do
    flags=(--network none -t bench --build-arg BASE=busybox "$ctx")
    [ "$kind" = cold ] && flags=(--no-cache "${flags[@]}")
    [ "$kind" = cold ] && prune
    "$PY" -m cProfile -o "$results/build-$kind.prof" -m tinydocker --root "$work/root" build -q "${flags[@]}" >/dev/null
    [ "$kind" = cold ] && prune
    "$PY" -X importtime -m tinydocker --root "$work/root" build -q "${flags[@]}" 2>"$results/build-$kind.importtime" >/dev/null
    [ "$kind" = cold ] && prune
    strace -f -c -o "$results/build-$kind.strace" "$PY" -m tinydocker --root "$work/root" build -q "${flags[@]}" >/dev/null
  done
fi

# 3. the same cached rebuild in a store that also holds OTHERS (20) other builds of the file,
#    each with its own ENV after FROM, so every step of each is an image of its own
runs=("cold build:$results/build-cold.json" "cached rebuild:$results/build-cached.json")
if [ "$OTHERS" -gt 0 ]; then
  for i in $(seq 1 "$OTHERS"); do
    sed "s/^FROM \${BASE}\$/&\nENV VARIANT=$i/" "$ctx/Containerfile" > "$work/Containerfile.$i"
    "${td[@]}" build -q --network none -f "$work/Containerfile.$i" -t "other$i" --build-arg BASE=busybox "$ctx" >/dev/null
    for drv in "${drivers[@]}"; do
      buildah_in "$drv" bud -q --isolation chroot --layers -f "$work/Containerfile.$i" \
        --build-arg "BASE=oci-archive:$work/busybox.tar" -t "other$i" "$ctx" >/dev/null
    done
  done
  busy=(-n tinydocker "$(tdb)")
  for drv in "${drivers[@]}"; do busy+=(-n "buildah-$drv" "$(bahb "$drv")"); done
  hyperfine -N --style basic --warmup 1 --runs "$RUNS" --export-json "$results/build-busy.json" "${busy[@]}" >/dev/null
  runs+=("cached, $OTHERS more:$results/build-busy.json")
  line+="; tinydocker's store then held $(grep -c '^\[images\.' "$work/root/images/index.toml") images (its index.toml"
  line+=" $(($(stat -c %s "$work/root/images/index.toml") / 1024)) KiB)"
  [ "${PROFILE:-}" = 1 ] && profile -busy
fi

"$PY" - "${#drivers[@]}" "${drivers[@]}" "${runs[@]}" <<'PY'
import json, statistics, sys
n = int(sys.argv[1])
drivers, runs = sys.argv[2:2 + n], [r.rsplit(":", 1) for r in sys.argv[2 + n:]]
peers = [f"buildah-{d}" for d in drivers]
print(f"{'median':<20}{'tinydocker':>12}" + "".join(f"{p:>17}" for p in peers) + "".join(f"{'td/' + p:>19}" for p in peers))
for what, path in runs:
    m = {r["command"]: statistics.median(r["times"]) * 1000 for r in json.load(open(path))["results"]}
    print(f"{what:<20}{m['tinydocker']:>10.0f}ms" + "".join(f"{m[p]:>15.0f}ms" for p in peers)
          + "".join(f"{m['tinydocker'] / m[p]:>18.2f}x" for p in peers))
PY
echo "$line"
[ "${PROFILE:-}" = 1 ] || exit 0

echo
hyperfine -N --style none --runs 20 --export-json "$results/build-python.json" "$PY -c pass" >/dev/null
"$PY" - "$results/build-python.json" "$results"/build-phases-*.jsonl <<'PY'
import json, os, statistics, sys
interp = statistics.median(json.load(open(sys.argv[1]))["results"][0]["times"]) * 1000
files = sorted(sys.argv[2:], key=lambda f: ("busy" in f, "cached" in f))
labels = [os.path.basename(f)[len("build-phases-"):-len(".jsonl")].replace("-busy", ", busy") for f in files]
runs = [[json.loads(line) for line in open(f)] for f in files]
first = "interpreter start (python -c pass)"
names = sorted({k for r in runs for d in r for k in d}, key=lambda k: -statistics.median(d.get(k, 0) for d in runs[0]))
width = max(len(n) for n in names + [first]) + 2
print(f"where tinydocker's time goes (ms, medians of {len(runs[0])} builds each; busy: the store holding the other builds)")
print(" " * width + "".join(f"{label:>18}" for label in labels))
total = [interp] * len(runs)
print(f"{first:<{width}}" + "".join(f"{interp:>18.1f}" for _ in runs))
for name in names:
    cells = [statistics.median(d.get(name, 0) for d in r) for r in runs]
    total = [t + c for t, c in zip(total, cells)]
    print(f"{name:<{width}}" + "".join(f"{c:>18.1f}" for c in cells))
print(f"{'sum':<{width}}" + "".join(f"{t:>18.1f}" for t in total))
PY
for kind in cold cached; do
  echo "$kind build: imports $(awk -F'|' '{s += $1 ~ /import time: *[0-9]/ ? substr($1, 13) : 0} END {printf "%.0f", s / 1000}' \
    "$results/build-$kind.importtime") ms over $(grep -c '' "$results/build-$kind.importtime") modules (python -X importtime);" \
    "$(awk '$NF == "total" {print $4}' "$results/build-$kind.strace") system calls (strace -c -f); cProfile: $results/build-$kind.prof"
done
