"""The API for the data root as a whole: prune what is left over, and what this machine offers."""

import os

from ..errors import TinydockerError
from ..state import root as paths
from ..volume.store import VolumeStore
from .containers import prune_containers

NAMESPACES = ("uts", "pid", "mnt", "net", "ipc", "cgroup", "user")


def probe() -> dict:
    import platform  # only `info` needs it: kept off run's start-up path

    from ..cgroups import layout

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


def prune(root=None) -> dict:
    """Remove every stopped container, then what killed tinydocker processes left behind:
    half-deleted containers and images, and empty container cgroups nobody owns any more.
    Returns {"containers": [ids], "cgroups": [ids], "reclaimed": bytes}."""
    from .. import cgroups
    from ..image.store import ImageStore

    root = paths.resolve(root)
    done = prune_containers(root=root)
    ImageStore(root).clean()
    orphans = cgroups.orphans()
    for cid in orphans:
        try:
            cgroups.open_cgroup(cid).remove()
        except TinydockerError:
            pass
    VolumeStore(root).sweep()
    network = _sweep_network(root)
    return {**done, "cgroups": orphans, **network}


def _sweep_network(root) -> dict:
    """Addresses and published ports whose containers are gone (a SIGKILLed run), machine-wide
    for ports: a claim is stale once no container cgroup of its id is left on the machine."""
    from .. import cgroups
    from ..network import firewall
    from ..network.store import NetworkStore
    from ..state.store import Store

    addresses = NetworkStore(root, records=Store(root).all).sweep()
    where = cgroups.layout()
    # no table, or no nftables at all: nothing is claimed (firewall.claimed)
    ports = firewall.sweep(lambda cid: cgroups.open_cgroup(cid, where).exists())
    return {"addresses": addresses, "ports": ports}


def info(root=None) -> dict:
    return {"root": str(paths.resolve(root).root), **probe()}
