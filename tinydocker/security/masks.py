"""The parts of /proc and /sys a container must not see or change (podman's and docker's lists).

Masked: a directory gets an empty read-only tmpfs over it, a file /dev/null. Read-only:
bind-mounted onto itself, then remounted read-only (keeping nosuid, nodev, noexec, which a
bind remount would otherwise clear). Without CAP_SYS_ADMIN none of these mounts can be
undone or remounted from inside. --privileged skips all of it.
"""

import os

from ..linux import syscalls as sc

MASKED = ["/proc/acpi", "/proc/asound", "/proc/kcore", "/proc/keys", "/proc/latency_stats",
          "/proc/timer_list", "/proc/timer_stats", "/proc/sched_debug", "/proc/scsi",
          "/sys/firmware", "/sys/devices/virtual/powercap", "/sys/dev/block"]
READ_ONLY = ["/proc/bus", "/proc/fs", "/proc/irq", "/proc/sys", "/proc/sysrq-trigger"]

_LOCKED = sc.MS_NOSUID | sc.MS_NODEV | sc.MS_NOEXEC


def apply(root: str) -> None:
    """Mask and protect under `root` (the container's root, before pivot_root; its /dev
    already made, for /dev/null)."""
    for path in MASKED:
        target = root + path
        if os.path.isdir(target) and not os.path.islink(target):
            sc.mount("tmpfs", target, "tmpfs", sc.MS_RDONLY | _LOCKED, "size=0k")
        elif os.path.exists(target):
            sc.mount(root + "/dev/null", target, None, sc.MS_BIND)
    for path in READ_ONLY:
        target = root + path
        if os.path.exists(target):
            sc.mount(target, target, None, sc.MS_BIND | sc.MS_REC)
            sc.mount(target, target, None, sc.MS_BIND | sc.MS_REMOUNT | sc.MS_RDONLY | _LOCKED)
