"""The config.json that `tinydocker-runtime spec` writes: a starting point to edit, as
`runc spec` prints one. It runs `sh` on a terminal as root in fresh namespaces, with docker's
usual /proc, /dev and /sys, a few capabilities and the kernel's sensitive files hidden.

`rootless` is the variant an unprivileged user can run: a user namespace mapping root to the
caller, no network namespace (a rootless caller cannot give it a link), /sys bound from the
host (sysfs cannot be mounted without owning a network namespace) and no device cgroup.
"""

import os

from .tables import OCI_VERSION_MAX

_CAPS = ["CAP_AUDIT_WRITE", "CAP_KILL", "CAP_NET_BIND_SERVICE"]

# files of /proc and /sys that tell about or change the host
_MASKED = ["/proc/acpi", "/proc/asound", "/proc/kcore", "/proc/keys", "/proc/latency_stats", "/proc/timer_list",
           "/proc/timer_stats", "/proc/sched_debug", "/proc/scsi", "/sys/firmware"]
_READONLY = ["/proc/bus", "/proc/fs", "/proc/irq", "/proc/sys", "/proc/sysrq-trigger"]

_QUIET = ["nosuid", "noexec", "nodev"]


def default(rootless: bool = False) -> dict:
    """A fresh template, as a JSON-ready dict."""
    devpts = ["nosuid", "noexec", "newinstance", "ptmxmode=0666", "mode=0620"]
    if not rootless:
        devpts.append("gid=5")  # the tty group; an unprivileged user's namespace has no group 5 mapped
    sys_mount = ({"destination": "/sys", "type": "none", "source": "/sys", "options": ["rbind", *_QUIET, "ro"]}
                 if rootless else
                 {"destination": "/sys", "type": "sysfs", "source": "sysfs", "options": [*_QUIET, "ro"]})
    namespaces = ["pid", "ipc", "uts", "mount"] + (["user"] if rootless else ["network"])
    linux: dict = {
        "namespaces": [{"type": kind} for kind in namespaces],
        "maskedPaths": list(_MASKED),
        "readonlyPaths": list(_READONLY),
    }
    if rootless:
        linux["uidMappings"] = [{"containerID": 0, "hostID": os.geteuid(), "size": 1}]
        linux["gidMappings"] = [{"containerID": 0, "hostID": os.getegid(), "size": 1}]
    else:
        linux["resources"] = {"devices": [{"allow": False, "access": "rwm"}]}  # no device but those made
    return {
        "ociVersion": OCI_VERSION_MAX,
        "process": {
            "terminal": True,
            "user": {"uid": 0, "gid": 0},
            "args": ["sh"],
            "env": ["PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin", "TERM=xterm"],
            "cwd": "/",
            "capabilities": {name: list(_CAPS) for name in ("bounding", "effective", "permitted", "ambient")},
            "rlimits": [{"type": "RLIMIT_NOFILE", "hard": 1024, "soft": 1024}],
            "noNewPrivileges": True,
        },
        "root": {"path": "rootfs", "readonly": True},
        "hostname": "tinydocker",
        "mounts": [
            {"destination": "/proc", "type": "proc", "source": "proc"},
            {"destination": "/dev", "type": "tmpfs", "source": "tmpfs",
             "options": ["nosuid", "strictatime", "mode=755", "size=65536k"]},
            {"destination": "/dev/pts", "type": "devpts", "source": "devpts", "options": devpts},
            {"destination": "/dev/shm", "type": "tmpfs", "source": "shm",
             "options": [*_QUIET, "mode=1777", "size=65536k"]},
            {"destination": "/dev/mqueue", "type": "mqueue", "source": "mqueue", "options": list(_QUIET)},
            sys_mount,
            {"destination": "/sys/fs/cgroup", "type": "cgroup", "source": "cgroup",
             "options": [*_QUIET, "relatime", "ro"]},
        ],
        "linux": linux,
    }
