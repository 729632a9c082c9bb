"""`pause ID` and `resume ID`: freeze and thaw the container's cgroup, runc's way.

pause takes a created or running container (runc freezes a created one too) and returns
once the kernel reports every process frozen; its status is then "paused" (state.status
reads the freezer, nothing is stored). resume takes a paused one only. The errors are runc's:
"container not running" and "container not paused".
"""

from . import cgroups
from .state import RuntimeError_, Store, status


def pause(store: Store, container_id: str) -> None:
    with store.open(container_id) as locked:
        state = locked.read()
        if status(locked.path, state, holding_lock=True) not in ("created", "running"):
            raise RuntimeError_("container not running")
        cgroups.freeze(state.leaves)


def resume(store: Store, container_id: str) -> None:
    with store.open(container_id) as locked:
        state = locked.read()
        if status(locked.path, state, holding_lock=True) != "paused":
            raise RuntimeError_("container not paused")
        cgroups.thaw(state.leaves)
