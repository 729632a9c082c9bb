"""A container's cgroup as the runtime-spec places it: linux.cgroupsPath, absolute (from each
hierarchy's root) or relative (to the runtime's own cgroup in that hierarchy, as runc reads
it), in every v1 hierarchy, or in the unified tree on a pure cgroup v2 host.

tinydocker's engine keeps its cgroups at <hierarchy>/tinydocker/<id> (tinydocker/cgroups);
a runtime must put them where the caller says, so this module finds the hierarchies and
writes the OCI limits itself, with that package's file reading and shares-to-weight rule.
The directories it makes are returned, so that delete removes exactly those (deepest
first), never a parent someone else made.
"""

import errno
import os
import signal
import time
from pathlib import Path

from ..cgroups import fs
from ..cgroups.fs import read as _read
from .config import Resources
from .state import RuntimeError_

DEFAULT_PARENT = "tinydocker-runtime"


def own_cgroup(hierarchy_key: str) -> str:
    """This process's cgroup in a v1 hierarchy (by its controllers, "cpu,cpuacct") or v2 ("")."""
    with open("/proc/self/cgroup") as f:
        for line in f:
            _, controllers, path = line.rstrip("\n").split(":", 2)
            if hierarchy_key == "" and controllers == "":
                return path
            if hierarchy_key and set(controllers.split(",")) & set(hierarchy_key.split(",")):
                return path
    return "/"


_LIMITING = ("cpu", "cpuacct", "cpuset", "memory", "pids")  # v1 holds the limits if any of these is there


def _mounts() -> tuple[dict, str | None]:
    """{v1 mount point: its controllers ("cpu,cpuacct", "name=systemd")}, the cgroup2 mount."""
    v1, v2 = {}, None
    with open("/proc/self/mountinfo") as f:
        for line in f:
            before, _, after = line.partition(" - ")
            fstype, _source, options = (after.split() + ["", ""])[:3]
            point = before.split()[4]
            if "\\" in point:
                point = point.encode().decode("unicode_escape")  # mountinfo's octal escapes
            if fstype == "cgroup":
                controllers = [o for o in options.split(",")
                               if o not in ("rw", "ro") and ("=" not in o or o.startswith("name="))
                               and o not in ("xattr", "noprefix", "clone_children", "cpuset_v2_mode",
                                             "favordynmods")]
                if controllers:
                    v1.setdefault(point, ",".join(controllers))
            elif fstype == "cgroup2" and v2 is None:
                v2 = point
    return v1, v2


def directories(cgroups_path: str, container_id: str) -> tuple[str, list[str]]:
    """(the path as resolved, [the directory in each hierarchy]): every v1 hierarchy when v1
    holds the limiting controllers (pure v1, and hybrid hosts), else the unified tree."""
    v1, v2 = _mounts()
    path = cgroups_path or f"/{DEFAULT_PARENT}/{container_id}"
    if any(c in controllers.split(",") for controllers in v1.values() for c in _LIMITING):
        found = []
        for mount, controllers in sorted(v1.items()):
            base = path if path.startswith("/") else os.path.join(own_cgroup(controllers), path)
            found.append(os.path.normpath(mount + "/" + base.lstrip("/")))
        return path, found
    if v2:
        if not cgroups_path and os.geteuid() != 0:
            # an ordinary user's default: its delegated subtree, as the engine's (delegation.py)
            from ..cgroups.delegation import subtree as delegated

            subtree = delegated(v2)
            if subtree is not None:
                path = f"/{os.path.relpath(subtree, v2)}/{DEFAULT_PARENT}/{container_id}"
        base = path if path.startswith("/") else os.path.join(own_cgroup(""), path)
        return path, [os.path.normpath(v2 + "/" + base.lstrip("/"))]
    raise RuntimeError_("no cgroup filesystem is mounted (the runtime needs /sys/fs/cgroup)")


def writable(leaves: list[str]) -> list[str]:
    """The leaves an ordinary user may make (their nearest existing parent is writable by it:
    a subtree delegated to it, as systemd's user slice is on cgroup v2)."""
    found = []
    for leaf in leaves:
        d = leaf
        while not os.path.isdir(d) and d != "/":
            d = os.path.dirname(d)
        if os.access(d, os.W_OK):
            found.append(leaf)
    return found


def limited(resources: Resources | None) -> bool:
    """Whether `resources` sets a limit (the device rules are not one: a user namespace
    makes no device node anyway)."""
    return resources is not None and any(
        value not in (None, ()) for value in (resources.memory, resources.cpu, resources.pids_limit, resources.block_io))


def missing(leaves: list[str]) -> list[str]:
    """The directories `make` would create for these leaves, parents before children."""
    found = []
    for leaf in leaves:
        chain = []
        d = leaf
        while not os.path.isdir(d) and d not in found:
            chain.append(d)
            d = os.path.dirname(d)
        found.extend(reversed(chain))
    return found


def make(dirs: list[str]) -> None:
    """Make `dirs` (from missing()), in order; a v1 cpuset gets its parent's CPUs and nodes,
    a v2 parent enables its controllers for the child (and a parent found made without
    them is given them by its own parent first)."""
    if dirs:
        # the first parent may be another create's, made and not yet given its controllers
        # (a user's fresh subtree, two first creates at once): its parent enables them, as
        # that create would have, before the parent passes them on
        first = os.path.dirname(dirs[0])
        above = os.path.dirname(first)
        if os.path.exists(os.path.join(above, "cgroup.subtree_control")):
            has = set((_read(os.path.join(first, "cgroup.controllers")) or "").split())
            offered = set((_read(os.path.join(above, "cgroup.controllers")) or "").split())
            if (offered & _ENABLED) - has:
                _enable_v2_controllers(above)
    for d in dirs:
        for _ in range(10):
            try:
                os.mkdir(d, 0o755)
                break
            except FileExistsError:
                break
            except FileNotFoundError:
                # the shared default parent, removed by a delete as it went empty: again
                os.makedirs(os.path.dirname(d), 0o755, exist_ok=True)
            except OSError as e:
                raise RuntimeError_(f"cannot make the cgroup {d}: {e.strerror}") from None
        if os.path.exists(os.path.join(d, "cpuset.cpus")):
            # a new v1 cpuset has no CPUs and no memory nodes: nothing could run in it
            for name in ("cpuset.cpus", "cpuset.mems"):
                if not _read(os.path.join(d, name)):
                    _write(os.path.join(d, name), _read(os.path.join(os.path.dirname(d), name)) or "")
        elif os.path.exists(os.path.join(os.path.dirname(d), "cgroup.subtree_control")):
            _enable_v2_controllers(os.path.dirname(d))


_ENABLED = {"cpu", "cpuset", "memory", "pids", "io"}  # what a v2 parent gives its children


def _enable_v2_controllers(parent: str) -> None:
    wanted = (_read(os.path.join(parent, "cgroup.controllers")) or "").split()
    for name in wanted:
        if name in _ENABLED:
            _write(os.path.join(parent, "cgroup.subtree_control"), f"+{name}", optional=True)


def _write(path: str, value, optional: bool = False) -> None:
    try:
        fs.put(path, value)
    except OSError as e:
        if not optional:
            raise RuntimeError_(f"cannot set {path} to {value}: {e.strerror}") from None


def _in(leaves: list[str], filename: str) -> str | None:
    """The leaf whose hierarchy has `filename` (v1: the controller's; v2: the one leaf)."""
    for leaf in leaves:
        if os.path.exists(os.path.join(leaf, filename)):
            return os.path.join(leaf, filename)
    return None


def _need(leaves: list[str], filename: str, field: str) -> str:
    found = _in(leaves, filename)
    if found is None:
        raise RuntimeError_(f"config.json: {field} needs a cgroup controller that is not available "
                            f"(no {filename})")
    return found


def _is_v2(leaves: list[str]) -> bool:
    return any(os.path.exists(os.path.join(leaf, "cgroup.controllers")) for leaf in leaves)


def apply(leaves: list[str], resources: Resources | None) -> None:
    """The config's limits, written into the container's cgroups (the device allow-list
    apart: allow_devices, once the init has made the config's nodes)."""
    r = resources or Resources()
    if _is_v2(leaves):
        _apply_v2(leaves, r)
    else:
        _apply_v1(leaves, r)


def allow_devices(leaves: list[str], resources: Resources | None) -> None:
    """resources.devices, written after the root is built, as runc does: the init, already
    in the cgroup, makes linux.devices' nodes, which the allow-list need not include."""
    if os.geteuid() != 0:
        # an ordinary user may not load v2's device program nor write v1's devices.allow, nor
        # need to: its user namespace makes no device node (runc's rootless leaves it out too)
        return
    r = resources or Resources()
    if _is_v2(leaves):
        _allow_devices_v2(leaves[0], r)
    else:
        _allow_devices_v1(leaves, r)


# the files update may write, v1's and v2's, read before and written back if it fails
_UPDATED = ("memory.limit_in_bytes", "memory.memsw.limit_in_bytes", "memory.soft_limit_in_bytes", "memory.swappiness",
            "cpu.shares", "cpu.cfs_period_us", "cpu.cfs_quota_us", "cpuset.cpus", "cpuset.mems", "pids.max",
            "blkio.weight", "blkio.bfq.weight", "memory.max", "memory.low", "memory.swap.max", "cpu.weight",
            "cpu.max", "io.weight")


def update(leaves: list[str], resources: Resources) -> None:
    """A live container's new limits (`update`): what `resources` gives is written, the rest
    stays; all or nothing, as runc's (the old values go back when one is refused). Device
    rules are not touched (runc's update leaves them too): rewriting v1's list starts from
    deny-all, which would cut a running container off its devices meanwhile."""
    before = {}
    for leaf in leaves:
        for name in _UPDATED:
            value = _read(os.path.join(leaf, name))
            if value:
                before[os.path.join(leaf, name)] = value
    try:
        if _is_v2(leaves):
            _apply_v2(leaves, resources)
        else:
            _apply_v1(leaves, resources)
    except RuntimeError_:
        # twice: v1's memory and memory+swap limits go back in whichever order the kernel takes
        for path, value in [*before.items(), *before.items()]:
            if _read(path) != value:
                _write(path, value, optional=True)
        raise


def _cpuset_and_pids(leaves, r: Resources) -> None:
    """What v1 and v2 write alike: the cpuset's CPUs and nodes, and the pids limit."""
    c = r.cpu
    if c is not None and c.cpus:
        _write(_need(leaves, "cpuset.cpus", "linux.resources.cpu.cpus"), c.cpus)
    if c is not None and c.mems:
        _write(_need(leaves, "cpuset.mems", "linux.resources.cpu.mems"), c.mems)
    if r.pids_limit is not None and r.pids_limit != 0:
        _write(_need(leaves, "pids.max", "linux.resources.pids"), "max" if r.pids_limit < 0 else r.pids_limit)


def _apply_v1(leaves, r: Resources) -> None:
    m = r.memory
    if m is not None:
        pair = []
        if m.limit is not None:
            pair.append((_need(leaves, "memory.limit_in_bytes", "linux.resources.memory.limit"), m.limit))
        if m.swap is not None:
            pair.append((_need(leaves, "memory.memsw.limit_in_bytes", "linux.resources.memory.swap"), m.swap))
        elif m.limit == -1 and _in(leaves, "memory.memsw.limit_in_bytes"):
            # no memory limit but a memory+swap one is refused: unlimited means both (runc too)
            pair.append((_in(leaves, "memory.memsw.limit_in_bytes"), -1))
        swap = pair[1][1] if len(pair) == 2 else None
        if swap is not None and (swap < 0 or swap > int(_read(pair[0][0]) or 0)):
            # v1 wants memory <= memory+swap at every moment: raising goes memory+swap
            # first (runc's order too)
            pair.reverse()
        for path, value in pair:
            _write_memory_limit(path, value)
        if m.reservation is not None:
            _write(_need(leaves, "memory.soft_limit_in_bytes", "linux.resources.memory.reservation"), m.reservation)
        if m.swappiness is not None:
            _write(_need(leaves, "memory.swappiness", "linux.resources.memory.swappiness"), m.swappiness)
        if m.disable_oom_killer:
            _write(_need(leaves, "memory.oom_control", "linux.resources.memory.disableOOMKiller"), 1)
    c = r.cpu
    if c is not None:
        if c.shares:
            _write(_need(leaves, "cpu.shares", "linux.resources.cpu.shares"), c.shares)
        if c.period:
            _write(_need(leaves, "cpu.cfs_period_us", "linux.resources.cpu.period"), c.period)
        if c.quota:
            _write(_need(leaves, "cpu.cfs_quota_us", "linux.resources.cpu.quota"), c.quota)
    _cpuset_and_pids(leaves, r)
    b = r.block_io
    if b is not None:
        if b.weight:
            target = _in(leaves, "blkio.weight") or _in(leaves, "blkio.bfq.weight")
            if target is None:
                raise RuntimeError_("config.json: linux.resources.blockIO.weight needs blkio.weight or "
                                    "blkio.bfq.weight, which this kernel does not have")
            _write(target, b.weight)
        for w in b.weight_device:
            target = _in(leaves, "blkio.weight_device") or _need(leaves, "blkio.bfq.weight_device",
                                                                "linux.resources.blockIO.weightDevice")
            _write(target, f"{w.major}:{w.minor} {w.weight}")
        for name, items in (("read_bps_device", b.throttle_read_bps_device),
                            ("write_bps_device", b.throttle_write_bps_device),
                            ("read_iops_device", b.throttle_read_iops_device),
                            ("write_iops_device", b.throttle_write_iops_device)):
            for t in items:
                _write(_need(leaves, f"blkio.throttle.{name}", "linux.resources.blockIO"), f"{t.major}:{t.minor} {t.rate}")


def _allow_devices_v1(leaves, r: Resources) -> None:
    allow = _in(leaves, "devices.allow")
    if allow is not None:
        deny = os.path.join(os.path.dirname(allow), "devices.deny")
        # deny-all first, then the config's rules in its order (devices.list then lists them
        # as the config does), then the nodes the runtime itself makes in /dev
        _write(deny, "a")
        for rule in r.devices:
            _write(allow if rule.allow else deny, _rule_text(rule))
        from ..security.devices import DEFAULT  # what runc always allows, as docker does

        for text in DEFAULT:
            _write(allow, text)


def _apply_v2(leaves, r: Resources) -> None:
    m = r.memory
    if m is not None:
        if m.limit is not None:
            _write_memory_limit(_need(leaves, "memory.max", "linux.resources.memory.limit"),
                                "max" if m.limit < 0 else m.limit)
        if m.reservation is not None:
            _write(_need(leaves, "memory.low", "linux.resources.memory.reservation"),
                   "max" if m.reservation < 0 else m.reservation)
        if m.swap is not None:
            # v2 counts swap alone, the spec memory+swap: the limit in force (an update's
            # may give swap alone) is taken off
            limit = m.limit if m.limit is not None else _read(_need(leaves, "memory.max", "linux.resources.memory.swap"))
            swap = "max" if m.swap < 0 or limit in (-1, "max") else max(m.swap - int(limit), 0)
            _write(_need(leaves, "memory.swap.max", "linux.resources.memory.swap"), swap)
        elif m.limit is not None and m.limit < 0:
            # as runc (and v1, where memsw follows): memory made unlimited with no word of swap
            # makes swap unlimited too
            swap_max = _in(leaves, "memory.swap.max")
            if swap_max is not None:  # a kernel without swap accounting has none: nothing implied
                _write(swap_max, "max")
    c = r.cpu
    if c is not None:
        if c.shares:
            from ..cgroups.v2 import shares_to_weight  # the engine's limits come with it: only here

            _write(_need(leaves, "cpu.weight", "linux.resources.cpu.shares"), shares_to_weight(c.shares))
        if c.quota or c.period:
            cpu_max = _need(leaves, "cpu.max", "linux.resources.cpu.quota")
            # cpu.max is "QUOTA PERIOD": the one not given keeps its value ("max 100000" new)
            now_quota, _, now_period = (_read(cpu_max) or "max 100000").partition(" ")
            quota = ("max" if c.quota < 0 else c.quota) if c.quota else now_quota
            _write(cpu_max, f"{quota} {c.period or now_period}")
    _cpuset_and_pids(leaves, r)
    if r.block_io is not None and r.block_io.weight:
        _write(_need(leaves, "io.weight", "linux.resources.blockIO.weight"), r.block_io.weight)


def _write_memory_limit(path: str, value) -> None:
    """A memory limit, said plainly when the kernel cannot bring the use below it (v1 gives
    EBUSY once reclaim fails; v2 would OOM-kill instead)."""
    try:
        fs.put(path, value)
    except OSError as e:
        if e.errno == errno.EBUSY:
            usage = _read(os.path.join(os.path.dirname(path), "memory.usage_in_bytes"))
            raise RuntimeError_(f"cannot set the memory limit to {value} bytes: the container uses "
                                f"{f'{usage} bytes' if usage else 'more'}, which the kernel could not reclaim "
                                "below it") from None
        raise RuntimeError_(f"cannot set {path} to {value}: {e.strerror}") from None


def _rule_text(rule) -> str:
    return f"{rule.type} {'*' if rule.major is None else rule.major}:{'*' if rule.minor is None else rule.minor} {rule.access}"


def _allow_devices_v2(leaf: str, r: Resources) -> None:
    """cgroup v2's device controller is a BPF program attached to the cgroup: the config's
    rules read as one allow-list (a deny of everything empties it), compiled by
    security/devices.py. Its programs only allow, so a narrower deny is refused."""
    if not r.devices:
        return  # nothing asked: every device allowed, as on v1 without rules
    allowed: list[str] = []
    for rule in r.devices:
        everything = rule.type == "a" and rule.major is None and rule.minor is None
        if rule.allow:
            if everything and set(rule.access) == set("rwm"):
                allowed = ["a *:* rwm"]
            else:
                allowed.append(_rule_text(rule))
        elif everything and set(rule.access) == set("rwm"):
            allowed = []
        else:
            raise RuntimeError_(f"config.json: linux.resources.devices: the deny rule {_rule_text(rule)!r} "
                                "is not supported on cgroup v2 (only a deny of everything)")
    if "a *:* rwm" in allowed:
        return
    from ..linux.syscalls import attach_device_program
    from ..security import devices

    try:
        attach_device_program(leaf, devices.program([*allowed, *devices.DEFAULT]))
    except OSError as e:
        raise RuntimeError_(f"cannot attach the device program to {leaf}: {e.strerror}") from None


def join(leaves: list[str]) -> None:
    """Move the calling process in ("0": the writer itself, whatever its pid namespace says)."""
    for leaf in leaves:
        _write(os.path.join(leaf, "cgroup.procs"), "0")


def controllers(leaf: str) -> list[str]:
    """The controllers of a v1 hierarchy's directory (["cpu", "cpuacct"]); [] in v2's tree."""
    v1, _ = _mounts()
    for mount, names in v1.items():
        if leaf == mount or leaf.startswith(mount.rstrip("/") + "/"):
            return names.split(",")
    return []


def pids(leaves: list[str]) -> list[int]:
    """Every process in the container's cgroup (and below it)."""
    found = set()
    for leaf in leaves[:1]:
        for top, _dirs, files in os.walk(leaf):
            if "cgroup.procs" in files:
                text = _read(os.path.join(top, "cgroup.procs")) or ""
                found.update(int(x) for x in text.split())
    return sorted(found)


def signal_all(leaves: list[str], sig: int) -> None:
    for pid in pids(leaves):
        try:
            os.kill(pid, sig)
        except ProcessLookupError:
            pass


def freezer(leaves: list[str]) -> Path | None:
    """The leaf that freezes the container: v1's freezer hierarchy, or v2's one leaf."""
    for leaf in leaves:
        if os.path.exists(os.path.join(leaf, "freezer.state")) or os.path.exists(os.path.join(leaf, "cgroup.freeze")):
            return Path(leaf)
    return None


def freeze(leaves: list[str]) -> None:
    found = freezer(leaves)
    if found is None:
        raise RuntimeError_("pause needs the freezer cgroup controller (v1) or cgroup.freeze (v2, Linux 5.2+), "
                            "which this host does not have")
    fs.freeze(found)


def thaw(leaves: list[str]) -> None:
    found = freezer(leaves)
    if found is not None:
        fs.thaw(found)


def remove(made: list[str], leaves: list[str], patience: float = 5.0) -> None:
    """Kill what is left in the container's cgroups, then remove the directories made."""
    deadline = time.monotonic() + patience
    while pids(leaves) and time.monotonic() < deadline:
        signal_all(leaves, signal.SIGKILL)
        thaw(leaves)  # a v1-frozen process acts on SIGKILL only once thawed
        time.sleep(0.01)
    for d in sorted(made, key=lambda p: p.count("/"), reverse=True):
        while True:
            try:
                os.rmdir(d)
                break
            except FileNotFoundError:
                break
            except OSError as e:
                if e.errno == errno.EBUSY and time.monotonic() < deadline:
                    time.sleep(0.01)  # an exited task is still leaving it
                    continue
                if e.errno in (errno.EBUSY, errno.ENOTEMPTY):
                    break  # still in use (another container below a shared parent): leave it
                raise RuntimeError_(f"cannot remove the cgroup {d}: {e.strerror}") from None
    for leaf in leaves:
        # the default parent is shared by every container without a cgroupsPath: whoever
        # leaves it empty removes it (a create racing with that makes it again)
        parent = os.path.dirname(leaf)
        if os.path.basename(parent) == DEFAULT_PARENT:
            try:
                os.rmdir(parent)
            except OSError:
                pass
