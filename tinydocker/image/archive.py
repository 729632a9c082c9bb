"""Unpacking a tar into an image without letting any member escape it."""

import os
import posixpath


class UnsafeMember(Exception):
    pass


def _escapes(path: str) -> bool:
    norm = posixpath.normpath(path)
    return norm == ".." or norm.startswith("../")


def refuse_escapes(member, dest: str):
    """tarfile filter: refuse anything that would land, or point, outside the image.

    Absolute symlink targets are allowed: inside the container they resolve within its
    root, and rootfs tarballs are full of them. What is refused: absolute or ../ member
    names, hard links to such places, relative symlinks climbing out of the image, and a
    member whose path on disk would go through an already extracted symlink.
    """
    name = member.name
    if name.startswith("/"):
        raise UnsafeMember(f"member {name!r} has an absolute path")
    if _escapes(name):
        raise UnsafeMember(f"member {name!r} would land outside the image")
    if member.islnk():
        if member.linkname.startswith("/") or _escapes(member.linkname):
            raise UnsafeMember(f"hard link {name!r} points outside the image ({member.linkname!r})")
    if member.issym() and not member.linkname.startswith("/"):
        if _escapes(posixpath.join(posixpath.dirname(posixpath.normpath(name)), member.linkname)):
            raise UnsafeMember(f"symlink {name!r} points outside the image ({member.linkname!r})")
    real_dest = os.path.realpath(dest)
    parent = os.path.realpath(os.path.join(dest, posixpath.dirname(posixpath.normpath(name))))
    if parent != real_dest and not parent.startswith(real_dest + os.sep):
        raise UnsafeMember(f"member {name!r} would be written through a symlink leading outside the image")
    if member.islnk():
        real_target = os.path.realpath(os.path.join(dest, member.linkname))
        if not real_target.startswith(real_dest + os.sep):
            raise UnsafeMember(f"hard link {name!r} resolves outside the image")
    return member
