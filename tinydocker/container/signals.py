"""Signals to a container's PID 1, through a pidfd so that a reused pid is never signalled:
send one, kill, wait for the end, and the stop signal a container asked for."""

import os
import signal

from ..errors import TinydockerError


def parse_signal(value) -> int:
    """A signal by name (KILL, SIGTERM) or number, as docker's flags take it."""
    text = str(value).strip().upper()
    try:
        return signal.Signals(int(text)) if text.isdigit() else signal.Signals[
            text if text.startswith("SIG") else "SIG" + text]
    except (KeyError, ValueError):
        raise TinydockerError(f"invalid signal: {value}") from None


def stop_signal(record) -> int:
    """What `stop` sends first: the container's --stop-signal, else SIGTERM."""
    asked = record.spec.get("stop_signal")
    return parse_signal(asked) if asked else signal.SIGTERM


def pidfd(record) -> int | None:
    """A pidfd of the container's PID 1, or None if it has ended. Checked after opening:
    the descriptor then stays on this process even if the pid number is reused."""
    try:
        fd = os.pidfd_open(record.pid)
    except ProcessLookupError:
        return None
    if record.container_alive():
        return fd
    os.close(fd)
    return None


def send(record, sig: int) -> None:
    fd = pidfd(record)
    if fd is None:
        return
    try:
        signal.pidfd_send_signal(fd, sig)
    except ProcessLookupError:
        pass  # it ended meanwhile
    finally:
        os.close(fd)
    if record.paused:
        # a frozen process acts on no signal: thaw it, and it does (docker's kill and stop)
        from ..cgroups import open_cgroup

        try:
            open_cgroup(record.id, subtree=record.cgroup).thaw()
        except (FileNotFoundError, TinydockerError):
            pass  # gone meanwhile


def wait_gone(record, timeout: float | None) -> bool:
    """Wait up to `timeout` seconds (None: for ever) for PID 1 to end; whether it has."""
    import select

    fd = pidfd(record)
    if fd is None:
        return True
    try:
        return bool(select.select([fd], [], [], timeout)[0])
    finally:
        os.close(fd)


def kill(record) -> None:
    """SIGKILL the container's PID 1 (the kernel then ends the rest of its PID namespace)."""
    send(record, signal.SIGKILL)
    if not wait_gone(record, 10):
        raise TinydockerError(f"container {record.name} (pid {record.pid}) did not die after SIGKILL")
