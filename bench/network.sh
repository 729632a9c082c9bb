#!/bin/bash
# What a network costs a container, side by side with podman (bridge, netavark/CNI), in one run:
#   1. `run --rm /bin/true` with --network none and on the default bridge, for both;
#   2. a published port: the time from starting `run -d -p PORT:80 … httpd` until the port
#      answers on 127.0.0.1 (the start's own time included).
# Prints medians and ratios. Traffic goes only to 127.0.0.1.
#
# Usage: bench/network.sh     (RUNS=30, PORT_RUNS=10; needs hyperfine; podman is skipped if absent)
set -euo pipefail
RUNS=${RUNS:-30}
PORT_RUNS=${PORT_RUNS:-10}
source "$(dirname "$0")/common.sh"
export CONTAINERS_CONF=$SHARED_BENCH/containers.conf
cleanup() {
  command -v podman >/dev/null && podman rm -f -t 0 --filter label=tdbench=$$ >/dev/null 2>&1 || true
  drop_work
}
trap cleanup EXIT

busybox_bundle
"${td[@]}" run --rm warm /bin/true  # the default bridge exists before timing starts

commands=(-n td-none "${td[*]} run --rm --network none bench1 /bin/true"
          -n td-bridge "${td[*]} run --rm bench2 /bin/true")
bases=(td-none)
if command -v podman >/dev/null; then
  podman run --rm --rootfs "$rootfs" /bin/true  # podman's network set up before timing
  commands+=(-n podman-none "podman run --rm --network none --rootfs $rootfs /bin/true"
             -n podman-bridge "podman run --rm --rootfs $rootfs /bin/true")
  bases+=(podman-bridge)
fi
hyperfine -N --style basic --warmup 3 --runs "$RUNS" --export-json "$results/network.json" "${commands[@]}" >/dev/null
ratios "$results/network.json" "${bases[@]}"

echo
echo "published port: start to first answer on 127.0.0.1 (median of $PORT_RUNS)"
"$PY" - "$PORT_RUNS" "$rootfs" "$$" "${td[@]}" <<'PY'
import shutil, socket, statistics, subprocess, sys, time, urllib.request

runs, rootfs, tag, td = int(sys.argv[1]), sys.argv[2], sys.argv[3], sys.argv[4:]
httpd = "mkdir -p /www && echo ok > /www/index.html && exec httpd -f -p 80 -h /www"

def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]

def answered(port):
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/", timeout=0.5) as r:
            return r.read() == b"ok\n"
    except OSError:
        return False

def first_answer(start, stop):
    times = []
    for i in range(runs):
        port = free_port()
        t0 = time.monotonic()
        start(i, port)
        while not answered(port):
            time.sleep(0.002)
        times.append((time.monotonic() - t0) * 1000)
        stop(i)
    return statistics.median(times)

out = {"tinydocker": first_answer(
    lambda i, port: subprocess.run(td + ["run", "-d", "-p", f"{port}:80", f"web{i}", "sh", "-c", httpd],
                                   check=True, capture_output=True),
    lambda i: subprocess.run(td + ["rm", "-f", f"web{i}"], check=True, capture_output=True))}
if shutil.which("podman"):
    out["podman"] = first_answer(
        lambda i, port: subprocess.run(["podman", "run", "-d", "--label", f"tdbench={tag}", "-p", f"{port}:80",
                                        "--name", f"tdb-{tag}-{i}", "--rootfs", rootfs, "sh", "-c", httpd],
                                       check=True, capture_output=True),
        lambda i: subprocess.run(["podman", "rm", "-f", "-t", "0", f"tdb-{tag}-{i}"], check=True, capture_output=True))
for name, ms in out.items():
    ratio = f"  {ms / out['podman']:.2f}x podman" if "podman" in out else ""
    print(f"  {name:<12}{ms:8.1f} ms{ratio}")
PY
