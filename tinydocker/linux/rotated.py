"""Reading a file that its writer rotates (renames away, or truncates, and starts anew):
the container logs (container/logs.py) and the events journal (state/events.py)."""

import os


def open_or_none(path):
    try:
        return open(path, "rb")
    except FileNotFoundError:
        return None


def same_file(a, b) -> bool:
    return os.fstat(a.fileno()).st_ino == os.fstat(b.fileno()).st_ino


def replaced(f, path, offset: int = 0) -> bool:
    """Whether `path` is no longer what `f` reads: another file there now (rotated), or
    this one cut below `offset` (truncated). A missing path is not yet replaced."""
    try:
        st = os.stat(path)
    except FileNotFoundError:
        return False
    return st.st_ino != os.fstat(f.fileno()).st_ino or st.st_size < offset
