"""config.process applied by the init to itself once `start` released it, in runc's order:

    rlimits → oomScoreAdj (while still privileged) → bounding set → [seccomp, without
    noNewPrivileges: loading it then needs CAP_SYS_ADMIN] → groups, gid, uid (keeping the
    permitted set across setuid) → effective, permitted, inheritable, ambient →
    noNewPrivileges → [seccomp, with it] → umask → execve(args[0] on the config's PATH)

Everything here runs after pivot_root, so nothing may import lazily.
"""

import errno
import os
import resource
import stat

from ..linux import syscalls as sc
from ..security.capabilities import NUMBER
from .config import Process

PR_SET_KEEPCAPS = 8
PR_CAP_AMBIENT_RAISE = 2
EXIT_CANNOT_EXEC, EXIT_NOT_FOUND = 126, 127


class ExecError(Exception):
    def __init__(self, message: str, code: int):
        super().__init__(message)
        self.code = code


def _mask(names) -> int:
    bits = 0
    for name in names:
        bits |= 1 << NUMBER[name.removeprefix("CAP_")]
    return bits


def _last_cap() -> int:
    try:
        with open("/proc/sys/kernel/cap_last_cap") as f:
            return int(f.read())
    except (OSError, ValueError):
        return max(NUMBER.values())


def set_limits(p: Process) -> None:
    """rlimits and oomScoreAdj: raising either needs the host's privileges (CAP_SYS_RESOURCE
    of the initial user namespace), so with a user namespace they are set before entering it."""
    for r in p.rlimits:
        try:
            resource.setrlimit(r.resource, (_limit(r.soft), _limit(r.hard)))
        except (ValueError, OSError) as e:
            # Python says EPERM and EINVAL as a ValueError of its own words: say which limit
            # (an OSError: create and exec tell its strerror in their one line)
            raise OSError(errno.EPERM, _refused(r, e)) from None
    if p.oom_score_adj is not None:
        try:
            with open("/proc/self/oom_score_adj", "w") as f:
                f.write(str(p.oom_score_adj))
        except OSError as e:
            raise OSError(e.errno, f"cannot set oomScoreAdj to {p.oom_score_adj}: {e.strerror}"
                                   + (" (lowering it needs CAP_SYS_RESOURCE)" if e.errno in (errno.EACCES, errno.EPERM)
                                      else "")) from None


def _setgroups_denied() -> bool:
    """A user namespace an ordinary user mapped itself (its own id alone) denies setgroups:
    with no additional groups to give, there is nothing to drop either (runc's rule)."""
    try:
        with open("/proc/self/setgroups") as f:
            return f.read().strip() == "deny"
    except OSError:
        return False


def apply(p: Process, seccomp_filter: bytes | None, privileged_done: bool = False) -> None:
    if not privileged_done:
        set_limits(p)
    caps = p.capabilities
    if caps is not None:
        keep = _mask(caps.bounding)
        for cap in range(_last_cap() + 1):
            if not keep >> cap & 1:
                sc.prctl(sc.PR_CAPBSET_DROP, cap)
    if seccomp_filter and not p.no_new_privileges:
        sc.load_seccomp_filter(seccomp_filter)
    user = p.user
    if caps is not None:
        sc.prctl(PR_SET_KEEPCAPS, 1)  # the permitted set survives the switch to a non-root uid
    if user.additional_gids or not _setgroups_denied():
        os.setgroups(list(user.additional_gids))
    os.setgid(user.gid)
    os.setuid(user.uid)
    if caps is not None:
        sc.prctl(PR_SET_KEEPCAPS, 0)
        sc.capset(_mask(caps.effective), _mask(caps.permitted), _mask(caps.inheritable))
        for name in caps.ambient:
            try:
                sc.prctl(sc.PR_CAP_AMBIENT, PR_CAP_AMBIENT_RAISE, NUMBER[name.removeprefix("CAP_")])
            except OSError:
                pass  # runc's rule: an ambient capability not in permitted and inheritable is skipped
    if p.no_new_privileges:
        sc.prctl(sc.PR_SET_NO_NEW_PRIVS, 1)
        if seccomp_filter:
            sc.load_seccomp_filter(seccomp_filter)
    if user.umask is not None:
        os.umask(user.umask)


def _refused(r, error: Exception) -> str:
    text = f"cannot set {r.type} to {r.soft}:{r.hard}"
    own = resource.getrlimit(r.resource)[1]
    if own != resource.RLIM_INFINITY and _limit(r.hard) > own:
        return f"{text}: above the runtime's own hard limit ({own}), which only CAP_SYS_RESOURCE may raise"
    reason = error.strerror if isinstance(error, OSError) and error.strerror else "not accepted by the kernel"
    return f"{text}: {reason.lower()}"


def _limit(value: int) -> int:
    return resource.RLIM_INFINITY if value >= 2**64 - 1 else value


def environment(p: Process) -> dict:
    env = {}
    for item in p.env:
        key, _, value = item.partition("=")
        env[key] = value
    if "HOME" not in env:
        env["HOME"] = _home(p.user.uid)  # runc's: the user's home, or /
    return env


def _home(uid: int) -> str:
    """The uid's home in the container's /etc/passwd (we are in its root by now), else /."""
    try:
        with open("/etc/passwd", errors="replace") as f:
            for line in f:
                fields = line.rstrip("\n").split(":")
                if len(fields) >= 6 and fields[2] == str(uid) and fields[5]:
                    return fields[5]
    except OSError:
        pass
    return "/"


def look_up(p: Process) -> str:
    """args[0] as execute will find it (on the config's PATH when it has no "/"), checked as
    runc checks it before start: ExecError with runc's words if it is not there or cannot run."""
    cmd = p.args[0]
    if "/" in cmd:
        try:
            st = os.stat(cmd)
        except OSError as e:
            if e.errno in (errno.ENOENT, errno.ENOTDIR):
                raise ExecError(f'exec: "{cmd}": stat {cmd}: no such file or directory', EXIT_NOT_FOUND) from None
            raise ExecError(f'exec: "{cmd}": {(e.strerror or str(e)).lower()}', EXIT_CANNOT_EXEC) from None
        if stat.S_ISDIR(st.st_mode) or not st.st_mode & 0o111:
            raise ExecError(f'exec: "{cmd}": permission denied', EXIT_CANNOT_EXEC)
        return cmd
    denied = False
    for d in environment(p).get("PATH", "").split(":"):
        path = os.path.join(d or ".", cmd)
        try:
            st = os.stat(path)
        except OSError:
            continue
        if stat.S_ISREG(st.st_mode) and st.st_mode & 0o111:
            return path
        denied = True
    if denied:
        raise ExecError(f'exec: "{cmd}": permission denied', EXIT_CANNOT_EXEC)
    raise ExecError(f'exec: "{cmd}": executable file not found in $PATH', EXIT_NOT_FOUND)


def execute(p: Process) -> None:
    """execve args[0], looked up on the config's PATH when it has no "/"; never returns."""
    env = environment(p)
    argv = list(p.args)
    cmd = argv[0]
    if "/" in cmd:
        candidates = [cmd]
    else:
        candidates = [os.path.join(d or ".", cmd) for d in env.get("PATH", "").split(":") if True]
    denied = None
    for path in candidates:
        try:
            os.execve(path, argv, env)
        except OSError as e:
            if "/" not in cmd and e.errno in (errno.ENOENT, errno.ENOTDIR):
                continue
            if "/" not in cmd and e.errno == errno.EACCES:
                denied = e
                continue
            if e.errno in (errno.ENOENT, errno.ENOTDIR):
                raise ExecError(f'exec: "{cmd}": stat {cmd}: no such file or directory', EXIT_NOT_FOUND) from None
            raise ExecError(f'exec: "{cmd}": {(e.strerror or str(e)).lower()}', EXIT_CANNOT_EXEC) from None
    if denied is not None:
        raise ExecError(f'exec: "{cmd}": permission denied', EXIT_CANNOT_EXEC)
    raise ExecError(f'exec: "{cmd}": executable file not found in $PATH', EXIT_NOT_FOUND)
