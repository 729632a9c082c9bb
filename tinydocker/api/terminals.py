"""The API for containers' terminals: a window size given to a container's pseudo-terminal
(docker's resize), for a caller that is not on that terminal itself (the Engine API's
clients)."""

import os

from ..errors import NotRunning, TinydockerError
from .containers import _find


def resize(ref: str, height: int, width: int, root=None) -> None:
    """Set the window size of a running container's terminal (made with -t): its foreground
    process gets SIGWINCH, as on a terminal whose window changed."""
    from ..container.attach import _input_of
    from ..state.record import RUNNING

    _check_size(height, width)
    store, record = _find(ref, root)
    if record.status != RUNNING:
        raise NotRunning(record.name)
    if not record.spec.get("tty"):
        raise TinydockerError(f"container {record.name} has no terminal to resize (it was made without -t)")
    # the monitor's copy of the pty's master (with -i), else the pty its PID 1 holds
    fd = _input_of(store, record)
    if fd is None:
        fd = terminal_of(record.pid)
        if fd is not None and not record.container_alive():  # that pid is still the container's
            os.close(fd)
            fd = None
    if fd is None:
        raise NotRunning(record.name)
    try:
        set_size(fd, height, width)
    finally:
        os.close(fd)


def set_size(fd: int, height: int, width: int) -> None:
    import fcntl
    import struct
    import termios

    fcntl.ioctl(fd, termios.TIOCSWINSZ, struct.pack("HHHH", height, width, 0, 0))


def _check_size(height: int, width: int) -> None:
    if not (0 <= height < 65536 and 0 <= width < 65536):
        raise TinydockerError(f"invalid terminal size {height}x{width}")


def terminal_of(pid: int) -> int | None:
    """The pty among the process's fds 0-2 (stdin is /dev/null without -i), opened."""
    for n in (0, 1, 2):
        try:
            fd = os.open(f"/proc/{pid}/fd/{n}", os.O_RDWR | os.O_NOCTTY | os.O_CLOEXEC)
        except OSError:
            continue
        if os.isatty(fd):
            return fd
        os.close(fd)
    return None
