"""`start`: release a created container's init, which blocks opening the exec fifo for write.

The fifo is opened for reading without blocking (an init killed meanwhile would otherwise
leave start waiting for ever), its one byte read once the init has opened its end, then its
end-of-file awaited: the init keeps its end open, close-on-exec, until it has exec'd the
program. The fifo is then removed (the container is "running") and the poststart hooks run,
after the program started, as the spec wants.
"""

import os
import select
import signal
import time

from ..linux.proc import is_alive as alive
from .state import FIFO, RuntimeError_, Store, status


def start(store: Store, container_id: str, warn=None) -> None:
    with store.open(container_id) as locked:
        state = locked.read()
        now = status(locked.path, state, holding_lock=True)
        if now != "created":
            if now == "stopped":
                raise RuntimeError_("cannot start a container that has stopped")
            raise RuntimeError_("cannot start an already running container" if now == "running"
                                else f"cannot start a container in the {now} state")
        if not state.has_process:
            _end(state)
            raise RuntimeError_("cannot start a container without a process (its config.json has none)")
        fifo = os.path.join(locked.path, FIFO)
        fd = os.open(fifo, os.O_RDONLY | os.O_NONBLOCK | os.O_CLOEXEC)
        try:
            released = False
            while True:
                ready, _, _ = select.select([fd], [], [], 0.1)
                data = None
                if ready:
                    try:
                        data = os.read(fd, 1)
                    except BlockingIOError:
                        pass
                if data:
                    released = True  # the init took it: from now on it runs
                    continue
                if released and data == b"":
                    break  # its end closed at execve (or at its exit): the program runs
                if not alive(state.pid, state.start_ticks):
                    if released:
                        break  # it ran and is gone already
                    raise RuntimeError_("cannot start a container that has stopped")
                if ready and data == b"":
                    # EOF before the init opened its end: wait for it
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


def _end(state) -> None:
    """A container created without a process can never run: its waiting init is ended, so
    that it is "stopped" (as after any start that cannot run the program) and delete removes it."""
    if state.pid > 0 and alive(state.pid, state.start_ticks):
        try:
            os.kill(state.pid, signal.SIGKILL)
        except ProcessLookupError:
            return
        deadline = time.monotonic() + 10
        while alive(state.pid, state.start_ticks) and time.monotonic() < deadline:
            time.sleep(0.005)
