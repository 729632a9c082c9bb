"""The container's stdio as pipes: captured for a script, or logged for a detached container."""

import os

from .logfile import write_all  # noqa: F401 - also the package's one write_all

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

    def discard(self):
        """After in_parent, when nothing ran: our ends closed, nothing read."""
        for pair, ours in ((self.stdin, 1), (self.stdout, 0), (self.stderr, 0)):
            if pair:
                os.close(pair[ours])


class LogPipes(Pipes):
    """A detached container's stdio: output into pipes the monitor reads into the log
    (with -t the pty does that job); with -i a stdin pipe the monitor holds open, so
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

    held = False  # stdin open and silent till the end, not closed once the input is fed

    def __init__(self, input: bytes | None, log=None):
        self.input = input or b""
        self.log = log
        self.stdin = os.pipe() if input is not None else None
        self.stdout = os.pipe()
        self.stderr = os.pipe()
        self.chunks = {b"stdout": [], b"stderr": []}

    def take(self, stream: bytes, data: bytes) -> bool:
        """Hand on what the container wrote; False once it has nowhere to go."""
        self.chunks[stream].append(data)
        return True

    def pump(self, pid: int) -> tuple[bytes, bytes]:
        """Feed the input and read the output until the container's PID 1 (`pid`) has ended
        and its output is drained."""
        import selectors

        sel = selectors.DefaultSelector()
        streams = {self.stdout[0]: b"stdout", self.stderr[0]: b"stderr"}
        for fd in streams:
            sel.register(fd, selectors.EVENT_READ)
        # PID 1's end ends its namespace and every writer in it; a copy of a pipe forked
        # into some other process of the caller's (another thread's fork) could hold it open
        # for ever, so once PID 1 has ended, a quiet second ends the reading
        pidfd = os.pidfd_open(pid)
        sel.register(pidfd, selectors.EVENT_READ)
        pending = memoryview(self.input)
        if self.stdin:
            if pending:
                os.set_blocking(self.stdin[1], False)
                sel.register(self.stdin[1], selectors.EVENT_WRITE)
            elif not self.held:
                os.close(self.stdin[1])
        ended = False
        while any(fd in streams for fd in sel.get_map()):
            ready = sel.select(1.0 if ended else None)
            if not ready and ended:
                break
            for key, _ in ready:
                fd = key.fd
                if fd == pidfd:
                    ended = True
                    sel.unregister(fd)
                    continue
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
                if data and self.log is not None:
                    self.log.write(streams[fd], data)
                if not data or not self.take(streams[fd], data):
                    # read to its end, or its reader gone: closed, so that the container's next
                    # write fails (SIGPIPE) as it would writing to the closed pipe itself
                    sel.unregister(fd)
                    os.close(fd)
        for fd in list(sel.get_map()):
            os.close(fd)  # the pidfd among them, unless it was unregistered at PID 1's end
        sel.close()
        if ended:
            os.close(pidfd)
        if self.held:
            os.close(self.stdin[1])
        return b"".join(self.chunks[b"stdout"]), b"".join(self.chunks[b"stderr"])


class TeePipes(CapturePipes):
    """An attached container's output, passed on to the caller's stdout and stderr as it
    comes and kept in its log (stdin stays the caller's, or with held_stdin a pipe kept open
    that nothing is written to: a -i container attached without its input, docker's
    `start -a`). A caller's closed pipe (`run … | head`) closes the container's: its next
    write fails, as in a shell pipeline."""

    def __init__(self, log, shown=(b"stdout", b"stderr"), held_stdin=False):
        super().__init__(b"" if held_stdin else None, log)
        self.shown = shown  # run -a STREAM: the others go to the log only
        self.held = held_stdin


    def pump(self, pid: int) -> None:
        super().pump(pid)  # what was not captured comes back empty: there is nothing to return

    def take(self, stream: bytes, data: bytes) -> bool:
        if stream not in self.shown:
            return True
        try:
            write_all(1 if stream == b"stdout" else 2, data)  # a full non-blocking pipe is waited for
            return True
        except OSError:  # EPIPE: the reader is gone
            return False
