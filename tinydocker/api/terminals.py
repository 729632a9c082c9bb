"""The API for containers' terminals: a window size given to a container's pseudo-terminal
(docker's resize), for a caller that is not on that terminal itself (the Engine API's
clients)."""

from ..errors import NotRunning, TinydockerError
from .containers import _find


def resize(ref: str, height: int, width: int, root=None) -> None:
    """Set the window size of a running container's terminal (made with -t and -i): its
    foreground process gets SIGWINCH, as on a terminal whose window changed."""
    from ..container.attach import _input_of
    from ..state.record import RUNNING

    _check_size(height, width)
    store, record = _find(ref, root)
    if record.status != RUNNING:
        raise NotRunning(record.name)
    if not record.spec.get("tty"):
        raise TinydockerError(f"container {record.name} has no terminal to resize (it was made without -t)")
    master = _input_of(store, record)  # the monitor's copy of the pty's master (with -i)
    if master is None:
        return  # a -t container without -i: its monitor keeps no copy to set the size on
    try:
        set_size(master, height, width)
    finally:
        import os

        os.close(master)


def set_size(fd: int, height: int, width: int) -> None:
    import fcntl
    import struct
    import termios

    fcntl.ioctl(fd, termios.TIOCSWINSZ, struct.pack("HHHH", height, width, 0, 0))


def _check_size(height: int, width: int) -> None:
    if not (0 <= height < 65536 and 0 <= width < 65536):
        raise TinydockerError(f"invalid terminal size {height}x{width}")
