"""Each container's cgroup: created with its limits, joined before the command starts, removed.

One interface, two back-ends, chosen at run time from /proc/self/mountinfo:

  CgroupV1  one directory per hierarchy: <mount of cpu>/tinydocker/<id>, <mount of memory>/...
            Used whenever v1 hierarchies carry the controllers (pure v1, and hybrid layouts
            whose cgroup2 mount has none of them, as systemd's "unified" tree usually has).
  CgroupV2  <cgroup2 mount>/tinydocker/<id> on a unified hierarchy. Controllers are enabled
            through cgroup.subtree_control down the path; `tinydocker/` itself never holds a
            process, since v2 allows processes only in leaves ("no internal processes").
            An ordinary user's: <its delegated subtree>/tinydocker/<id> (delegation.py).
  Cgroupless an ordinary user's container where no subtree is delegated (none.py).

The directory `tinydocker/` is shared by all containers of all data roots and is removed
when its last container's cgroup goes. Creation therefore retries when a concurrent
removal takes `tinydocker/` away between our mkdir and the next step.
"""

import os
from pathlib import Path
import time

from ..errors import TinydockerError
from .fs import PARENT, Usage, procs
from .layout import Layout, layout

__all__ = ["PARENT", "Layout", "Usage", "CgroupV1", "CgroupV2", "layout", "open_cgroup", "orphans", "cgroups_path",
           "subtree_of", "shares_to_weight"]


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


def open_cgroup(container_id: str, where: Layout | None = None,
                subtree: str | None = None) -> "CgroupV1 | CgroupV2 | Cgroupless":
    """The container's cgroup where this caller would make it; or, given the `subtree` a
    user's container was made in (its record's), there: a command started outside the
    delegated subtree (an ssh login) still finds, stops and removes it."""
    where = where or layout()
    if (where.backend == "v2" and subtree is not None and os.geteuid() != 0
            and Path(subtree).is_relative_to(where.v2)):  # not a path of another mount's
        from .v2 import CgroupV2

        return CgroupV2(where.v2, container_id, subtree)
    if where.backend == "v2":
        user = _user_subtree(where)  # looked for once: it walks the caller's cgroup path
        if user is not None or os.geteuid() == 0:
            from .v2 import CgroupV2

            return CgroupV2(where.v2, container_id, user)
    if not delegated(where):
        from .none import Cgroupless

        return Cgroupless(container_id)
    if where.backend == "v1":
        from .v1 import CgroupV1

        return CgroupV1(where.v1, container_id, where.v1_options)
    raise TinydockerError("no cgroup filesystem is mounted (tinydocker needs /sys/fs/cgroup)")


def subtree_of(group) -> str | None:
    """What a record keeps of the cgroup open_cgroup gave: the user's delegated subtree, if
    it is in one (None for root's and for none at all)."""
    return str(group.mount) if getattr(group, "user", False) else None


def cgroups_path(container_id: str, where: Layout | None = None) -> str | None:
    """The container's cgroup as a bundle's linux.cgroupsPath names it (from the hierarchy's
    root), where open_cgroup puts it; None where it has none of its own (Cgroupless)."""
    group = open_cgroup(container_id, where)
    if group.version == "none":
        return None
    return getattr(group, "cgroups_path", f"/{PARENT}/{container_id}")


def delegated(where: Layout) -> bool:
    """Whether this process may make container cgroups: root may; an ordinary user on cgroup
    v2 where a subtree is delegated to it (delegation.py), on v1 where the parent of
    tinydocker's cgroups (or the hierarchy's root, if that is not made yet) is writable by it."""
    if os.geteuid() == 0:
        return True
    if where.backend == "v2":
        return _user_subtree(where) is not None
    mounts = list(where.v1.values()) if where.backend == "v1" else []
    for mount in mounts:
        parent = Path(mount) / PARENT
        if not os.access(parent if parent.exists() else mount, os.W_OK):
            return False
    return bool(mounts)


def _user_subtree(where: Layout) -> str | None:
    """Where an ordinary user's container cgroups go on cgroup v2 (None for root: the
    hierarchy's root)."""
    if os.geteuid() == 0 or not where.v2:
        return None
    from .delegation import subtree

    found = subtree(where.v2)
    return None if found is None else str(found)


def _bases(where: Layout) -> set[str]:
    """The directories whose tinydocker/ holds this caller's container cgroups: each v1
    hierarchy's root, the cgroup2 root for root, an ordinary user's delegated subtree;
    none for a user with nothing delegated (root's cgroups are not its own)."""
    if where.backend == "v1":
        return set(where.v1.values()) if delegated(where) else set()
    if where.backend != "v2" or not where.v2:
        return set()
    if os.geteuid() == 0:
        return {where.v2}
    user = _user_subtree(where)  # (walked once: delegated() would walk it again)
    return {user} if user else set()


def orphans(where: Layout | None = None, min_age: float = 60.0) -> list[str]:
    """Ids of empty container cgroups older than min_age seconds, in any hierarchy.

    Such a cgroup outlived whatever made it (a tinydocker killed before it could clean up).
    The age keeps a prune from taking a cgroup that a starting container is about to join.
    """
    where = where or layout()
    mounts = _bases(where)  # an ordinary user's own subtree: root's tree is not its to sweep
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
