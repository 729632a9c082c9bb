"""The cgroup v2 subtree delegated to an ordinary user, where its containers' cgroups go.

systemd delegates a subtree to a user (Delegate=yes on user@.service): a cgroup directory
owned by the user, its cgroup.procs, cgroup.subtree_control and cgroup.threads chowned to
it, the controllers enabled in its parent. Everything the user's own systemd starts lives
below it, each process in a leaf of its own (an app's scope, a service).

The rule: the delegated subtree is the *top* of the run of cgroups, going up from the
caller's own (/proc/self/cgroup's "0::" line), that the user owns with those files writable
by it; it is used only if it holds no process of its own (cgroup v2 enables controllers for
the children of a cgroup only when it has none: "no internal processes"). The top, not the
nearest, so that every command of the user's finds the same subtree wherever it was started
inside it (a terminal's scope, `systemd-run --user --scope`, a service) and a container made
from one is found, stopped and removed from another. The caller's own cgroup never
qualifies as the top while it is the top: the caller itself is in it.
"""

import os
from pathlib import Path

from .fs import procs

_CHOWNED = ("cgroup.procs", "cgroup.subtree_control")  # what systemd hands over with the directory


def own_path() -> str | None:
    """This process's cgroup in the unified hierarchy ("/user.slice/..."); None if it is not
    given or lies outside our cgroup namespace's root ("/.." paths)."""
    try:
        with open("/proc/self/cgroup") as f:
            for line in f:
                if line.startswith("0::"):
                    path = line[3:].rstrip("\n")
                    return None if path.startswith("/..") else path
    except OSError:
        pass
    return None


def _owned(directory: Path, uid: int) -> bool:
    try:
        if os.stat(directory).st_uid != uid:
            return False
    except OSError:
        return False
    return os.access(directory, os.W_OK) and all(os.access(directory / f, os.W_OK) for f in _CHOWNED)


def subtree(mount: str, uid: int | None = None, own: str | None = None) -> Path | None:
    """The delegated subtree's directory (under the cgroup2 `mount`) for this user, None
    where there is none usable (the rule above)."""
    uid = os.geteuid() if uid is None else uid
    own = own_path() if own is None else own
    if own is None:
        return None
    top = None
    here = Path(mount) / own.lstrip("/")
    while here != Path(mount) and _owned(here, uid):
        top = here
        here = here.parent
    if top is None or procs(top):
        return None
    return top
