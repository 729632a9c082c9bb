"""`attach`: the caller's terminal (or a script's pipes) joined to a detached container.

There is no daemon holding the container's stdio, so attach takes it where it is:

  - output: the container's log (the data root's monitor writes everything the container
    says there), followed from its current end, stdout to stdout and stderr to stderr;
  - input, for a container started with -i: a copy of the monitor's own end of the
    container's stdin (the pipe's write end, or the pty's master with -t), which the
    monitor hands over when asked. What is typed reaches the container as it would under
    `run -i`; several attached callers share it, as docker's do.

With -t the caller's terminal goes raw (the container's pty interprets Ctrl-C), and the
detach keys (Ctrl-P Ctrl-Q) leave the container running. Without a terminal, the signals
attach is sent are passed on to the container (--sig-proxy). Otherwise attach lasts as long
as the container and ends with its exit code.
"""

import os
import select
import signal
import threading

from ..errors import TinydockerError
from .stdio import write_all
from .terminal import copy_winsize

PROXIED = (signal.SIGINT, signal.SIGTERM, signal.SIGHUP, signal.SIGQUIT, signal.SIGUSR1, signal.SIGUSR2)
DETACHED = None  # what attach() returns when the user detached (the container goes on)


def detach_sequence(text: str) -> bytes:
    """docker's --detach-keys: "ctrl-p,ctrl-q", "ctrl-a,x" ... as the bytes a terminal sends."""
    out = bytearray()
    for key in text.split(","):
        key = key.strip()
        if key.lower().startswith("ctrl-") and len(key) == 6:
            code = ord(key[5].upper()) ^ 0x40
            if code > 0x1F and code != 0x7F:
                raise TinydockerError(f"invalid detach key {key!r}: ctrl- takes a letter or one of @[\\]^_")
            out.append(code)
        elif len(key) == 1:
            out.append(ord(key))
        else:
            raise TinydockerError(f"invalid detach keys {text!r}: want keys such as ctrl-p,ctrl-q")
    return bytes(out)


def attach(store, record, stdin: bool = True, sig_proxy: bool = True, keys: bytes = b"\x10\x11"):
    """Join the caller's fds 0, 1, 2 to the running container `record`; its exit code, or
    DETACHED."""
    from .logs import read

    tty = bool(record.spec.get("tty"))
    input_fd = _input_of(store, record) if stdin else None
    following, ended = threading.Event(), threading.Event()

    def show():
        try:
            for stream, data in read(store, record, follow=True, tail=0, ready=following.set, pieces=tty):
                write_all(2 if stream == "stderr" else 1, data)
        except OSError:
            pass  # the caller's output is gone: nothing more to show
        finally:
            following.set()
            ended.set()

    raw = tty and input_fd is not None and os.isatty(0)
    saved = _raw(0) if raw else None
    proxy_fd, old_handlers = _proxy_signals(record) if sig_proxy and not tty else (None, {})
    threading.Thread(target=show, daemon=True).start()
    try:
        following.wait()  # the output from here on is ours before any input can make some
        if raw:
            copy_winsize(0, input_fd)
        if input_fd is not None and not _relay_input(input_fd, keys, ended):
            return DETACHED
        ended.wait()
    finally:
        if saved is not None:
            import termios

            termios.tcsetattr(0, termios.TCSADRAIN, saved)
        for sig, handler in old_handlers.items():
            signal.signal(sig, handler)
        if proxy_fd is not None:
            os.close(proxy_fd)
        if input_fd is not None:
            os.close(input_fd)
    current = store.current(record)
    return current.exit_code if current is not None and current.exit_code is not None else 0


def _input_of(store, record) -> int | None:
    """Our copy of the container's input, from its monitor; None if it was started without
    -i (or its monitor is gone, or the container ends meanwhile)."""
    if not record.spec.get("interactive"):
        return None
    from .monitor_client import ask

    try:
        answer, fds = ask(store.root, {"op": "input", "id": record.id}, start=False)
    except TinydockerError:
        return None
    return fds[0] if answer and answer.get("input") and fds else None


def _relay_input(target: int, keys: bytes, ended: threading.Event) -> bool:
    """Copy our stdin to the container until it ends (True) or the detach keys come (False)."""
    matched = 0
    while not ended.is_set():
        if not select.select([0], [], [], 0.1)[0]:
            continue
        data = os.read(0, 65536)
        if not data:
            return True  # our input ended; the container's goes on (others may attach)
        out, matched, detached = scan_input(data, keys, matched)
        try:
            write_all(target, out)
        except OSError:
            return True  # the container's input is closed: it is ending
        if detached:
            return False
    return True


def scan_input(data: bytes, keys: bytes, matched: int) -> tuple[bytes, int, bool]:
    """`data` read from an attached terminal, with `matched` bytes of the detach keys seen
    before it: (the input to pass on, the keys' bytes matched at its end, whether the whole
    sequence came: what follows it is not input)."""
    out = bytearray()
    for byte in data:
        if keys and byte == keys[matched]:
            matched += 1
            if matched == len(keys):
                return bytes(out), 0, True
            continue
        out += keys[:matched]  # a started sequence that did not go on is input
        if keys and byte == keys[0]:
            matched = 1  # … and this byte may begin the sequence anew (ctrl-p ctrl-p ctrl-q)
        else:
            out.append(byte)
            matched = 0
    return bytes(out), matched, False


def _proxy_signals(record) -> tuple[int | None, dict]:
    """Pass the signals attach gets on to the container's PID 1 (docker's --sig-proxy):
    (the pidfd they go through, the handlers to put back)."""
    try:
        pidfd = os.pidfd_open(record.pid)
    except ProcessLookupError:
        return None, {}

    def forward(number, _frame):
        try:
            signal.pidfd_send_signal(pidfd, number)
        except ProcessLookupError:
            pass

    return pidfd, {sig: signal.signal(sig, forward) for sig in PROXIED}


def _raw(fd: int):
    import termios
    import tty

    saved = termios.tcgetattr(fd)
    tty.setraw(fd, termios.TCSANOW)
    return saved

