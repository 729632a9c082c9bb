"""`start`: release a created container's init, which blocks opening the exec fifo for write.

The fifo is opened for reading without blocking (an init killed meanwhile would otherwise
leave start waiting for ever), its one byte read once the init has opened its end, and
the fifo removed: from then on the container is "running".
"""

import os
import select

from .state import FIFO, RuntimeError_, Store, alive, status


def start(store: Store, container_id: str, warn=None) -> None:
    with store.open(container_id) as locked:
        state = locked.read()
        now = status(locked.path, state, holding_lock=True)
        if now != "created":
            if now == "stopped":
                raise RuntimeError_("cannot start a container that has stopped")
            raise RuntimeError_(f"cannot start an already running container" if now == "running"
                                else f"cannot start a container in the {now} state")
        fifo = os.path.join(locked.path, FIFO)
        fd = os.open(fifo, os.O_RDONLY | os.O_NONBLOCK | os.O_CLOEXEC)
        try:
            while True:
                ready, _, _ = select.select([fd], [], [], 0.1)
                if ready:
                    try:
                        if os.read(fd, 1):
                            break
                    except BlockingIOError:
                        pass
                if not alive(state.pid, state.start_ticks):
                    raise RuntimeError_("cannot start a container that has stopped")
                if not ready:
                    continue
                # EOF: the init has not opened its end yet (or closed it while dying); wait
                select.select([], [], [], 0.01)
        finally:
            os.close(fd)
            try:
                os.unlink(fifo)
            except FileNotFoundError:
                pass
        if state.hooks.get("poststart"):
            from . import hooks
            from .state import document

            running = document(container_id, locked.path, state, "running")
            hooks.run_all(hooks.loaded(state.hooks["poststart"]), running, "poststart", warn=warn)
