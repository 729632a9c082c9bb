"""Writing a container's log: CRI records (the format of podman's k8s-file driver), rotated by size.

    2026-11-22T17:38:37.636162123Z stdout F a complete line
    2026-11-22T17:38:37.636162123Z stderr P a partial line, continued by the next record

Whoever holds the container's output writes it: an attached `run` as it relays it, or a
detached container's monitor. With --log-opt max-size, a record that would take the file
past it first moves the file to LOG.1 (LOG.1 to LOG.2 ..., keeping max-file files in all),
as docker's json-file driver rotates. Readers (logs.py) read LOG.N ... LOG.1, then LOG.

"""

import os
import select
import time


def stamp(ns: int) -> bytes:
    """A record's time: UTC, nanoseconds, fixed width, so that stamps compare as bytes."""
    seconds, nanos = divmod(ns, 1_000_000_000)
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(seconds)).encode() + b".%09dZ" % nanos


def records(stream: bytes, data: bytes) -> list[bytes]:
    now = stamp(time.time_ns())
    lines = data.split(b"\n")
    out = [b"%s %s F %s\n" % (now, stream, line) for line in lines[:-1]]
    if lines[-1]:
        out.append(b"%s %s P %s\n" % (now, stream, lines[-1]))
    return out


def write_all(fd: int, data: bytes) -> None:
    view = memoryview(data)
    while view:
        try:
            view = view[os.write(fd, view):]
        except BlockingIOError:
            # a non-blocking fd that is full (a caller's pipe some runners make so): a slow
            # reader, not a gone one, so wait for room
            select.select([], [fd], [])


class LogWriter:
    """Appends output to the log at `path` (None: keeps nothing, --log-driver none).

    The file and its rotations are named relative to the container's directory, held open:
    a `rename` of the running container moves that directory, and the log goes with it."""

    def __init__(self, path: str | None, max_size: int = 0, max_files: int = 1):
        self.max_size, self.max_files = max_size, max_files
        self.name = os.path.basename(path) if path else None
        try:
            self.dir = os.open(os.path.dirname(path), os.O_PATH | os.O_DIRECTORY | os.O_CLOEXEC) if path else None
        except OSError:  # the container was removed meanwhile: its output has nowhere to go
            self.dir = self.name = None
        self.fd = self._open(0)
        self.size = os.fstat(self.fd).st_size

    def _open(self, truncate: int) -> int:
        flags = os.O_WRONLY | os.O_APPEND | os.O_CREAT | os.O_CLOEXEC | truncate
        try:
            if self.name:
                return os.open(self.name, flags, 0o640, dir_fd=self.dir)
        except OSError:  # the container was removed meanwhile
            pass
        return os.open(os.devnull, os.O_WRONLY | os.O_CLOEXEC)

    def write(self, stream: bytes, data: bytes) -> None:
        try:
            self._append(stream, data)
        except OSError:
            # a full disk (ENOSPC, EFBIG, EIO): the container goes on and its output is still
            # passed on; only the log stops here (docker's json-file drops the line likewise)
            os.close(self.fd)
            self.fd, self.name = os.open(os.devnull, os.O_WRONLY | os.O_CLOEXEC), None

    def _append(self, stream: bytes, data: bytes) -> None:
        batch = []
        for record in records(stream, data):
            if self.name and self.max_size and self.size and self.size + len(record) > self.max_size:
                write_all(self.fd, b"".join(batch))
                batch = []
                self._rotate()
            batch.append(record)
            self.size += len(record)
        write_all(self.fd, b"".join(batch))

    def _rotate(self) -> None:
        os.close(self.fd)
        at = {"src_dir_fd": self.dir, "dst_dir_fd": self.dir}
        try:
            for n in range(self.max_files - 1, 0, -1):
                older = self.name if n == 1 else f"{self.name}.{n - 1}"
                try:
                    os.replace(older, f"{self.name}.{n}", **at)
                except FileNotFoundError:
                    pass  # fewer files so far
        except OSError:
            pass  # removed meanwhile; _open says where output goes now
        # one file only (max-file=1): the rotation is the file starting again
        self.fd = self._open(os.O_TRUNC)
        self.size = 0

    def close(self) -> None:
        os.close(self.fd)
        if self.dir is not None:
            os.close(self.dir)
