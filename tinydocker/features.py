"""What this kernel and machine offer, for `tinydocker info`."""

import os
import platform

NAMESPACES = ("uts", "pid", "mnt", "net", "ipc", "cgroup", "user")


def cgroup_version() -> str:
    """'v2' (unified only), 'v1', or 'hybrid' (v1 controllers plus a cgroup2 mount)."""
    v1 = v2 = False
    with open("/proc/self/mountinfo") as f:
        for line in f:
            fstype = line.split(" - ", 1)[1].split()[0]
            v1 |= fstype == "cgroup"
            v2 |= fstype == "cgroup2"
    if v1 and v2:
        return "hybrid"
    return "v1" if v1 else "v2" if v2 else "none"


def probe() -> dict:
    with open("/proc/filesystems") as f:
        filesystems = {line.split()[-1] for line in f if line.strip()}
    namespaces = [ns for ns in NAMESPACES if os.path.exists(f"/proc/self/ns/{ns}")]
    return {
        "kernel": platform.release(),
        "namespaces": namespaces,
        "overlayfs": "overlay" in filesystems,
        "devpts": "devpts" in filesystems,
        "cgroup_version": cgroup_version(),
        "busybox_static": os.path.isfile("/bin/busybox"),
    }
