"""`--sysctl`: only the kernel settings a container's own namespaces hold, as docker allows.

The IPC namespace holds System V IPC's and POSIX message queues' limits; the network
namespace everything under net.*. Anything else is the host's, and refused.
"""

from ..errors import TinydockerError

IPC = {"kernel.msgmax", "kernel.msgmnb", "kernel.msgmni", "kernel.sem", "kernel.shmall", "kernel.shmmax",
       "kernel.shmmni", "kernel.shm_rmid_forced"}


def parse(items) -> dict[str, str]:
    """KEY=VALUE items (KEY with dots or slashes) as {dotted key: value}, each checked."""
    found = {}
    for item in items:
        key, eq, value = item.partition("=")
        key = key.strip().replace("/", ".")
        if not eq or not key or "\0" in item or ".." in key or key.startswith("."):
            raise TinydockerError(f"invalid --sysctl {item!r}: want KEY=VALUE")
        if not (key in IPC or key.startswith("fs.mqueue.") or key.startswith("net.")):
            raise TinydockerError(f"sysctl {key!r} is not allowed: it is not in the container's namespaces "
                                  "(IPC: kernel.msg*, kernel.sem, kernel.shm*, fs.mqueue.*; network: net.*)")
        found[key] = value
    return found
