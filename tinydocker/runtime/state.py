"""The runtime's status store: one directory per container under --root, holding state.json
(what create decided), the exec fifo (while the container is "created") and nothing else.

    ROOT/ID/state.json   id, pid and its start time, bundle, rootfs, created, annotations,
                         the cgroup directories made, the config's ociVersion
    ROOT/ID/exec.fifo    the init blocks opening it for write until `start` opens it to read
    ROOT/ID/process.json, seccomp.bpf   config.process and the compiled filter, for exec

Status is derived each time, never stored: "creating" while create holds the container's
lock and has no pid yet, "created" while the exec fifo exists and the init lives,
"running" once it is gone, "paused" while its cgroup is frozen (either of those, frozen by
`pause`), "stopped" when the init has exited or is a zombie (its parent is
the caller, not us). The init is known by pid AND start time (field 22 of /proc/PID/stat),
so a pid reused by another process is never taken for the container.

Verbs on one id are serialised by a flock on its directory (runc's per-container lock).
"""

import errno
import fcntl
import json
import os
import re
import shutil
import time
from pathlib import Path

from ..cgroups.fs import frozen
from ..errors import TinydockerError
from ..linux.files import write_atomic
from ..linux.proc import is_alive
from ..plain import as_dict, factory, plain

STATE = "state.json"
FIFO = "exec.fifo"
PROCESS, SECCOMP = "process.json", "seccomp.bpf"
_ID = re.compile(r"^[A-Za-z0-9_+.-]+$")


class RuntimeError_(TinydockerError):  # noqa: N801 - the builtin's name is taken
    """A verb refused: one line, exit 1 (runc's status for every failure)."""

    code = 1


class NotExist(RuntimeError_):
    def __init__(self):
        super().__init__("container does not exist")


def check_id(container_id: str) -> str:
    if not container_id:
        raise RuntimeError_("container id cannot be empty")
    if not _ID.match(container_id) or container_id in (".", ".."):
        raise RuntimeError_(f"invalid container id format: {container_id}")
    return container_id


@plain
class State:
    id: str
    bundle: str
    rootfs: str
    created: str
    oci_version: str
    pid: int = 0
    start_ticks: int = 0
    annotations: dict = factory(dict)
    cgroups: list = factory(list)  # directories create made (to remove), parents first
    leaves: list = factory(list)  # the container's directory in each hierarchy
    cgroup_path: str = ""  # as resolved from linux.cgroupsPath (for list and kill --all)
    hooks: dict = factory(dict)  # poststart and poststop, for start and delete
    has_process: bool = True  # config.json's process is optional until start
    creating: bool = True  # until create has finished (its init may be forked already)


def now_rfc3339() -> str:
    t = time.time_ns()
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(t // 10**9)) + f".{t % 10**9:09d}Z"


class Store:
    def __init__(self, root: str):
        self.root = root

    def dir(self, container_id: str) -> str:
        return os.path.join(self.root, check_id(container_id))

    def ids(self) -> list[str]:
        try:
            return sorted(n for n in os.listdir(self.root) if _ID.match(n) and os.path.isdir(os.path.join(self.root, n)))
        except FileNotFoundError:
            return []

    def make(self, container_id: str) -> "Locked":
        """A new container's directory, locked; "container with id exists" if it is taken."""
        os.makedirs(self.root, mode=0o700, exist_ok=True)
        path = self.dir(container_id)
        try:
            os.mkdir(path, 0o711)
        except FileExistsError:
            raise RuntimeError_(f"container with id exists: {container_id}") from None
        return Locked(path)

    def open(self, container_id: str, wait: bool = True) -> "Locked":
        """An existing container's directory, locked (blocking unless wait is False)."""
        path = self.dir(container_id)
        while True:
            try:
                locked = Locked(path, wait)
            except FileNotFoundError:
                raise NotExist() from None
            # the directory may have been deleted while we waited for its lock
            if os.path.isdir(path) and os.stat(path).st_ino == os.fstat(locked.fd).st_ino:
                return locked
            locked.close()
            if not os.path.isdir(path):
                raise NotExist()


class Locked:
    """A container directory held under flock; close() (or exit) lets go."""

    def __init__(self, path: str, wait: bool = True):
        self.path = path
        self.fd = os.open(path, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
        try:
            fcntl.flock(self.fd, fcntl.LOCK_EX | (0 if wait else fcntl.LOCK_NB))
        except BaseException:
            os.close(self.fd)
            raise

    def close(self) -> None:
        if self.fd >= 0:
            os.close(self.fd)
            self.fd = -1

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    @property
    def id(self) -> str:
        return os.path.basename(self.path)

    @property
    def fifo(self) -> str:
        return os.path.join(self.path, FIFO)

    def read(self) -> State | None:
        return read_state(self.path)

    def write(self, state: State) -> None:
        # as runc's under /run: a state that a reboot makes meaningless need not be synced
        write_atomic(os.path.join(self.path, STATE), json.dumps(as_dict(state)).encode(), 0o600, durable=False)

    def remove(self) -> None:
        shutil.rmtree(self.path, ignore_errors=True)


def read_state(path: str) -> State | None:
    try:
        with open(os.path.join(path, STATE), "rb") as f:
            return State(**json.loads(f.read()))
    except FileNotFoundError:
        return None
    except (ValueError, TypeError):
        return None  # a torn or foreign file: as if create never got that far


def status(path: str, state: State | None, holding_lock: bool = False) -> str:
    if state is None or state.creating:
        # create is still at work (it holds the lock), or was killed half-way
        if not holding_lock and _locked_by_other(path):
            return "creating"
    if state is None or not state.pid:
        return "stopped"
    if not is_alive(state.pid, state.start_ticks):
        return "stopped"
    if _paused(state.leaves):
        return "paused"
    return "created" if os.path.exists(os.path.join(path, FIFO)) else "running"


def _paused(leaves: list) -> bool:
    """The container's cgroup frozen by `pause` (its freezer leaf: v1's, or v2's one)."""
    return any(frozen(Path(leaf)) for leaf in leaves)


def _locked_by_other(path: str) -> bool:
    try:
        fd = os.open(path, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
    except OSError:
        return False
    try:
        fcntl.flock(fd, fcntl.LOCK_SH | fcntl.LOCK_NB)
        return False
    except OSError as e:
        return e.errno in (errno.EWOULDBLOCK, errno.EAGAIN)
    finally:
        os.close(fd)


def document(container_id: str, path: str, state: State | None, st: str | None = None) -> dict:
    """The runtime-spec state, with runc's extra fields (rootfs, created, owner)."""
    st = st or status(path, state)
    if state is None:
        return {"ociVersion": "", "id": container_id, "pid": 0, "status": st, "bundle": "", "rootfs": "",
                "created": "", "owner": ""}
    doc = {"ociVersion": state.oci_version, "id": state.id, "pid": state.pid if st != "stopped" else 0,
           "status": st, "bundle": state.bundle, "rootfs": state.rootfs, "created": state.created, "owner": ""}
    if state.annotations:
        doc["annotations"] = state.annotations
    return doc
