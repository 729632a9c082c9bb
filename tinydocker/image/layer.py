"""Layers: a tar (plain, gzip or zstd) applied to a directory of its own, and back.

A layer directory holds only what its tar holds, with OCI's whiteouts turned into
overlayfs' own form, so that the directories of an image's layers can be stacked as
overlay lower directories as they are, without flattening:

    OCI tar member              in the layer directory
    dir/.wh.NAME                dir/NAME, a character device 0/0 (NAME deleted below)
    dir/.wh..wh..opq            dir with xattr trusted.overlay.opaque=y (dir replaced;
                                user.overlay.opaque for an ordinary user, see linux/overlay.py)

An ordinary user's layers are unpacked and read as root of a user namespace with the user's
mapping (linux/idmap.call): on disk, a file's owner is shifted into the user's subordinate
ranges, as its containers, in user namespaces of the same mapping, see it. Device nodes
cannot be made there and are left out, as docker and podman leave them out rootless.

Writing a tar from a directory (commit, the built-in image) does the reverse. Owners,
modes (setuid, sticky), mtimes, hard links, symlinks, device nodes and xattrs are kept.
"""

from __future__ import annotations

from dataclasses import dataclass
import errno
import hashlib
import io
import os
import posixpath
import shutil
import stat
import tarfile

from ..linux import idmap, overlay
from ..linux.overlay import is_opaque

WHITEOUT = ".wh."
OPAQUE = ".wh..wh..opq"
PAX_XATTR = "SCHILY.xattr."
# xattrs a layer may not set: overlayfs' own would let a tar steer the mount
_FORBIDDEN_XATTRS = overlay.OWN_PREFIXES

GZIP_MAGIC = b"\x1f\x8b"
ZSTD_MAGIC = b"\x28\xb5\x2f\xfd"


class LayerError(Exception):
    """A layer that cannot be applied: unreadable, truncated or hostile. Says why."""


class UnsafeMember(LayerError):
    pass


@dataclass
class Applied:
    diff_id: str          # sha256 of the uncompressed tar
    compression: str      # "", "gzip" or "zstd"
    size: int             # bytes of file content unpacked
    # (the digest of the bytes as read is the caller's: each hashes them as they come in)


class _Reading(io.RawIOBase):
    """A file object as a raw stream, for a BufferedReader to peek into."""

    def __init__(self, source):
        self.source = source

    def readable(self) -> bool:
        return True

    def readinto(self, buffer) -> int:
        data = self.source.read(len(buffer))
        n = len(data)
        buffer[:n] = data
        self.passed(data)
        return n

    def passed(self, data: bytes) -> None:
        pass


class _Hashing(_Reading):
    """A reader that hashes what passes through it."""

    def __init__(self, source):
        super().__init__(source)
        self.hash = hashlib.sha256()

    def passed(self, data: bytes) -> None:
        self.hash.update(data)

    def drain(self) -> None:
        while self.read(1 << 20):
            pass

    def digest(self) -> str:
        return "sha256:" + self.hash.hexdigest()


def sniff(head: bytes) -> str:
    if head.startswith(GZIP_MAGIC):
        return "gzip"
    if head.startswith(ZSTD_MAGIC):
        return "zstd"
    return ""


def _bad_data(compression: str) -> tuple[type[BaseException], ...]:
    """What the readers raise for bytes that are not what they claim to be."""
    import zlib

    errors = (tarfile.TarError, EOFError, zlib.error)
    if compression == "gzip":
        import gzip

        errors += (gzip.BadGzipFile,)
    if compression == "zstd":
        import zstandard

        errors += (zstandard.ZstdError,)
    return errors


def decompressing(source, compression: str):
    if compression == "gzip":
        import gzip

        return gzip.GzipFile(fileobj=source, mode="rb")
    if compression == "zstd":
        import zstandard  # only images with zstd layers pay for its import

        return zstandard.ZstdDecompressor().stream_reader(source, read_across_frames=True)
    return source


@idmap.as_namespace_root
def apply(source, dest: str) -> Applied:
    """Unpack the layer read from `source` (a binary file object) into the directory
    `dest`, and say its digests. Raises LayerError for anything unreadable or unsafe."""
    buffered = io.BufferedReader(_Reading(source), 1 << 16)
    compression = sniff(buffered.peek(4)[:4])
    try:
        plain = _Hashing(decompressing(buffered, compression))
        with tarfile.open(fileobj=plain, mode="r|", format=tarfile.PAX_FORMAT) as tar:
            size = _extract(tar, dest)
        plain.drain()  # the end-of-archive padding belongs to the diff id too
    except _bad_data(compression) as e:
        what = f"{compression} data" if compression else "tar"
        raise LayerError(f"corrupted or truncated {what}: {e}") from None
    return Applied(plain.digest(), compression, size)


def diff_id_of(source) -> str:
    """The diff id of a layer (plain or compressed) without unpacking it."""
    buffered = io.BufferedReader(_Reading(source), 1 << 16)
    compression = sniff(buffered.peek(4)[:4])
    try:
        plain = _Hashing(decompressing(buffered, compression))
        plain.drain()
    except _bad_data(compression) as e:
        raise LayerError(f"corrupted or truncated {compression or 'tar'} data: {e}") from None
    return plain.digest()


# tarfile's extraction filters came in 3.11.4 (and from 3.14 its 'data' filter applies
# unless told otherwise, refusing the absolute symlinks layers are full of); Debian 12's
# 3.11.2 has none. So safe_member runs in _members on every Python, each member checked as
# extractall asks for it (after the one before it is on disk), and a filter, where there
# is one, is told to trust what it is handed.
_CHECKED = {"filter": "fully_trusted"} if hasattr(tarfile, "fully_trusted_filter") else {}


def _extract(tar: tarfile.TarFile, dest: str) -> int:
    sizes = [0]
    tar.extractall(dest, members=_members(tar, _Tree(dest), sizes), numeric_owner=True, **_CHECKED)
    return sizes[0]


def _members(tar: tarfile.TarFile, tree: "_Tree", sizes: list[int]):
    """The members to extract; whiteouts are made here instead, and each member's xattrs
    set once extractall has made it (it asks for the next member only then)."""
    dest = tree.dest
    as_root = os.geteuid() == 0
    shifted = not overlay.in_initial_namespace()
    owners = _Owners() if shifted else None
    pending = None
    for member in tar:
        if pending:
            set_xattrs(dest, *pending)
            pending = None
        name = posixpath.normpath(member.name)
        parent, base = posixpath.split(name)
        if base == OPAQUE:
            directory = _made_parent(tree, member, parent)
            os.setxattr(directory, overlay.opaque_xattr(), b"y")
            continue
        if base.startswith(WHITEOUT):
            hidden = base[len(WHITEOUT):]
            if hidden in ("", ".", ".."):
                raise UnsafeMember(f"member {member.name!r} is a whiteout of nothing")
            directory = _made_parent(tree, member, parent)
            target = os.path.join(directory, hidden)
            tree.replaced(posixpath.join(parent, hidden))
            _clear(target, want_dir=False)
            os.mknod(target, stat.S_IFCHR | 0o600, os.makedev(0, 0))
            continue
        xattrs = {k[len(PAX_XATTR):]: v for k, v in member.pax_headers.items() if k.startswith(PAX_XATTR)}
        if xattrs:
            pending = (name, xattrs)
        if member.isreg():
            sizes[0] += member.size
        if shifted:
            if member.ischr() or member.isblk():
                continue  # no device node is made in a user namespace
            owners.check(member)
        safe_member(member, dest, tree)
        if member.issym():
            _symlink(member, os.path.join(dest, member.name), as_root)
            continue
        yield member
    if pending:
        set_xattrs(dest, *pending)


class _Owners:
    """The ids this user namespace maps: a member's owner must be one of them. Where the user
    has its own id alone, every owner is that id (root inside), as podman's storage squashes
    them; where it has ranges, an owner beyond them is refused, as podman refuses it."""

    def __init__(self):
        self.uids, self.gids = _mapped("/proc/self/uid_map"), _mapped("/proc/self/gid_map")
        self.squash = self.uids == [(0, 1)] or self.gids == [(0, 1)]

    def check(self, member: tarfile.TarInfo) -> None:
        if self.squash:
            member.uid = member.gid = 0
            return
        for kind, value, ranges, where in (("uid", member.uid, self.uids, "/etc/subuid"),
                                           ("gid", member.gid, self.gids, "/etc/subgid")):
            if not any(start <= value < start + count for start, count in ranges):
                mapped = sum(count for _, count in ranges)
                raise LayerError(f"{member.name} is owned by {kind} {value}, beyond the {mapped} ids this "
                                 f"user's namespace maps (more subordinate ids in {where} would give it)")


def _mapped(path: str) -> list[tuple[int, int]]:
    with open(path) as f:
        return [(int(inside), int(count)) for inside, _outside, count in (line.split() for line in f)]


def _symlink(member: tarfile.TarInfo, path: str, as_root: bool) -> None:
    """A symlink member, checked, made here as extractall would make it (layers are full of
    them: busybox's has 268), without its bookkeeping and the lstats it repeats."""
    try:
        os.symlink(member.linkname, path)
    except FileNotFoundError:  # a parent the tar does not list: made plain, as extractall does
        os.makedirs(os.path.dirname(path), exist_ok=True)
        os.symlink(member.linkname, path)
    if as_root:
        try:
            os.lchown(path, member.uid, member.gid)
        except OSError:
            pass  # extractall too lets a failed chown go (a non-fatal error at its errorlevel 1)


def _made_parent(tree: "_Tree", member: tarfile.TarInfo, parent: str) -> str:
    safe_member(member, tree.dest, tree)  # the same checks as any member: no escape, no symlink on the way
    directory = os.path.join(tree.dest, parent)
    os.makedirs(directory, mode=0o755, exist_ok=True)
    return directory


def set_xattrs(dest: str, name: str, xattrs: dict[str, str]) -> None:
    path = os.path.join(dest, name)
    for key, value in xattrs.items():
        if key.startswith(_FORBIDDEN_XATTRS):
            continue
        try:
            os.setxattr(path, key, value.encode("utf-8", "surrogateescape"), follow_symlinks=False)
        except OSError as e:
            # a filesystem or kernel without that namespace (security.selinux, user.* on a
            # symlink) loses the attribute, as podman's storage does
            if e.errno not in (errno.ENOTSUP, errno.EPERM, errno.EINVAL):
                raise


def _escapes(path: str) -> bool:
    norm = posixpath.normpath(path)
    return norm == ".." or norm.startswith("../")


def _inside(path: str, top: str) -> bool:
    return path == top or path.startswith(top + os.sep)


def _clear(path: str, want_dir: bool) -> None:
    """Make way for a member: a later entry replaces an earlier one, and is never written
    through it (a symlink left at the path would take the write elsewhere)."""
    try:
        st = os.lstat(path)
    except FileNotFoundError:
        return
    if stat.S_ISDIR(st.st_mode):
        if not want_dir:
            shutil.rmtree(path)
    else:
        os.unlink(path)


class _Tree:
    """The directory a layer is unpacked into, and which of its directories are known to be
    real ones: a member's parent is then checked without resolving its whole path again.

    Every directory in `dirs` (relative, clean) was seen by lstat to be a directory, as was
    each of its ancestors; only this unpacking changes the tree, and a member or whiteout
    that replaces a path drops it and what is below it first (`replaced`). So a path in
    `dirs` has no symlink on the way, which is what realpath would have said at greater cost.
    """

    def __init__(self, dest: str):
        self.dest = dest
        self.real = os.path.realpath(dest)
        self.dirs: set[str] = set()

    def holds(self, parent: str) -> bool:
        """Does the clean relative path `parent` lead to a place inside the tree?"""
        if not parent or parent in self.dirs:
            return True
        seen, rel = [], ""
        for part in parent.split("/"):
            rel = f"{rel}/{part}" if rel else part
            try:
                mode = os.lstat(os.path.join(self.dest, rel)).st_mode
            except FileNotFoundError:
                break  # made below by extractall as plain directories: nothing to follow
            except OSError:
                mode = 0
            if not stat.S_ISDIR(mode):  # a symlink (or worse) on the way: where does it go?
                return _inside(os.path.realpath(os.path.join(self.dest, parent)), self.real)
            seen.append(rel)
        self.dirs.update(seen)
        return True

    def replaced(self, rel: str) -> None:
        """`rel` is about to become something else: it and what is below it are unknown again."""
        if rel in self.dirs:
            below = rel + "/"
            self.dirs = {d for d in self.dirs if d != rel and not d.startswith(below)}


def safe_member(member: tarfile.TarInfo, dest: str, tree: _Tree | None = None):
    """Refuse anything that would land, or point, outside the tree.

    Absolute symlink targets are allowed: inside the container they resolve within its
    root, and image layers are full of them. What is refused: absolute or ../ member
    names, hard links to such places, relative symlinks climbing out of the tree, and a
    member whose path on disk would go through a symlink. The member's name (and a hard
    link's target) is cleaned lexically: what is checked is what is written. `tree`
    carries what the members before this one established (see _Tree).
    """
    tree = tree or _Tree(dest)
    name = member.name
    if name.startswith("/"):
        raise UnsafeMember(f"member {name!r} has an absolute path")
    norm = posixpath.normpath(name)
    if norm == ".." or norm.startswith("../"):
        raise UnsafeMember(f"member {name!r} would land outside the image")
    if member.islnk():
        if member.linkname.startswith("/") or _escapes(member.linkname):
            raise UnsafeMember(f"hard link {name!r} points outside the image ({member.linkname!r})")
    elif member.issym() and not member.linkname.startswith("/"):
        if _escapes(posixpath.join(posixpath.dirname(norm), member.linkname)):
            raise UnsafeMember(f"symlink {name!r} points outside the image ({member.linkname!r})")
    if not tree.holds(posixpath.dirname(norm)):
        raise UnsafeMember(f"member {name!r} would be written through a symlink leading outside the image")
    if member.islnk():
        target = os.path.join(dest, posixpath.normpath(member.linkname))
        if os.path.islink(target) or not _inside(os.path.realpath(target), tree.real):
            raise UnsafeMember(f"hard link {name!r} resolves outside the image")
        member.linkname = posixpath.normpath(member.linkname)
    # extracted under its clean name, as docker and containerd do: tarfile would join the name
    # as it is, and "a/../x" would then climb out through a symlink a that the check of the
    # clean name never looked at
    member.name = norm
    if norm != ".":
        if not member.isdir():
            tree.replaced(norm)
        _clear(os.path.join(dest, norm), want_dir=member.isdir())
    return member


# -- writing ---------------------------------------------------------------------------

def write(tree: str, out, whiteouts: bool = True) -> None:
    """Write the directory `tree` as a tar to the binary file `out` (an ordinary user's tar is
    written by another process: a file object over a descriptor of its own), in sorted order
    (the same tree always gives the same bytes, hence the same diff id).

    With whiteouts, overlayfs' forms become OCI's: a 0/0 character device becomes an
    empty `.wh.NAME`, an opaque directory gets a `.wh..wh..opq` entry.
    """
    out.flush()  # (what is written before is not written again by a process of an ordinary user's)
    _write(tree, out, whiteouts)


@idmap.as_namespace_root
def _write(tree: str, out, whiteouts: bool) -> None:
    with tarfile.open(fileobj=out, mode="w|", format=tarfile.PAX_FORMAT) as tar:
        tar.add(tree, arcname=".", recursive=False, filter=_normal_entry)
        for directory, dirnames, filenames in os.walk(tree):
            dirnames.sort()
            rel = os.path.relpath(directory, tree)
            prefix = "" if rel == "." else rel + "/"
            if whiteouts and is_opaque(directory) and rel != ".":
                tar.addfile(_empty(prefix + OPAQUE, os.lstat(directory)))
            for name in sorted(dirnames + filenames):
                path = os.path.join(directory, name)
                st = os.lstat(path)
                if whiteouts and stat.S_ISCHR(st.st_mode) and st.st_rdev == 0:
                    tar.addfile(_empty(prefix + WHITEOUT + name, st))
                    continue
                info = tar.gettarinfo(path, arcname=prefix + name)
                _normal_entry(info)
                add_xattrs(info, path)
                if info.isreg():
                    with open(path, "rb") as f:
                        tar.addfile(info, f)
                else:
                    tar.addfile(info)
    out.flush()


def _normal_entry(info: tarfile.TarInfo) -> tarfile.TarInfo:
    info.uname = info.gname = ""  # numeric owners only: names mean nothing across images
    return info


def _empty(name: str, like: os.stat_result) -> tarfile.TarInfo:
    info = tarfile.TarInfo(name)
    info.mtime = int(like.st_mtime)
    info.mode = 0o644
    return info


def add_xattrs(info: tarfile.TarInfo, path: str) -> None:
    try:
        names = os.listxattr(path, follow_symlinks=False)
    except OSError:
        return
    for key in names:
        if key.startswith(_FORBIDDEN_XATTRS):
            continue
        try:
            value = os.getxattr(path, key, follow_symlinks=False)
        except OSError:
            continue
        info.pax_headers[PAX_XATTR + key] = value.decode("utf-8", "surrogateescape")


def tree_size(tree: str) -> int:
    total = 0
    for directory, _dirs, files in os.walk(tree):
        for name in files:
            try:
                st = os.lstat(os.path.join(directory, name))
            except OSError:
                continue
            if stat.S_ISREG(st.st_mode):
                total += st.st_size
    return total
