"""The cgroup v2 back-end: <cgroup2 mount>/tinydocker/<id> on a unified hierarchy, or
<subtree>/tinydocker/<id> for an ordinary user with a subtree delegated (delegation.py).

Controllers are enabled through cgroup.subtree_control down the path; `tinydocker/` itself
never holds a process, since v2 allows processes only in leaves ("no internal processes").
"""

from pathlib import Path

from ..errors import TinydockerError
from .fs import (PARENT, Usage, freeze, frozen, int_value, keyed, kill_procs, make_leaf, read, remove_leaf, thaw,
                 tree_procs, write)
from .limits import CFS_PERIOD_US, MAX_CPU_SHARES, Limits

V2_CONTROLLERS = ("cpu", "cpuset", "memory", "pids")


class CgroupV2:
    version = "v2"

    def __init__(self, mount: str, container_id: str, subtree: str | None = None):
        """`subtree`: an ordinary user's delegated cgroup, under which tinydocker/ goes
        instead of the hierarchy's root."""
        self.id = container_id
        self.path = f"{PARENT}/{container_id}"
        self.user = subtree is not None
        self.mount = Path(subtree or mount)  # the base: where tinydocker/ is made
        self.leaf = self.mount / self.path
        # the leaf as linux.cgroupsPath names it (from the hierarchy's root)
        self.cgroups_path = "/" + str(self.leaf.relative_to(mount))

    def controllers(self) -> list[str]:
        """The controllers the hierarchy (or the delegated subtree) offers that tinydocker uses."""
        offered = (read(self.mount / "cgroup.controllers") or "").split()
        return [c for c in V2_CONTROLLERS if c in offered]

    def _offering(self, limits: Limits) -> list[str]:
        """The controllers tinydocker uses here, once each one `limits` needs is among them."""
        wanted = self.controllers()
        for controller, needed in (("memory", limits.memory is not None or limits.memory_reservation is not None),
                                   ("cpu", limits.cpu_quota is not None or limits.cpu_shares is not None),
                                   ("cpuset", limits.cpuset_cpus is not None or limits.cpuset_mems is not None),
                                   ("pids", limits.pids_limit not in (None, -1))):
            if needed and controller not in wanted:
                where = (f"delegated to this user at {self.mount} (its parent's cgroup.subtree_control "
                         "does not enable it)") if self.user else f"available in the cgroup v2 hierarchy at {self.mount}"
                raise TinydockerError(f"the {controller} controller is not {where}")
        return wanted

    def create(self, limits: Limits, devices: list[str] | None = None) -> None:
        """The container's leaf with its limits and, unless `devices` is None (all allowed),
        a device program built from the allow-list (security/devices.py)."""
        wanted = self._offering(limits)

        def enable(parent: Path) -> None:
            # down the path: the root hands the controllers to tinydocker/, which hands them to
            # the leaves; tinydocker/ holds no process, so the no-internal-process rule holds.
            # tinydocker/ is written even when its subtree_control lists them: the kernel shows
            # that file without its lock, before another start's write has given our leaf its
            # files; a write waits for that lock, so the files are there once it returns
            self._enable(self.mount, wanted)
            self._enable(parent, wanted, always=True)

        try:
            make_leaf(self.mount, self.id, enable)
            self._apply(limits)
            # an ordinary user may not load a device program (it needs CAP_SYS_ADMIN), nor
            # need it: its container's user namespace can make no device node, and one bound
            # from the host keeps the host's permissions (runc's rootless leaves it out too)
            if devices is not None and not self.user:
                from ..linux.syscalls import attach_device_program
                from ..security.devices import program

                try:
                    attach_device_program(str(self.leaf), program(devices))
                except OSError as e:
                    raise TinydockerError(f"cannot attach the device allow-list to cgroup {self.leaf}: "
                                          f"{e.strerror}") from None
        except BaseException:
            self.remove()
            raise

    @staticmethod
    def _enable(directory: Path, controllers: list[str], always: bool = False) -> None:
        enabled = [] if always else (read(directory / "cgroup.subtree_control") or "").split()
        missing = [c for c in controllers if c not in enabled]
        if missing:
            write(directory / "cgroup.subtree_control", " ".join("+" + c for c in missing))

    def _apply(self, limits: Limits) -> None:
        leaf = self.leaf
        if limits.memory is not None:
            write(leaf / "memory.max", limits.memory)
            swap = limits.swap_limit()
            # v2 limits swap on its own, not memory+swap as docker's flag and v1 count it
            write(leaf / "memory.swap.max", "max" if swap is None else swap - limits.memory, optional=True)
        if limits.memory_reservation is not None:
            # v2's best-effort protection is the closest to v1's soft limit (runc maps it so too)
            write(leaf / "memory.low", limits.memory_reservation)
        if limits.cpu_quota is not None:
            write(leaf / "cpu.max", f"{limits.cpu_quota} {CFS_PERIOD_US}")
        if limits.cpu_shares is not None:
            write(leaf / "cpu.weight", shares_to_weight(limits.cpu_shares))
        if limits.cpuset_cpus is not None:
            write(leaf / "cpuset.cpus", limits.cpuset_cpus)
        if limits.cpuset_mems is not None:
            write(leaf / "cpuset.mems", limits.cpuset_mems)
        pids_max = limits.pids_max("pids" in self.controllers())
        if pids_max is not None:
            write(leaf / "pids.max", pids_max)

    def update(self, limits: Limits) -> None:
        """A running container's new limits (docker update): what is unset goes back to
        unlimited or the default."""
        wanted = self._offering(limits)
        leaf = self.leaf
        if "memory" in wanted:
            swap = limits.swap_limit()
            write(leaf / "memory.max", limits.memory or "max")
            write(leaf / "memory.swap.max", "max" if swap is None else swap - limits.memory, optional=True)
            write(leaf / "memory.low", limits.memory_reservation or 0)
        if "cpu" in wanted:
            write(leaf / "cpu.max", f"{limits.cpu_quota or 'max'} {CFS_PERIOD_US}")
            write(leaf / "cpu.weight", shares_to_weight(limits.cpu_shares) if limits.cpu_shares else 100)
        self._apply(Limits(cpuset_cpus=limits.cpuset_cpus, cpuset_mems=limits.cpuset_mems,
                           pids_limit=limits.pids_limit))

    def join(self, pid: int) -> None:
        write(self.leaf / "cgroup.procs", pid)

    def exists(self) -> bool:
        return self.leaf.exists()

    def usage(self) -> Usage:
        leaf = self.leaf
        cpu = keyed(leaf / "cpu.stat").get("usage_usec")
        used = int_value(leaf / "memory.current")
        if used is not None:
            used -= keyed(leaf / "memory.stat").get("inactive_file", 0)
        return Usage(cpu_ns=None if cpu is None else cpu * 1000, memory=used,
                     memory_limit=int_value(leaf / "memory.max"),  # "max" reads as None: unlimited
                     pids=int_value(leaf / "pids.current"))

    def oom_kills(self) -> int:
        return keyed(self.leaf / "memory.events").get("oom_kill", 0)

    def pids(self) -> list[int]:
        """Every process of the container."""
        return tree_procs(self.leaf)

    def freeze(self) -> None:
        """Stop every process of the container (docker's pause): cgroup.freeze, then wait
        for cgroup.events to say the whole subtree is frozen."""
        if not (self.leaf / "cgroup.freeze").exists():
            raise TinydockerError("pause needs cgroup.freeze (Linux 5.2 or later)")
        freeze(self.leaf)

    def thaw(self) -> None:
        thaw(self.leaf)

    def frozen(self) -> bool:
        return frozen(self.leaf)

    def remove(self) -> None:
        remove_leaf(self.leaf, self._kill_all)

    @staticmethod
    def _kill_all(leaf: Path) -> None:
        # cgroup.kill (5.14+) kills every process at once, leaving no window for a fork to escape
        if (leaf / "cgroup.kill").exists():
            write(leaf / "cgroup.kill", 1, optional=True)
        else:
            kill_procs(leaf)


def shares_to_weight(shares: int) -> int:
    """v1's cpu.shares (2..262144, default 1024) onto v2's cpu.weight (1..10000, default 100),
    the linear mapping runc and crun use."""
    shares = min(max(shares, 2), MAX_CPU_SHARES)
    return 1 + ((shares - 2) * 9999) // (MAX_CPU_SHARES - 2)
