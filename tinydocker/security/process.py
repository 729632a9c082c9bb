"""What the child applies to itself last, after the mounts and before execve, in this order:

    new session keyring → bounding set cut to the container's capabilities, ambient set
    cleared → [seccomp filter] → (the user switch, which empties a non-root user's sets) →
    the exact sets → no_new_privs if asked → [seccomp filter]

The seccomp filter goes last, just before execve, when no_new_privs is asked for. Without
it the kernel takes a filter only from a holder of CAP_SYS_ADMIN, so it goes in before
the user switch and the capability cut, as runc does then (forcing no_new_privs instead
would break every setuid program in the image). The filter denies none of the calls that
follow it.

`confinement` is plain data from the parent: {"caps": [names], "no_new_privileges": bool,
"filter": hex of the BPF program or None}.
"""

from ..linux import syscalls as sc
from . import capabilities


def before_user_switch(confinement: dict) -> None:
    sc.join_session_keyring()
    keep = capabilities.mask(confinement["caps"])
    for cap in range(_last_cap() + 1):
        if not keep >> cap & 1:
            sc.prctl(sc.PR_CAPBSET_DROP, cap)
    sc.prctl(sc.PR_CAP_AMBIENT, sc.PR_CAP_AMBIENT_CLEAR_ALL)
    if confinement.get("filter") and not confinement.get("no_new_privileges"):
        sc.load_seccomp_filter(bytes.fromhex(confinement["filter"]))


def after_user_switch(confinement: dict, uid: int) -> None:
    # root keeps its set in effective and permitted; any other user gets none (execve would
    # give a non-root user none anyway). Inheritable stays empty, as runc and crun now do
    # (CVE-2022-27652): with it, a file's inheritable capabilities would be granted.
    # (what tinydocker itself does not hold, a container cannot be given: --privileged under
    # a caller with a reduced bounding set gets that set)
    keep = capabilities.mask(confinement["caps"]) & permitted() if uid == 0 else 0
    sc.capset(keep, keep, 0)
    if confinement.get("no_new_privileges"):
        sc.prctl(sc.PR_SET_NO_NEW_PRIVS, 1)
        if confinement.get("filter"):
            sc.load_seccomp_filter(bytes.fromhex(confinement["filter"]))


def _last_cap() -> int:
    try:
        with open("/proc/sys/kernel/cap_last_cap") as f:
            return int(f.read())
    except OSError:
        return len(capabilities.NAMES) - 1


def permitted() -> int:
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith("CapPrm:"):
                return int(line.split()[1], 16)
    return 0
