"""Identifying a process over time: a pid alone can be reused, pid + start time cannot.

Both are read from /proc/PID/stat directly (no psutil: the OCI runtime and `run` pay for
every import at each start).
"""

import os

def _stat(pid: int) -> list[bytes]:
    """/proc/PID/stat's fields from the third (the state) on: field N is [N - 3]."""
    with open(f"/proc/{pid}/stat", "rb") as f:
        stat = f.read()
    # the command name (field 2) may hold spaces and parentheses: split after the last ')'
    return stat.rsplit(b")", 1)[1].split()


def start_ticks(pid: int) -> int:
    """The process start time in clock ticks since boot (field 22 of /proc/PID/stat)."""
    return int(_stat(pid)[19])


def parent(pid: int) -> int:
    """The process's parent's pid (field 4 of /proc/PID/stat)."""
    return int(_stat(pid)[1])


def pid_exists(pid: int) -> bool:
    return os.path.exists(f"/proc/{pid}")


_TICKS: dict[int, int] = {}  # by pid: a forked child is another process


def private_name(prefix: str, what: str = "") -> str:
    """PREFIX-PID-TICKS[-WHAT]-RANDOM: a name for this process's work in progress (a file
    being written, a tree being unpacked or deleted), which no other process takes for
    abandoned while this one lives: pid and start time together, as a pid alone can be
    an earlier process's."""
    pid = os.getpid()
    if pid not in _TICKS:
        _TICKS[pid] = start_ticks(pid)
    return f"{prefix}-{pid}-{_TICKS[pid]}{'-' + what if what else ''}-{os.urandom(4).hex()}"


def remove_abandoned(directory, prefix: str) -> None:
    """Delete the private_name(PREFIX) entries (directories or files) in `directory` whose
    process is gone (killed midway): the one liveness rule, pid and start time."""
    try:
        entries = os.listdir(directory)
    except FileNotFoundError:
        return
    for entry in entries:
        if not entry.startswith(prefix + "-"):
            continue
        try:
            pid, ticks = (int(x) for x in entry[len(prefix) + 1:].split("-")[:2])
            alive = start_ticks(pid) == ticks
        except (ValueError, OSError):
            alive = False  # its process gone, or a name of an older tinydocker's
        if alive:
            continue
        path = os.path.join(directory, entry)
        if os.path.isdir(path) and not os.path.islink(path):
            from .idmap import remove_tree

            remove_tree(path)
        else:
            try:
                os.unlink(path)
            except FileNotFoundError:
                pass


def children(pid: int) -> list[int]:
    """The processes `pid` forked (or adopted), from each of its threads' children list."""
    found = []
    try:
        threads = os.listdir(f"/proc/{pid}/task")
    except FileNotFoundError:
        return found
    for tid in threads:
        try:
            with open(f"/proc/{pid}/task/{tid}/children") as f:
                found.extend(int(p) for p in f.read().split())
        except FileNotFoundError:
            pass
    return found


def descendants(pid: int) -> list[int]:
    """`pid` and every process below it. A container's init is its PID namespace's init, so
    this is all of the container's processes."""
    found, todo = [], [pid]
    while todo:
        current = todo.pop()
        found.append(current)
        todo.extend(children(current))
    return found


def end(pid: int, ticks: int, boot: str | None, named: str, patience: float = 10.0) -> None:
    """SIGKILL the very process that started at `ticks` in boot `boot` as `named` (its comm),
    if it still runs, and wait until it has exited: what it held (sockets, namespaces) is
    let go once this returns. Not reaped: its parent does that."""
    import select
    import signal

    try:
        fd = os.pidfd_open(pid)
    except OSError:  # gone already
        return
    try:
        # checked once held: the descriptor is that process, whoever takes the number later
        if is_alive(pid, ticks, boot) and comm(pid) == named:
            signal.pidfd_send_signal(fd, signal.SIGKILL)
            select.select([fd], [], [], patience)  # readable once it has exited
    finally:
        os.close(fd)


def kill_below(pid: int) -> None:
    """SIGKILL every process below `pid`, each only if, once held by a pidfd, its parent is
    still below `pid` (or `pid`): a number reaped meanwhile may be another process's."""
    import signal

    below = set(descendants(pid))
    for other in below - {pid}:
        try:
            fd = os.pidfd_open(other)
        except OSError:  # gone already
            continue
        try:
            if parent(other) in below:
                signal.pidfd_send_signal(fd, signal.SIGKILL)
        except OSError:
            pass
        finally:
            os.close(fd)


def same_namespace(a, b) -> bool:
    """Whether two namespace references (open descriptors, or /proc/PID/ns/KIND paths) are
    one namespace; False once either is gone."""
    try:
        x, y = os.stat(a), os.stat(b)
    except OSError:
        return False
    return (x.st_dev, x.st_ino) == (y.st_dev, y.st_ino)


def comm(pid: int) -> str:
    """The process's command name (/proc/PID/comm), "" once it is gone."""
    try:
        with open(f"/proc/{pid}/comm") as f:
            return f.read().strip()
    except OSError:
        return ""


def boot_id() -> str:
    with open("/proc/sys/kernel/random/boot_id") as f:
        return f.read().strip()


def is_stopped(pid: int | None) -> bool:
    """Whether `pid` is stopped (Ctrl-Z, SIGSTOP, a tracer): it makes no progress until resumed."""
    try:
        return _stat(pid)[0] in (b"T", b"t")
    except (OSError, IndexError):
        return False


def is_alive(pid: int | None, ticks: int | None, boot: str | None = None) -> bool:
    """True when `pid` is the very process that started at `ticks` in this boot and has not
    exited (a zombie has: only its exit status is left to collect)."""
    if not pid or pid <= 0 or ticks is None:
        return False
    if boot is not None and boot != boot_id():
        return False
    try:
        fields = _stat(pid)
    except OSError:
        return False
    return fields[0] not in (b"Z", b"X") and int(fields[19]) == ticks


def wait_exit(pid: int) -> int:
    """Reap our child `pid`: its exit status, 128+N for a signal (the shells' and docker's)."""
    while True:
        try:
            _, status = os.waitpid(pid, 0)
            break
        except InterruptedError:
            continue
    code = os.waitstatus_to_exitcode(status)
    return 128 - code if code < 0 else code


def fork_child(body) -> int:
    """body() in a forked child, which must leave by os._exit: its pid. An ordinary user's
    child is root of a user namespace with the user's mapping (idmap.spawn), and so may do
    there what root's does here: mount, chroot, read and write files of any owner the user's
    containers have."""
    if os.geteuid() != 0:
        from .idmap import spawn

        return spawn(body)
    pid = os.fork()
    if pid == 0:  # pragma: no cover - the child's side
        try:
            body()
        finally:
            os._exit(125)
    return pid


def in_child(action) -> bool:
    """Run action() in a forked child (fork_child: for what must not touch this process: a
    setns, a mount namespace of its own) and say whether it returned."""
    def body():
        code = 1
        try:
            action()
            code = 0
        finally:
            os._exit(code)

    return wait_exit(fork_child(body)) == 0
