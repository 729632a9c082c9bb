"""What this kernel and machine offer, for `tinydocker info`."""

import os
import platform

NAMESPACES = ("uts", "pid", "mnt", "net", "ipc", "cgroup", "user")


def probe() -> dict:
    from .cgroups import layout

    cgroups = layout()
    with open("/proc/filesystems") as f:
        filesystems = {line.split()[-1] for line in f if line.strip()}
    namespaces = [ns for ns in NAMESPACES if os.path.exists(f"/proc/self/ns/{ns}")]
    return {
        "kernel": platform.release(),
        "namespaces": namespaces,
        "overlayfs": "overlay" in filesystems,
        "devpts": "devpts" in filesystems,
        "cgroup_version": cgroups.version,
        "cgroup_backend": cgroups.backend,
        "busybox_static": os.path.isfile("/bin/busybox"),
    }
