"""Bind mounts and volumes attached over a container's root in a mount namespace of a
child's own (cp's view of a stopped container), and an empty volume filled from the image.

Each target is resolved inside the container's root by the kernel (openat2 with
RESOLVE_IN_ROOT): a symlink in the image, absolute or full of "..", leads to a place under
the root, never to the host's. Missing components are made inside the root the same way.
The source is cloned as a detached tree (open_tree) and attached to the open target
(move_mount): no path is looked up twice, so nothing can swap a component in between.
"""

import errno
import os
import posixpath

from ..linux import syscalls as sc
from ..linux.tree import copy_contents

_RESOLVE = sc.RESOLVE_IN_ROOT | sc.RESOLVE_NO_MAGICLINKS


def attach(root: str, mounts: list[dict], make: bool = True) -> None:
    """`mounts` as the runtime ordered them: {"source": host path, "target", "readonly",
    "populate": fill an empty volume from what the image has at target first}, or with
    "filesystem" ({type, device, options}: a volume's local-driver options) a filesystem
    mounted there instead. A mount inside another's target comes after it (the runtime
    sorts them by depth). make=False: a missing mount point is not made, and its mount is
    left out (a read-only root)."""
    root_fd = os.open(root, os.O_PATH | os.O_DIRECTORY | os.O_CLOEXEC)
    try:
        for m in mounts:
            source, target = m["source"], m["target"]
            is_dir = "filesystem" in m or os.path.isdir(source)
            if m.get("populate"):
                populate(root_fd, target, source)
            try:
                where = open_in_root(root_fd, target, ("dir" if is_dir else "file") if make else None)
            except OSError as e:
                if make or e.errno != errno.ENOENT:
                    raise
                continue
            if "filesystem" in m:
                try:
                    _mount_filesystem(m["filesystem"], where, m["readonly"], target)
                finally:
                    os.close(where)
                continue
            try:
                tree = sc.clone_tree(source, m["readonly"])
                try:
                    sc.attach_tree(tree, where)
                except OSError as e:
                    raise OSError(e.errno, f"cannot mount {source} on {target}: {os.strerror(e.errno)}") from None
                finally:
                    os.close(tree)
            finally:
                os.close(where)
    finally:
        os.close(root_fd)


def _mount_filesystem(fs: dict, where: int, readonly: bool, target: str) -> None:
    # on the mount point already resolved inside the root, through its descriptor's magic
    # link: no path of the container's is looked up again
    flags = sc.MS_NOSUID | sc.MS_NODEV | (sc.MS_RDONLY if readonly else 0)
    try:
        sc.mount(fs["device"], f"/proc/self/fd/{where}", fs["type"], flags, fs["options"] or None)
    except OSError as e:
        raise OSError(e.errno, f"cannot mount volume ({fs['type']} {fs['device']}) on {target}: "
                               f"{os.strerror(e.errno)}") from None


def open_in_root(root_fd: int, path: str, make: str | None = None, depth: int = 0) -> int:
    """An O_PATH descriptor of `path` resolved inside the root open as root_fd; with `make`
    ("dir" or "file") missing components are created inside the root, as docker creates a
    missing mount point (a dangling symlink's target is made where it points, in the root)."""
    while True:
        try:
            return sc.openat2(root_fd, path, os.O_PATH, _RESOLVE)
        except FileNotFoundError:
            if make is None or depth > 40:
                raise OSError(errno.ENOENT, f"cannot make mount point {path}") from None
        parent, name = posixpath.split(path.rstrip("/"))
        parent_fd = open_in_root(root_fd, parent or "/", "dir", depth + 1)
        try:
            try:
                if make == "dir":
                    os.mkdir(name, 0o755, dir_fd=parent_fd)
                else:
                    os.close(os.open(name, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC,
                                     0o644, dir_fd=parent_fd))
            except FileExistsError:
                # a symlink pointing nowhere (yet): make what it names, inside the root
                try:
                    link = os.readlink(name, dir_fd=parent_fd)
                except OSError:
                    continue  # made meanwhile by someone else: look again
                path = posixpath.normpath(posixpath.join(parent or "/", link))
                depth += 1
                if depth > 40:
                    raise OSError(errno.ELOOP, f"cannot make mount point {path}: too many symlinks") from None
        finally:
            os.close(parent_fd)


def populate(root_fd: int, target: str, volume: str) -> None:
    """docker's copy-up: an empty volume first takes what the image has at its mount point."""
    if os.listdir(volume):
        return  # filled since the runtime looked, by another container sharing it
    try:
        where = sc.openat2(root_fd, target, os.O_RDONLY | os.O_DIRECTORY, _RESOLVE)
    except (FileNotFoundError, NotADirectoryError):
        return
    try:
        copy_contents(where, volume)
    finally:
        os.close(where)
