"""The same probe in a default tinydocker container and in `podman run` on the same rootfs:
tinydocker must be at least as tight on every row.

The probe only looks (/proc/self/status, listings, the mount table) or tries what could
only touch the container's own namespaces (a tmpfs mount, a user namespace).
"""

import glob
import os
from pathlib import Path
import shutil
import subprocess
import tarfile

import pytest

from tinydocker.security.masks import MASKED, READ_ONLY

PROBE = "; ".join(
    ["grep -E '^(Cap[A-Za-z]+|NoNewPrivs|Seccomp):' /proc/self/status | tr -d ':'",
     "echo pids $(cat /sys/fs/cgroup/pids.max /sys/fs/cgroup/pids/pids.max 2>/dev/null | head -1)",
     "mkdir -p /tmp/m && mount -t tmpfs none /tmp/m 2>/dev/null && echo mount yes || echo mount no",
     "unshare -U true 2>/dev/null && echo userns yes || echo userns no",
     "mknod /tmp/kmsg c 1 11 2>/dev/null && echo mknod yes || echo mknod no"] +
    [f"echo shows:{p} $(( $(ls -A {p} 2>/dev/null | wc -l) + $(head -c 16 {p} 2>/dev/null | wc -c) ))"
     for p in MASKED] +
    ["cat /proc/self/mountinfo | while read a b c d point opts rest; do echo mount:$point $opts; done"])


def rows(output: str) -> dict:
    found = {}
    for line in output.strip().splitlines():
        key, *value = line.split(None, 1)
        found[key] = value[0].strip() if value else ""
    return found


@pytest.fixture
def podman(tmp_path, td):
    """podman with a throwaway store, running the rootfs of tinydocker's busybox image."""
    if not shutil.which("podman"):
        pytest.skip("podman is not installed")
    import tempfile

    store = Path(tempfile.mkdtemp(prefix="tdpm", dir="/tmp"))  # podman wants a runroot under 50 characters
    base = ["podman", "--root", str(store / "root"), "--runroot", str(store / "run"), "--cgroup-manager",
            "cgroupfs", "--events-backend", "none", "--network-config-dir", str(store / "net")]
    td.out("image", "build")
    rootfs = td.image_rootfs()
    archive = tmp_path / "busybox.tar"
    with tarfile.open(archive, "w") as tar:
        tar.add(str(rootfs), arcname=".")
    parents = set(_libpod_parents())
    made = subprocess.run(base + ["import", "-q", str(archive), "localhost/probe:1"], capture_output=True, text=True,
                          timeout=120)
    if made.returncode != 0:
        shutil.rmtree(store, ignore_errors=True)
        pytest.skip(f"podman cannot work on this machine: {made.stderr.strip()[-200:]}")

    def run(*args) -> subprocess.CompletedProcess:
        # lower rlimits than podman's own default: raising them needs CAP_SYS_RESOURCE, which a
        # sandboxed caller may not have, and the rows compared here do not depend on them
        return subprocess.run(base + ["run", "--rm", "--network", "none", "--ulimit", "nofile=1024:1024",
                                      "--ulimit", "nproc=4096:4096", *args], capture_output=True, text=True,
                              timeout=120)

    yield run
    subprocess.run(base + ["rmi", "-af"], capture_output=True, timeout=120)
    subprocess.run(["umount", "-R", "-l", str(store)], capture_output=True)
    shutil.rmtree(store, ignore_errors=True)
    for parent in set(_libpod_parents()) - parents:
        # podman's cgroupfs parent (and conmon's cgroup in it), made by this test, now empty
        for directory, _dirs, _files in sorted(os.walk(parent), key=lambda w: -len(w[0])):
            try:
                os.rmdir(directory)
            except OSError:
                pass


def _libpod_parents() -> list[str]:
    """podman's cgroupfs parent in each v1 hierarchy, or on cgroup2's root."""
    return glob.glob("/sys/fs/cgroup/*/libpod_parent") + glob.glob("/sys/fs/cgroup/libpod_parent")


def test_at_least_as_tight_as_podman_on_every_row(td, podman):
    theirs_run = podman("localhost/probe:1", "sh", "-c", PROBE)
    if theirs_run.returncode != 0:
        pytest.skip(f"podman cannot run containers here: {theirs_run.stderr.strip()[-200:]}")
    theirs = rows(theirs_run.stdout)
    assert "CapEff" in theirs, theirs_run
    ours = rows(td.out("run", "--rm", "probe", "sh", "-c", PROBE))
    looser = []
    for key in ("CapEff", "CapPrm", "CapBnd", "CapInh", "CapAmb"):
        if int(ours[key], 16) & ~int(theirs[key], 16):
            looser.append(f"{key}: {ours[key]} has capabilities podman's {theirs[key]} lacks")
    for key in ("NoNewPrivs", "Seccomp"):
        if int(ours[key]) < int(theirs[key]):
            looser.append(f"{key}: {ours[key]} < {theirs[key]}")
    limit = {k: float("inf") if v in ("max", "") else int(v) for k, v in (("ours", ours["pids"]),
                                                                          ("theirs", theirs["pids"]))}
    if limit["ours"] > limit["theirs"]:
        looser.append(f"pids.max {ours['pids']} > {theirs['pids']}")
    for key in ("mount", "userns", "mknod"):
        if ours[key] == "yes" and theirs[key] == "no":
            looser.append(f"{key} allowed")
    for path in MASKED:
        if int(ours[f"shows:{path}"]) > int(theirs[f"shows:{path}"]):
            looser.append(f"{path} shows more")
    for path in READ_ONLY + ["/sys"]:
        ro = {who: "ro" in (table.get(f"mount:{path}") or "rw").split(",")[:1] for who, table in
              (("ours", ours), ("theirs", theirs))}
        if ro["theirs"] and not ro["ours"]:
            looser.append(f"{path} writable")
    assert looser == [], looser


def test_privileged_is_at_least_as_open_as_podmans(td, podman):
    """--privileged, the other way round: whatever podman's privileged container may do on
    a row, ours may too (docker-in-docker and loop devices rely on it)."""
    theirs_run = podman("--privileged", "localhost/probe:1", "sh", "-c", PROBE)
    if theirs_run.returncode != 0:
        pytest.skip(f"podman cannot run privileged containers here: {theirs_run.stderr.strip()[-200:]}")
    theirs = rows(theirs_run.stdout)
    ours = rows(td.out("run", "--rm", "--privileged", "probe", "sh", "-c", PROBE))
    tighter = []
    for key in ("CapEff", "CapPrm", "CapBnd"):
        if int(theirs[key], 16) & ~int(ours[key], 16):
            tighter.append(f"{key}: {ours[key]} lacks capabilities podman's {theirs[key]} has")
    for key in ("NoNewPrivs", "Seccomp"):
        if int(ours[key]) > int(theirs[key]):
            tighter.append(f"{key}: {ours[key]} > {theirs[key]}")
    for key in ("mount", "userns", "mknod"):
        if ours[key] == "no" and theirs[key] == "yes":
            tighter.append(f"{key} refused")
    for path in MASKED:
        if int(ours[f"shows:{path}"]) < int(theirs[f"shows:{path}"]):
            tighter.append(f"{path} shows less")
    for path in READ_ONLY + ["/sys"]:
        ro = {who: "ro" in (table.get(f"mount:{path}") or "rw").split(",")[:1] for who, table in
              (("ours", ours), ("theirs", theirs))}
        if ro["ours"] and not ro["theirs"]:
            tighter.append(f"{path} read-only")
    assert tighter == [], tighter
