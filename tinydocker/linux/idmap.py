"""The ids an ordinary user's user namespace maps, and writing them for a process.

Root inside is the user; ids 1 and up are the user's subordinate ranges (/etc/subuid and
/etc/subgid, which shadow's setuid newuidmap and newgidmap check), as podman maps them. A
user with no ranges gets its own id alone (which the kernel lets it write itself): a
container's files can then have one owner only.
"""

from __future__ import annotations

import os

from ..errors import TinydockerError

SUBUID, SUBGID = "/etc/subuid", "/etc/subgid"


class Range:
    """`count` ids from `inside` in the namespace, `outside` on the host (no dataclass: the
    store, which every command imports, imports this module)."""

    __slots__ = ("inside", "outside", "count")

    def __init__(self, inside: int, outside: int, count: int):
        self.inside, self.outside, self.count = inside, outside, count

    def __eq__(self, other) -> bool:
        return isinstance(other, Range) and (self.inside, self.outside, self.count) == \
            (other.inside, other.outside, other.count)

    def __repr__(self) -> str:
        return f"Range({self.inside}, {self.outside}, {self.count})"

    def line(self) -> str:
        return f"{self.inside} {self.outside} {self.count}"


def subordinate(path: str, name: str, own: int) -> list[tuple[int, int]]:
    """The (start, count) ranges of `path` for the user (by name or by id), in file order."""
    found = []
    try:
        with open(path) as f:
            for line in f:
                parts = line.strip().split(":")
                if len(parts) != 3 or parts[0] not in (name, str(own)):
                    continue
                try:
                    start, count = int(parts[1]), int(parts[2])
                except ValueError:
                    continue
                if count > 0:
                    found.append((start, count))
    except FileNotFoundError:
        pass
    return found


class Mapping:
    __slots__ = ("uids", "gids")

    def __init__(self, uids: tuple[Range, ...], gids: tuple[Range, ...]):
        self.uids, self.gids = tuple(uids), tuple(gids)

    def own_only(self) -> bool:
        """Only the caller's own uid and gid, one each: what the kernel lets it write itself."""
        return (len(self.uids) == len(self.gids) == 1 and self.uids[0].count == self.gids[0].count == 1
                and self.uids[0].outside == os.geteuid() and self.gids[0].outside == os.getegid())

    def document(self) -> dict:
        """As `info` shows it (podman's idMappings)."""
        def rows(ranges):
            return [{"container_id": r.inside, "host_id": r.outside, "size": r.count} for r in ranges]
        return {"uidmap": rows(self.uids), "gidmap": rows(self.gids)}


def for_user(uid: int | None = None, gid: int | None = None) -> Mapping:
    """The mapping for the user `uid` (default: this process's): its own id as root, then its
    ranges; its own id alone if it lacks ranges of either kind (half a mapping would give
    files owners that the other half cannot name)."""
    import pwd

    uid = os.geteuid() if uid is None else uid
    gid = os.getegid() if gid is None else gid
    try:
        name = pwd.getpwuid(uid).pw_name
    except KeyError:
        name = str(uid)
    subuids, subgids = subordinate(SUBUID, name, uid), subordinate(SUBGID, name, gid)
    own_uid, own_gid = (Range(0, uid, 1),), (Range(0, gid, 1),)
    if not subuids or not subgids:
        return Mapping(own_uid, own_gid)

    def stacked(own, ranges):
        out, inside = list(own), 1
        for start, count in ranges:
            out.append(Range(inside, start, count))
            inside += count
        return tuple(out)

    return Mapping(stacked(own_uid, subuids), stacked(own_gid, subgids))


def for_caller() -> Mapping | None:
    """The mapping an ordinary user's containers run under; None for root, whose need none."""
    return None if os.geteuid() == 0 else for_user()


def write(pid: int, mapping: Mapping) -> None:
    """Give the process `pid` (just unshared its user namespace) the mapping: through the
    system's newuidmap/newgidmap for ranges, or written directly for the user's own id."""
    if mapping.own_only():
        try:
            with open(f"/proc/{pid}/uid_map", "w") as f:
                f.write(mapping.uids[0].line() + "\n")
            with open(f"/proc/{pid}/setgroups", "w") as f:
                f.write("deny")  # the kernel's condition for an unprivileged gid_map
            with open(f"/proc/{pid}/gid_map", "w") as f:
                f.write(mapping.gids[0].line() + "\n")
        except OSError as e:
            raise TinydockerError(f"cannot map the user's id in a user namespace: {e.strerror}") from None
        return
    import shutil
    import subprocess

    for tool, ranges in (("newuidmap", mapping.uids), ("newgidmap", mapping.gids)):
        path = shutil.which(tool)
        if path is None:
            raise TinydockerError(f"{tool} not found: subordinate ids need it (apt-get install uidmap)")
        args = [path, str(pid)] + [str(n) for r in ranges for n in (r.inside, r.outside, r.count)]
        done = subprocess.run(args, capture_output=True, text=True)
        if done.returncode != 0:
            said = " ".join(done.stderr.split()) or f"exit status {done.returncode}"
            raise TinydockerError(f"{tool} refused the user's ranges in {SUBUID if tool == 'newuidmap' else SUBGID}: "
                                  f"{said}")


def spawn(child, mapping: Mapping | None = None, flags: int = 0) -> int:
    """Run child() in a forked process that is root of a new user namespace with `mapping`
    (default: this user's), plus the namespaces of `flags` (CLONE_NEWNS...); its pid, once
    the mapping is written.
    child() must not return normally: it execs or calls os._exit. If the mapping cannot be
    written, the child leaves without running and TinydockerError says why."""
    from . import syscalls as sc

    mapping = mapping or for_user()
    made_r, made_w = os.pipe2(os.O_CLOEXEC)
    go_r, go_w = os.pipe2(os.O_CLOEXEC)
    pid = os.fork()
    if pid == 0:  # pragma: no cover - the child runs child() or leaves
        os.close(made_r)
        os.close(go_w)
        try:
            sc.unshare(sc.CLONE_NEWUSER | flags)
            os.write(made_w, b"1")
            if os.read(go_r, 1) == b"1":
                os.setresgid(0, 0, 0)
                os.setresuid(0, 0, 0)
                child()
        except OSError as e:
            os.write(2, f"tinydocker: cannot make a user namespace: {e.strerror}\n".encode())
        os._exit(125)
    os.close(made_w)
    os.close(go_r)
    failure = None
    if os.read(made_r, 1) == b"1":
        try:
            write(pid, mapping)
        except TinydockerError as e:
            failure = e  # the child reads no go, and leaves
        else:
            os.write(go_w, b"1")
    os.close(go_w)
    os.close(made_r)
    if failure is not None:
        os.waitpid(pid, 0)
        raise failure
    return pid


def in_namespace(child, mapping: Mapping | None = None, flags: int = 0) -> int:
    """spawn(child, mapping, flags), waited for: its wait status."""
    return os.waitpid(spawn(child, mapping, flags), 0)[1]


def call(fn, mapping: Mapping | None = None, start=None):
    """fn() as root of a new user namespace with `mapping` (default: this user's), in a
    forked process: what it returns (small, picklable), or the exception it raised, raised
    here. Files it makes get owners shifted into the user's ranges; files of those owners
    are its to read and change, which the user outside may not be.
    start(child): another way to the process (its pid), e.g. into namespaces that exist."""
    import pickle

    said_r, said_w = os.pipe2(os.O_CLOEXEC)
    caller = os.getpid()

    def child():  # pragma: no cover - runs in the forked process
        from . import syscalls as sc

        os.close(said_r)
        sc.prctl(1, 9)  # PR_SET_PDEATHSIG, SIGKILL: no work goes on for a caller killed
        if os.getppid() != caller:
            os._exit(125)  # killed before the line above
        try:
            said = (True, fn())
        except BaseException as e:  # noqa: BLE001 - handed to the parent, which raises it
            said = (False, e)
        try:
            data = pickle.dumps(said)
        except Exception:  # noqa: BLE001 - an exception that does not pickle: its words
            data = pickle.dumps((False, TinydockerError(str(said[1]))))
        view = memoryview(data)
        while view:
            view = view[os.write(said_w, view):]
        os._exit(0)

    try:
        pid = start(child) if start else spawn(child, mapping)
    finally:
        os.close(said_w)
        with os.fdopen(said_r, "rb") as f:
            data = f.read()  # (before the wait: an answer larger than a pipe holds would block it)
    status = os.waitpid(pid, 0)[1]
    if not data:
        raise TinydockerError(f"a process in the user's namespace ended without an answer (wait status {status})")
    ok, value = pickle.loads(data)
    if not ok:
        raise value
    return value


def as_namespace_root(fn):
    """fn, run through call() when the caller is an ordinary user: the one way an ordinary
    user's code touches files of its subordinate ids (unpacking, reading, linking layers)."""
    import functools

    @functools.wraps(fn)
    def run(*args, **kw):
        if os.geteuid() == 0:  # root, or already root of the user's namespace
            return fn(*args, **kw)
        return call(lambda: fn(*args, **kw))

    return run


def remove_tree(path) -> None:
    """Delete a directory tree an ordinary user's containers wrote: what the user cannot delete
    itself (files owned by its subordinate ids) is deleted as root of its user namespace."""
    import shutil

    shutil.rmtree(path, ignore_errors=True)
    if os.geteuid() == 0 or not os.path.lexists(path):
        return

    def delete():
        shutil.rmtree(path, ignore_errors=True)
        os._exit(0)

    try:
        in_namespace(delete)
    except TinydockerError:
        pass  # left for `system prune`, which tries again
