"""Files of a cgroup filesystem, and a container's leaf in it: what both back-ends share.

The directory `tinydocker/` is shared by all containers of all data roots and is removed
when its last container's cgroup goes. Creation therefore retries when a concurrent
removal takes `tinydocker/` away between our mkdir and the next step.
"""

import errno
import os
from pathlib import Path
import signal
import time

from ..errors import TinydockerError
from ..plain import plain

PARENT = "tinydocker"
REMOVE_PATIENCE = 2.0  # seconds of EBUSY retries before a cgroup is reported as stuck
FREEZE_PATIENCE = 10.0  # seconds for every task of a container to be frozen or thawed


@plain
class Usage:
    """One sample of a container's accounting; None where the controller is absent."""
    cpu_ns: int | None
    memory: int | None
    memory_limit: int | None   # None: unlimited
    pids: int | None


def put(path, value) -> None:
    """Write `value` to a cgroup file in one write(2), as the kernel takes it. A file object
    adds a stat, an ioctl and two seeks to each (a start writes some sixty), and every
    system call lets another of a script's threads take the GIL: fewer of them is what
    makes threads pay."""
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_CLOEXEC, 0o644)
    try:
        os.write(fd, str(value).encode())
    finally:
        os.close(fd)


def write(path: Path, value, optional: bool = False) -> None:
    try:
        put(path, value)
    except FileNotFoundError:
        raise  # the directory went away under us: callers retry or report
    except OSError as e:
        if not optional:
            raise TinydockerError(f"cannot set {path} to {value}: {e.strerror}") from None


def read(path: Path) -> str | None:
    """A cgroup (or proc) file's text, stripped; None if it cannot be read (put's reasons
    for plain system calls hold here too)."""
    try:
        fd = os.open(path, os.O_RDONLY | os.O_CLOEXEC)
    except OSError:
        return None
    try:
        chunks = []
        while chunk := os.read(fd, 65536):
            chunks.append(chunk)
    except OSError:
        return None
    finally:
        os.close(fd)
    return b"".join(chunks).decode(errors="replace").strip()


def keyed(path: Path) -> dict:
    """A flat-keyed cgroup file ('key value' per line) as a dict of ints."""
    text = read(path) or ""
    pairs = (line.split() for line in text.splitlines())
    return {p[0]: int(p[1]) for p in pairs if len(p) == 2 and p[1].lstrip("-").isdigit()}


def int_value(path: Path) -> int | None:
    text = read(path)
    return int(text) if text and text.isdigit() else None


def procs(directory: Path) -> list[int]:
    text = read(directory / "cgroup.procs") or ""
    return [int(p) for p in text.split()]


def tree_procs(leaf: Path) -> list[int]:
    """The processes of a cgroup and of the cgroups a container made below it."""
    found = []
    for directory, _dirs, _files in os.walk(leaf):
        found += procs(Path(directory))
    return found


def make_leaf(mount: Path, container_id: str, prepare_parent) -> Path:
    """mount/tinydocker/<id>, then `prepare_parent(parent)` on tinydocker/: only once the leaf
    exists, since a non-empty tinydocker/ cannot be removed. Prepared first, a concurrent
    removal and re-creation could give the leaf a tinydocker/ no one had prepared yet."""
    parent = mount / PARENT
    for _ in range(20):
        try:
            # not pathlib's exist_ok: it checks is_dir() after EEXIST, and a removal
            # between the two made that a FileExistsError
            os.mkdir(parent)
        except FileExistsError:
            pass
        leaf = parent / container_id
        try:
            leaf.mkdir()
        except FileNotFoundError:
            continue  # a concurrent removal took tinydocker/ away after our mkdir: once more
        prepare_parent(parent)
        return leaf
    raise TinydockerError(f"cannot create cgroup {parent / container_id}: its parent keeps disappearing")


def remove_leaf(leaf: Path, kill) -> None:
    """Kill what lingers, rmdir it and whatever the container made below it (retrying EBUSY
    briefly), then drop tinydocker/ if now empty."""
    deadline = time.monotonic() + REMOVE_PATIENCE
    while True:
        try:
            # another removal (an `rm -f` of a run that is ending) may take the leaf at any
            # point, even between the kill's look at a file and its write: gone is done
            kill(leaf)
            _rmdir_tree(leaf)
            break
        except FileNotFoundError:
            break
        except OSError as e:
            if e.errno != errno.EBUSY or time.monotonic() > deadline:
                raise TinydockerError(f"cannot remove cgroup {leaf}: {e.strerror}") from None
        time.sleep(0.01)
    try:
        os.rmdir(leaf.parent)
    except OSError:
        pass  # other containers' cgroups are still in it (or another removal got there first)


def _rmdir_tree(leaf: Path) -> None:
    # the cgroups a privileged container made below its own (its cgroupfs is writable) go
    # first, deepest first: a cgroup with children cannot be removed
    for directory, _dirs, _files in os.walk(leaf, topdown=False):
        if directory != str(leaf):
            try:
                os.rmdir(directory)
            except FileNotFoundError:
                pass
    os.rmdir(leaf)


def kill_procs(leaf: Path) -> None:
    """SIGKILL to every process of the cgroup and of the cgroups below it."""
    for pid in tree_procs(leaf):
        try:
            os.kill(pid, signal.SIGKILL)
        except ProcessLookupError:
            pass


def settle(done, what: str) -> None:
    """Wait (up to FREEZE_PATIENCE seconds) until done() holds: a freezer takes a moment to
    reach every task."""
    deadline = time.monotonic() + FREEZE_PATIENCE
    while not done():
        if time.monotonic() > deadline:
            raise TinydockerError(f"the container's processes did not {what} in {FREEZE_PATIENCE:g} seconds")
        time.sleep(0.005)


def freeze(directory: Path) -> None:
    """Stop every process of the cgroup (docker's and runc's pause): v1's freezer.state or
    v2's cgroup.freeze, whichever the directory has, then wait for the kernel to report them
    all frozen. Left thawed if that never comes."""
    v1 = directory / "freezer.state"

    def done() -> bool:
        if not v1_freezer:
            return keyed(directory / "cgroup.events").get("frozen") == 1
        if read(v1) == "FROZEN":
            return True
        # a v1 cgroup can stay FREEZING while its processes fork: asking again freezes the
        # newcomers too (runc retries so as well)
        write(v1, "FROZEN")
        return False

    v1_freezer = v1.exists()
    write(v1 if v1_freezer else directory / "cgroup.freeze", "FROZEN" if v1_freezer else 1)
    try:
        settle(done, "freeze")
    except BaseException:
        thaw(directory)
        raise


def thaw(directory: Path) -> None:
    """Let a frozen cgroup's processes run again (nothing if it has no freezer)."""
    if read(directory / "freezer.state") not in (None, "THAWED"):
        write(directory / "freezer.state", "THAWED", optional=True)
    elif read(directory / "cgroup.freeze") == "1":
        write(directory / "cgroup.freeze", 0, optional=True)


def frozen(directory: Path) -> bool:
    """Whether the cgroup itself was frozen (being frozen counts; an ancestor's freeze does
    not, as runc reads it): v1 FROZEN or FREEZING with freezer.self_freezing, v2 cgroup.freeze."""
    state = read(directory / "freezer.state")
    if state is not None:
        return state in ("FROZEN", "FREEZING") and read(directory / "freezer.self_freezing") != "0"
    return read(directory / "cgroup.freeze") == "1"


def nothing(_directory: Path) -> None:
    pass
