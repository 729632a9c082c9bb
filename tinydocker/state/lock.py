"""The lock of a store in the data root: an exclusive flock on a file of its own.

Every store (containers, images, networks, volumes, the events journal) and the
machine-wide network lock take one. It is opened without following a symlink and never
truncated (a planted link cannot make it touch another file: CVE-2025-68146 was that in
filelock), is re-entrant within a thread, and is unlocked before it is closed, so that
a copy a fork made meanwhile does not keep it held. It costs no import on `run`'s path
(filelock, from 3.15 on, costs 20 ms there; it keeps the locks outside the data root).
"""

import fcntl
import os
import threading


class Flock:
    def __init__(self, path):
        self.path = os.fspath(path)
        self._mine = threading.local()  # each thread holds it, or waits for it, on its own

    def acquire(self) -> None:
        depth = getattr(self._mine, "depth", 0)
        if depth == 0:
            fd = os.open(self.path, os.O_RDWR | os.O_CREAT | os.O_NOFOLLOW | os.O_CLOEXEC, 0o600)
            try:
                fcntl.flock(fd, fcntl.LOCK_EX)
            except BaseException:
                os.close(fd)
                raise
            self._mine.fd = fd
        self._mine.depth = depth + 1

    def release(self) -> None:
        self._mine.depth -= 1
        if self._mine.depth == 0:
            fd, self._mine.fd = self._mine.fd, None
            fcntl.flock(fd, fcntl.LOCK_UN)
            os.close(fd)

    def __enter__(self) -> "Flock":
        self.acquire()
        return self

    def __exit__(self, *exc) -> None:
        self.release()
