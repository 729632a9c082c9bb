"""The container's stdio as pipes: captured for a script, or logged for a detached container."""

import os

from .logfile import write_all  # noqa: F401 - also the package's one write_all

# where a detached container's supervisor holds the container's input (with -i): attach.py
# takes a copy of it from there
INPUT_FD = 99


class Pipes:
    """The container's fds 0, 1, 2 as pipes (a None pair leaves that fd as it is)."""

    stdin = stdout = stderr = None

    def in_child(self):
        for fd, pair, end in ((0, self.stdin, 0), (1, self.stdout, 1), (2, self.stderr, 1)):
            if pair:
                os.dup2(pair[end], fd)
        for pair in filter(None, (self.stdin, self.stdout, self.stderr)):
            for fd in pair:
                os.close(fd)

    def in_parent(self):
        for pair, child_end in ((self.stdin, 0), (self.stdout, 1), (self.stderr, 1)):
            if pair:
                os.close(pair[child_end])


class LogPipes(Pipes):
    """A detached container's stdio: output into pipes the supervisor reads into the log
    (with -t the pty does that job); with -i a stdin pipe the supervisor holds open, so
    that `sh` waits for input instead of reading EOF."""

    def __init__(self, interactive: bool, tty: bool):
        self.stdin = os.pipe() if interactive else None
        if not tty:
            self.stdout, self.stderr = os.pipe(), os.pipe()

    def outputs(self) -> list[tuple[int, str]]:
        return [(self.stdout[0], "stdout"), (self.stderr[0], "stderr")]

    def held(self) -> list[int]:
        return [self.stdin[1]] if self.stdin else []


class CapturePipes(Pipes):
    """stdin/stdout/stderr of the container through pipes, for run(capture_output=True);
    what comes out is also written to the container's log (logfile.LogWriter)."""

    def __init__(self, input: bytes | None, log=None):
        self.input = input or b""
        self.log = log
        self.stdin = os.pipe() if input is not None else None
        self.stdout = os.pipe()
        self.stderr = os.pipe()
        self.chunks = {b"stdout": [], b"stderr": []}

    def take(self, stream: bytes, data: bytes) -> None:
        self.chunks[stream].append(data)

    def pump(self) -> tuple[bytes, bytes]:
        import selectors

        sel = selectors.DefaultSelector()
        streams = {self.stdout[0]: b"stdout", self.stderr[0]: b"stderr"}
        for fd in streams:
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
                    if self.log is not None:
                        self.log.write(streams[fd], data)
                    self.take(streams[fd], data)
                else:
                    sel.unregister(fd)
                    os.close(fd)
        return b"".join(self.chunks[b"stdout"]), b"".join(self.chunks[b"stderr"])


class TeePipes(CapturePipes):
    """An attached container's output, passed on to the caller's stdout and stderr as it
    comes and kept in its log (stdin stays the caller's). A caller's closed pipe (`run … |
    head`) stops the passing on, not the container: its output still goes to the log."""

    def __init__(self, log):
        super().__init__(None, log)
        self.targets = {b"stdout": 1, b"stderr": 2}

    def pump(self) -> None:
        super().pump()  # what was not captured comes back empty: there is nothing to return

    def take(self, stream: bytes, data: bytes) -> None:
        fd = self.targets.get(stream)
        if fd is not None:
            try:
                write_all(fd, data)
            except OSError:
                del self.targets[stream]
