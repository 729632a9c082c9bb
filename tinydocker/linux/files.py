"""Replacing a file in one step: the one way tinydocker writes a file that others read.

The new content goes to a temporary file beside the target, created with
O_CREAT|O_EXCL|O_NOFOLLOW (mkstemp's guarantee: never an existing file, never through a
symlink someone planted, even in a directory another user can write), named
`.NAME-PID-TICKS-RANDOM` (proc.private_name: a sweep can tell whose it is, and whether
that process still lives),
written, fsynced, renamed over the target, and the directory fsynced: a reader sees the
old file or the new one, and a crash keeps one of them whole. durable=False leaves out the
two fsyncs for what does not outlive a reboot anyway (a runtime's state, a bundle made
afresh at each start): still one step for a reader.
"""

import os
from contextlib import contextmanager

from .proc import private_name

_FLAGS = os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC


def temporary_beside(path, mode: int = 0o600) -> tuple[int, str]:
    """A new file beside `path` (a descriptor and its name), for a rename over it."""
    head, name = os.path.split(os.fspath(path))
    while True:
        tmp = os.path.join(head, private_name(f".{name}"))
        try:
            return os.open(tmp, _FLAGS, mode), tmp
        except FileExistsError:
            continue


def _sync_directory(path) -> None:
    fd = os.open(os.path.dirname(os.path.abspath(path)), os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


@contextmanager
def replacing(path, mode: int = 0o600, durable: bool = True):
    """`with replacing(path) as fd:` write to fd; `path` is replaced if the block succeeds,
    and nothing is left of the attempt if it fails."""
    fd, tmp = temporary_beside(path, mode)
    try:
        try:
            os.fchmod(fd, mode)  # the umask narrowed it
            yield fd
            if durable:
                os.fsync(fd)
        finally:
            os.close(fd)
        os.rename(tmp, path)
    except BaseException:
        try:
            os.unlink(tmp)
        except FileNotFoundError:
            pass
        raise
    if durable:
        _sync_directory(path)


def write_atomic(path, data: bytes, mode: int = 0o600, durable: bool = True) -> None:
    """Replace the file at `path` with `data`, in one step (and durably unless told not to)."""
    with replacing(path, mode, durable) as fd:
        view = memoryview(data)
        while view:
            view = view[os.write(fd, view):]
