"""`delete [--force] ID`: a stopped container's cgroups and state removed; with --force a
created, running or paused one is killed first (its init, and through the cgroup everything in it).

A container whose create was killed half-way (state.json without a pid) is stopped here:
its cgroup directories are recorded before they are made, so they go too.
"""

import os
import signal
import time

from . import cgroups
from ..linux.proc import is_alive as alive
from .state import NotExist, RuntimeError_, Store, status

PATIENCE = 10.0  # seconds for a SIGKILLed init to be gone


def delete(store: Store, container_id: str, force: bool = False, warn=None) -> None:
    try:
        locked = store.open(container_id)
    except NotExist:
        if force:
            return  # runc 1.1.5: delete --force of an unknown id succeeds quietly
        raise
    with locked:
        state = locked.read()
        now = status(locked.path, state, holding_lock=True)
        if now != "stopped" and not force:
            raise RuntimeError_(f"cannot delete container {container_id} that is not stopped: {now}")
        if state is not None and alive(state.pid, state.start_ticks):
            if state.pid > 0:  # never kill(0): that is our own process group
                try:
                    os.kill(state.pid, signal.SIGKILL)
                except ProcessLookupError:
                    pass
            if now == "paused":
                cgroups.thaw(state.leaves)  # the SIGKILL acts once thawed (v1)
            deadline = time.monotonic() + PATIENCE
            while state is not None and alive(state.pid, state.start_ticks) and time.monotonic() < deadline:
                time.sleep(0.005)
        if state is not None:
            cgroups.remove(state.cgroups, state.leaves)
        locked.remove()
    if state is not None and state.hooks.get("poststop"):
        from . import hooks
        from .state import document

        gone = {**document(container_id, "", state, "stopped")}
        hooks.run_all(hooks.loaded(state.hooks["poststop"]), gone, "poststop", warn=warn)
