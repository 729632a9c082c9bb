"""A container's processes seen from the engine, shared by run and exec: signals passed on
to them, the namespaces of a running container opened, the exit status, the outcome."""

from dataclasses import dataclass
import os
import signal
import sys

from ..errors import EXIT_TINYDOCKER, TinydockerError

FORWARDED_SIGNALS = (signal.SIGINT, signal.SIGTERM, signal.SIGHUP, signal.SIGQUIT,
                     signal.SIGUSR1, signal.SIGUSR2)


@dataclass
class Completed:
    """What run(capture_output=True) returns."""
    exit_code: int
    stdout: bytes
    stderr: bytes


class SignalForwarder:
    """Passes the signals tinydocker receives on to the container's PID 1.

    Installed before the fork so that a signal arriving while the container starts is
    held and delivered once its pid is known, instead of killing tinydocker mid-setup.
    """

    def __init__(self, kill: bool = False):
        self.pid = None
        self.pending = []
        self.previous = {}
        # kill=True: any of them ends the container (a build's RUN, which docker build
        # cancels on ^C, where a shell as PID 1 would ignore the SIGINT passed on)
        self.kill = kill

    def install(self):
        import threading

        if threading.current_thread() is not threading.main_thread():
            return  # Python lets only the main thread set handlers; a script's worker thread gets none
        for sig in FORWARDED_SIGNALS:
            self.previous[sig] = signal.signal(sig, self._handle)

    def _handle(self, sig, frame):
        if self.pid is None:
            self.pending.append(sig)
        else:
            try:
                os.kill(self.pid, signal.SIGKILL if self.kill else sig)
            except ProcessLookupError:
                pass

    def target(self, pid: int):
        self.pid = pid
        for sig in self.pending:
            self._handle(sig, None)
        self.pending.clear()

    def restore(self):
        for sig, handler in self.previous.items():
            signal.signal(sig, handler)


def open_namespaces(record, kinds: dict[int, str], not_running: Exception) -> dict[int, int]:
    """A running container's namespaces ({CLONE_* flag: its /proc/PID/ns name}) opened, then
    checked: the descriptors are surely the container's, not a reused pid's. not_running is
    raised, nothing left open, if the container is not running."""
    opened: dict[int, int] = {}
    try:
        try:
            for flag, kind in kinds.items():
                opened[flag] = os.open(f"/proc/{record.pid}/ns/{kind}", os.O_RDONLY | os.O_CLOEXEC)
        except (OSError, TypeError):  # TypeError: no pid at all
            raise not_running from None
        if not record.container_alive():
            raise not_running
    except BaseException:
        for fd in opened.values():
            os.close(fd)
        raise
    return opened


def exit_status(pid: int) -> int:
    """Wait for the child to end without reaping it; docker's 128+N for a signal."""
    info = os.waitid(os.P_PID, pid, os.WEXITED | os.WNOWAIT)
    if info.si_code == os.CLD_EXITED:
        return info.si_status
    return 128 + info.si_status


def outcome_of(error: dict | None, code: int, out: tuple | None):
    """What a foreground run or exec returns: the exit code, or Completed; a failure to
    exec is said on stderr (captured or not), a failure of tinydocker's own is raised."""
    if error is not None and error["code"] == EXIT_TINYDOCKER:
        raise TinydockerError(error["error"])
    if error is not None:
        message = f"tinydocker: {error['error']}\n".encode()
        if out is not None:
            out = (out[0], out[1] + message)
        else:
            sys.stderr.buffer.write(message)
            sys.stderr.flush()
    if out is not None:
        return Completed(code, out[0], out[1])
    return code
