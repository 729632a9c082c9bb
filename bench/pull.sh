#!/bin/bash
# `pull` of a 5-layer image from a local registry (Debian's docker-registry on 127.0.0.1),
# side by side with `skopeo copy` of the same image into an OCI layout, in one run; each
# run starts from an empty store. Prints medians and the ratios. skopeo only copies blobs,
# where pull also unpacks the layers to run them; `skopeo+umoci` (the copy, then umoci
# unpacking its rootfs) and `podman pull` (into a throwaway overlay store) do both.
#
# Usage: bench/pull.sh            (RUNS=20 by default; needs hyperfine, skopeo, umoci, podman, docker-registry)
set -euo pipefail
RUNS=${RUNS:-20}
source "$(dirname "$0")/common.sh"
registry_pid=
cleanup() {
  [ -n "$registry_pid" ] && kill "$registry_pid" 2>/dev/null && wait "$registry_pid" 2>/dev/null || true
  drop_podman
  drop_work
}
# podman's overlay storage bind-mounts its own overlay directory: unmounted before the store goes
drop_podman() { umount -q "$work/podman/root/overlay" 2>/dev/null || true; rm -rf "$work/podman"; }
trap cleanup EXIT

# the image: the tests' many_layers fixture with 5 layers (busybox in the first), gzip layers
many_layers_fixture 5
port=$("$PY" -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
mkdir -p "$work/registry"
cat > "$work/registry/config.yml" <<YML
version: 0.1
log:
  level: warn
  accesslog:
    disabled: true
storage:
  filesystem:
    rootdirectory: $work/registry/storage
http:
  addr: 127.0.0.1:$port
  secret: tinydocker-bench-only
YML
docker-registry serve "$work/registry/config.yml" >"$work/registry/log" 2>&1 &
registry_pid=$!
# wait until it answers /v2/, however long a loaded machine takes to start it (the old 100
# tries of 50 ms gave up silently, and skopeo then met a registry not yet up); straight to
# 127.0.0.1, never through a proxy from the environment; a registry that died says why
"$PY" - "$port" "$registry_pid" "$work/registry/log" <<'PY'
import os, sys, time, urllib.error, urllib.request
port, pid, log = sys.argv[1], int(sys.argv[2]), sys.argv[3]
direct = urllib.request.build_opener(urllib.request.ProxyHandler({}))
deadline = time.monotonic() + 60
while True:
    try:
        direct.open(f"http://127.0.0.1:{port}/v2/", timeout=2).close()
        break
    except urllib.error.HTTPError:
        break  # an answer all the same
    except OSError:
        pass
    try:  # a registry that died is a zombie until the shell reaps it
        alive = open(f"/proc/{pid}/stat").read().rsplit(")", 1)[1].split()[0] != "Z"
    except OSError:
        alive = False
    if not alive or time.monotonic() > deadline:
        sys.exit(f"docker-registry {'died' if not alive else 'never answered'}; its log:\n" + open(log).read())
    time.sleep(0.05)
PY
skopeo copy -q --dest-tls-verify=false "oci:$work/fixtures/many-5:many-5" "docker://127.0.0.1:$port/bench/many:5"

hyperfine -N --style basic --warmup 2 --runs "$RUNS" --export-json "$results/pull.json" \
  --prepare "sh -c 'umount -q $work/podman/root/overlay 2>/dev/null; rm -rf $work/td-root $work/skopeo-out $work/umoci-out $work/podman'" \
  -n skopeo "skopeo copy -q --src-tls-verify=false docker://127.0.0.1:$port/bench/many:5 oci:$work/skopeo-out:many" \
  -n skopeo+umoci "sh -c 'skopeo copy -q --src-tls-verify=false docker://127.0.0.1:$port/bench/many:5 \
oci:$work/skopeo-out:many && umoci raw unpack --image $work/skopeo-out:many $work/umoci-out'" \
  -n podman "podman --root $work/podman/root --runroot $work/podman/run --storage-driver overlay \
--events-backend none pull -q --tls-verify=false 127.0.0.1:$port/bench/many:5" \
  -n tinydocker "$PY -m tinydocker --root $work/td-root pull -q 127.0.0.1:$port/bench/many:5" >/dev/null

ratios "$results/pull.json" skopeo skopeo+umoci podman
