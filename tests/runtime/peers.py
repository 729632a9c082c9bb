"""What the peer tests (podman, containerd) share: the runtimes they drive, side by side, and
the host-side checks that a container left nothing behind."""

import os
import shutil
import sys
from pathlib import Path

import pytest

RUNTIMES = ("tinydocker-runtime", "runc")


def runtime_path(name: str) -> str:
    """The binary an engine is given for `name`: tinydocker-runtime is the console script
    beside the interpreter running the tests (the checkout's venv, as CI's `pip install -e`
    makes it), else on PATH; runc, the reference, is the host's."""
    if name == "tinydocker-runtime":
        beside = Path(sys.executable).parent / name  # not resolved: a venv's python is a symlink
        found = str(beside) if beside.exists() else shutil.which(name)
        if not found:
            pytest.fail("tinydocker-runtime is not installed: `pip install -e .` in the checkout makes it",
                        pytrace=False)
        return found
    found = shutil.which(name) or (f"/usr/sbin/{name}" if os.path.exists(f"/usr/sbin/{name}") else None)
    if not found:
        pytest.skip(f"{name} is not installed (apt-get install {name}): nothing to compare with")
    return found


def needs(*tools: str, package: str):
    """A module's mark: skipped, saying what to install, without one of `tools` (checked
    before any fixture is made)."""
    missing = [t for t in tools if not shutil.which(t)]
    return pytest.mark.skipif(bool(missing), reason=f"{', '.join(missing)} not installed (apt-get install {package})")


def alive(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/stat", "rb") as f:
            return f.read().rsplit(b")", 1)[1].split()[0] != b"Z"
    except OSError:
        return False


def processes_mentioning(text: str) -> list[tuple[int, str]]:
    """Live processes whose command line contains `text` (a store's or a socket's path):
    monitors (conmon, containerd's shims) that outlived their containers."""
    found = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit() or int(entry) == os.getpid():
            continue
        try:
            with open(f"/proc/{entry}/cmdline", "rb") as f:
                cmdline = f.read().replace(b"\0", b" ").decode(errors="replace")
        except OSError:
            continue
        if text in cmdline and alive(int(entry)):
            found.append((int(entry), cmdline.strip()))
    return found


def cgroup_dirs(pid: int) -> list[str]:
    """The host directories of the cgroups `pid` is in, one per hierarchy."""
    dirs = []
    with open(f"/proc/{pid}/cgroup") as f:
        for line in f:
            _, controllers, path = line.rstrip("\n").split(":", 2)
            if controllers == "":
                mount = "/sys/fs/cgroup/unified" if os.path.isdir("/sys/fs/cgroup/unified") else "/sys/fs/cgroup"
            else:
                name = controllers.replace("name=", "")
                mount = f"/sys/fs/cgroup/{name}"
                if not os.path.isdir(mount):
                    continue  # a co-mounted hierarchy under another name (cpu,cpuacct): seen through that one
            dirs.append(mount + path)
    return dirs


def memory_limit(pid: int) -> int | None:
    """The memory limit of `pid`'s cgroup, read on the host (v1's memory controller or v2's
    memory.max); None without one."""
    for d in cgroup_dirs(pid):
        for name in ("memory.limit_in_bytes", "memory.max"):
            try:
                with open(os.path.join(d, name)) as f:
                    text = f.read().strip()
            except OSError:
                continue
            return None if text == "max" else int(text)
    return None


def frozen(pid: int) -> bool:
    """Whether `pid`'s cgroup is frozen: v1's freezer.state, or v2's cgroup.events."""
    for d in cgroup_dirs(pid):
        try:
            with open(os.path.join(d, "freezer.state")) as f:
                return f.read().strip() == "FROZEN"
        except OSError:
            pass
        try:
            with open(os.path.join(d, "cgroup.events")) as f:
                if "frozen 1" in f.read():
                    return True
        except OSError:
            pass
    return False


def remove_new_dirs(before: set[str], now: set[str]) -> None:
    """Remove directories (cgroups, socket directories) an engine made for this test and
    left empty; rmdir refuses any still in use, so another's is never touched."""
    for parent in now - before:
        for directory, _dirs, _files in sorted(os.walk(parent), key=lambda w: -len(w[0])):
            try:
                os.rmdir(directory)
            except OSError:
                pass
