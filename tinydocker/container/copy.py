"""`cp`: files between the host and a container, both ways, as tar streams through a pipe.

The container's side runs in a forked child that chroots into the container's root: the
running container's own root (/proc/PID/root, with its volumes), or, for a stopped one, its
overlay mounted in a private mount namespace. Inside the chroot every path, symlinks and
`..` included, resolves within the container, whatever the container planted or changes
meanwhile. That child never looks up a user or group name: glibc could load NSS modules
from the container's root (CVE-2019-14271).

One side produces a tar of the source, its top entry named as the source (`.` for
`SRC/.`, which means "the contents"), after a one-line JSON header saying what the source
is; the other side decides, from its own destination, where that lands (docker's rules):

    file → existing directory      DEST/NAME          file → other path        DEST itself
    dir  → existing directory      DEST/NAME (DEST/ itself with SRC/.)
    dir  → missing path            DEST, made         dir → existing file      refused
"""

import json
import os
import stat
import sys
import tarfile

from ..errors import TinydockerError
from ..linux import fds, proc


def _fail(message: str) -> TinydockerError:
    return TinydockerError(message, code=1)


# -- producing ---------------------------------------------------------------------------

def _top(path: str) -> str:
    """The name a source's entries carry: its last component, or "." for SRC/. (its contents)."""
    if path.endswith("/.") or path == ".":
        return "."
    name = os.path.basename(path.rstrip("/"))
    return name or "."


def produce(path: str, out, follow: bool, where: str, header: bool = True) -> None:
    """Write the header (unless header=False: a plain tar for stdout) and the tar of `path`
    to the binary file `out`; `where` names the side in messages ("container c1", "the host")."""
    try:
        st = os.stat(path) if follow or path.endswith("/") else os.lstat(path)
    except FileNotFoundError:
        raise _fail(f"Could not find the file {path} in {where}") from None
    except OSError as e:
        raise _fail(f"cannot read {path} in {where}: {e.strerror}") from None
    if path.endswith("/") and not stat.S_ISDIR(st.st_mode):
        raise _fail(f"{path} is not a directory (in {where})")
    if follow and os.path.islink(path):
        path = os.path.realpath(path)  # -L: the link's target, under the link's name
    top = _top(path)
    if header:
        out.write(json.dumps({"dir": stat.S_ISDIR(st.st_mode), "top": top}).encode() + b"\n")
    with tarfile.open(fileobj=out, mode="w|", format=tarfile.PAX_FORMAT) as tar:
        tar.add(path, arcname=top, recursive=True, filter=_plain)


def _plain(info: tarfile.TarInfo) -> tarfile.TarInfo:
    info.uname = info.gname = ""  # numbers only: names mean nothing on the other side
    return info


# -- consuming ---------------------------------------------------------------------------

def placement(header: dict, dest: str, where: str) -> tuple[str, str]:
    """(directory to extract into, name the source's top entry takes there)."""
    try:
        st = os.stat(dest)
    except FileNotFoundError:
        st = None
    except OSError as e:
        raise _fail(f"cannot use {dest} in {where}: {e.strerror}") from None
    if st is not None and stat.S_ISDIR(st.st_mode):
        return dest, header["top"]
    if st is not None and header["dir"]:
        raise _fail(f"cannot copy a directory to {dest}: it is a file (in {where})")
    if dest.endswith("/"):
        raise _fail(f"destination directory {dest} does not exist in {where}")
    parent = os.path.dirname(dest) or "."
    if not os.path.isdir(parent):
        raise _fail(f"destination directory {parent} does not exist in {where}")
    return parent, os.path.basename(dest)


def consume(source, dest: str, archive: bool, owner: tuple[int, int], where: str, header: dict | None) -> None:
    """Extract the tar in the binary file `source` at `dest` (with `header` from produce();
    None for a plain tar from stdin, extracted into the directory `dest` as it is).
    Without `archive`, everything becomes owner (uid, gid); with it, owners are kept."""
    if header is None:
        if not os.path.isdir(dest):
            raise _fail(f"destination {dest} must be an existing directory in {where}")
        directory, top, name = dest, None, None
    else:
        directory, name = placement(header, dest, where)
        top = header["top"]
    links: list[str] = []
    with tarfile.open(fileobj=source, mode="r|*") as tar:  # a gzip, bzip2 or xz tar too, as docker's
        for member in tar:
            member.name = _renamed(member.name, top, name)
            if member.islnk():
                member.linkname = _renamed(member.linkname, top, name)
            parts = [p for p in member.name.split("/") if p not in ("", ".")]
            if any(p == ".." for p in parts) or member.name.startswith("/"):
                raise _fail(f"refusing tar entry {member.name!r}: it leaves the destination")
            if any("/".join(parts[:i]) in links for i in range(1, len(parts))):
                raise _fail(f"refusing tar entry {member.name!r}: it goes through a symbolic link")
            if member.issym():
                links.append("/".join(parts))
            if not archive:
                member.uid, member.gid = owner
            _extract(tar, member, directory)


def _renamed(name: str, top: str | None, new: str | None) -> str:
    if top is None:
        return name
    if name == top:
        return new
    prefix = "./" if top == "." else top + "/"
    if not name.startswith(prefix):
        raise _fail(f"refusing tar entry {name!r}: not under {top}")
    return os.path.join(new, name[len(prefix):])


def _extract(tar: tarfile.TarFile, member: tarfile.TarInfo, directory: str) -> None:
    target = os.path.join(directory, member.name)
    if not member.isdir() and os.path.lexists(target) and (os.path.isdir(target) and not os.path.islink(target)):
        raise _fail(f"cannot overwrite directory {member.name} with a non-directory")
    if member.isdir() and os.path.lexists(target) and not os.path.isdir(target):
        raise _fail(f"cannot overwrite non-directory {member.name} with a directory")
    kw = {"filter": "fully_trusted"} if hasattr(tarfile, "fully_trusted_filter") else {}
    try:
        tar.extract(member, directory, set_attrs=True, numeric_owner=True, **kw)
    except OSError as e:
        raise _fail(f"cannot write {member.name}: {e.strerror or e}") from None


# -- the container's side ----------------------------------------------------------------

class Child:
    """work() run in a forked child that has enter()ed the container's root; finish() waits
    for it and raises what it failed with. The child keeps of its inherited descriptors
    only those in `keep` (what enter and work use): nothing another thread holds goes
    with it into the container's root."""

    def __init__(self, enter, work, keep: tuple[int, ...] = ()):
        said_r, said_w = os.pipe()
        sys.stdout.flush()

        def child():
            code = 1
            try:
                fds.drop_inherited((*keep, said_w))
                tarfile.pwd = tarfile.grp = None  # never an NSS lookup inside the container's root
                enter()
                work()
                code = 0
            except TinydockerError as e:
                os.write(said_w, json.dumps({"error": str(e), "code": e.code}).encode())
            except BrokenPipeError:
                pass  # the parent stopped reading: it says why
            except BaseException as e:  # noqa: BLE001 - the parent says it, in words
                reason = e.strerror if isinstance(e, OSError) and e.strerror else str(e) or type(e).__name__
                os.write(said_w, json.dumps({"error": reason, "code": 1}).encode())
            finally:
                os._exit(code)

        try:
            self.pid = proc.fork_child(child)  # an ordinary user's: as root of its namespace
        except BaseException:
            os.close(said_r)
            os.close(said_w)
            raise
        os.close(said_w)
        self.said = said_r

    def finish(self, failure: TinydockerError | None = None) -> None:
        """Wait for the child; raise `failure` (the parent's own, which explains the child's
        broken pipe) if given, else what the child failed with."""
        with os.fdopen(self.said, "rb") as said:
            message = said.read()
        _, status = os.waitpid(self.pid, 0)
        if failure is not None:
            raise failure
        if message:
            told = json.loads(message)
            raise TinydockerError(told["error"], code=told["code"])
        if status != 0:
            raise TinydockerError("copying failed in the container's side", code=1)


def copy_out(enter, path: str, dest: str, archive: bool, follow: bool, where: str, keep=(),
             stream: int | None = None) -> None:
    """From the container (entered by enter()) to the host's `dest` ("-": a tar on stdout, or
    on the descriptor `stream`)."""
    r, w = os.pipe()
    if stream is None:
        stream = sys.stdout.fileno()

    def work():
        os.close(r)
        target = stream if dest == "-" else w
        with os.fdopen(target, "wb", closefd=False) as out:
            produce(path, out, follow, where, header=dest != "-")

    child = Child(enter, work, (*keep, w, stream))
    os.close(w)
    failure = None
    with os.fdopen(r, "rb") as source:
        if dest != "-":
            try:
                first = source.readline()
                if first:  # nothing at all: the child failed before the header (it says why)
                    consume(source, dest, archive, (os.getuid(), os.getgid()), "the host", json.loads(first))
            except TinydockerError as e:
                failure = e
            except tarfile.TarError as e:
                failure = _fail(f"copying from {where} broke off: {e}")
    child.finish(failure)


def copy_in(enter, source: str, dest: str, archive: bool, follow: bool, where: str, keep=(),
            stream=None) -> None:
    """From the host's `source` ("-": a tar on stdin, or in `stream`'s chunks of bytes) into
    the container at `dest`."""
    if source == "-":
        # what tarfile needs for a compressed stdin, loaded before the child enters the
        # container's root, where the host's library is out of reach
        import bz2, gzip, lzma  # noqa: E401,F401
    r, w = os.pipe()

    def work():
        os.close(w)
        with os.fdopen(r, "rb") as stream:
            header = None
            if source != "-":
                first = stream.readline()
                if not first:
                    return  # the host side failed before its header (it says why)
                header = json.loads(first)
            try:
                consume(stream, dest, archive, (0, 0), where, header)
            except tarfile.TarError as e:
                raise _fail(f"the tar to copy into {where} is not valid: {e}") from None

    child = Child(enter, work, (*keep, r))
    os.close(r)
    failure = None
    try:
        with os.fdopen(w, "wb") as out:
            if source == "-":
                for chunk in stream if stream is not None else iter(lambda: sys.stdin.buffer.read(1 << 16), b""):
                    out.write(chunk)
            else:
                produce(source, out, follow, "the host")
    except BrokenPipeError:
        pass  # the container's side gave up: it says why
    except TinydockerError as e:
        failure = e
    child.finish(failure)


def stat_path(enter, path: str, where: str, keep=()) -> dict:
    """What `path` in the container is (lstat, or stat for PATH/ and PATH/.): name, size,
    mode (st_mode), mtime (ns), link_target (a symbolic link's target resolved in the
    container, else "")."""
    r, w = os.pipe()

    def work():
        os.close(r)
        try:
            st = os.stat(path) if path.endswith(("/", "/.")) else os.lstat(path)
        except FileNotFoundError:
            raise _fail(f"Could not find the file {path} in {where}") from None
        except OSError as e:
            raise _fail(f"cannot read {path} in {where}: {e.strerror}") from None
        link = os.path.realpath(path) if stat.S_ISLNK(st.st_mode) else ""
        name = os.path.basename(path.rstrip("/")) or "/"
        if path.endswith("/."):
            name = "."
        os.write(w, json.dumps({"name": name, "size": st.st_size, "mode": st.st_mode,
                                "mtime": st.st_mtime_ns, "link_target": link}).encode())
        os.close(w)

    child = Child(enter, work, (*keep, w))
    os.close(w)
    with os.fdopen(r, "rb") as said:
        answer = said.read()
    child.finish()
    return json.loads(answer)


def enter_running(root_fd: int):
    """Into a running container's root (an O_PATH descriptor of /proc/PID/root)."""
    def enter():
        os.fchdir(root_fd)
        os.chroot(".")
        os.chdir("/")
    return enter


def enter_stopped(container_dir: str, lower: list[str], writable: bool, mounts: list[dict] = ()):
    """Into a stopped container's overlay, mounted in a mount namespace of the child's own,
    with its volumes and binds (`mounts`, as VolumeStore.sources gives them) on it as a start
    would attach them: a copy to or from a volume's path is the volume's, as with docker."""
    from ..linux import overlay, syscalls as sc
    from .binds import attach

    def enter():
        sc.unshare(sc.CLONE_NEWNS)
        sc.mount("none", "/", None, sc.MS_REC | sc.MS_PRIVATE)
        os.chdir(container_dir)  # the lower directories are named relative to it
        if writable:  # as the container's own mount
            sc.mount("overlay", "merged", "overlay", 0, overlay.options(":".join(lower), "upper", "work"))
        else:
            sc.mount("overlay", "merged", "overlay", sc.MS_RDONLY, overlay.options(":".join(["upper"] + lower)))
        # never filled from the image here (that is the start's to do); read-only to a copy out,
        # whose overlay cannot take a missing mount point either: such a volume is skipped
        attach("merged", [dict(m, populate=False, readonly=m["readonly"] or not writable) for m in mounts],
               make=writable)
        os.chroot("merged")
        os.chdir("/")
    return enter
