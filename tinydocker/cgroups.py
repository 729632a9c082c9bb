"""Each container's cgroup: created with its limits, joined before the command starts, removed.

One interface, two back-ends, chosen at run time from /proc/self/mountinfo:

  CgroupV1  one directory per hierarchy: <mount of cpu>/tinydocker/<id>, <mount of memory>/...
            Used whenever v1 hierarchies carry the controllers (pure v1, and hybrid layouts
            whose cgroup2 mount has none of them, as systemd's "unified" tree usually has).
  CgroupV2  <cgroup2 mount>/tinydocker/<id> on a unified hierarchy. Controllers are enabled
            through cgroup.subtree_control down the path; `tinydocker/` itself never holds a
            process, since v2 allows processes only in leaves ("no internal processes").

The directory `tinydocker/` is shared by all containers of all data roots and is removed
when its last container's cgroup goes. Creation therefore retries when a concurrent
removal takes `tinydocker/` away between our mkdir and the next step.
"""

import errno
import os
import signal
import time
from dataclasses import dataclass, field
from pathlib import Path

from .errors import TinydockerError
from .limits import CFS_PERIOD_US, MAX_CPU_SHARES, Limits

PARENT = "tinydocker"
V1_CONTROLLERS = ("cpu", "cpuacct", "cpuset", "memory", "pids")
V2_CONTROLLERS = ("cpu", "cpuset", "memory", "pids")
REMOVE_PATIENCE = 2.0  # seconds of EBUSY retries before a cgroup is reported as stuck


@dataclass
class Layout:
    """Where the cgroup filesystems are mounted: v1 controller -> mount point, and cgroup2's."""
    v1: dict
    v2: str | None
    v1_options: dict = field(default_factory=dict)  # v1 mount point -> its controllers, "cpu,cpuacct"

    @property
    def version(self) -> str:
        if self.v1 and self.v2:
            return "hybrid"
        return "v1" if self.v1 else "v2" if self.v2 else "none"

    @property
    def backend(self) -> str:
        """Which back-end realises limits here: v1 wherever v1 hierarchies hold the controllers."""
        return "v1" if self.v1 else "v2" if self.v2 else "none"


def layout(mountinfo: str | None = None) -> Layout:
    if mountinfo is None:
        with open("/proc/self/mountinfo") as f:
            mountinfo = f.read()
    v1, v2, v1_options = {}, None, {}
    for line in mountinfo.splitlines():
        before, _, after = line.partition(" - ")
        if not after:
            continue
        fstype, _source, options = (after.split() + ["", ""])[:3]
        mount_point = _unescape(before.split()[4])
        if fstype == "cgroup":
            for option in options.split(","):
                if option in V1_CONTROLLERS:
                    v1.setdefault(option, mount_point)
                    v1_options[mount_point] = ",".join(o for o in options.split(",") if o not in ("rw", "ro"))
        elif fstype == "cgroup2" and v2 is None:
            v2 = mount_point
    return Layout(v1, v2, v1_options)


def _unescape(field: str) -> str:
    # mountinfo writes space, tab, newline and backslash as octal escapes
    return field.encode().decode("unicode_escape") if "\\" in field else field


def open_cgroup(container_id: str, where: Layout | None = None) -> "CgroupV1 | CgroupV2":
    where = where or layout()
    if where.backend == "v1":
        return CgroupV1(where.v1, container_id, where.v1_options)
    if where.backend == "v2":
        return CgroupV2(where.v2, container_id)
    raise TinydockerError("no cgroup filesystem is mounted (tinydocker needs /sys/fs/cgroup)")


@dataclass
class Usage:
    """One sample of a container's accounting; None where the controller is absent."""
    cpu_ns: int | None
    memory: int | None
    memory_limit: int | None   # None: unlimited
    pids: int | None


# -- file helpers shared by both back-ends ------------------------------------------------

def _write(path: Path, value, optional: bool = False) -> None:
    try:
        with open(path, "w") as f:
            f.write(str(value))
    except FileNotFoundError:
        raise  # the directory went away under us: callers retry or report
    except OSError as e:
        if not optional:
            raise TinydockerError(f"cannot set {path} to {value}: {e.strerror}") from None


def _read(path: Path) -> str | None:
    try:
        with open(path) as f:
            return f.read().strip()
    except OSError:
        return None


def _keyed(path: Path) -> dict:
    """A flat-keyed cgroup file ('key value' per line) as a dict of ints."""
    text = _read(path) or ""
    pairs = (line.split() for line in text.splitlines())
    return {p[0]: int(p[1]) for p in pairs if len(p) == 2 and p[1].lstrip("-").isdigit()}


def _int(path: Path) -> int | None:
    text = _read(path)
    return int(text) if text and text.isdigit() else None


def _procs(directory: Path) -> list[int]:
    text = _read(directory / "cgroup.procs") or ""
    return [int(p) for p in text.split()]


def _make_leaf(mount: Path, container_id: str, prepare_parent) -> Path:
    """mount/tinydocker/<id>, with `prepare_parent(parent)` run on tinydocker/ first."""
    parent = mount / PARENT
    for _ in range(20):
        try:
            parent.mkdir(exist_ok=True)
            prepare_parent(parent)
            leaf = parent / container_id
            leaf.mkdir()
            return leaf
        except FileNotFoundError:
            continue  # a concurrent removal took tinydocker/ away after our mkdir: once more
    raise TinydockerError(f"cannot create cgroup {parent / container_id}: its parent keeps disappearing")


def _remove_leaf(leaf: Path, kill) -> None:
    """Kill what lingers, rmdir (retrying EBUSY briefly), then drop tinydocker/ if now empty."""
    deadline = time.monotonic() + REMOVE_PATIENCE
    while True:
        if not leaf.exists():
            break
        kill(leaf)
        try:
            os.rmdir(leaf)
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


def _kill_procs(leaf: Path) -> None:
    for pid in _procs(leaf):
        try:
            os.kill(pid, signal.SIGKILL)
        except ProcessLookupError:
            pass


# -- the two back-ends -------------------------------------------------------------------

class CgroupV1:
    version = "v1"

    def __init__(self, mounts: dict, container_id: str, options: dict | None = None):
        self.id = container_id
        self.path = f"{PARENT}/{container_id}"
        self.mounts = {ctrl: Path(mp) for ctrl, mp in mounts.items()}
        # cpu and cpuacct often share one hierarchy: each directory is made and joined once
        self.hierarchies = sorted(set(self.mounts.values()))
        self.options = options or {}

    def filesystems(self) -> list[list[str]]:
        """[fstype, options, directory under /sys/fs/cgroup] to mount inside the container.
        A v1 hierarchy can only be mounted again with all of its controllers named."""
        return [["cgroup", self.options.get(str(m), m.name), m.name] for m in self.hierarchies]

    def dir(self, controller: str) -> Path | None:
        mount = self.mounts.get(controller)
        return mount / self.path if mount else None

    def _require(self, controller: str, flag: str) -> Path:
        leaf = self.dir(controller)
        if leaf is None:
            raise TinydockerError(f"{flag} needs the {controller} cgroup controller, which is not mounted")
        return leaf

    def create(self, limits: Limits) -> None:
        try:
            for mount in self.hierarchies:
                prepare = self._inherit_cpuset if mount == self.mounts.get("cpuset") else _nothing
                prepare(_make_leaf(mount, self.id, prepare))
            self._apply(limits)
        except BaseException:
            self.remove()
            raise

    @staticmethod
    def _inherit_cpuset(directory: Path) -> None:
        # a new v1 cpuset starts with no CPUs and no memory nodes: nothing could run in it
        for name in ("cpuset.cpus", "cpuset.mems"):
            if not _read(directory / name):
                _write(directory / name, _read(directory.parent / name))

    def _apply(self, limits: Limits) -> None:
        if limits.memory is not None:
            memory = self._require("memory", "--memory")
            _write(memory / "memory.limit_in_bytes", limits.memory)
            swap = limits.swap_limit()
            # memsw exists only with swap accounting; without it the memory limit alone holds
            _write(memory / "memory.memsw.limit_in_bytes", -1 if swap is None else swap, optional=True)
        if limits.cpu_quota is not None:
            cpu = self._require("cpu", "--cpus")
            _write(cpu / "cpu.cfs_period_us", CFS_PERIOD_US)
            _write(cpu / "cpu.cfs_quota_us", limits.cpu_quota)
        if limits.cpu_shares is not None:
            _write(self._require("cpu", "--cpu-shares") / "cpu.shares", limits.cpu_shares)
        if limits.cpuset_cpus is not None:
            _write(self._require("cpuset", "--cpuset-cpus") / "cpuset.cpus", limits.cpuset_cpus)
        if limits.cpuset_mems is not None:
            _write(self._require("cpuset", "--cpuset-mems") / "cpuset.mems", limits.cpuset_mems)
        if limits.pids_limit is not None:
            _write(self._require("pids", "--pids-limit") / "pids.max", limits.pids_limit)

    def join(self, pid: int) -> None:
        for mount in self.hierarchies:
            _write(mount / self.path / "cgroup.procs", pid)

    def exists(self) -> bool:
        return any((mount / self.path).exists() for mount in self.hierarchies)

    def usage(self) -> Usage:
        memory = self.dir("memory")
        cpuacct = self.dir("cpuacct")
        pids = self.dir("pids")
        used = limit = None
        if memory is not None:
            used = _int(memory / "memory.usage_in_bytes")
            if used is not None:
                # like docker, page cache the kernel can drop at once is not counted as use
                used -= _keyed(memory / "memory.stat").get("total_inactive_file", 0)
            limit = _int(memory / "memory.limit_in_bytes")
            if limit is not None and limit >= 1 << 62:
                limit = None  # v1 writes "unlimited" as a page-rounded LONG_MAX
        return Usage(cpu_ns=_int(cpuacct / "cpuacct.usage") if cpuacct else None,
                     memory=used, memory_limit=limit,
                     pids=_int(pids / "pids.current") if pids else None)

    def oom_kills(self) -> int:
        memory = self.dir("memory")
        return _keyed(memory / "memory.oom_control").get("oom_kill", 0) if memory else 0

    def remove(self) -> None:
        for mount in self.hierarchies:
            _remove_leaf(mount / self.path, self._kill_all)

    def _kill_all(self, _leaf: Path) -> None:
        # a process is in every hierarchy at once; kill it wherever it is listed
        for mount in self.hierarchies:
            _kill_procs(mount / self.path)


class CgroupV2:
    version = "v2"

    def __init__(self, mount: str, container_id: str):
        self.id = container_id
        self.path = f"{PARENT}/{container_id}"
        self.mount = Path(mount)
        self.leaf = self.mount / self.path

    def filesystems(self) -> list[list[str]]:
        return [["cgroup2", "", ""]]

    def controllers(self) -> list[str]:
        """The controllers the hierarchy offers that tinydocker uses."""
        offered = (_read(self.mount / "cgroup.controllers") or "").split()
        return [c for c in V2_CONTROLLERS if c in offered]

    def create(self, limits: Limits) -> None:
        wanted = self.controllers()
        for controller, needed in (("memory", limits.memory is not None),
                                   ("cpu", limits.cpu_quota is not None or limits.cpu_shares is not None),
                                   ("cpuset", limits.cpuset_cpus is not None or limits.cpuset_mems is not None),
                                   ("pids", limits.pids_limit is not None)):
            if needed and controller not in wanted:
                raise TinydockerError(f"the {controller} controller is not available in the cgroup v2 "
                                      f"hierarchy at {self.mount}")

        def enable(parent: Path) -> None:
            # down the path: the root hands the controllers to tinydocker/, which hands them to
            # the leaves; tinydocker/ holds no process, so the no-internal-process rule holds
            for directory in (self.mount, parent):
                self._enable(directory, wanted)

        try:
            _make_leaf(self.mount, self.id, enable)
            self._apply(limits)
        except BaseException:
            self.remove()
            raise

    @staticmethod
    def _enable(directory: Path, controllers: list[str]) -> None:
        enabled = (_read(directory / "cgroup.subtree_control") or "").split()
        missing = [c for c in controllers if c not in enabled]
        if missing:
            _write(directory / "cgroup.subtree_control", " ".join("+" + c for c in missing))

    def _apply(self, limits: Limits) -> None:
        leaf = self.leaf
        if limits.memory is not None:
            _write(leaf / "memory.max", limits.memory)
            swap = limits.swap_limit()
            # v2 limits swap on its own, not memory+swap as docker's flag and v1 count it
            _write(leaf / "memory.swap.max", "max" if swap is None else swap - limits.memory, optional=True)
        if limits.cpu_quota is not None:
            _write(leaf / "cpu.max", f"{limits.cpu_quota} {CFS_PERIOD_US}")
        if limits.cpu_shares is not None:
            _write(leaf / "cpu.weight", shares_to_weight(limits.cpu_shares))
        if limits.cpuset_cpus is not None:
            _write(leaf / "cpuset.cpus", limits.cpuset_cpus)
        if limits.cpuset_mems is not None:
            _write(leaf / "cpuset.mems", limits.cpuset_mems)
        if limits.pids_limit is not None:
            _write(leaf / "pids.max", limits.pids_limit)

    def join(self, pid: int) -> None:
        _write(self.leaf / "cgroup.procs", pid)

    def exists(self) -> bool:
        return self.leaf.exists()

    def usage(self) -> Usage:
        leaf = self.leaf
        cpu = _keyed(leaf / "cpu.stat").get("usage_usec")
        used = _int(leaf / "memory.current")
        if used is not None:
            used -= _keyed(leaf / "memory.stat").get("inactive_file", 0)
        return Usage(cpu_ns=None if cpu is None else cpu * 1000, memory=used,
                     memory_limit=_int(leaf / "memory.max"),  # "max" reads as None: unlimited
                     pids=_int(leaf / "pids.current"))

    def oom_kills(self) -> int:
        return _keyed(self.leaf / "memory.events").get("oom_kill", 0)

    def remove(self) -> None:
        _remove_leaf(self.leaf, self._kill_all)

    @staticmethod
    def _kill_all(leaf: Path) -> None:
        # cgroup.kill (5.14+) kills every process at once, leaving no window for a fork to escape
        if (leaf / "cgroup.kill").exists():
            _write(leaf / "cgroup.kill", 1, optional=True)
        else:
            _kill_procs(leaf)


def shares_to_weight(shares: int) -> int:
    """v1's cpu.shares (2..262144, default 1024) onto v2's cpu.weight (1..10000, default 100),
    the linear mapping runc and crun use."""
    shares = min(max(shares, 2), MAX_CPU_SHARES)
    return 1 + ((shares - 2) * 9999) // (MAX_CPU_SHARES - 2)


def _nothing(_directory: Path) -> None:
    pass


def orphans(where: Layout | None = None, min_age: float = 60.0) -> list[str]:
    """Ids of empty container cgroups older than min_age seconds, in any hierarchy.

    Such a cgroup outlived whatever made it (a tinydocker killed before it could clean up).
    The age keeps a prune from taking a cgroup that a starting container is about to join.
    """
    where = where or layout()
    mounts = set(where.v1.values()) if where.backend == "v1" else {where.v2} if where.v2 else set()
    found = set()
    now = time.time()
    for mount in mounts:
        parent = Path(mount) / PARENT
        try:
            entries = list(parent.iterdir())
        except OSError:
            continue
        for leaf in entries:
            try:
                old = now - leaf.stat().st_mtime > min_age
            except OSError:
                continue
            if leaf.is_dir() and old and not _procs(leaf):
                found.add(leaf.name)
    return sorted(found)
