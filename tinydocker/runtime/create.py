"""`create`: the container's init forked, set up, and left waiting on the exec fifo.

runc's process model. The caller's process (create) does, in this order:

    refuse what the subset does not honour → compile the seccomp filter → make the state
    directory (locked; an existing id fails) → record the cgroup directories it is about to
    make (so that `delete --force` cleans up after a create killed at any moment) → keep
    config.process and the compiled filter there for exec → make the cgroups with the
    limits → make the exec fifo → fork the init (in a new or joined PID namespace, which
    applies to children only; with a user namespace through a first stage, whose
    namespace's maps create writes) → run the prestart and createRuntime hooks when the
    init has its namespaces → wait for its "ready" → write state.json and
    --pid-file → exit, the init still blocked

The init (the `_init` function below, in the child) joins the cgroup, joins or makes its
namespaces, builds the root filesystem (rootfs.py), reports "ready" and blocks opening the
exec fifo for write. `start` opening it for read releases the init, which then applies
config.process to itself (process.py) and execs the user's program. Its stdio is create's,
untouched; every other descriptor of ours is gone before it waits.

Nothing is left of a failed create: the init is killed and reaped, the cgroups and the state
directory removed.
"""

import json
import os
import signal

from ..linux import fds
from ..linux import syscalls as sc
from . import cgroups, hooks, process, rootfs
from .config import Config
from ..linux.proc import is_alive as alive, start_ticks
from .state import PROCESS, SECCOMP, RuntimeError_, State, Store, now_rfc3339
from .state import document as state_document

NAMESPACE_FLAGS = {"cgroup": sc.CLONE_NEWCGROUP, "ipc": sc.CLONE_NEWIPC, "mount": sc.CLONE_NEWNS,
                   "network": sc.CLONE_NEWNET, "pid": sc.CLONE_NEWPID, "uts": sc.CLONE_NEWUTS,
                   "user": sc.CLONE_NEWUSER}
PR_SET_PDEATHSIG = 1
# the signals a waiting init dies of: as PID 1 of its namespace it would ignore them otherwise
# (a signal from outside reaches a namespace's init only if it has a handler)
_FATAL = (signal.SIGTERM, signal.SIGINT, signal.SIGHUP, signal.SIGQUIT, signal.SIGUSR1, signal.SIGUSR2,
          signal.SIGALRM, signal.SIGPIPE, signal.SIGXFSZ)


def refuse_unsupported(config: Config, console_socket: str | None) -> None:
    """What this runtime does not honour yet, refused by name before anything is made."""
    terminal = config.process is not None and config.process.terminal
    if terminal and not console_socket:
        raise RuntimeError_("config.json: process.terminal is true but no --console-socket was given")
    if not terminal and console_socket:
        raise RuntimeError_("--console-socket was given but process.terminal is false"
                            if config.process else "--console-socket was given but config.json has no process")
    seccomp = config.linux.seccomp
    for flag in seccomp.flags if seccomp else ():
        # TSYNC asks for every thread of the init: it has one when the filter is loaded
        if flag != "SECCOMP_FILTER_FLAG_TSYNC":
            raise RuntimeError_(f"config.json: linux.seccomp.flags: {flag} is not supported yet")
    _check_capabilities(config)
    if config.process is not None and config.process.apparmor_profile:
        raise RuntimeError_("config.json: process.apparmorProfile is not supported yet")


def _check_capabilities(config: Config) -> None:
    """A capability the runtime does not hold itself cannot be given (capset would fail
    after start, where only the container's stderr hears of it): refused at create, naming
    it (a sandbox's narrowed bounding set, say)."""
    caps = config.process.capabilities if config.process is not None else None
    if caps is None:
        return
    from ..security.capabilities import NUMBER, held as holding

    # in a user namespace, made or joined (setns into one gives every capability there), the
    # init holds what the bounding set allows, whatever this process holds
    held = holding(in_user_namespace=config.linux.namespace("user") is not None)

    for name in ("permitted", "effective", "inheritable", "ambient"):
        for cap in getattr(caps, name):
            if not held >> NUMBER[cap.removeprefix("CAP_")] & 1:
                raise RuntimeError_(f"config.json: process.capabilities.{name}: {cap} is not held by the "
                                    "runtime itself (its bounding set lacks it), so it cannot be given")


def seccomp_program(config: Config, cache=None) -> bytes | None:
    """linux.seccomp compiled to BPF (a call this architecture does not have is skipped, as
    runc does: the OCI profiles name _llseek, chown32...); kept in `cache` (a directory) when
    given, as the engine keeps the programs its containers use again and again."""
    s = config.linux.seccomp
    if s is None:
        return None
    from ..errors import TinydockerError
    from ..security import seccomp

    calls = []
    for r in s.syscalls:
        args = [{"index": a.index, "value": a.value, "valueTwo": a.value_two, "op": a.op} for a in r.args]
        # libseccomp compares an argument once per rule; two conditions on one argument mean
        # "either" to runc, which then adds a rule per condition: so do we
        indexes = [a["index"] for a in args]
        groups = [[a] for a in args] if len(set(indexes)) < len(indexes) else [args]
        for group in groups:
            calls.append({"names": list(r.names), "action": r.action, "errnoRet": r.errno_ret, "args": group})
    profile = {"defaultAction": s.default_action, "defaultErrnoRet": s.default_errno_ret,
               "architectures": list(s.architectures), "syscalls": calls}
    try:
        if cache is not None:
            return seccomp.cached(cache, profile, lambda: seccomp.compile_profile(profile, []))
        return seccomp.compile_profile(profile, [])
    except TinydockerError as e:
        raise RuntimeError_(f"config.json: linux.seccomp: {e}") from None


def create(config: Config, store: Store, container_id: str, pid_file: str | None = None,
           console_socket: str | None = None, no_pivot: bool = False, no_new_keyring: bool = False,
           preserve_fds: int = 0, stdio=None, seccomp_cache=None) -> int:
    """Create the container; its init's pid (a child of the caller, which may wait for it).

    Called in-process by an engine: stdio() runs first in the init, to put the container's
    stdio on its 0-2 (the caller's own are not the container's); seccomp_cache as above."""
    refuse_unsupported(config, console_socket)
    program = seccomp_program(config, seccomp_cache)
    locked = store.make(container_id)
    pid = 0
    state = None
    try:
        cgroup_path, leaves = cgroups.directories(config.linux.cgroups_path, container_id)
        if os.geteuid() != 0:
            leaves = _rootless_leaves(leaves, config)
        state = State(id=container_id, bundle=str(config.bundle), rootfs=str(config.root.path),
                      created=now_rfc3339(), oci_version=config.oci_version, annotations=dict(config.annotations),
                      cgroups=cgroups.missing(leaves), leaves=leaves, cgroup_path=cgroup_path,
                      has_process=config.process is not None,
                      hooks={"poststart": hooks.saved(config.hooks.poststart),
                             "poststop": hooks.saved(config.hooks.poststop)})
        locked.write(state)  # before anything is made: delete --force then knows what to remove
        _keep_for_exec(locked.path, config, program)
        cgroups.make(state.cgroups)
        cgroups.apply(leaves, config.linux.resources)
        os.mkfifo(locked.fifo, 0o622)
        os.chmod(locked.fifo, 0o622)  # past the umask: an init in a user namespace is not root here

        def forked(child: int) -> None:
            # the init's pid is known from here: a killed create leaves it to delete --force
            nonlocal pid
            pid = child
            state.pid, state.start_ticks = child, start_ticks(child)
            locked.write(state)

        def created_runtime() -> None:
            document = state_document(locked.id, locked.path, state, "creating")
            hooks.run_all(config.hooks.prestart, document, "prestart")
            hooks.run_all(config.hooks.createRuntime, document, "createRuntime")
            return document

        _fork_init(config, locked.fifo, leaves, program, console_socket, no_pivot, no_new_keyring,
                   preserve_fds, forked, created_runtime, stdio)
        # linux.devices are made, not allowed: the allow-list is resources.devices alone, as
        # runc has it (--device HOST:CTR:r must stay read-only), written now that they are made
        cgroups.allow_devices(leaves, config.linux.resources)
        if pid_file:
            write_pid_file(pid_file, pid)
        state.creating = False
        locked.write(state)
        return pid
    except BaseException:
        if pid:
            if alive(pid, state.start_ticks):  # not reaped already (its pid could be another's now)
                os.kill(pid, signal.SIGKILL)
            try:
                os.waitpid(pid, 0)
            except ChildProcessError:
                pass  # reaped already
        if state is not None:
            try:
                cgroups.remove(state.cgroups, state.leaves)
            except RuntimeError_:
                pass
        locked.remove()
        raise
    finally:
        locked.close()


def _keep_for_exec(path: str, config: Config, program: bytes | None) -> None:
    """What exec starts from: config.process as given, and the container's seccomp filter
    as compiled (the bundle may be edited, or gone, by then)."""
    from ..linux.files import write_atomic

    write_atomic(os.path.join(path, PROCESS), json.dumps(config.process_document).encode(), 0o600, durable=False)
    if program:
        write_atomic(os.path.join(path, SECCOMP), program, 0o600, durable=False)


def write_pid_file(path: str, pid: int) -> None:
    from ..linux.files import write_atomic

    path = os.path.abspath(path)
    try:
        write_atomic(path, str(pid).encode(), 0o644)  # no newline: containerd's reader refuses one
    except OSError as e:
        raise RuntimeError_(f"cannot write the pid file {path}: {e.strerror}") from None


def _fork_init(config: Config, fifo: str, leaves: list[str], program: bytes | None, console_socket: str | None,
               no_pivot: bool, no_new_keyring: bool, preserve_fds: int, forked, created_runtime, stdio=None) -> None:
    """Fork the init and follow its reports: forked(pid) at once, created_runtime() when it
    has its namespaces (it waits for that to return), back once it is ready to wait on the
    fifo; RuntimeError_ if it fails (the caller kills and reaps it)."""
    opened = []
    try:
        fifo_fd = os.open(fifo, os.O_PATH | os.O_CLOEXEC)
        opened.append(fifo_fd)
        # the host's /proc, to reopen the fifo from inside the new root (by /proc/self/fd/N)
        proc_fd = os.open("/proc", os.O_PATH | os.O_DIRECTORY | os.O_CLOEXEC)
        opened.append(proc_fd)
        joined = {}
        for ns in config.linux.namespaces:
            if ns.path:
                try:
                    joined[ns.type] = os.open(ns.path, os.O_RDONLY | os.O_CLOEXEC)
                except OSError as e:
                    raise RuntimeError_(f"config.json: linux.namespaces: cannot open {ns.path}: {e.strerror}") from None
                opened.append(joined[ns.type])
        console = None
        if console_socket:
            from . import terminal  # loaded before the fork: the init uses it past pivot_root

            console = terminal.connect(console_socket)
            opened.append(console)
        report_r, report_w = os.pipe2(os.O_CLOEXEC)
        opened += [report_r, report_w]
        go_r, go_w = os.pipe2(os.O_CLOEXEC)  # the runtime's hooks are done: go on
        opened += [go_r, go_w]
        pid_ns = config.linux.namespace("pid")
        in_user_ns = config.linux.namespace("user") is not None
        own_pid_ns = None
        if pid_ns is not None and not in_user_ns:
            # a PID namespace applies to the children made after entering it: the init is
            # forked into it, and this process goes back to its own for whatever it forks
            # next (hooks, and run's delete)
            own_pid_ns = os.open("/proc/self/ns/pid", os.O_RDONLY | os.O_CLOEXEC)
            opened.append(own_pid_ns)
            try:
                if pid_ns.path:
                    sc.setns(joined.pop("pid"), sc.CLONE_NEWPID)
                else:
                    sc.unshare(sc.CLONE_NEWPID)
            except OSError as e:
                raise RuntimeError_(f"cannot enter the PID namespace: {e.strerror}") from None
        pid = os.fork()
        if pid == 0:
            _init(config, report_w, go_r, fifo_fd, proc_fd, joined, console, leaves, program, no_pivot,
                  no_new_keyring, preserve_fds, stdio)
        if own_pid_ns is not None:
            sc.setns(own_pid_ns, sc.CLONE_NEWPID)
        forked(pid)
        for fd in (report_w, go_r):
            os.close(fd)
            opened.remove(fd)
        reports = os.fdopen(os.dup(report_r), "rb")
        said = {}
        with reports:
            for line in reports:
                try:
                    said = json.loads(line)
                except ValueError:
                    said = {"error": "the container's init sent a garbled report"}
                if said.get("maps"):
                    # its new user namespace, mapped from here (we hold the host's privileges)
                    _write_id_maps(pid, config)
                    os.write(go_w, b"mapped\n")
                    continue
                if said.get("init"):
                    # the first stage forked the init into the user namespace's own PID
                    # namespace and is done: the init is the container's from now on
                    os.waitpid(pid, 0)
                    pid = said["init"]
                    forked(pid)
                    continue
                if said.get("namespaces"):
                    # the init goes on with the state document, for the hooks it runs itself
                    os.write(go_w, json.dumps(created_runtime()).encode() + b"\n")
                    continue
                break
        if said.get("ready"):
            return
        if said.get("error"):
            raise RuntimeError_(said["error"])
        try:
            _, status = os.waitpid(pid, 0)
        except ChildProcessError:  # the init of a user namespace is not our child
            raise RuntimeError_("the container's init exited before it was ready") from None
        why = f"signal {os.WTERMSIG(status)}" if os.WIFSIGNALED(status) else f"status {os.waitstatus_to_exitcode(status)}"
        raise RuntimeError_(f"the container's init exited ({why}) before it was ready")
    finally:
        for fd in opened:
            try:
                os.close(fd)
            except OSError:
                pass


def _rootless_leaves(leaves: list[str], config: Config) -> list[str]:
    """An ordinary user's container has the cgroups it may make (a delegated subtree); with
    none, it runs in the caller's own, as runc's rootless containers do, unless it asks for a
    limit, which is then refused rather than ignored."""
    mine = cgroups.writable(leaves)
    if not mine and cgroups.limited(config.linux.resources):
        raise RuntimeError_("config.json: linux.resources: a limit needs a cgroup this user may make (cgroup v2 "
                            "with a subtree delegated to the user, as systemd's user@.service gives), and there "
                            f"is none here ({', '.join(leaves[:1])}…): leave the limits out")
    return mine


def _write_id_maps(pid: int, config: Config) -> None:
    if os.geteuid() != 0:
        _write_id_maps_rootless(pid, config)
        return
    for name, maps in (("uid_map", config.linux.uid_mappings), ("gid_map", config.linux.gid_mappings)):
        text = "".join(f"{m.container_id} {m.host_id} {m.size}\n" for m in maps)
        if not text:
            continue  # a user namespace joined by path has its maps already
        try:
            with open(f"/proc/{pid}/{name}", "w") as f:
                f.write(text)
        except OSError as e:
            raise RuntimeError_(f"config.json: linux.{'uidMappings' if name == 'uid_map' else 'gidMappings'}: "
                                f"cannot write the user namespace's {name}: {e.strerror}") from None


def _write_id_maps_rootless(pid: int, config: Config) -> None:
    """An ordinary user writes its own id alone itself; ranges through newuidmap/newgidmap,
    which check them against /etc/subuid and /etc/subgid (as runc does)."""
    from ..errors import TinydockerError
    from ..linux import idmap

    def ranges(maps):
        return tuple(idmap.Range(m.container_id, m.host_id, m.size) for m in maps)

    uids, gids = ranges(config.linux.uid_mappings), ranges(config.linux.gid_mappings)
    if not uids and not gids:
        return  # a user namespace joined by path has its maps already
    try:
        idmap.write(pid, idmap.Mapping(uids, gids))
    except TinydockerError as e:
        raise RuntimeError_(f"config.json: linux.uidMappings/gidMappings: {e}") from None


def _read_line(fd: int) -> bytes:
    """One line from a pipe, a byte at a time: the rest is another reader's."""
    line = b""
    while not line.endswith(b"\n"):
        byte = os.read(fd, 1)
        if not byte:
            break
        line += byte
    return line


# -- the init, in the child ------------------------------------------------------------------

def _init(config: Config, report: int, go: int, fifo_fd: int, proc_fd: int, joined: dict, console: int | None,
          leaves: list[str], program: bytes | None, no_pivot: bool, no_new_keyring: bool,
          preserve_fds: int = 0, stdio=None) -> None:
    """The container's init; never returns. Descriptors 3 to 3+preserve_fds-1 are passed on
    to the program (--preserve-fds: socket activation, engines' sync pipes)."""
    stage = "setup"
    try:
        # if create dies now, so do we: nobody would release or clean us up
        sc.prctl(PR_SET_PDEATHSIG, signal.SIGKILL)
        for sig in _FATAL:
            signal.signal(sig, _die)
        if stdio is not None:
            stdio()
        preserved = set(range(3, 3 + preserve_fds))
        keep = {report, go, fifo_fd, proc_fd, *joined.values(), *([console] if console is not None else []),
                *preserved}
        fds.drop_inherited(keep)
        cgroups.join(leaves)
        in_user_ns = config.linux.namespace("user") is not None
        if in_user_ns:
            _first_stage(config, report, go, joined)
            joined = {k: fd for k, fd in joined.items() if k not in ("user", "pid")}
        # a session and process group of its own, as runc's and crun's init (terminal or
        # not): engines signal the container's group (conmon's --timeout), never their own
        os.setsid()
        # the mount namespace last: joining it changes our root, and the rootfs is then built
        # in it (runc's reading of a mount namespace given by path)
        for kind, fd in sorted(joined.items(), key=lambda item: item[0] == "mount"):
            sc.setns(fd, NAMESPACE_FLAGS[kind])
            os.close(fd)
        new = 0
        for ns in config.linux.namespaces:
            if not ns.path and ns.type not in ("pid", "user"):
                new |= NAMESPACE_FLAGS[ns.type]
        sc.unshare(new)
        if new & sc.CLONE_NEWNET:
            sc.loopback_up()  # a namespace of its own has lo down: runc brings it up
        # the bundle is the working directory while the root is built, as runc has it: what
        # a mount's options name relatively (an overlay's lower directories) is found there
        os.chdir(config.bundle)
        root = str(config.root.path)
        rootfs.prepare(config, root, leaves, in_user_ns)
        h = config.hooks
        document = None
        if h.prestart or h.createRuntime or h.createContainer or h.startContainer:
            # the runtime's hooks run now, in its namespaces, with ours made (before pivot_root);
            # then the container's own createContainer hooks, here
            os.write(report, b'{"namespaces": true}\n')
            line = _read_line(go)
            if not line:
                os._exit(1)  # create gave up (a hook failed): it kills us anyway
            document = json.loads(line)
            hooks.run_all(h.createContainer, document, "createContainer")
        os.close(go)
        if h.startContainer:
            import subprocess  # noqa: F401 - the hooks' runner, loaded now: they run past pivot_root
        rootfs.enter(root, no_pivot, config.linux.rootfs_propagation)
        for key, value in config.linux.sysctl.items():
            with open("/proc/sys/" + key.replace(".", "/"), "w") as f:
                f.write(value)
        if config.hostname:
            sc.sethostname(config.hostname)
        if config.domainname:
            with open("/proc/sys/kernel/domainname", "w") as f:
                f.write(config.domainname)
        cwd = config.process.cwd if config.process is not None else "/"
        os.makedirs(cwd, exist_ok=True)  # runc makes a missing cwd (before the root goes read-only)
        rootfs.finish(config)
        if not no_new_keyring:
            sc.join_session_keyring()
        if console is not None:
            _terminal(console, config.process.console_size)
        os.chdir(cwd)
        if config.process is not None:
            # as runc: a program that is not there fails create, not the container after start
            process.look_up(config.process)
            if not in_user_ns:
                # as runc: rlimits and oomScoreAdj refused fail create (with a user namespace
                # the first stage set them, with the host's privileges)
                process.set_limits(config.process)
        # create may exit as soon as it reads "ready": the parent-death signal goes first (a
        # create killed before it reads the line breaks the pipe, and we end on that instead)
        sc.prctl(PR_SET_PDEATHSIG, 0)
        os.write(report, b'{"ready": true}\n')
        os.close(report)
        stage = "wait"
        # blocks until `start` opens the fifo for reading
        gate = os.open(f"self/fd/{fifo_fd}", os.O_WRONLY | os.O_CLOEXEC, dir_fd=proc_fd)
        os.write(gate, b"0")
        # `gate` stays open (close-on-exec) until execve: start reads its end-of-file as
        # "the program is running", and runs the poststart hooks only then
        for fd in (fifo_fd, proc_fd):
            os.close(fd)
        stage = "start"
        if h.startContainer:  # in the container, before its program (a failure stops it)
            hooks.run_all(h.startContainer, {**document, "status": "running"}, "startContainer")
        if config.process is None:
            os._exit(process.EXIT_CANNOT_EXEC)  # start refuses first: nobody should get here
        for fd in preserved:
            try:
                os.set_inheritable(fd, True)
            except OSError:
                pass  # not open: nothing to pass
        process.apply(config.process, program, privileged_done=True)  # limits set at create
        process.execute(config.process)
    except process.ExecError as e:
        if stage == "setup":  # found before start (look_up): create fails with it, as runc's
            try:
                os.write(report, json.dumps({"error": str(e)}).encode() + b"\n")
            except OSError:
                pass
            os._exit(1)
        _tell(f"{e}\n")
        os._exit(e.code)
    except RuntimeError_ as e:  # a hook of the container's
        if stage == "setup":
            try:
                os.write(report, json.dumps({"error": str(e)}).encode() + b"\n")
            except OSError:
                pass
        else:
            _tell(f"tinydocker-runtime: {e}\n")
    except BaseException as e:  # noqa: BLE001 - whatever it is, it must be said in one line
        message = _said(e)
        if stage == "setup":
            try:
                os.write(report, json.dumps({"error": message}).encode() + b"\n")
            except OSError:
                pass
        else:
            _tell(f"tinydocker-runtime: container init: {message}\n")
    os._exit(1 if stage != "start" else process.EXIT_CANNOT_EXEC)


def _first_stage(config: Config, report: int, go: int, joined: dict) -> None:
    """With a user namespace, the init is made in two stages. This first one applies what
    needs the host's privileges (rlimits, oomScoreAdj), enters the user namespace (create
    writes the new one's maps), then the PID namespace (made now, it is owned by the user
    namespace, so the container may mount its /proc) and forks the init into it, tells
    create its pid and exits. The init goes on with the other namespaces."""
    if config.process is not None:
        process.set_limits(config.process)
    if "user" in joined:
        sc.setns(joined["user"], sc.CLONE_NEWUSER)
    else:
        sc.unshare(sc.CLONE_NEWUSER)
        os.write(report, b'{"maps": true}\n')
        if _read_line(go) != b"mapped\n":
            os._exit(1)
    # become the namespace's root: what is made from here (a tmpfs's files, say) must have
    # an owner the namespace can name
    os.setresgid(0, 0, 0)
    os.setresuid(0, 0, 0)
    pid_ns = config.linux.namespace("pid")
    if pid_ns is not None:
        if "pid" in joined:
            sc.setns(joined["pid"], sc.CLONE_NEWPID)
        else:
            sc.unshare(sc.CLONE_NEWPID)
    child = os.fork()
    if child:
        os.write(report, json.dumps({"init": child}).encode() + b"\n")
        os._exit(0)
    # the init: its parent (this first stage) exits at once, so no parent-death signal
    for kind in ("user", "pid"):
        if kind in joined:
            os.close(joined[kind])


def _die(sig, _frame) -> None:
    os._exit(128 + sig)


def _tell(text: str) -> None:
    try:
        os.write(2, text.encode())
    except OSError:
        pass


def _said(error: BaseException) -> str:
    if isinstance(error, rootfs.SetupError):
        return str(error)
    if isinstance(error, OSError) and error.strerror:
        return error.strerror + (f": {error.filename}" if error.filename else "")
    return f"{type(error).__name__}: {error}"


def _terminal(console: int, size) -> None:
    """A pty of the container's devpts as fds 0-2; its master goes to --console-socket."""
    from . import terminal  # loaded by create before the fork

    slave = terminal.send_new(console, size)
    # /dev/console is the container's terminal too (runc's, and what init systems open)
    if not os.path.lexists("/dev/console"):
        os.close(os.open("/dev/console", os.O_WRONLY | os.O_CREAT | os.O_NOFOLLOW | os.O_CLOEXEC, 0o600))
    sc.mount(os.ttyname(slave), "/dev/console", None, sc.MS_BIND)
    terminal.take(slave)
