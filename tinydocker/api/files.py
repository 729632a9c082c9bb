"""The API for a container's files: cp (either way, running or stopped) and diff."""

import os

from ..errors import Refused, TinydockerError
from .containers import _find


def cp(source: str, dest: str, archive: bool = False, follow_link: bool = False, root=None, stream=None) -> None:
    """Copy files between a container and the host, as docker cp: one of source and dest is
    CONTAINER:PATH, the other a host path, or "-" (a tar on stdin / stdout). Running or
    stopped containers; paths inside resolve within the container's root. archive=True
    keeps owners (otherwise root in the container, the caller on the host); follow_link=True
    copies what a source symlink points to. With `stream`, "-" is not stdin / stdout but
    the tar's chunks of bytes (an iterable) for a copy in, the descriptor written for a
    copy out (the Engine API's archive endpoints)."""
    from ..container import copy

    src_ref, src_path = _cp_side(source)
    dst_ref, dst_path = _cp_side(dest)
    if (src_ref is None) == (dst_ref is None):
        raise TinydockerError("copying between containers is not supported" if src_ref else
                              "must specify at least one container source", code=1)
    if (source == "-" and dst_ref is None) or (dest == "-" and src_ref is None):
        raise TinydockerError("'-' stands for the tar stream on the host's side of a copy", code=1)
    ref, path = (src_ref, src_path) if src_ref else (dst_ref, dst_path)
    if not path.startswith("/"):
        path = "/" + path  # relative to the container's root, as docker takes it
    store, record = _find(ref, root)
    where = f"container {record.name}"
    enter, root_fd = _cp_enter(store, record, writable=dst_ref is not None)
    held = (root_fd,) if root_fd is not None else ()  # what enter() uses in the copier
    try:
        if src_ref:
            copy.copy_out(enter, path, dest, archive, follow_link, where, keep=held, stream=stream)
        else:
            copy.copy_in(enter, source, path, archive, follow_link, where, keep=held, stream=stream)
    finally:
        if root_fd is not None:
            os.close(root_fd)


def stat_path(ref: str, path: str, root=None) -> dict:
    """What PATH is in the container (running or stopped), as docker's archive endpoints tell
    it: {"name", "size", "mode" (st_mode), "mtime" (ns), "link_target" (a symbolic link's
    target, resolved in the container)}; TinydockerError (code 1) if it is not there."""
    from ..container import copy

    if not path.startswith("/"):
        path = "/" + path
    store, record = _find(ref, root)
    enter, root_fd = _cp_enter(store, record, writable=False)
    try:
        return copy.stat_path(enter, path, f"container {record.name}", keep=(root_fd,) if root_fd is not None else ())
    finally:
        if root_fd is not None:
            os.close(root_fd)


def _cp_side(arg: str) -> tuple[str | None, str]:
    """(container reference, path) of a cp argument; (None, arg) for the host's side.
    A host path with a colon is written ./a:b or /a:b, as docker asks."""
    if arg == "-" or arg.startswith(("/", ".")) or ":" not in arg:
        return None, arg
    ref, _, path = arg.partition(":")
    return ref, path


def _cp_enter(store, record, writable: bool):
    """How to enter the container's root: a running one's own (its volumes with it), else its
    overlay in a mount namespace of the copier's own; and a descriptor to close after."""
    from ..container import copy
    from ..state.record import RUNNING

    if record.status == RUNNING:
        try:
            fd = os.open(f"/proc/{record.pid}/root", os.O_PATH | os.O_DIRECTORY)
        except OSError:
            fd = None
        if fd is not None and record.container_alive():  # that pid is still this container
            return copy.enter_running(fd), fd
        if fd is not None:
            os.close(fd)
        record = store.observe(store.lookup(record.id))
    if record.status == RUNNING:
        raise Refused(f"container {record.name} is changing state: try again")
    from ..volume.store import VolumeStore

    cdir = store.container_dir(record.name)
    mounts = VolumeStore(store.root).sources(record.spec.get("mounts", []))
    return copy.enter_stopped(str(cdir), store.lower_dirs(record.name), writable, mounts), None


def diff(ref: str, root=None) -> list[tuple[str, str]]:
    """What the container changed in its filesystem: (kind, path) pairs, kind A (added),
    C (changed) or D (deleted), read from its overlay's upper directory (running or not)."""
    from ..container.changes import changes

    store, record = _find(ref, root)
    cdir = store.container_dir(record.name)
    layers = [str(cdir / d) for d in store.lower_dirs(record.name)]
    return changes(str(cdir / "upper"), layers)
