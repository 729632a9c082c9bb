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

from pathlib import Path
import time

from ..errors import TinydockerError
from .fs import PARENT, Usage, procs
from .layout import Layout, layout

__all__ = ["PARENT", "Layout", "Usage", "CgroupV1", "CgroupV2", "layout", "open_cgroup", "orphans",
           "shares_to_weight"]


def __getattr__(name: str):
    # the back-ends (and the limits they write) load when asked for: the OCI runtime reads
    # cgroup files through fs alone, and its start is paid at every verb
    if name in ("CgroupV1",):
        from .v1 import CgroupV1

        return CgroupV1
    if name in ("CgroupV2", "shares_to_weight"):
        from . import v2

        return getattr(v2, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def open_cgroup(container_id: str, where: Layout | None = None) -> "CgroupV1 | CgroupV2 | Cgroupless":
    where = where or layout()
    if not delegated(where):
        from .none import Cgroupless

        return Cgroupless(container_id)
    if where.backend == "v1":
        from .v1 import CgroupV1

        return CgroupV1(where.v1, container_id, where.v1_options)
    if where.backend == "v2":
        from .v2 import CgroupV2

        return CgroupV2(where.v2, container_id)
    raise TinydockerError("no cgroup filesystem is mounted (tinydocker needs /sys/fs/cgroup)")


def delegated(where: Layout) -> bool:
    """Whether this process may make container cgroups: root may; an ordinary user where the
    parent of tinydocker's cgroups (or the hierarchy's root, if that is not made yet) is
    writable by it."""
    import os

    if os.geteuid() == 0:
        return True
    mounts = list(where.v1.values()) if where.backend == "v1" else [where.v2] if where.v2 else []
    for mount in mounts:
        parent = Path(mount) / PARENT
        if not os.access(parent if parent.exists() else mount, os.W_OK):
            return False
    return bool(mounts)


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
                # min_age 0 takes any age: cgroupfs stamps with the coarse clock, which a
                # virtual machine's clock can put a few ms ahead of time.time()
                old = min_age <= 0 or now - leaf.stat().st_mtime > min_age
            except OSError:
                continue
            if leaf.is_dir() and old and not procs(leaf):
                found.add(leaf.name)
    return sorted(found)
