"""Identifying a process over time: a pid alone can be reused, pid + start time cannot.

`start_ticks` is on `run`'s start-up path and reads /proc directly; the liveness check,
used by ps/rm, goes through psutil (imported there, not here at module load).
"""

import os

_CLK_TCK = os.sysconf("SC_CLK_TCK")


def start_ticks(pid: int) -> int:
    """The process start time in clock ticks since boot (field 22 of /proc/PID/stat)."""
    with open(f"/proc/{pid}/stat", "rb") as f:
        stat = f.read()
    # the command name (field 2) may hold spaces and parentheses: split after the last ')'
    return int(stat.rsplit(b")", 1)[1].split()[19])


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
    import shutil

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
            shutil.rmtree(path, ignore_errors=True)
        else:
            try:
                os.unlink(path)
            except FileNotFoundError:
                pass


def boot_id() -> str:
    with open("/proc/sys/kernel/random/boot_id") as f:
        return f.read().strip()


def is_stopped(pid: int | None) -> bool:
    """Whether `pid` is stopped (Ctrl-Z, SIGSTOP, a tracer): it makes no progress until resumed."""
    try:
        with open(f"/proc/{pid}/stat", "rb") as f:
            state = f.read().rpartition(b")")[2].split()[0]
    except (OSError, IndexError):
        return False
    return state in (b"T", b"t")


def is_alive(pid: int | None, ticks: int | None, boot: str | None = None) -> bool:
    """True when `pid` is the very process that started at `ticks` in this boot and has not exited."""
    if not pid or ticks is None:
        return False
    if boot is not None and boot != boot_id():
        return False
    import psutil

    try:
        proc = psutil.Process(pid)
        if proc.status() == psutil.STATUS_ZOMBIE:
            return False  # it has exited; only its exit status is left to collect
        expected = psutil.boot_time() + ticks / _CLK_TCK
        # both sides derive from the same tick count; half a tick absorbs float rounding
        return abs(proc.create_time() - expected) < 0.5 / _CLK_TCK
    except (psutil.NoSuchProcess, psutil.ZombieProcess):
        return False
