"""The cgroup v1 back-end: one directory per hierarchy, <mount of cpu>/tinydocker/<id>, ...

Used whenever v1 hierarchies carry the controllers: pure v1, and hybrid layouts whose
cgroup2 mount has none of them (as systemd's "unified" tree usually has).
"""

from pathlib import Path

from ..errors import TinydockerError
from .fs import (PARENT, Usage, freeze, frozen, int_value, keyed, kill_procs, make_leaf, nothing, read, remove_leaf,
                 thaw, tree_procs, write)
from .limits import CFS_PERIOD_US, Limits


class CgroupV1:
    version = "v1"

    def __init__(self, mounts: dict, container_id: str, options: dict | None = None):
        self.id = container_id
        self.path = f"{PARENT}/{container_id}"
        self.mounts = {ctrl: Path(mp) for ctrl, mp in mounts.items()}
        # cpu and cpuacct often share one hierarchy: each directory is made and joined once
        self.hierarchies = sorted(set(self.mounts.values()))
        self.options = options or {}

    def dir(self, controller: str) -> Path | None:
        mount = self.mounts.get(controller)
        return mount / self.path if mount else None

    def _require(self, controller: str, flag: str) -> Path:
        leaf = self.dir(controller)
        if leaf is None:
            raise TinydockerError(f"{flag} needs the {controller} cgroup controller, which is not mounted")
        return leaf

    def create(self, limits: Limits, devices: list[str] | None = None) -> None:
        """The container's cgroup in every hierarchy, with its limits and, unless `devices`
        is None (all allowed), its device allow-list (security/devices.py)."""
        try:
            for mount in self.hierarchies:
                prepare = self._inherit_cpuset if mount == self.mounts.get("cpuset") else nothing
                prepare(make_leaf(mount, self.id, prepare))
            self._apply(limits)
            if devices is not None:
                self._allow_devices(devices)
        except BaseException:
            self.remove()
            raise

    @staticmethod
    def _inherit_cpuset(directory: Path) -> None:
        # a new v1 cpuset starts with no CPUs and no memory nodes: nothing could run in it
        for name in ("cpuset.cpus", "cpuset.mems"):
            if not read(directory / name):
                write(directory / name, read(directory.parent / name))

    def _apply(self, limits: Limits) -> None:
        if limits.memory is not None:
            memory = self._require("memory", "--memory")
            write(memory / "memory.limit_in_bytes", limits.memory)
            swap = limits.swap_limit()
            # memsw exists only with swap accounting; without it the memory limit alone holds
            write(memory / "memory.memsw.limit_in_bytes", -1 if swap is None else swap, optional=True)
        if limits.memory_reservation is not None:
            write(self._require("memory", "--memory-reservation") / "memory.soft_limit_in_bytes",
                  limits.memory_reservation)
        if limits.cpu_quota is not None:
            cpu = self._require("cpu", "--cpus")
            write(cpu / "cpu.cfs_period_us", CFS_PERIOD_US)
            write(cpu / "cpu.cfs_quota_us", limits.cpu_quota)
        if limits.cpu_shares is not None:
            write(self._require("cpu", "--cpu-shares") / "cpu.shares", limits.cpu_shares)
        if limits.cpuset_cpus is not None:
            write(self._require("cpuset", "--cpuset-cpus") / "cpuset.cpus", limits.cpuset_cpus)
        if limits.cpuset_mems is not None:
            write(self._require("cpuset", "--cpuset-mems") / "cpuset.mems", limits.cpuset_mems)
        pids_max = limits.pids_max(self.dir("pids") is not None)
        if pids_max is not None:
            write(self._require("pids", "--pids-limit") / "pids.max", pids_max)

    def update(self, limits: Limits) -> None:
        """A running container's new limits (docker update): what is unset goes back to
        unlimited or the default."""
        memory = self.dir("memory")
        if memory is not None:
            swap = limits.swap_limit()
            pair = [(memory / "memory.limit_in_bytes", limits.memory or -1),
                    (memory / "memory.memsw.limit_in_bytes", -1 if swap is None else swap)]
            pair = [(path, value) for path, value in pair if path.exists()]  # memsw: with swap accounting only
            # v1 wants memory <= memory+swap at every moment: lowering goes memory first,
            # raising memory+swap first; one order of the two always works
            try:
                for path, value in pair:
                    write(path, value)
            except TinydockerError:
                for path, value in reversed(pair):
                    write(path, value)
            write(memory / "memory.soft_limit_in_bytes", limits.memory_reservation or -1)
        elif limits.memory is not None or limits.memory_reservation is not None:
            self._require("memory", "--memory" if limits.memory is not None else "--memory-reservation")
        cpu = self.dir("cpu")
        if cpu is not None:
            write(cpu / "cpu.cfs_quota_us", limits.cpu_quota or -1)
            write(cpu / "cpu.shares", limits.cpu_shares or 1024)
        elif limits.cpu_quota is not None or limits.cpu_shares is not None:
            self._require("cpu", "--cpus")
        self._apply(Limits(cpuset_cpus=limits.cpuset_cpus, cpuset_mems=limits.cpuset_mems,
                           pids_limit=limits.pids_limit))

    def _allow_devices(self, rules: list[str]) -> None:
        leaf = self.dir("devices")
        if leaf is None:
            return  # no device controller mounted: nothing to write (and nothing to escape through)
        write(leaf / "devices.deny", "a")
        for rule in rules:
            write(leaf / "devices.allow", rule)

    def join(self, pid: int) -> None:
        for mount in self.hierarchies:
            write(mount / self.path / "cgroup.procs", pid)

    def exists(self) -> bool:
        return any((mount / self.path).exists() for mount in self.hierarchies)

    def usage(self) -> Usage:
        memory = self.dir("memory")
        cpuacct = self.dir("cpuacct")
        pids = self.dir("pids")
        used = limit = None
        if memory is not None:
            used = int_value(memory / "memory.usage_in_bytes")
            if used is not None:
                # like docker, page cache the kernel can drop at once is not counted as use
                used -= keyed(memory / "memory.stat").get("total_inactive_file", 0)
            limit = int_value(memory / "memory.limit_in_bytes")
            if limit is not None and limit >= 1 << 62:
                limit = None  # v1 writes "unlimited" as a page-rounded LONG_MAX
        return Usage(cpu_ns=int_value(cpuacct / "cpuacct.usage") if cpuacct else None,
                     memory=used, memory_limit=limit,
                     pids=int_value(pids / "pids.current") if pids else None)

    def oom_kills(self) -> int:
        memory = self.dir("memory")
        return keyed(memory / "memory.oom_control").get("oom_kill", 0) if memory else 0

    def pids(self) -> list[int]:
        """Every process of the container (each hierarchy lists them all: one is enough)."""
        return tree_procs(self.hierarchies[0] / self.path) if self.hierarchies else []

    def freeze(self) -> None:
        """Stop every process of the container (docker's pause), through the v1 freezer."""
        freeze(self._require("freezer", "pause"))

    def thaw(self) -> None:
        leaf = self.dir("freezer")
        if leaf is not None:
            thaw(leaf)

    def frozen(self) -> bool:
        leaf = self.dir("freezer")
        return leaf is not None and frozen(leaf)

    def remove(self) -> None:
        for mount in self.hierarchies:
            remove_leaf(mount / self.path, self._kill_all)

    def _kill_all(self, leaf: Path) -> None:
        # a process is in every hierarchy at once, somewhere in the container's subtree of
        # each: what one hierarchy's tree lists is all of them (a walk of each of the nine
        # per hierarchy removed was some 7 ms of every container's end)
        kill_procs(leaf)
        # a v1-frozen process does not act on SIGKILL until it is thawed
        try:
            self.thaw()
        except FileNotFoundError:
            pass
