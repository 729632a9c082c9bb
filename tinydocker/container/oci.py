"""Driving an OCI runtime as podman's conmon and containerd's shim do: `create` with the
container's stdio, the network wired into the namespace it made, `start`, and `delete` once
the container has ended.

By default the runtime is tinydocker's own (tinydocker/runtime), called in this process: the
engine has one child side, the runtime's, and pays for no runtime process. A runtime binary
(tinydocker-runtime, runc, crun) is run instead with --runtime; the process that launches is
then a child subreaper while `create` runs: create exits leaving the container's init
waiting, and the init is reparented to us, so that the monitor waits for it and reaps it as
it reaps an init it forked itself.
"""

import contextlib
import json
import os
import sys
import threading

from ..errors import EXIT_CANNOT_EXEC, EXIT_NOT_FOUND, EXIT_TINYDOCKER, TinydockerError
from ..linux import fds, syscalls as sc

BUILT_IN = "tinydocker-runtime"


IN_PROCESS = "builtin"  # --runtime's name for tinydocker's own runtime in-process, over a configured default


def chosen(name: str | None, data_root) -> str:
    """--runtime as recorded: the executable's path, found now (docker's words if not); by
    default (None) the data root's configured one; "" or "builtin": tinydocker's own, in-process."""
    if name is None:
        name = data_root.setting("runtime", "")
    if not name or name == IN_PROCESS:
        return ""
    return resolve(name)


def resolve(name: str) -> str:
    """The runtime's executable: a path, or a name on PATH (tinydocker-runtime also beside
    this interpreter, as a virtual environment installs it). docker's words if none."""
    if "/" in name:
        found = os.path.abspath(name) if os.access(name, os.X_OK) and os.path.isfile(name) else None
    else:
        beside = os.path.join(os.path.dirname(sys.executable), name)
        from shutil import which

        found = beside if name == BUILT_IN and os.access(beside, os.X_OK) else which(name)
    if not found:
        raise TinydockerError(f"unknown or invalid runtime name: {name}")
    return found


class Runtime:
    """One runtime binary, its state under `state_root` (its --root), logging for the engine
    in JSON lines (the last error is what the user is told)."""

    def __init__(self, path: str, state_root: str):
        self.path = path
        self.state_root = state_root

    def argv(self, log: str, *args: str) -> list[str]:
        return [self.path, "--root", self.state_root, "--log", log, "--log-format", "json", *args]

    def create(self, container_id: str, bundle: str, stdio, interactive: bool, console: str | None,
               config: dict | None = None) -> int:
        """`create`, with the container's stdio (`stdio.in_child` puts it on 0-2); the init's pid.
        CannotRun if the program cannot be run. (`config`: the runtime reads the bundle's own.)"""
        os.makedirs(self.state_root, mode=0o700, exist_ok=True)
        log = os.path.join(bundle, "runtime.log")
        pid_file = os.path.join(bundle, "init.pid")
        for stale in (log, pid_file):
            try:
                os.unlink(stale)
            except FileNotFoundError:
                pass
        args = ["create", "--bundle", bundle, "--pid-file", pid_file]
        if console:
            args += ["--console-socket", console]
        # create exits leaving the init to be reparented: to us, as a subreaper, for the time
        # create runs only (a script calling the API must not go on adopting its other
        # children's orphans; the init, adopted when create exits, stays ours)

        with _adopting():
            if _spawn(self.argv(log, *args, container_id), _container_stdio(stdio, interactive)) != 0:
                raise failure(log, "create")
        with open(pid_file) as f:
            return int(f.read().strip())

    def start(self, container_id: str, bundle: str) -> None:
        self._call(bundle, "start", container_id)

    def exec(self, container_id: str, bundle: str, process: dict, stdio, interactive: bool,
             console: str | None, forked=None) -> int:
        """`exec --detach` of a runtime-spec process with the given stdio: its pid, adopted by
        us as the init is (then given to forked()). CannotRun if its program cannot be run."""
        from ..linux.files import write_atomic
        from ..linux.proc import private_name, remove_abandoned

        remove_abandoned(bundle, "exec")  # an exec's files whose process was killed midway
        name = private_name("exec")
        log = os.path.join(bundle, f"{name}.log")
        process_file = os.path.join(bundle, f"{name}.json")
        pid_file = os.path.join(bundle, f"{name}.pid")

        write_atomic(process_file, json.dumps(process).encode(), 0o600, durable=False)
        try:
            args = ["exec", "--detach", "--process", process_file, "--pid-file", pid_file]
            if console:
                args += ["--console-socket", console]
            with _adopting():
                if _spawn(self.argv(log, *args, container_id), _container_stdio(stdio, interactive)) != 0:
                    # the runtime said it on the stderr it shares with the process (runc's way)
                    raise failure(log, "exec", told=True)
            with open(pid_file) as f:
                pid = int(f.read().strip())
            if forked is not None:
                forked(pid)
            return pid
        finally:
            for path in (log, process_file, pid_file):
                try:
                    os.unlink(path)
                except FileNotFoundError:
                    pass

    def delete(self, container_id: str, bundle: str) -> None:
        """`delete --force`: nothing of the container left in the runtime (quietly: its end
        is what matters, and a container never created is nothing to delete)."""
        try:
            self._call(bundle, "delete", "--force", container_id)
        except TinydockerError:
            pass
        _tidy_unified(container_id)

    def _call(self, bundle: str, *args: str) -> None:
        log = os.path.join(bundle, "runtime.log")
        from tempfile import TemporaryFile

        with TemporaryFile() as err:
            def quiet() -> None:
                null = os.open(os.devnull, os.O_RDWR)
                for fd in (0, 1):
                    os.dup2(null, fd)
                os.dup2(err.fileno(), 2)

            if _spawn(self.argv(log, *args), quiet) != 0:
                err.seek(0)
                raise failure(log, args[0], err.read().decode(errors="replace"))

    def holds(self, container_id: str) -> bool:
        return os.path.isdir(os.path.join(self.state_root, container_id))


class InProcess:
    """tinydocker's runtime code, called here: the create, start and delete that
    `tinydocker-runtime` runs, with no runtime process between (the init is forked by this
    process, which waits for it), and the seccomp programs kept in the data root's cache."""

    def __init__(self, state_root: str, seccomp_cache):
        from ..runtime.state import Store

        self.store = Store(state_root)
        self.seccomp_cache = seccomp_cache

    def create(self, container_id: str, bundle: str, stdio, interactive: bool, console: str | None,
               config: dict | None = None) -> int:
        """As Runtime.create; `config` is the bundle's config.json as written (read again if None)."""
        from ..runtime.config import load, parse
        from ..runtime.create import create

        try:
            checked = load(bundle) if config is None else parse(config, bundle)
            return create(checked, self.store, container_id, console_socket=console,
                          stdio=_container_stdio(stdio, interactive), seccomp_cache=self.seccomp_cache)
        except TinydockerError as e:
            raise classified(str(e), "create") from None

    def start(self, container_id: str, bundle: str) -> None:
        from ..runtime.start import start

        try:
            start(self.store, container_id)
        except TinydockerError as e:
            raise classified(str(e), "start") from None

    def exec(self, container_id: str, bundle: str, process: dict, stdio, interactive: bool,
             console: str | None, forked=None) -> int:
        from ..runtime.exec import Request, launch

        try:
            return launch(self.store, Request(container_id, console_socket=console), process,
                          _container_stdio(stdio, interactive), forked)
        except TinydockerError as e:
            raise classified(str(e), "exec") from None

    def delete(self, container_id: str, bundle: str) -> None:
        from ..runtime.delete import delete

        try:
            delete(self.store, container_id, force=True)
        except TinydockerError:
            pass  # as a binary's quiet delete: the container's end is what matters

    def holds(self, container_id: str) -> bool:
        return os.path.isdir(os.path.join(self.store.root, container_id))


def _container_stdio(stdio, interactive: bool):
    """What puts the container's stdio on the init's 0-2 (stdin /dev/null unless -i)."""
    def put() -> None:
        if stdio:
            stdio.in_child()
        if not interactive:
            null = os.open(os.devnull, os.O_RDONLY)
            os.dup2(null, 0)
            os.close(null)
    return put


_adopters = 0  # creates under way in this process (threads of a script), while we adopt
_set_by_us = False
_adopters_lock = threading.Lock()


@contextlib.contextmanager
def _adopting():
    """This process a child subreaper while any of its threads runs a create; put back as it
    was (a script's own setting kept) when the last one is done."""
    global _adopters, _set_by_us
    with _adopters_lock:
        if _adopters == 0 and not sc.child_subreaper():
            sc.prctl(sc.PR_SET_CHILD_SUBREAPER, 1)
            _set_by_us = True
        _adopters += 1
    try:
        yield
    finally:
        with _adopters_lock:
            _adopters -= 1
            if _adopters == 0 and _set_by_us:
                sc.prctl(sc.PR_SET_CHILD_SUBREAPER, 0)
                _set_by_us = False


def _tidy_unified(container_id: str) -> None:
    """On a hybrid host runc also puts the container in the controller-less cgroup2 tree, at
    the engine's cgroup path, and deletes only the leaf: the shared parent goes once empty,
    as the engine's own parents do (busy or refilled meanwhile, it stays)."""
    from ..cgroups import PARENT, layout

    where = layout()
    if where.v2 and where.backend == "v1":
        for path in (os.path.join(where.v2, PARENT, container_id), os.path.join(where.v2, PARENT)):
            try:
                os.rmdir(path)
            except OSError:
                pass


def _spawn(argv: list[str], setup) -> int:
    """Run the runtime to its end: its exit status. Forked and exec'd here, not through
    subprocess, whose pipes a child another thread of a script forks meanwhile would hold
    open (stderr goes to a file for the same reason)."""
    child = os.fork()
    if child == 0:
        try:
            setup()
            fds.drop_inherited(())
            os.execv(argv[0], argv)
        finally:
            os._exit(EXIT_TINYDOCKER)
    _, status = os.waitpid(child, 0)
    return os.waitstatus_to_exitcode(status)


def failure(log: str, verb: str, stderr: str = "", told: bool = False) -> TinydockerError:
    """The runtime's last error, as docker says a runtime's failure; a program that cannot
    be run is 127 or 126 (runc finds that out at create), as docker says it."""
    message = ""
    try:
        with open(log, errors="replace") as f:
            for line in f:
                try:
                    entry = json.loads(line)
                except ValueError:
                    continue
                if entry.get("level") in ("error", "fatal") and entry.get("msg"):
                    message = entry["msg"]
    except OSError:
        pass
    if not message:
        lines = stderr.strip().splitlines()
        message = lines[-1] if lines else f"the OCI runtime's {verb} failed"
    return classified(message, verb, told)


def classified(message: str, verb: str, told: bool = False) -> TinydockerError:
    """A runtime's failure as the engine says it (told: the runtime has said it to the user)."""
    lowered = message.lower()
    said = message[lowered.find('exec: "'):] if 'exec: "' in lowered else ""
    if "executable file not found" in said or "no such file" in said:
        return CannotRun(said, EXIT_NOT_FOUND, told)
    if "permission denied" in said:
        return CannotRun(said, EXIT_CANNOT_EXEC, told)
    return TinydockerError(f"OCI runtime {verb} failed: {message}")


class CannotRun(TinydockerError):
    """The container's program is not there or cannot be run (runc finds it at create): the
    words docker uses, with its 127 or 126. told: the runtime has said it to the user already."""

    def __init__(self, message: str, code: int, told: bool = False):
        super().__init__(message, code=code)
        self.told = told


class Console:
    """The unix socket a runtime sends a terminal's master to (--console-socket)."""

    def __init__(self):
        import socket
        import tempfile

        self.dir = tempfile.mkdtemp(prefix="tinydocker-console-")
        self.path = os.path.join(self.dir, "sock")
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM | socket.SOCK_CLOEXEC)
        self.sock.bind(self.path)
        self.sock.listen(1)

    def master(self) -> int:
        """The master, sent during create (queued on the socket until now)."""
        self.sock.settimeout(10)
        conn, _ = self.sock.accept()
        with conn:
            from socket import recv_fds

            _, received, _, _ = recv_fds(conn, 4096, 1)
        if not received:
            raise TinydockerError("the OCI runtime sent no terminal")
        return received[0]

    def close(self) -> None:
        from shutil import rmtree

        self.sock.close()
        rmtree(self.dir, ignore_errors=True)


def for_container(data_root, spec: dict) -> "Runtime | InProcess":
    """The runtime a container's spec names ("": tinydocker's own, in this process), its
    state kept per runtime under the data root."""
    name = spec.get("runtime")
    if not name:
        return InProcess(str(data_root.state / "runtimes" / "builtin"), data_root.seccomp_cache)
    return Runtime(resolve(name), str(data_root.state / "runtimes" / os.path.basename(name)))


def forget(data_root, spec: dict, container_id: str, bundle: str) -> None:
    """What a container's runtime still holds of it (a start whose monitor was killed): gone."""
    try:
        runtime = for_container(data_root, spec)
    except TinydockerError:
        return  # the runtime itself is gone: it holds nothing we could ask it to drop
    runtime.delete(container_id, bundle)


def write_bundle(bundle: str, config: dict) -> None:
    from ..linux.files import write_atomic

    # made afresh at each start: nothing to keep through a crash; not indented, which would
    # take json's slow pure-Python encoder
    write_atomic(os.path.join(bundle, "config.json"), json.dumps(config).encode(), 0o600, durable=False)
