"""What a container changed, read straight from its overlay's upper directory (docker diff).

Every entry of the upper directory is a change, in overlayfs' own terms:

    a 0/0 character device     a whiteout: the path is deleted (D)
    a directory marked opaque (trusted.overlay.opaque=y, user.overlay. for ordinary users)
                               the directory was replaced: what the layers below had in it is gone
    anything else              added (A) if the layers below do not have the path, else changed (C)

A directory that was only copied up to hold a changed entry is reported as changed, as
docker reports it, but a directory the layers have, with the same type, mode and owner,
that holds no change itself is not. The layers below are read with the same rules (their
own whiteouts and opaque directories hide what is under them), so "exists below" is what
the container saw before it wrote anything.
"""

import os
import stat

from ..linux import idmap
from ..linux.overlay import is_opaque

ADDED, CHANGED, DELETED = "A", "C", "D"
# the mount points of the files tinydocker binds in (network/hosts.py): made in the upper
# directory when the image lacks them, never the container's own change (docker keeps
# them in a layer of its own under the container's)
OWN_MOUNT_POINTS = {"/etc/hostname", "/etc/hosts", "/etc/resolv.conf"}


def _whiteout(st: os.stat_result) -> bool:
    return stat.S_ISCHR(st.st_mode) and st.st_rdev == 0


def below(layers: list[str], path: str) -> os.stat_result | None:
    """The entry at `path` ("/a/b") in the union of `layers` (top first), or None."""
    parts = [p for p in path.split("/") if p]
    for layer in layers:
        here, covered = layer, False
        for i, part in enumerate(parts):
            here = os.path.join(here, part)
            try:
                st = os.lstat(here)
            except FileNotFoundError:
                break  # not in this layer: in a lower one, unless an opaque parent here hides it
            if _whiteout(st):
                return None
            if i == len(parts) - 1:
                return st
            if not stat.S_ISDIR(st.st_mode):
                return None  # a file here covers whatever path went through it below
            covered = covered or is_opaque(here)
        if covered:
            return None
    return None


@idmap.as_namespace_root  # an ordinary user's container may have written what only its ids read
def changes(upper: str, layers: list[str]) -> list[tuple[str, str]]:
    """(kind, path) for every change in `upper` over `layers` (top first), sorted by path."""
    found: dict[str, str] = {}

    def note(path: str, kind: str) -> None:
        found[path] = kind
        parent = os.path.dirname(path)
        while parent != "/" and parent not in found:  # a changed entry's directories changed too
            found[parent] = CHANGED
            parent = os.path.dirname(parent)

    for directory, dirnames, filenames in os.walk(upper):
        rel = "/" + os.path.relpath(directory, upper) if directory != upper else "/"
        if rel != "/" and is_opaque(directory):
            lower = below(layers, rel)
            if lower is not None and stat.S_ISDIR(lower.st_mode):
                # replaced: each name the layers had here and the upper lacks is deleted
                kept = set(dirnames) | set(filenames)
                for name in _names_below(layers, rel):
                    if name not in kept:
                        note(os.path.join(rel, name), DELETED)
        for name in dirnames + filenames:
            path = os.path.join(rel, name)
            st = os.lstat(os.path.join(directory, name))
            if _whiteout(st):
                note(path, DELETED)
                continue
            if path in OWN_MOUNT_POINTS and stat.S_ISREG(st.st_mode) and st.st_size == 0:
                continue
            lower = below(layers, path)
            if lower is None:
                note(path, ADDED)
            elif not stat.S_ISDIR(st.st_mode) or not _same_dir(st, lower) or is_opaque(os.path.join(directory, name)):
                note(path, CHANGED)
    return sorted(((kind, path) for path, kind in found.items()), key=lambda c: c[1])


def _same_dir(st: os.stat_result, lower: os.stat_result) -> bool:
    return (stat.S_ISDIR(lower.st_mode) and st.st_mode == lower.st_mode
            and (st.st_uid, st.st_gid) == (lower.st_uid, lower.st_gid))


def _names_below(layers: list[str], path: str) -> set[str]:
    """The names the union of `layers` shows in directory `path`."""
    names: set[str] = set()
    for layer in layers:
        here = os.path.join(layer, path.lstrip("/"))
        try:
            entries = os.listdir(here)
        except OSError:
            entries = []
        for name in entries:
            if below(layers, os.path.join(path, name)) is not None:
                names.add(name)
    return names
