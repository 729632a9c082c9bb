"""Linux capabilities by name, and the set a container gets from docker's flags.

The default is podman's set of 11 (docker's 14 less AUDIT_WRITE, MKNOD and NET_RAW):
enough for a root that owns its files and switches users, not enough to mount, load
modules, trace, or reach devices.
"""

from ..errors import TinydockerError

# linux/capability.h, by number
NAMES = [
    "CHOWN", "DAC_OVERRIDE", "DAC_READ_SEARCH", "FOWNER", "FSETID", "KILL", "SETGID", "SETUID", "SETPCAP",
    "LINUX_IMMUTABLE", "NET_BIND_SERVICE", "NET_BROADCAST", "NET_ADMIN", "NET_RAW", "IPC_LOCK", "IPC_OWNER",
    "SYS_MODULE", "SYS_RAWIO", "SYS_CHROOT", "SYS_PTRACE", "SYS_PACCT", "SYS_ADMIN", "SYS_BOOT", "SYS_NICE",
    "SYS_RESOURCE", "SYS_TIME", "SYS_TTY_CONFIG", "MKNOD", "LEASE", "AUDIT_WRITE", "AUDIT_CONTROL", "SETFCAP",
    "MAC_OVERRIDE", "MAC_ADMIN", "SYSLOG", "WAKE_ALARM", "BLOCK_SUSPEND", "AUDIT_READ", "PERFMON", "BPF",
    "CHECKPOINT_RESTORE",
]
NUMBER = {name: i for i, name in enumerate(NAMES)}

DEFAULT = ["CHOWN", "DAC_OVERRIDE", "FOWNER", "FSETID", "KILL", "NET_BIND_SERVICE", "SETFCAP", "SETGID",
           "SETPCAP", "SETUID", "SYS_CHROOT"]


def canonical(name: str, flag: str) -> str:
    """`net_admin`, `CAP_NET_ADMIN` and `Net_Admin` are NET_ADMIN; ALL stays ALL."""
    upper = name.strip().upper()
    if upper.startswith("CAP_"):
        upper = upper[4:]
    if upper != "ALL" and upper not in NUMBER:
        raise TinydockerError(f"invalid {flag}: unknown capability: {name!r}")
    return upper


def effective(add=(), drop=(), privileged: bool = False) -> list[str]:
    """The container's capabilities, by docker's rules: --privileged and --cap-add ALL start
    from every capability, --cap-drop ALL from none, anything else from the default; then
    the drops go and the additions come (a name in both is added)."""
    add = {canonical(n, "--cap-add") for n in add}
    drop = {canonical(n, "--cap-drop") for n in drop}
    if privileged:
        return list(NAMES)
    if "ALL" in add:
        chosen = set(NAMES) - drop
    elif "ALL" in drop:
        chosen = set(add)
    else:
        chosen = (set(DEFAULT) - drop) | add
    return [n for n in NAMES if n in chosen]


def held(in_user_namespace: bool = False) -> int:
    """What this process can give a container, as a mask: its permitted set within its
    bounding set (a capability outside the bounding set is lost at the container's execve;
    a narrowed one, in a sandbox or under --privileged's caller, is what there is). In a
    user namespace, made for it or joined, the container holds every capability of the
    bounding set, whatever this process holds (an ordinary user's holds none)."""
    mask_ = -1
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith("CapBnd:") or (line.startswith("CapPrm:") and not in_user_namespace):
                mask_ &= int(line.split()[1], 16)
    return mask_ if mask_ != -1 else 0


def mask(names) -> int:
    bits = 0
    for name in names:
        bits |= 1 << NUMBER[name]
    return bits

