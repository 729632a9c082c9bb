"""A build's context: the directory (or the tar read from stdin) COPY and ADD take files
from, the Dockerfile found in it or beside it, and the patterns that hide files from both.

Inside the context, symlinks are resolved as docker and buildah resolve them: within the
context, whose root is both `/` and the ceiling of `..`. A COPY source that is itself a
symlink (named, or matched by a wildcard) is followed there; any symlink below a copied
directory stays a symlink. Nothing here follows a context's symlink to a host path (a
directory context's Dockerfile and ignore file are the user's own, read as docker reads
them).
"""

from __future__ import annotations

import collections
import hashlib
import os
import posixpath
import re
import shutil
import stat
import tarfile
import tempfile

from .ignore import BadPattern, Patterns, glob_regex, go_clean, has_wildcards
from ..errors import TinydockerError

# looked for in the context's root, in this order, when no -f is given: docker's name,
# the lower-case one docker accepts when it is missing, then podman's
DOCKERFILE_NAMES = ("Dockerfile", "dockerfile", "Containerfile")
IGNORE_NAMES = (".dockerignore", ".containerignore")
_MAX_LINKS = 255  # Linux's own limit on symlinks followed in one path resolution
_TAR_BLOCK = 512
_MAGICS = ((b"\x1f\x8b", "gzip"), (b"BZh", "bzip2"), (b"\xfd7zXZ\x00", "xz"), (b"\x28\xb5\x2f\xfd", "zstd"))


class ContextError(TinydockerError):
    """A context, Dockerfile or COPY source that cannot be used; says which and why."""

    code = 1


class Source(str):
    """A COPY/ADD source: the str is where it is in the context (its own symlinks
    followed, so it is a real path below the root); `name` is the name it was matched
    under, the one it is copied as."""

    name: str

    def __new__(cls, real: str, name: str):
        self = super().__new__(cls, real)
        self.name = name
        return self


class Context:
    def __init__(self, root: str, dockerfile: bytes, dockerfile_name: str, ignore: Patterns,
                 owned: str | None = None):
        self.root = root
        self.dockerfile = dockerfile
        self.dockerfile_name = dockerfile_name
        self.ignore = ignore
        self._owned = owned  # the directory a tar context was unpacked into: close removes it

    def __enter__(self) -> "Context":
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def close(self) -> None:
        if self._owned:
            _remove_tree(self._owned)
            self._owned = None

    # -- resolving ---------------------------------------------------------------------

    def _host(self, rel: str) -> str:
        return self.root if rel == "." else os.path.join(self.root, rel)

    def resolve(self, rel: str, follow_last: bool = True) -> str | None:
        """`rel` with its symlinks followed inside the context (an absolute target starts
        again at the root, `..` stops at it): a clean relative path with no symlink on
        the way (nor at its end, with follow_last), or None if something on it is missing."""
        todo = collections.deque(p for p in rel.split("/") if p not in ("", "."))
        done: list[str] = []
        links = 0
        while todo:
            part = todo.popleft()
            if part == "..":
                if done:
                    done.pop()
                continue
            here = done + [part]
            try:
                st = os.lstat(os.path.join(self.root, *here))
            except (FileNotFoundError, NotADirectoryError):
                return None
            if stat.S_ISLNK(st.st_mode) and (todo or follow_last):
                links += 1
                if links > _MAX_LINKS:
                    raise ContextError(f"too many levels of symbolic links in build context path {rel}")
                target = os.readlink(os.path.join(self.root, *here))
                if target.startswith("/"):
                    done = []
                todo.extendleft(reversed([p for p in target.split("/") if p not in ("", ".")]))
                continue
            if todo and not stat.S_ISDIR(st.st_mode):
                return None
            done = here
        return "/".join(done) or "."

    # -- COPY and ADD --------------------------------------------------------------------

    def sources(self, pattern: str, instruction: str = "COPY") -> list[Source]:
        """The sources a COPY/ADD `pattern` names: relative to the context root (a leading
        `/` too), wildcards matched per path element as filepath.Match does, in the order
        of the names matched, what .dockerignore excludes left out (by its name or where
        it leads)."""
        cleaned = go_clean(pattern)  # "/../x" is "/x": `..` stops at the root
        if cleaned == ".." or cleaned.startswith("../"):
            raise ContextError(f"{instruction} failed: forbidden path outside the build context: {pattern}")
        cleaned = cleaned.lstrip("/") or "."
        if has_wildcards(cleaned):
            try:
                found = self._expand(cleaned.split("/"))
            except BadPattern as e:
                raise ContextError(f"{instruction} failed: syntax error in pattern {pattern}: {e}") from None
        else:
            real = self.resolve(cleaned)
            found = [(cleaned, real)] if real is not None else []
        # in the order docker's walk of the context meets them (a directory's entries by
        # name, each before the next entry): a later source overwrites an earlier one
        kept = sorted(((name, real) for name, real in found
                       if not self.ignore.ignored(name) and not self.ignore.ignored(real)),
                      key=lambda found: [os.fsencode(part) for part in found[0].split("/")])
        if not kept:
            raise ContextError(f"{instruction} failed: file not found in build context or excluded by "
                               f".dockerignore: stat {pattern}: file does not exist")
        return [Source(real, posixpath.basename(name) if name != "." else ".") for name, real in kept]

    def _expand(self, elements: list[str]) -> list[tuple[str, str]]:
        """(name matched, real path) of each path the elements' globs match."""
        current = [(".", ".")]
        for element in elements:
            matcher = re.compile(glob_regex(element, double_star=False), re.DOTALL) \
                if any(c in element for c in "*?[\\") else None
            following = []
            for name, real in current:
                if matcher:
                    try:
                        entries = sorted(os.listdir(self._host(real)))
                    except (NotADirectoryError, FileNotFoundError):
                        continue
                    entries = [e for e in entries if matcher.fullmatch(e)]
                else:
                    entries = [element]
                for entry in entries:
                    resolved = self.resolve(entry if real == "." else f"{real}/{entry}")
                    if resolved is not None:
                        following.append((entry if name == "." else f"{name}/{entry}", resolved))
            current = following
        return current

    def walk(self, rel: str):
        """(rel_path, lstat) of `rel` and, if it is a directory, of everything below it
        that .dockerignore leaves in: parents before children, each directory's entries
        by name. A directory excluded while something below it is re-included is not
        itself yielded (docker makes such a parent as a plain 0755 root directory)."""
        rel = go_clean(rel).lstrip("/") or "."
        if self.resolve(rel, follow_last=False) != rel:
            raise ContextError(f"{rel} is not a path in the build context")
        st = self._lstat(rel)
        yield rel, st
        if not stat.S_ISDIR(st.st_mode):
            return
        # depth first without recursion (a context may be deeper than Python's stack)
        pending = [iter(self._children(rel))]
        while pending:
            path = next(pending[-1], None)
            if path is None:
                pending.pop()
                continue
            st = self._lstat(path)
            is_dir = stat.S_ISDIR(st.st_mode)
            if self.ignore and self.ignore.ignored(path):
                if is_dir and self.ignore.may_include_under(path):
                    pending.append(iter(self._children(path)))
                continue
            yield path, st
            if is_dir:
                pending.append(iter(self._children(path)))

    def _lstat(self, rel: str) -> os.stat_result:
        try:
            return os.lstat(self._host(rel))
        except OSError as e:  # gone or unreadable since it was listed
            raise ContextError(f"cannot read {rel} in the build context: {e.strerror}") from None

    def _children(self, directory: str) -> list[str]:
        try:
            names = os.listdir(self._host(directory))
        except OSError as e:
            raise ContextError(f"cannot read {directory} in the build context: {e.strerror}") from None
        names.sort(key=os.fsencode)  # the bytes' order: the same on every machine and locale
        return [name if directory == "." else f"{directory}/{name}" for name in names]

    def checksum(self, rels: list[str]) -> str:
        """sha256 over what COPY would take from these sources (in their order): for a
        file source, and every file below a directory source that .dockerignore leaves
        in, its name (the file source's own, or relative to the directory source), type,
        mode bits, owner, link target, device, contents and xattrs.
        Times are left out, as docker's builder leaves them out of its cache key."""
        digest = hashlib.sha256()
        for rel in rels:
            top = go_clean(rel).lstrip("/") or "."
            for path, st in self.walk(rel):
                if path == top and stat.S_ISDIR(st.st_mode):
                    # a directory's entries are copied, not itself: its name, mode and
                    # owner do not reach the image (buildah makes the destination 0755)
                    _field(digest, b"directory")
                    continue
                if path == top:  # a file, copied under the name it was matched by
                    _field(digest, b"file " + os.fsencode(getattr(rel, "name", posixpath.basename(top))))
                else:
                    _field(digest, os.fsencode(path if top == "." else path[len(top) + 1:]))
                try:
                    _entry(digest, self._host(path), st)
                except OSError as e:
                    raise ContextError(f"cannot read {path} in the build context: {e.strerror}") from None
        return "sha256:" + digest.hexdigest()


# -- opening a context -------------------------------------------------------------------

def open_context(source: str, dockerfile: str | None, scratch: str, stdin=None) -> Context:
    """The context `source` names: a directory, or "-" for stdin (a tar, plain or
    compressed, unpacked into a private directory under `scratch`; or, if not a tar,
    the Dockerfile itself with an empty context, as `docker build - < Dockerfile`).

    `dockerfile`: None looks in the context's root (DOCKERFILE_NAMES); "-" reads it from
    stdin; a path is relative to the current directory as docker's -f is, or, in a tar
    context, a path inside the tar. The ignore file is the Dockerfile's own
    (`NAME.dockerignore` beside it, buildkit's rule), else the root's .dockerignore,
    else its .containerignore (podman's).
    """
    if source == "-" and dockerfile == "-":
        raise ContextError("invalid argument: can't use stdin for both build context and dockerfile")
    if source == "-":
        return _from_stdin(dockerfile, scratch, _binary(stdin))
    try:
        root = os.path.realpath(source, strict=True)
    except OSError:
        raise ContextError(f'unable to prepare context: path "{source}" not found') from None
    if not os.path.isdir(root):
        raise ContextError(f"unable to prepare context: context must be a directory: {root}")
    if dockerfile == "-":
        data = _binary(stdin).read()
        return Context(root, data, "Dockerfile", _ignore_in(root, None))
    if dockerfile is None:
        found = next((n for n in DOCKERFILE_NAMES if os.path.lexists(os.path.join(root, n))), None)
        if found is None:
            raise ContextError(f"unable to prepare context: no Dockerfile or Containerfile in {root}")
        path, name = os.path.join(root, found), found
    else:
        path, name = os.path.abspath(dockerfile), dockerfile
    data = _read_dockerfile(path, name)
    return Context(root, data, name, _ignore_in(root, path))


def _binary(stdin):
    if stdin is None:
        import sys

        stdin = sys.stdin
    return getattr(stdin, "buffer", stdin)


def _read_dockerfile(path: str, name: str) -> bytes:
    try:
        with open(path, "rb") as f:
            return f.read()
    except OSError as e:
        raise ContextError(f"unable to prepare context: cannot read Dockerfile {name}: "
                           f"{os.strerror(e.errno) if e.errno else e}") from None


def _ignore_in(root: str, dockerfile: str | None, inside=None) -> Patterns:
    """The patterns of the ignore file that applies (see open_context). `inside` reads
    a file of the context by its path relative to the root (for a tar context)."""
    candidates = [f"{dockerfile}.dockerignore"] if dockerfile else []
    candidates += [os.path.join(root, name) for name in IGNORE_NAMES]
    for candidate in candidates:
        try:
            if inside:
                data = inside(os.path.relpath(candidate, root))
            else:
                with open(candidate, "rb") as f:
                    data = f.read()
        except (FileNotFoundError, NotADirectoryError):
            continue
        except OSError as e:
            raise ContextError(f"unable to read {candidate}: {os.strerror(e.errno) if e.errno else e}") from None
        if data is None:
            continue
        try:
            return Patterns.parse(data.decode("utf-8", "surrogateescape"), os.path.basename(candidate))
        except TinydockerError as e:
            raise ContextError(str(e)) from None
    return Patterns()


def _from_stdin(dockerfile: str | None, scratch: str, stream) -> Context:
    stream = _Replayed(stream, _TAR_BLOCK)
    head = stream.head
    compression = next((kind for magic, kind in _MAGICS if head.startswith(magic)), "")
    if not compression and not _is_tar_header(head):
        # docker's rule: what is neither compressed nor a tar is the Dockerfile itself
        root = tempfile.mkdtemp(prefix="context-", dir=scratch)
        return Context(root, stream.read(), "Dockerfile", Patterns(), owned=root)
    root = tempfile.mkdtemp(prefix="context-", dir=scratch)
    try:
        _unpack(stream, compression, root)
        context = Context(root, b"", "", Patterns(), owned=root)
        reader = _reader_inside(context)
        if dockerfile is None:
            found = next((n for n in DOCKERFILE_NAMES if context.resolve(n) is not None), None)
            if found is None:
                raise ContextError("unable to prepare context: no Dockerfile or Containerfile "
                                   "in the build context read from stdin")
            name = found
        else:
            name = dockerfile
        data = reader(go_clean(name).lstrip("/"))
        if data is None:
            raise ContextError(f"unable to prepare context: cannot read Dockerfile {name}: "
                               f"no such file in the build context read from stdin")
        context.dockerfile, context.dockerfile_name = data, name
        context.ignore = _ignore_in(root, os.path.join(root, go_clean(name).lstrip("/")), reader)
        return context
    except BaseException:
        _remove_tree(root)
        raise


def _is_tar_header(block: bytes) -> bool:
    if len(block) < _TAR_BLOCK:
        return False
    try:
        tarfile.TarInfo.frombuf(block, tarfile.ENCODING, "surrogateescape")
    except tarfile.HeaderError:
        return False
    return True


class _Replayed:
    """A stream whose first bytes were read to look at, and are read again."""

    def __init__(self, stream, size: int):
        self.stream = stream
        chunks, got = [], 0
        while got < size:
            chunk = stream.read(size - got)
            if not chunk:
                break
            chunks.append(chunk)
            got += len(chunk)
        self.head = b"".join(chunks)
        self._pending = self.head

    def read(self, size: int = -1) -> bytes:
        if self._pending:
            if size is None or size < 0:
                data, self._pending = self._pending + self.stream.read(), b""
                return data
            data, self._pending = self._pending[:size], self._pending[size:]
            return data
        return self.stream.read(size)


def _reader_inside(context: Context):
    """A function reading a regular file of the context by its relative path (its
    symlinks followed inside the context), None if there is none."""
    def read(rel: str) -> bytes | None:
        real = context.resolve(rel)
        if real is None or real == ".":
            return None
        try:
            fd = os.open(os.path.join(context.root, real), os.O_RDONLY | os.O_NOFOLLOW | os.O_CLOEXEC)
        except (FileNotFoundError, NotADirectoryError):
            return None
        with open(fd, "rb") as f:
            if not stat.S_ISREG(os.fstat(fd).st_mode):
                return None
            return f.read()
    return read


def _unpack(stream, compression: str, root: str) -> None:
    if compression in ("gzip", "zstd"):
        from tinydocker.image import layer  # below this package; only a compressed context pays for it

        plain = layer.decompressing(stream, compression)
    elif compression == "bzip2":
        import bz2

        plain = bz2.BZ2File(stream)
    elif compression == "xz":
        import lzma

        plain = lzma.LZMAFile(stream)
    else:
        plain = stream
    bad: tuple[type[BaseException], ...] = (tarfile.TarError, EOFError, OSError, ValueError)
    if compression == "zstd":
        import zstandard

        bad += (zstandard.ZstdError,)
    try:
        with tarfile.open(fileobj=plain, mode="r|") as tar:
            _Unpacking(root).run(tar)
    except ContextError:
        raise
    except bad as e:
        what = f"{compression} data" if compression else "tar"
        raise ContextError(f"unable to unpack the build context from stdin (corrupted or truncated {what}?): "
                           f"{os.strerror(e.errno) if isinstance(e, OSError) and e.errno else e}") from None


class _Unpacking:
    """A tar unpacked into a fresh directory, refusing any member that would land, or a
    hard link or relative symlink that would point, outside it, and any member that would
    be written through a symlink. Absolute symlink targets are kept: the context resolves
    them inside itself, as it does a directory context's."""

    def __init__(self, root: str):
        self.root = root
        self.dirs: set[str] = {"."}  # seen to be real directories (as were their parents)
        self.as_root = os.geteuid() == 0

    def run(self, tar: tarfile.TarFile) -> None:
        made_dirs = []
        for member in tar:
            name = self._checked(member)
            if name == ".":
                continue
            path = os.path.join(self.root, name)
            self._parents(posixpath.dirname(name), member.name)
            if member.isdir():
                if name not in self.dirs:
                    self._clear(name)
                    os.mkdir(path, 0o700)
                    self.dirs.add(name)
                made_dirs.append((path, member))  # modes last: a read-only one still takes its entries
                self._xattrs(path, member)
                continue
            self._clear(name)
            if member.issym():
                os.symlink(member.linkname, path)
            elif member.islnk():
                self._link(member, path)
                continue  # one inode: its owner, mode and times are its first name's
            elif member.isreg():
                fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC, 0o600)
                with open(fd, "wb") as out:
                    shutil.copyfileobj(tar.extractfile(member), out, 1 << 20)
            elif member.ischr() or member.isblk() or member.isfifo():
                kind = stat.S_IFCHR if member.ischr() else stat.S_IFBLK if member.isblk() else stat.S_IFIFO
                os.mknod(path, kind | 0o600, os.makedev(member.devmajor, member.devminor))
            else:
                continue  # a type a context cannot hold (tarfile reads GNU sparse and contiguous as files)
            self._own(path, member)
        for path, member in reversed(made_dirs):
            self._own(path, member)

    def _checked(self, member: tarfile.TarInfo) -> str:
        name = member.name
        norm = posixpath.normpath(name) if name else "."
        refuse = None
        if name.startswith("/"):
            refuse = "has an absolute name"
        elif _escapes(norm):
            refuse = "would land outside the context"
        elif member.islnk() and (member.linkname.startswith("/") or _escapes(member.linkname)):
            refuse = f"is a hard link to {member.linkname!r}, outside the context"
        elif member.issym() and not member.linkname.startswith("/") and \
                _escapes(posixpath.join(posixpath.dirname(norm), member.linkname)):
            refuse = f"is a symlink to {member.linkname!r}, outside the context"
        if refuse:
            raise ContextError(f"unable to unpack the build context from stdin: member {name!r} {refuse}")
        return norm

    def _link(self, member: tarfile.TarInfo, path: str) -> None:
        target = posixpath.normpath(member.linkname)
        self._parents(posixpath.dirname(target), member.name, make=False)
        try:
            mode = os.lstat(os.path.join(self.root, target)).st_mode
        except FileNotFoundError:
            mode = None
        if mode is None or stat.S_ISDIR(mode):
            raise ContextError(f"unable to unpack the build context from stdin: hard link {member.name!r} "
                               f"points to {member.linkname!r}, which is not a file the tar holds")
        os.link(os.path.join(self.root, target), path, follow_symlinks=False)

    def _parents(self, parent: str, member: str, make: bool = True) -> None:
        """Make sure each directory on the way to `parent` is a real one (made 0755 when
        the tar does not list it, as docker makes it)."""
        if parent in ("", ".") or parent in self.dirs:
            return
        rel = ""
        for part in parent.split("/"):
            rel = f"{rel}/{part}" if rel else part
            if rel in self.dirs:
                continue
            path = os.path.join(self.root, rel)
            try:
                mode = os.lstat(path).st_mode
            except FileNotFoundError:
                if not make:
                    return  # the link's target is missing: said by the caller
                os.mkdir(path, 0o755)
                mode = stat.S_IFDIR
            if not stat.S_ISDIR(mode):
                raise ContextError(f"unable to unpack the build context from stdin: member {member!r} would "
                                   f"go through {rel!r}, which is not a directory")
            self.dirs.add(rel)

    def _clear(self, name: str) -> None:
        """A later member replaces an earlier one of the same name."""
        path = os.path.join(self.root, name)
        try:
            mode = os.lstat(path).st_mode
        except FileNotFoundError:
            return
        if stat.S_ISDIR(mode):
            _remove_tree(path)
            self.dirs = {d for d in self.dirs if d != name and not d.startswith(name + "/")}
        else:
            os.unlink(path)

    def _own(self, path: str, member: tarfile.TarInfo) -> None:
        if self.as_root:
            os.lchown(path, member.uid, member.gid)
        if not member.issym():
            os.chmod(path, member.mode & 0o7777)
        os.utime(path, (member.mtime, member.mtime), follow_symlinks=False)
        if not member.isdir():
            self._xattrs(path, member)

    @staticmethod
    def _xattrs(path: str, member: tarfile.TarInfo) -> None:
        from ..image.layer import PAX_XATTR, set_xattrs

        xattrs = {k[len(PAX_XATTR):]: v for k, v in member.pax_headers.items() if k.startswith(PAX_XATTR)}
        if xattrs:
            set_xattrs(os.path.dirname(path), os.path.basename(path), xattrs)


def _escapes(path: str) -> bool:
    norm = posixpath.normpath(path)
    return norm == ".." or norm.startswith("../")


# -- the cache's checksum ------------------------------------------------------------------

def _field(digest, data: bytes) -> None:
    # each field length-prefixed: no two different trees feed the same bytes
    digest.update(len(data).to_bytes(8, "big"))
    digest.update(data)


def _entry(digest, path: str, st: os.stat_result) -> None:
    mode = st.st_mode
    _field(digest, f"{stat.S_IFMT(mode):o} {stat.S_IMODE(mode):o} {st.st_uid} {st.st_gid}".encode())
    if stat.S_ISLNK(mode):
        _field(digest, os.fsencode(os.readlink(path)))
    elif stat.S_ISREG(mode):
        content = hashlib.sha256()
        fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_CLOEXEC)
        with open(fd, "rb") as f:
            while chunk := f.read(1 << 20):
                content.update(chunk)
        _field(digest, content.digest())
    elif stat.S_ISCHR(mode) or stat.S_ISBLK(mode):
        _field(digest, f"{os.major(st.st_rdev)},{os.minor(st.st_rdev)}".encode())
    else:
        _field(digest, b"")
    try:
        names = sorted(os.listxattr(path, follow_symlinks=False))
    except OSError:
        names = []
    _field(digest, str(len(names)).encode())
    for name in names:
        try:
            value = os.getxattr(path, name, follow_symlinks=False)
        except OSError:
            continue
        _field(digest, name.encode())
        _field(digest, value)


def _remove_tree(path: str) -> None:
    def unblock(_func, failed, _exc):
        # a directory the tar made unwritable or unreadable (mode 0): opened up, then tried again
        os.chmod(os.path.dirname(failed), 0o700)
        if os.path.isdir(failed) and not os.path.islink(failed):
            os.chmod(failed, 0o700)
            shutil.rmtree(failed)
        else:
            os.unlink(failed)

    shutil.rmtree(path, onerror=unblock)
