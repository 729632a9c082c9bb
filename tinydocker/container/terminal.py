"""`run -t`: relay between the user's terminal and the container's pseudo-terminal.

The user's terminal goes raw, so that Ctrl-C, Ctrl-Z and line editing are bytes for the
container's own line discipline to interpret (its foreground process gets the SIGINT, not
tinydocker); its size follows the user's terminal; it is restored however the relay ends.
"""

import errno
import fcntl
import os
import select
import signal
import termios
import tty

from .stdio import write_all


def copy_winsize(src: int, dst: int) -> None:
    try:
        size = fcntl.ioctl(src, termios.TIOCGWINSZ, b"\0" * 8)
        fcntl.ioctl(dst, termios.TIOCSWINSZ, size)
    except OSError:
        pass


def relay(master: int, interactive: bool, log=None) -> None:
    """Until the container's terminal closes; its output also goes to `log` (logfile.LogWriter)."""
    stdin_open = interactive
    user_tty = next((fd for fd in (0, 1) if os.isatty(fd)), None)
    saved = termios.tcgetattr(0) if interactive and os.isatty(0) else None
    old_winch = None
    if user_tty is not None:
        copy_winsize(user_tty, master)
        old_winch = signal.signal(signal.SIGWINCH, lambda *_: copy_winsize(user_tty, master))
    try:
        if saved is not None:
            tty.setraw(0, termios.TCSANOW)
        while True:
            readable, _, _ = select.select([master] + ([0] if stdin_open else []), [], [])
            if master in readable:
                try:
                    data = os.read(master, 65536)
                except OSError as e:
                    if e.errno != errno.EIO:  # EIO: every slave is closed, the container is gone
                        raise
                    data = b""
                if not data:
                    break
                if log is not None:
                    log.write(b"stdout", data)
                write_all(1, data)
            if 0 in readable:
                data = os.read(0, 65536)
                if data:
                    write_all(master, data)
                else:
                    stdin_open = False
                    write_all(master, bytes([termios.tcgetattr(master)[6][termios.VEOF]]))
    finally:
        if saved is not None:
            termios.tcsetattr(0, termios.TCSADRAIN, saved)
        if old_winch is not None:
            signal.signal(signal.SIGWINCH, old_winch)
        os.close(master)
