"""A process's terminal (process.terminal): a new pty of the container's devpts, its master
sent to the engine's --console-socket in one SCM_RIGHTS message (the slave's name as the
data, as runc sends it), its slave the process's controlling terminal and stdio.

Used by create's init and by exec's process, both already in the container's root.
"""

import fcntl
import os
import socket
import struct
import termios


def send_new(console: int, size) -> int:
    """A new pty; its master goes through `console` (closed here), its slave is returned."""
    master, slave = os.openpty()
    try:
        if size:
            fcntl.ioctl(slave, termios.TIOCSWINSZ, struct.pack("HHHH", size[0], size[1], 0, 0))
        sock = socket.socket(fileno=console)
        try:
            socket.send_fds(sock, [os.ttyname(slave).encode()], [master])
        finally:
            sock.close()
    except BaseException:
        os.close(slave)
        raise
    finally:
        os.close(master)
    return slave


def take(slave: int) -> None:
    """The slave as controlling terminal and as fds 0-2; the caller leads a new session
    (every container process does, a terminal or not)."""
    fcntl.ioctl(slave, termios.TIOCSCTTY, 0)
    for target in (0, 1, 2):
        os.dup2(slave, target)
    if slave > 2:
        os.close(slave)


def connect(path: str) -> int:
    """A descriptor connected to the --console-socket at `path` (RuntimeError_ if nobody listens)."""
    from .state import RuntimeError_

    sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    try:
        sock.connect(path)
    except OSError as e:
        sock.close()
        raise RuntimeError_(f"cannot connect to the console socket {path}: {e.strerror}") from None
    return sock.detach()
