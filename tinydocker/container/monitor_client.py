"""Asking the data root's monitor (monitor.py) for something: where it listens, how one is
started when none runs, and the one-message exchange with it.

The monitor listens on state/monitor.sock, a SOCK_SEQPACKET socket (one message is one
JSON object, with descriptors alongside when one is handed over). A request is answered
first with `{"taken": true}` once the monitor has read it: a connection closed before that
reached a monitor that was leaving, and the request goes to a new one. A `start` is then
answered by the process that launched the container.
"""

import json
import os
import socket
import sys
import time

from ..errors import TinydockerError
from ..state.root import DataRoot

SOCKET = "monitor.sock"
LOCK = "monitor.lock"
MAX_MESSAGE = 65536
# a monitor leaving, or two starting at once, is retried for this long before giving up
PATIENCE = 30.0
# tinydocker/container/monitor_client.py -> the directory that holds the tinydocker package
PACKAGE_PARENT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def at(state_fd: int) -> str:
    """The socket's path through an open descriptor of the state directory: a data root's
    path may be longer than a unix socket's address (108 bytes)."""
    return f"/proc/self/fd/{state_fd}/{SOCKET}"


def send(sock: socket.socket, message: dict, fds=()) -> None:
    data = json.dumps(message).encode()
    if fds:
        socket.send_fds(sock, [data], list(fds))
    else:
        sock.send(data)


def receive(sock: socket.socket) -> tuple[dict | None, list[int]]:
    """One message and the descriptors that came with it; None at the end of the connection."""
    data, fds, _, _ = socket.recv_fds(sock, MAX_MESSAGE, 8)
    return (json.loads(data) if data else None), fds


def ask(root: DataRoot, request: dict, start: bool = True) -> tuple[dict | None, list[int]]:
    """Send `request` to the data root's monitor, starting one if none listens (start=False:
    None then); its answer (None: the monitor, or the process it started for this, ended
    without one)."""
    deadline = time.monotonic() + PATIENCE
    state = os.open(root.state, os.O_PATH | os.O_DIRECTORY | os.O_CLOEXEC)
    try:
        while True:
            with socket.socket(socket.AF_UNIX, socket.SOCK_SEQPACKET | socket.SOCK_CLOEXEC) as sock:
                try:
                    sock.connect(at(state))
                    send(sock, request)
                    taken, _ = receive(sock)
                except (FileNotFoundError, ConnectionRefusedError, ConnectionResetError, BrokenPipeError):
                    taken = None
                if taken is not None:
                    return receive(sock)
            if not start:
                return None, []
            if time.monotonic() > deadline:
                raise TinydockerError(f"the monitor of data root {root.root} does not answer")
            _spawn(root)
    finally:
        os.close(state)


def _spawn(root: DataRoot) -> None:
    """Start a monitor and wait until it listens, or until it finds another one there (the
    caller then asks again: that one listens, or is leaving and another is started)."""
    import subprocess

    ready_r, ready_w = os.pipe()
    boot = ("import sys; sys.path[:0] = sys.argv[3:]; "
            "from tinydocker.container.monitor import serve; serve(sys.argv[1], int(sys.argv[2]))")
    try:
        # -S: no site; the paths this process imports from are handed over instead (an
        # editable install's import hook is no path entry: the package's parent comes first)
        child = subprocess.Popen(
            [sys.executable, "-S", "-c", boot, str(root.root), str(ready_w), PACKAGE_PARENT, *sys.path],
            stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
            stderr=None if os.environ.get("TINYDOCKER_DEBUG") else subprocess.DEVNULL,
            pass_fds=(ready_w,), start_new_session=True, cwd="/")
    except OSError as e:
        os.close(ready_r)
        raise TinydockerError(f"cannot start the monitor of data root {root.root}: {e.strerror}") from None
    finally:
        os.close(ready_w)
    try:
        with os.fdopen(ready_r, "rb") as ready:
            said = ready.read()
    finally:
        child.wait()  # it forks the monitor and leaves at once: nobody's zombie
    if not said:
        raise TinydockerError(f"the monitor of data root {root.root} could not start")
    if said != b"ready":
        time.sleep(0.02)  # another one holds the data root: it listens now, or is leaving
