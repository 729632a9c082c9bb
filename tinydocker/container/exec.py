"""`exec`: a new process inside a running container, through the container's runtime.

The process is a runtime-spec process object made as a run's is (bundle.process: the user
looked up in the container's layers, the capabilities it is held to); the runtime joins the
container's namespaces, cgroup and root with it and applies the container's seccomp filter,
and hands back its pid, a child of ours, once its program runs. We wait for it as `run`
waits for the container's init.
"""

import os

from ..errors import EXIT_CANNOT_EXEC, EXIT_NOT_FOUND, EXIT_TINYDOCKER, NotRunning, TinydockerError
from ..state.record import Record
from . import bundle, oci
from .process import SignalForwarder, exit_status, outcome_of
from .stdio import CapturePipes, Pipes


class GivenStdio(Pipes):
    """The process's fds 0, 1, 2 given by the caller (None: stdin /dev/null, or this
    process's own out/err); the caller's to close (once started() is called, say)."""

    def __init__(self, fds):
        self.fds = fds

    def in_child(self):
        for fd, given in enumerate(self.fds):
            if given is not None:
                os.dup2(given, fd)

    def in_parent(self):
        pass

    def discard(self):
        pass


def exec_in(store, record: Record, argv: list[str], env: dict, workdir: str, user: str, confinement: dict,
            group_add: list, interactive: bool = False, tty: bool = False, capture_output: bool = False,
            input: bytes | None = None, streams=None, terminal=None, started=None):
    """Run a new process inside a running container and wait for it; returns as run does.
    For a caller whose user is elsewhere (the Engine API's exec): `streams`, the descriptors
    for its fds 0, 1, 2 without a terminal (a failure to run
    it is said on the third; the caller's to close); `terminal`, what relays the pty's master (given to it, closed
    after) with one; started(pid) once it runs."""
    if tty and capture_output:
        raise TinydockerError("a terminal (-t) and captured output cannot be combined")
    if input is not None:
        interactive = True
    cdir = str(store.container_dir(record.name))
    process = bundle.process({"argv": argv, "env": env, "workdir": workdir, "user": user, "tty": tty,
                              "group_add": group_add}, confinement, store.layer_stack(record.name))
    runtime = oci.for_container(store.root, record.spec)
    pipes = CapturePipes(input) if capture_output else GivenStdio(streams) if streams is not None else None
    console = oci.Console() if tty else None
    forwarder = SignalForwarder()
    forwarder.install()
    master = None
    try:
        try:
            pid = runtime.exec(record.id, cdir, process, pipes, interactive, console and console.path,
                               forwarder.target)
        except TinydockerError as e:
            if pipes:
                pipes.in_parent()
                pipes.discard()
            if not record.container_alive():
                raise NotRunning(record.name) from None  # it ended meanwhile
            if e.code not in (EXIT_CANNOT_EXEC, EXIT_NOT_FOUND):
                raise
            # a program that cannot run: docker's words and 126/127, as for run (once: a
            # runtime binary may have said it on the stderr it shares with the process)
            told = isinstance(e, oci.CannotRun) and e.told and not capture_output  # captured: its pipe is gone unread
            said = None if told else {"error": str(e), "code": e.code}
            if streams is not None or terminal is not None:
                return _said_to_caller(said, e.code, streams)
            return outcome_of(said, e.code, (b"", b"") if capture_output else None)
        if started is not None:
            started(pid)
        if pipes:
            pipes.in_parent()
        if console:
            master = console.master()
            console.close()
            console = None
            if terminal is not None:
                try:
                    terminal(master)
                finally:
                    os.close(master)
            else:
                from .terminal import relay

                relay(master, interactive)
        out = pipes.pump(pid) if isinstance(pipes, CapturePipes) else None
        code = exit_status(pid)
        os.waitpid(pid, 0)
    finally:
        forwarder.restore()
        if console:
            console.close()
    return outcome_of(None, code, out)


def _said_to_caller(said: dict | None, code: int, streams) -> int:
    """A program that could not run, told on the caller's stderr stream (tinydocker's own
    failures raised, as outcome_of does)."""
    if said is not None:
        if said["code"] == EXIT_TINYDOCKER:
            raise TinydockerError(said["error"])
        if streams is not None and streams[2] is not None:
            from .stdio import write_all

            try:
                write_all(streams[2], f"tinydocker: {said['error']}\n".encode())
            except OSError:
                pass
    return code
