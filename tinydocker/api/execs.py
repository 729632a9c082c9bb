"""The API for exec instances, docker's daemon's kind of state: an exec made first (its
command, user, terminal...), started later (possibly by another process), resized while it
runs and inspected for its exit code after.

Each instance is a small JSON file, state/execs/ID.json in the data root, where every
process of the data root sees it: made with O_EXCL|O_NOFOLLOW, replaced whole as it starts
and ends (the pid and its start time, then the exit code). It goes once its ended process
has been inspected, or once its container has gone (swept as instances are made and looked
at). The process itself runs through exec(), as `tinydocker exec` runs it.
"""

from collections.abc import Sequence
import json
import os
import secrets

from ..errors import Refused, TinydockerError
from .containers import _exec_target, _store


class NoSuchExec(Refused):
    def __init__(self, exec_id: str):
        super().__init__(f"No such exec instance: {exec_id}")


def _dir(store):
    return store.root.state / "execs"


def _path(store, exec_id: str):
    if not (len(exec_id) == 64 and all(c in "0123456789abcdef" for c in exec_id)):
        raise NoSuchExec(exec_id)
    return _dir(store) / f"{exec_id}.json"


def _load(store, exec_id: str) -> dict:
    try:
        fd = os.open(_path(store, exec_id), os.O_RDONLY | os.O_NOFOLLOW | os.O_CLOEXEC)
    except (FileNotFoundError, NotADirectoryError):
        raise NoSuchExec(exec_id) from None
    with os.fdopen(fd, "rb") as f:
        try:
            return json.loads(f.read())
        except ValueError:
            raise NoSuchExec(exec_id) from None  # written halfway by a killed writer: never whole


def _save(store, instance: dict) -> bool:
    """Replace the instance's file; False (nothing written) if it has gone meanwhile."""
    from ..linux.files import write_atomic

    path = _path(store, instance["id"])
    if not path.exists():
        return False
    write_atomic(path, json.dumps(instance).encode(), 0o600, durable=False)
    return True


def _forget(store, exec_id: str) -> None:
    try:
        os.unlink(_path(store, exec_id))
    except FileNotFoundError:
        pass


def _sweep(store) -> None:
    """Instances whose container has gone go too."""
    try:
        names = os.listdir(_dir(store))
    except FileNotFoundError:
        return
    alive = {r.id for r in store.all()}
    for name in names:
        if not name.endswith(".json"):
            continue
        try:
            instance = _load(store, name[:-5])
        except TinydockerError:
            continue
        if instance["container"] not in alive:
            _forget(store, instance["id"])


def create_exec(ref: str, command: Sequence[str], *, env: Sequence[str] = (), workdir: str | None = None,
                user: str | None = None, tty: bool = False, stdin: bool = False, stdout: bool = True,
                stderr: bool = True, privileged: bool = False, console_size: Sequence[int] | None = None,
                root=None) -> str:
    """Make an exec instance in a running container; its id (start_exec runs it).
    console_size: (height, width) its terminal starts with."""
    if not command:
        raise TinydockerError("No exec command specified")
    store, record = _exec_target(ref, root)
    _sweep(store)
    os.makedirs(_dir(store), mode=0o700, exist_ok=True)
    exec_id = secrets.token_hex(32)
    instance = {"id": exec_id, "container": record.id, "command": list(command), "env": list(env),
                "workdir": workdir or "", "user": user or "", "tty": tty, "stdin": stdin, "stdout": stdout,
                "stderr": stderr, "privileged": privileged, "console_size": list(console_size or []),
                "started": False, "pid": None, "ticks": None,
                "exit_code": None}
    fd = os.open(_path(store, exec_id), os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC, 0o600)
    with os.fdopen(fd, "wb") as f:
        f.write(json.dumps(instance).encode())
    return exec_id


def start_exec(exec_id: str, streams=None, terminal=None, started=None, root=None) -> int:
    """Run the instance's process and wait for it (see exec(): streams, terminal, started);
    its exit code, also kept in the instance for inspect_exec."""
    from ..linux.proc import start_ticks

    from .containers import exec as run_exec

    store = _store(root)
    with store.lock():  # two starts of one instance at once: one of them runs it
        instance = _load(store, exec_id)
        if instance["started"]:
            raise Refused(f"exec {exec_id} has already been started")
        instance["started"] = True
        _save(store, instance)

    def running(pid: int) -> None:
        try:
            ticks = start_ticks(pid)
        except OSError:
            ticks = None
        _save(store, {**instance, "pid": pid, "ticks": ticks})
        if started is not None:
            started(pid)

    size = instance.get("console_size")
    if terminal is not None and size and len(size) == 2 and all(size):
        given = terminal

        def terminal(master: int) -> None:
            from .terminals import set_size

            set_size(master, int(size[0]), int(size[1]))  # docker's ConsoleSize, before any output
            given(master)

    code = None
    try:
        code = run_exec(instance["container"], instance["command"], env=instance["env"],
                        workdir=instance["workdir"] or None, user=instance["user"] or None,
                        interactive=instance["stdin"], tty=instance["tty"], privileged=instance["privileged"],
                        streams=streams, terminal=terminal, started=running, root=root)
        return code
    except TinydockerError as e:
        code = e.code
        raise
    finally:
        current = _exists(store, exec_id)
        if current is not None:
            _save(store, {**current, "pid": current["pid"], "exit_code": code if code is not None else 125})


def _exists(store, exec_id: str) -> dict | None:
    try:
        return _load(store, exec_id)
    except NoSuchExec:
        return None


def inspect_exec(exec_id: str, root=None) -> dict:
    """The instance as docker's GET /exec/ID/json tells it; an ended one is forgotten once
    told (its exit code has been read)."""
    from ..linux.proc import is_alive

    store = _store(root)
    instance = _load(store, exec_id)
    try:
        store.lookup(instance["container"])
    except TinydockerError:
        _forget(store, exec_id)
        raise NoSuchExec(exec_id) from None
    ended = instance["exit_code"] is not None
    running = instance["started"] and not ended and is_alive(instance["pid"], instance["ticks"])
    command = instance["command"]
    doc = {"ID": exec_id, "Running": running, "ExitCode": instance["exit_code"], "Pid": instance["pid"] or 0,
           "ContainerID": instance["container"], "OpenStdin": instance["stdin"],
           "OpenStdout": instance["stdout"], "OpenStderr": instance["stderr"], "CanRemove": False,
           "DetachKeys": "",
           "ProcessConfig": {"tty": instance["tty"], "entrypoint": command[0], "arguments": command[1:],
                             "privileged": instance["privileged"], "user": instance["user"]}}
    if ended:
        _forget(store, exec_id)
    return doc


def resize_exec(exec_id: str, height: int, width: int, root=None) -> None:
    """The window size of a running exec's terminal, set on the pty its process holds (any
    process of the data root can: the pty is reached through /proc, not through whoever
    started the exec)."""
    from ..linux.proc import is_alive
    from .terminals import _check_size, set_size, terminal_of

    _check_size(height, width)
    store = _store(root)
    instance = _load(store, exec_id)
    if not instance["tty"]:
        raise TinydockerError(f"exec {exec_id} has no terminal to resize")
    if not is_alive(instance["pid"], instance["ticks"]):
        raise Refused(f"exec {exec_id} is not running")
    fd = terminal_of(instance["pid"])
    if fd is None:
        raise Refused(f"exec {exec_id} is not running")
    try:
        if not is_alive(instance["pid"], instance["ticks"]):  # that pid is still the exec's
            raise Refused(f"exec {exec_id} is not running")
        set_size(fd, height, width)
    finally:
        os.close(fd)

