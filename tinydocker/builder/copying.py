"""COPY, ADD and WORKDIR of a build step: files put into an image's tree, as a new upper
directory over its layers.

The step's overlay (its layers, read-only, under a fresh upper directory in the build's
private directory) is mounted in a forked child's own mount namespace, which then chroots
into it: every path the Dockerfile names resolves within the image, symlinks included,
and a killed build leaves no mount. The host side sends what to copy as a tar stream
behind a one-line JSON header saying where it goes (docker's rules):

    file → DEST/ or an existing directory     DEST/NAME
    file → any other DEST                     DEST itself
    dir  → DEST                               its contents into DEST, made if missing

Sources from the context arrive owned by root, as docker's context sends them; sources
from another stage or image keep their owners. --chown (names looked up in the image's
own /etc/passwd and /etc/group, never through NSS) and --chmod apply to everything copied.
"""

from __future__ import annotations

import fnmatch
import json
import os
import stat
import tarfile

# all imported here, before a child chroots into an image, where the host's modules are out of reach
from ..container.copy import Child
from ..container.user import UnknownUser, entries, resolve
from ..errors import TinydockerError
from ..image.layer import PAX_XATTR, add_xattrs, set_xattrs
from ..linux import overlay, syscalls as sc


class CopyError(TinydockerError):
    code = 1


def overlay_enter(layers_dir: str, lower: list[str], upper: str, work: str, merged: str):
    """enter() for Child: the overlay of `lower` (names in `layers_dir`, top first; none:
    an empty lower) under `upper`, mounted on `merged` in the child's own namespace."""
    def enter():
        sc.unshare(sc.CLONE_NEWNS)
        sc.mount("none", "/", None, sc.MS_REC | sc.MS_PRIVATE)
        if lower:  # relative to the store's layers: a long stack fits in the page of mount options
            os.chdir(layers_dir)
        lowers = ":".join(lower) or os.path.join(os.path.dirname(upper), "empty")
        sc.mount("overlay", merged, "overlay", 0, overlay.options(lowers, upper, work))
        os.chroot(merged)
        os.chdir("/")
    return enter


def source_enter(layers_dir: str, lower: list[str], mountpoint: str):
    """enter() for a producer reading another image's tree (COPY --from): its layers,
    read-only, in the child's own namespace (one layer is bound, overlayfs wants two)."""
    def enter():
        sc.unshare(sc.CLONE_NEWNS)
        sc.mount("none", "/", None, sc.MS_REC | sc.MS_PRIVATE)
        os.chdir(layers_dir)
        if len(lower) > 1:
            sc.mount("overlay", mountpoint, "overlay", sc.MS_RDONLY, "lowerdir=" + ":".join(lower))
        elif lower:
            sc.mount(os.path.join(layers_dir, lower[0]), mountpoint, None, sc.MS_BIND | sc.MS_REC)
        os.chroot(mountpoint)
        os.chdir("/")
    return enter


# -- the sending side ---------------------------------------------------------------------

def send(out, header: dict, items) -> None:
    """The header line, then a tar of `items`: (index, entries, keep_owner, opener) where
    entries yields (relative name, path, lstat) of the item and, if a directory, what is
    under it ("" names the item itself), and opener(path, lstat) opens a regular file's
    content; or (index, archive) for a TarFile whose members go under the item as they are
    (ADD's archives: owners kept)."""
    out.write(json.dumps(header).encode() + b"\n")
    with tarfile.open(fileobj=out, mode="w|", format=tarfile.PAX_FORMAT) as tar:
        for index, *source in items:
            if len(source) == 1:
                _send_archive(tar, index, source[0])
                continue
            listed, keep_owner, opener = source
            for rel, path, st in listed:
                if stat.S_ISSOCK(st.st_mode):
                    continue  # as docker's context leaves sockets out
                info = _info(f"{index}/{rel}" if rel else str(index), path, st, keep_owner)
                if info.isreg():
                    with opener(path, st) as f:
                        tar.addfile(info, f)
                else:
                    tar.addfile(info)


def open_plain(path: str, st: os.stat_result):
    """A file of the build's own (its download, heredoc, unpacked archive) or, in a
    producer's chroot, of an image: the very file walked, never through a link."""
    fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_CLOEXEC)
    return _checked(fd, path, st)


def _checked(fd: int, path: str, st: os.stat_result):
    now = os.fstat(fd)
    if (now.st_dev, now.st_ino) != (st.st_dev, st.st_ino) or not stat.S_ISREG(now.st_mode):
        os.close(fd)
        raise CopyError(f"{path} changed while it was being copied: build again")
    return os.fdopen(fd, "rb")


def opener_beneath(root: str):
    """An opener for files of a directory others may write in (the build's context):
    resolved beneath it with no symbolic link followed on the way, so a link swapped in
    after the walk cannot lead the copy to a file elsewhere on the host."""
    def open_file(path: str, st: os.stat_result):
        beneath = sc.RESOLVE_BENEATH | sc.RESOLVE_NO_SYMLINKS | sc.RESOLVE_NO_MAGICLINKS
        top = os.open(root, os.O_PATH | os.O_DIRECTORY | os.O_CLOEXEC)
        try:
            fd = sc.openat2(top, os.path.relpath(path, root), os.O_RDONLY | os.O_CLOEXEC, beneath)
        except OSError as e:
            raise CopyError(f"cannot read {os.path.relpath(path, root)} in the build context: "
                            f"{e.strerror or e}") from None
        finally:
            os.close(top)
        return _checked(fd, path, st)
    return open_file


def _send_archive(tar, index: int, archive) -> None:
    for member in archive:
        name = os.path.normpath(member.name.lstrip("/"))
        if name == "." or name.startswith("../") or name == "..":
            if name != ".":
                raise CopyError(f"refusing the archive: member {member.name} is outside it")
            continue
        data = archive.extractfile(member) if member.isreg() else None
        member.name = f"{index}/{name}"
        if member.islnk():
            member.linkname = f"{index}/{os.path.normpath(member.linkname.lstrip('/'))}"
        tar.addfile(member, data)


def _info(name: str, path: str, st: os.stat_result, keep_owner: bool) -> tarfile.TarInfo:
    info = tarfile.TarInfo(name)
    add_xattrs(info, path)
    info.mode = stat.S_IMODE(st.st_mode)
    info.mtime = int(st.st_mtime)
    info.uid, info.gid = (st.st_uid, st.st_gid) if keep_owner else (0, 0)
    if stat.S_ISDIR(st.st_mode):
        info.type = tarfile.DIRTYPE
    elif stat.S_ISLNK(st.st_mode):
        info.type, info.linkname = tarfile.SYMTYPE, os.readlink(path)
    elif stat.S_ISREG(st.st_mode):
        info.size = st.st_size
    elif stat.S_ISFIFO(st.st_mode):
        info.type = tarfile.FIFOTYPE
    elif stat.S_ISCHR(st.st_mode) or stat.S_ISBLK(st.st_mode):
        info.type = tarfile.CHRTYPE if stat.S_ISCHR(st.st_mode) else tarfile.BLKTYPE
        info.devmajor, info.devminor = os.major(st.st_rdev), os.minor(st.st_rdev)
    else:
        raise CopyError(f"cannot copy {path}: not a file, directory, link, device or fifo")
    return info


def walk_tree(top: str):
    """(relative name, path, lstat) of `top` and, if a directory, all below it, parents first."""
    st = os.lstat(top)
    yield "", top, st
    if not stat.S_ISDIR(st.st_mode):
        return
    pending = [("", top)]
    while pending:
        rel, path = pending.pop()
        for name in sorted(os.listdir(path)):
            child_rel, child = (f"{rel}/{name}" if rel else name), os.path.join(path, name)
            child_st = os.lstat(child)
            yield child_rel, child, child_st
            if stat.S_ISDIR(child_st.st_mode):
                pending.append((child_rel, child))


# -- the image's side ----------------------------------------------------------------------

def receive(stream) -> None:
    """In the child, chrooted into the step's tree: place what `send` sent (see the module's
    table), creating DEST's missing directories."""
    header = json.loads(stream.readline())
    dest, items = header["dest"], header["items"]
    owner = _owner(header["chown"]) if header.get("chown") else None
    chmod = header.get("chmod")
    made_mode = header.get("made_mode", 0o755)
    as_dir = dest.endswith("/") or len(items) > 1
    roots: dict[str, str] = {}
    for i, item in enumerate(items):
        if item["dir"]:
            roots[str(i)] = dest
        elif as_dir or os.path.isdir(dest):
            roots[str(i)] = os.path.join(dest, item["name"])
        else:
            roots[str(i)] = dest
    placed: dict[str, str] = {}
    with tarfile.open(fileobj=stream, mode="r|") as tar:
        for member in tar:
            index, _, rel = member.name.partition("/")
            target = os.path.normpath(os.path.join(roots[index], rel)) if rel else roots[index]
            placed[member.name] = target
            # through the image's own links (the chroot keeps them inside): a link to a
            # directory not made yet gets it made, as docker does
            _make_parents(os.path.realpath(os.path.dirname(target)), made_mode, owner)
            if member.isdir() and not rel:
                # a directory's contents go into DEST; DEST, if made, is made as buildah
                # and docker make it (made_mode), not with the source's own mode
                _make_parents(os.path.realpath(target), made_mode, owner or (0, 0))
                continue
            _place(tar, member, target, placed)
            uid, gid = owner if owner else (member.uid, member.gid)
            os.chown(target, uid, gid, follow_symlinks=False)
            if not member.issym():
                os.chmod(target, chmod if chmod is not None else member.mode)
            xattrs = {k[len(PAX_XATTR):]: v for k, v in member.pax_headers.items() if k.startswith(PAX_XATTR)}
            if xattrs:
                set_xattrs(os.path.dirname(target), os.path.basename(target), xattrs)
            os.utime(target, (member.mtime, member.mtime), follow_symlinks=False)
    for i, item in enumerate(items):
        if item["dir"] and not os.path.isdir(roots[str(i)]):
            _make_parents(os.path.realpath(roots[str(i)]), made_mode, owner)  # an empty directory, an archive's


def _make_parents(path: str, mode: int, owner) -> None:
    missing = []
    while path and path != "/" and not os.path.lexists(path):
        missing.append(path)
        path = os.path.dirname(path)
    if path and path != "/" and not os.path.isdir(path):
        raise CopyError(f"{path} is not a directory")
    for directory in reversed(missing):
        os.mkdir(directory, mode)
        os.chmod(directory, mode)
        if owner:
            os.chown(directory, *owner)


def _place(tar, member: tarfile.TarInfo, target: str, placed: dict[str, str]) -> None:
    exists = os.path.lexists(target)
    is_dir = exists and os.path.isdir(target) and not os.path.islink(target)
    if member.isdir():
        if exists and not is_dir:
            os.unlink(target)
            exists = False
        if not exists:
            os.mkdir(target, 0o700)
        return
    if is_dir:
        raise CopyError(f"cannot replace directory {target} with a file")
    if exists:
        os.unlink(target)
    if member.issym():
        os.symlink(member.linkname, target)
    elif member.islnk():
        os.link(placed[member.linkname], target, follow_symlinks=False)
    elif member.isfifo():
        os.mkfifo(target, 0o600)
    elif member.ischr() or member.isblk():
        kind = stat.S_IFCHR if member.ischr() else stat.S_IFBLK
        os.mknod(target, kind | 0o600, os.makedev(member.devmajor, member.devminor))
    else:
        fd = os.open(target, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, 0o600)
        with os.fdopen(fd, "wb") as out, tar.extractfile(member) as data:
            while chunk := data.read(1 << 20):
                out.write(chunk)


def _owner(spec: str, chown: bool = True) -> tuple[int, int]:
    """--chown USER[:GROUP] (chown=False: USER's) in the image's own user database (a
    missing one: ids only)."""
    def read(path):
        try:
            with open(path) as f:
                return entries(f.read())
        except OSError:
            return []

    user, _, group = spec.partition(":")
    try:
        uid, gid, _, _ = resolve(spec, [], read)
    except UnknownUser as e:
        raise CopyError(f"--chown={spec}: {e}") from None
    if chown and user.isdigit() and not group:
        gid = uid  # docker: --chown=10 is 10:10
    return uid, gid


def workdir(path: str, user: str) -> None:
    """WORKDIR's directory, made if missing (in the child, like receive), owned by USER as
    BuildKit and buildah make it."""
    if not os.path.isdir(path):
        _make_parents(path, 0o755, _owner(user, chown=False) if user else None)


def copy(enter, produce, producer_enter=None) -> None:
    """produce(out) writes a header and a tar (see send); receive() places it in the tree
    enter() enters. With producer_enter, produce runs in a child of its own that has
    entered the tree it reads (COPY --from another image)."""
    r, w = os.pipe()

    def work():
        os.close(w)
        with os.fdopen(r, "rb") as stream:
            receive(stream)

    child = Child(enter, work, (r,))
    os.close(r)
    failure = None
    try:
        if producer_enter is None:
            with os.fdopen(w, "wb") as out:
                produce(out)
        else:
            def write():
                with os.fdopen(w, "wb") as out:
                    produce(out)

            producer = Child(producer_enter, write, (w,))
            os.close(w)
            producer.finish()
    except BrokenPipeError:
        pass  # the image's side gave up: it says why
    except TinydockerError as e:
        failure = e
    child.finish(failure)


def image_sources(patterns: list[str]) -> list[str]:
    """In a producer chrooted into another image: the paths its COPY --from sources name
    (wildcards per path element, as Go's filepath.Match), each match once, in order."""

    found: list[str] = []
    for pattern in patterns:
        parts = [p for p in os.path.normpath("/" + pattern).split("/") if p]
        matches = ["/"]
        for part in parts:
            following = []
            for base in matches:
                if not any(c in part for c in "*?["):
                    candidate = os.path.join(base, part)
                    if os.path.lexists(candidate) or part == "..":
                        following.append(candidate)
                    continue
                try:
                    names = sorted(os.listdir(base))
                except OSError:
                    continue
                following += [os.path.join(base, n) for n in names if fnmatch.fnmatchcase(n, part)]
            matches = following
        if not matches:
            raise CopyError(f"COPY failed: stat {pattern}: file does not exist")
        found += [m for m in matches if m not in found]
    return found
