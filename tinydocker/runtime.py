"""Realising a container spec: the parent's side of `run`.

    image → record (name taken) → cgroup with its limits → fork PID 1 in a new PID
    namespace (it moves itself into the cgroup) → record pid → send orders down the pipe →
    hear "started" or an error → relay I/O, forward signals → collect the exit status →
    record it (and whether the OOM killer struck) → reap → remove the cgroup → (--rm) remove.

The record is complete before the child may go on, and the exit code is recorded before
the child's zombie is reaped, so whoever reads the store finds the pid still taken until
the record says how the container ended.
"""

import json
import os
import signal
import socket
import sys
from dataclasses import dataclass

from . import cgroups, init, proc
from . import syscalls as sc
from .errors import EXIT_TINYDOCKER, TinydockerError
from .images import ImageStore
from .paths import DataRoot
from .spec import ContainerSpec
from .state import EXITED, RUNNING, Record, Store, now


@dataclass
class Completed:
    """What run(capture_output=True) returns."""
    exit_code: int
    stdout: bytes
    stderr: bytes


class _Forwarder:
    """Passes the signals tinydocker receives on to the container's PID 1.

    Installed before the fork so that a signal arriving while the container starts is
    held and delivered once its pid is known, instead of killing tinydocker mid-setup.
    """

    def __init__(self):
        self.pid = None
        self.pending = []
        self.previous = {}

    def install(self):
        import threading

        if threading.current_thread() is not threading.main_thread():
            return  # Python lets only the main thread set handlers; a script's worker thread gets none
        for sig in init.FORWARDED_SIGNALS:
            self.previous[sig] = signal.signal(sig, self._handle)

    def _handle(self, sig, frame):
        if self.pid is None:
            self.pending.append(sig)
        else:
            try:
                os.kill(self.pid, sig)
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


def _fork_pid1() -> int:
    """Fork a child that is PID 1 of a new PID namespace, leaving this process as it was.

    unshare(CLONE_NEWPID) changes only where this process's *next* child goes; setns
    back to our own namespace right after the fork restores that, so a script calling
    the API can go on forking normally.
    """
    own = os.open("/proc/self/ns/pid", os.O_RDONLY | os.O_CLOEXEC)
    try:
        sc.unshare(sc.CLONE_NEWPID)
        try:
            pid = os.fork()
        except BaseException:
            sc.setns(own, sc.CLONE_NEWPID)
            raise
        if pid:
            sc.setns(own, sc.CLONE_NEWPID)
        return pid
    finally:
        os.close(own)


def _exit_code(pid: int) -> int:
    """Wait for the child to end without reaping it; docker's 128+N for a signal."""
    info = os.waitid(os.P_PID, pid, os.WEXITED | os.WNOWAIT)
    if info.si_code == os.CLD_EXITED:
        return info.si_status
    return 128 + info.si_status


def run(spec: ContainerSpec, root: DataRoot, capture_output: bool = False,
        input: bytes | None = None):
    """Run a container to its end. Returns the exit code, or Completed when capturing."""
    if spec.tty and capture_output:
        raise TinydockerError("a terminal (-t) and captured output cannot be combined")
    if input is not None:
        spec.interactive = True
    store = Store(root)
    lower = ImageStore(root).ensure(spec.image)
    record = store.create(spec)
    try:
        cgroup = cgroups.open_cgroup(record.id)
        cgroup.create(spec.limits)
    except BaseException:
        store.remove(record)  # nothing ran: leave nothing behind, not even the name
        raise
    cdir = store.container_dir(spec.name)
    orders = {
        "argv": spec.argv, "env": spec.container_env(), "hostname": spec.hostname,
        "workdir": spec.workdir, "tty": spec.tty, "interactive": spec.interactive,
        "lower": str(lower), "upper": str(cdir / "upper"), "work": str(cdir / "work"),
        "merged": str(cdir / "merged"), "cgroupfs": cgroup.filesystems(),
    }
    pipes = _CapturePipes(input) if capture_output else None
    spec_r, spec_w = os.pipe()
    report, child_report = socket.socketpair(socket.AF_UNIX, socket.SOCK_SEQPACKET)
    forwarder = _Forwarder()
    forwarder.install()
    try:
        pid = _fork_pid1()
        if pid == 0:
            os.close(spec_w)
            report.close()
            if pipes:
                pipes.in_child()
            init.child_main(spec_r, child_report, cgroup.join)  # never returns
        os.close(spec_r)
        child_report.close()
        forwarder.target(pid)
        try:
            started = store.update(record, status=RUNNING, pid=pid, start_ticks=proc.start_ticks(pid),
                                   started=now())
            if started is None:
                raise TinydockerError(f"container {spec.name} was removed while it was starting")
            record = started
            write_all(spec_w, json.dumps(orders).encode())
        except BaseException:
            # no orders will come: end the child now rather than leave it waiting
            os.kill(pid, signal.SIGKILL)
            os.waitpid(pid, 0)
            store.update(record, status=EXITED, exit_code=EXIT_TINYDOCKER, finished=now())
            _release_cgroup(cgroup)
            raise
        finally:
            os.close(spec_w)  # EOF: the child's orders are complete (or it gives up)

        error, master = _await_start(report)
        if pipes:
            pipes.in_parent()
        if master is not None:
            from .terminal import relay

            relay(master, spec.interactive)
        out = pipes.pump() if pipes else None
        code = _exit_code(pid)
    finally:
        forwarder.restore()
        report.close()

    _finish(store, record, cgroup, pid, code, spec.remove)
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


def _finish(store: Store, record: Record, cgroup, pid: int, code: int, remove: bool) -> None:
    try:
        # read before the cgroup goes: its counter is the only witness of an OOM kill
        oom = cgroup.oom_kills() > 0
        store.update(record, status=EXITED, exit_code=code, oom_killed=oom, finished=now())
    finally:
        os.waitpid(pid, 0)  # reap only now: until here the pid could not be reused
    if _release_cgroup(cgroup) and remove:
        store.remove(record)


def _release_cgroup(cgroup) -> bool:
    """Remove the container's cgroup; if it will not go, say so and keep the record for `rm`."""
    try:
        cgroup.remove()
        return True
    except TinydockerError as e:
        sys.stderr.write(f"tinydocker: warning: {e}\n")
        return False


def _await_start(report: socket.socket):
    """Read the child's report until EOF (its exec closed the socket) or an error."""
    error, master = None, None
    while True:
        msg, fds, _flags, _addr = socket.recv_fds(report, 65536, 4)
        if not msg:
            return error, master
        data = json.loads(msg)
        if "tty" in data and fds:
            master = fds[0]
        elif "error" in data:
            error = data
        for extra in fds[1:]:
            os.close(extra)


def write_all(fd: int, data: bytes) -> None:
    view = memoryview(data)
    while view:
        view = view[os.write(fd, view):]


class _CapturePipes:
    """stdin/stdout/stderr of the container through pipes, for run(capture_output=True)."""

    def __init__(self, input: bytes | None):
        self.input = input or b""
        self.stdin = os.pipe() if input is not None else None
        self.stdout = os.pipe()
        self.stderr = os.pipe()

    def in_child(self):
        if self.stdin:
            os.dup2(self.stdin[0], 0)
        os.dup2(self.stdout[1], 1)
        os.dup2(self.stderr[1], 2)
        for pair in filter(None, (self.stdin, self.stdout, self.stderr)):
            for fd in pair:
                os.close(fd)

    def in_parent(self):
        if self.stdin:
            os.close(self.stdin[0])
        os.close(self.stdout[1])
        os.close(self.stderr[1])

    def pump(self) -> tuple[bytes, bytes]:
        import selectors

        sel = selectors.DefaultSelector()
        chunks = {self.stdout[0]: [], self.stderr[0]: []}
        for fd in chunks:
            sel.register(fd, selectors.EVENT_READ)
        pending = memoryview(self.input)
        if self.stdin:
            if pending:
                os.set_blocking(self.stdin[1], False)
                sel.register(self.stdin[1], selectors.EVENT_WRITE)
            else:
                os.close(self.stdin[1])
        while sel.get_map():
            for key, _ in sel.select():
                fd = key.fd
                if self.stdin and fd == self.stdin[1]:
                    try:
                        pending = pending[os.write(fd, pending):]
                    except BrokenPipeError:
                        pending = pending[:0]
                    if not pending:
                        sel.unregister(fd)
                        os.close(fd)
                    continue
                data = os.read(fd, 65536)
                if data:
                    chunks[fd].append(data)
                else:
                    sel.unregister(fd)
                    os.close(fd)
        return b"".join(chunks[self.stdout[0]]), b"".join(chunks[self.stderr[0]])
