"""`exec`: a new process in a created or running container, as runc's exec.

    exec [options] ID COMMAND [ARGS...]      exec --process process.json [options] ID

The process is the given runtime-spec process object (--process), or the container's own
config.process, which create kept in the state directory (the bundle may be edited or gone
by now), with runc's overrides: args, cwd, user, tty, noNewPrivileges replaced, env and
additional gids appended, capabilities added.

Process model. exec (this process) checks the container under its lock, opens the init's
namespaces and root (/proc/PID/ns/*, /proc/PID/root), enters its PID namespace (which
applies to children only), forks the process and goes back to its own. The child, in this
order: joins the container's cgroups and sets its rlimits (both need the host's privileges),
enters the user namespace first, then the others, the mount namespace last, chroots to the
init's root and chdirs to cwd, takes its terminal, applies the process to itself with the
container's seccomp filter (process.py) and execs. It reports a failure on a close-on-exec
pipe; end-of-file after its "exec" line says the program runs. exec then writes --pid-file
and, with --detach, exits: the process, orphaned, goes to the caller's nearest subreaper (as
conmon and containerd's shim expect). Otherwise it waits for it, passing signals on, and
exits with its status (128+N for a signal N).

Nothing is left of a failed exec: the child is killed and reaped, every descriptor closed.
"""

import json
import os
import signal

from ..linux import fds
from ..linux import syscalls as sc
from ..linux.proc import is_alive, wait_exit
from ..plain import factory, plain
from . import cgroups, process, terminal
from .config import ConfigError, Process, parse_process
from .state import PROCESS, SECCOMP, RuntimeError_, Store, status

PR_SET_PDEATHSIG = 1
# /proc/PID/ns names, in the order they are entered: the user namespace first (the others
# are its own, entered with the privileges it gives), the mount namespace last (it changes
# the root)
_NAMESPACES = (("user", sc.CLONE_NEWUSER), ("cgroup", sc.CLONE_NEWCGROUP), ("ipc", sc.CLONE_NEWIPC),
               ("uts", sc.CLONE_NEWUTS), ("net", sc.CLONE_NEWNET), ("mnt", sc.CLONE_NEWNS))
# passed on to the process while exec waits for it (runc passes on whatever it can catch)
_FORWARDED = (signal.SIGHUP, signal.SIGINT, signal.SIGQUIT, signal.SIGTERM, signal.SIGUSR1, signal.SIGUSR2,
              signal.SIGALRM, signal.SIGWINCH, signal.SIGCONT, signal.SIGTSTP, signal.SIGTTIN, signal.SIGTTOU)


@plain
class Request:
    """exec's command line, as runc's."""

    container_id: str
    command: list = factory(list)
    process_file: str | None = None
    detach: bool = False
    pid_file: str | None = None
    tty: bool | None = None  # None: not given
    console_socket: str | None = None
    cwd: str | None = None
    env: list = factory(list)
    user: str | None = None
    additional_gids: list = factory(list)
    caps: list = factory(list)
    no_new_privs: bool | None = None
    preserve_fds: int = 0
    ignore_paused: bool = False
    cgroups: list = factory(list)
    apparmor: str = ""
    process_label: str = ""


def execute(store: Store, r: Request) -> int:
    """Run the process; its exit status (0 at once with --detach). RuntimeError_ if it could
    not start: code 126/127 when its program could not be executed, 1 otherwise."""
    def forked(child: int) -> None:
        if not r.detach:
            for sig in _FORWARDED:
                signal.signal(sig, lambda s, _f: _forward(child, s))

    child = launch(store, r, forked=forked)
    if r.detach:
        return 0
    return wait_exit(child)


def launch(store: Store, r: Request, process: dict | None = None, stdio=None, forked=None) -> int:
    """Start the process (`process`, a runtime-spec process object, if given instead of r's)
    and return its pid, a child of ours, once its program runs. Called in-process by an
    engine: stdio() puts the process's stdio on its 0-2 first; forked(pid) is called as soon
    as it is forked (to pass signals on while it starts)."""
    # before anything of ours takes a descriptor number
    for fd in range(3, 3 + r.preserve_fds):
        try:
            os.fstat(fd)
        except OSError as e:
            raise RuntimeError_(f"--preserve-fds {r.preserve_fds}: descriptor {fd} is not open: {e.strerror}") from None
    opened = []
    child = 0
    try:
        with store.open(r.container_id) as locked:
            state = locked.read()
            now = status(locked.path, state, holding_lock=True) if state and not state.creating else "stopped"
            if now == "stopped":
                raise RuntimeError_("cannot exec in a stopped container")
            if (now == "paused" or _frozen(state.leaves)) and not r.ignore_paused:
                raise RuntimeError_("cannot exec in a paused container (use --ignore-paused to override)")
            p = _parsed(process) if process is not None else _process(r, locked.path)
            if p.terminal and not r.console_socket:
                raise RuntimeError_("cannot allocate a tty without --console-socket (this runtime does not relay "
                                    "a terminal itself)")
            if r.console_socket and not p.terminal:
                raise RuntimeError_("--console-socket was given but the process has no terminal (--tty)")
            if p.apparmor_profile:
                raise RuntimeError_("an AppArmor profile for the process is not supported yet")
            leaves = _leaves(state.leaves, r.cgroups)
            program = _read(os.path.join(locked.path, SECCOMP))
            pid = state.pid
            joined = []
            for kind, flag in _NAMESPACES:
                if _differs(pid, kind):
                    opened.append(_open(f"/proc/{pid}/ns/{kind}", os.O_RDONLY))
                    joined.append((flag, opened[-1]))
            pid_ns = None
            if _differs(pid, "pid"):
                opened.append(_open(f"/proc/{pid}/ns/pid", os.O_RDONLY))
                pid_ns = opened[-1]
            opened.append(_open(f"/proc/{pid}/root", os.O_PATH | os.O_DIRECTORY))
            root = opened[-1]
            if not is_alive(pid, state.start_ticks):  # what was opened may be another process's
                raise RuntimeError_("cannot exec in a stopped container")
            console = None
            if r.console_socket:
                console = terminal.connect(r.console_socket)
                opened.append(console)
            report_r, report_w = os.pipe2(os.O_CLOEXEC)
            opened += [report_r, report_w]
            keep = {report_w, root, *(fd for _, fd in joined), *([console] if console is not None else [])}
            user_ns = None
            if os.geteuid() != 0 and pid_ns is not None:
                # an ordinary user may enter the container's PID namespace only from inside its
                # user namespace: that is joined first, by a process in between (see _fork)
                user_ns = next((fd for flag, fd in joined if flag == sc.CLONE_NEWUSER), None)
                joined = [(flag, fd) for flag, fd in joined if flag != sc.CLONE_NEWUSER]
            child = _fork(pid_ns, opened, lambda: _child(p, program, report_w, keep, joined, root, leaves, console,
                                                         r.preserve_fds, stdio, orphaned=user_ns is not None),
                          user_ns)
            if forked is not None:
                forked(child)
            for fd in list(opened):
                if fd != report_r:
                    os.close(fd)
                    opened.remove(fd)
        # past the lock: the process has what it needs of the container, and another exec
        # or a kill need not wait for this one's program to start
        _started(report_r, child)
        if r.pid_file:
            from .create import write_pid_file

            write_pid_file(r.pid_file, child)
    except BaseException:
        if child:
            try:
                os.kill(child, signal.SIGKILL)
            except ProcessLookupError:
                pass
            try:
                os.waitpid(child, 0)
            except ChildProcessError:
                pass
        raise
    finally:
        for fd in opened:
            os.close(fd)
    return child


def _parsed(document: dict) -> Process:
    try:
        return parse_process(document, "exec")
    except ConfigError as e:
        raise RuntimeError_(str(e)) from None


def _process(r: Request, path: str) -> Process:
    if r.process_file:
        try:
            with open(r.process_file, "rb") as f:
                document = json.loads(f.read())
        except OSError as e:
            raise RuntimeError_(f"cannot read the process file {r.process_file}: {e.strerror}") from None
        except (ValueError, UnicodeDecodeError) as e:
            raise RuntimeError_(f"{r.process_file}: not valid JSON: {getattr(e, 'msg', e)}") from None
        return parse_process(document, r.process_file)
    if not r.command:
        raise RuntimeError_("process args cannot be empty")
    kept = _read(os.path.join(path, PROCESS))
    if kept is None:
        raise RuntimeError_("this container was made by an older tinydocker-runtime, which kept no process for exec")
    d = json.loads(kept)
    d["args"] = list(r.command)
    if r.cwd:
        d["cwd"] = r.cwd
    if r.apparmor:
        d["apparmorProfile"] = r.apparmor
    if r.process_label:
        d["selinuxLabel"] = r.process_label
    if r.caps:
        caps = d.get("capabilities") or {}
        for name in r.caps:
            name = "CAP_" + name.upper().removeprefix("CAP_")
            # runc's: added to every set but inheritable
            for kind in ("bounding", "effective", "permitted", "ambient"):
                caps[kind] = [*(caps.get(kind) or []), name]
        d["capabilities"] = caps
    d["env"] = [*(d.get("env") or []), *r.env]
    d["terminal"] = bool(r.tty)
    if r.no_new_privs is not None:
        d["noNewPrivileges"] = r.no_new_privs
    user = dict(d.get("user") or {})
    if r.user:
        uid, colon, gid = r.user.partition(":")
        for what, text in (("uid", uid), *((("gid", gid),) if colon else ())):
            if not text.isdigit():
                raise RuntimeError_(f"--user {r.user}: {what} {text!r} is not a number (UID[:GID])")
            user[what] = int(text)
    if r.additional_gids:
        user["additionalGids"] = [*(user.get("additionalGids") or []), *r.additional_gids]
    d["user"] = user
    return _parsed(d)


def _read(path: str) -> bytes | None:
    try:
        with open(path, "rb") as f:
            return f.read()
    except FileNotFoundError:
        return None


def _differs(pid: int, kind: str) -> bool:
    """Whether the init's namespace of this kind is another than ours."""
    try:
        ours = os.stat(f"/proc/self/ns/{kind}")
    except FileNotFoundError:
        return False  # a kind this kernel lacks
    try:
        theirs = os.stat(f"/proc/{pid}/ns/{kind}")
    except (FileNotFoundError, ProcessLookupError):
        raise RuntimeError_("cannot exec in a stopped container") from None
    return (ours.st_dev, ours.st_ino) != (theirs.st_dev, theirs.st_ino)


def _open(path: str, flags: int) -> int:
    try:
        return os.open(path, flags | os.O_CLOEXEC)
    except (FileNotFoundError, ProcessLookupError):  # the init is gone
        raise RuntimeError_("cannot exec in a stopped container") from None


def _frozen(leaves: list[str]) -> bool:
    """Paused: the v1 freezer's state, or v2's cgroup.freeze."""
    for leaf in leaves:
        for name, frozen in (("freezer.state", ("FROZEN", "FREEZING")), ("cgroup.freeze", ("1",))):
            text = _read(os.path.join(leaf, name))
            if text is not None and text.decode().strip() in frozen:
                return True
    return False


def _leaves(leaves: list[str], given: list[str]) -> list[str]:
    """--cgroup [CONTROLLER[,CONTROLLER]:]PATH...: existing sub-cgroups of the container's to
    join instead (v2's way into a container whose cgroup has children), as runc's."""
    if not given:
        return leaves
    paths = {}
    for item in given:
        parts = item.split(":")
        if len(parts) > 2:
            raise RuntimeError_(f"invalid --cgroup argument: {item}")
        if len(parts) == 1:
            if len(given) != 1:
                raise RuntimeError_(f"invalid --cgroup argument: {item} (missing <controller>: prefix)")
            paths[""] = item
        else:
            for controller in parts[0].split(","):
                paths[controller] = parts[1]
    chosen = []
    for leaf in leaves:
        controllers = cgroups.controllers(leaf)
        sub = paths.get("")
        for controller in controllers:
            sub = paths.get(controller, sub)
        if not sub and not controllers and len(paths) == 1:  # v2: one tree whatever the prefix
            sub = next(iter(paths.values()))
        if not sub:
            chosen.append(leaf)
            continue
        inner = os.path.normpath(sub)
        if inner.startswith(("/", "..")):
            raise RuntimeError_(f"invalid --cgroup argument: {sub} (a path below the container's cgroup)")
        target = os.path.join(leaf, inner)
        if not os.path.isdir(target):
            raise RuntimeError_(f"--cgroup {sub}: the container has no sub-cgroup {target}")
        chosen.append(target)
    return chosen


def _fork(pid_ns: int | None, opened: list, child, user_ns: int | None = None) -> int:
    """Fork `child` (which never returns) into the init's PID namespace. With `user_ns` (an
    ordinary user's container), a process in between joins the user namespace, then the PID
    namespace, forks the child and leaves: the child, adopted by this process (a subreaper),
    is waited for as ours."""
    if user_ns is not None:
        return _fork_through(user_ns, pid_ns, child)
    own = None
    if pid_ns is not None:
        own = os.open("/proc/self/ns/pid", os.O_RDONLY | os.O_CLOEXEC)
        opened.append(own)
        try:
            sc.setns(pid_ns, sc.CLONE_NEWPID)
        except OSError as e:
            raise RuntimeError_(f"cannot enter the container's PID namespace: {e.strerror}") from None
    pid = os.fork()
    if pid == 0:
        child()
        os._exit(1)
    if own is not None:
        # back in our own, for whatever we fork next
        sc.setns(own, sc.CLONE_NEWPID)
    return pid


def _fork_through(user_ns: int, pid_ns: int, child) -> int:
    sc.prctl(sc.PR_SET_CHILD_SUBREAPER, 1)
    said_r, said_w = os.pipe2(os.O_CLOEXEC)
    between = os.fork()
    if between == 0:  # pragma: no cover - it leaves
        os.close(said_r)
        try:
            sc.setns(user_ns, sc.CLONE_NEWUSER)
            os.setresgid(0, 0, 0)
            os.setresuid(0, 0, 0)
            sc.setns(pid_ns, sc.CLONE_NEWPID)
            pid = os.fork()
            if pid == 0:
                child()
                os._exit(1)
            os.write(said_w, str(pid).encode())
        except OSError:
            pass
        os._exit(0)
    os.close(said_w)
    with os.fdopen(said_r, "rb") as said:
        text = said.read()
    os.waitpid(between, 0)
    if not text:
        raise RuntimeError_("cannot enter the container's user and PID namespaces")
    return int(text)


def _started(report: int, child: int) -> None:
    """Back once the program runs; RuntimeError_ if the child failed (left for the caller
    to reap: until then its pid cannot be another's)."""
    lines = []
    with os.fdopen(os.dup(report), "rb") as reports:
        for line in reports:
            try:
                lines.append(json.loads(line))
            except ValueError:
                lines.append({"error": "the process sent a garbled report"})
    failed = next((said for said in lines if said.get("error")), None)
    if failed is not None:
        raise RuntimeError_(failed["error"], code=failed.get("code", 1))
    if not any(said.get("exec") for said in lines):
        # died without a word (a signal): its status, read without reaping it
        info = os.waitid(os.P_PID, child, os.WEXITED | os.WNOWAIT)
        why = f"status {info.si_status}" if info.si_code == os.CLD_EXITED else f"signal {info.si_status}"
        raise RuntimeError_(f"the process exited ({why}) before it could start its program")


def _forward(child: int, sig: int) -> None:
    try:
        os.kill(child, sig)
    except ProcessLookupError:
        pass  # reaped already: exec is about to exit with its status


# -- the process, in the child ---------------------------------------------------------------

def _child(p: Process, program: bytes | None, report: int, keep: set, joined: list, root: int, leaves: list[str],
           console: int | None, preserve_fds: int, stdio=None, orphaned: bool = False) -> None:
    stage = "setting up"
    try:
        # not dumpable until execve: a container process must not reach the host's
        # interpreter through our /proc/PID/exe or our descriptors while we join (CVE-2019-5736)
        sc.prctl(sc.PR_SET_DUMPABLE, 0)
        # exec's own dispositions (Python ignores SIGPIPE and SIGXFSZ) are not the program's
        for sig in signal.valid_signals():
            if sig not in (signal.SIGKILL, signal.SIGSTOP):
                try:
                    signal.signal(sig, signal.SIG_DFL)
                except (OSError, ValueError):
                    pass
        # if exec dies now, so do we: nobody would wait for us (orphaned: our parent, the
        # process in between, is leaving, and exec adopts us)
        if not orphaned:
            sc.prctl(PR_SET_PDEATHSIG, signal.SIGKILL)
        os.setsid()  # its own session and process group, as the init's (runc's exec too)
        if stdio is not None:
            stdio()
        preserved = set(range(3, 3 + preserve_fds))
        fds.drop_inherited(keep | preserved)
        stage = "joining the container's cgroup"
        cgroups.join(leaves)
        stage = "setting the process's rlimits"
        process.set_limits(p)
        stage = "entering the container's namespaces"
        for flag, fd in joined:
            sc.setns(fd, flag)
            os.close(fd)
            if flag == sc.CLONE_NEWUSER:
                # the namespace's root from here: what we make (the pty) has an owner it can name
                os.setresgid(0, 0, 0)
                os.setresuid(0, 0, 0)
        stage = "entering the container's root"
        os.fchdir(root)
        os.chroot(".")
        os.close(root)
        stage = f"chdir to cwd ({p.cwd})"
        os.chdir(p.cwd)
        if console is not None:
            stage = "making the terminal"
            terminal.take(terminal.send_new(console, p.console_size))
        for fd in preserved:
            os.set_inheritable(fd, True)
        stage = "applying the process's user, capabilities and seccomp filter"
        process.apply(p, program, privileged_done=True)
        sc.prctl(PR_SET_PDEATHSIG, 0)  # the program may outlive exec (--detach)
        os.write(report, b'{"exec": true}\n')
        process.execute(p)
    except process.ExecError as e:
        _report(report, {"error": str(e), "code": e.code})
        os._exit(e.code)
    except BaseException as e:  # noqa: BLE001 - whatever it is, it must be said in one line
        said = e.strerror if isinstance(e, OSError) and e.strerror else f"{type(e).__name__}: {e}"
        _report(report, {"error": f"cannot exec in the container: {stage}: {said}"})
    os._exit(1)


def _report(fd: int, said: dict) -> None:
    try:
        os.write(fd, json.dumps(said).encode() + b"\n")
    except OSError:
        pass
