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


def version() -> dict:
    """What this tinydocker is and runs on, as `docker version` shows its client."""
    import platform

    from .. import __version__
    from ..cgroups import layout

    arch = {"x86_64": "amd64", "aarch64": "arm64"}.get(platform.machine(), platform.machine())
    return {"Version": __version__, "PythonVersion": platform.python_version(), "Os": "linux", "Arch": arch,
            "KernelVersion": platform.release(), "CgroupVersion": layout().version}


def disk_usage(root=None) -> list[dict]:
    """docker system df: for images, containers and volumes, how many, how many in use
    (active), the bytes they take and the bytes removing the unused ones would give back."""
    from ..image.store import ImageStore, sha256_hex
    from ..linux.tree import disk_usage as du
    from ..state.store import RUNNING, Store

    root = paths.resolve(root)
    store = Store(root)
    records = [store.observe(r) for r in store.all()]
    index = ImageStore(root).index()
    used_images = {r.image_id for r in records}
    layers_of = {i.id: {sha256_hex(d) for d in i.layers} for i in index.images.values()}
    every = set().union(*layers_of.values()) if layers_of else set()
    kept = set().union(*(layers_of[i] for i in used_images if i in layers_of)) if used_images else set()
    image_row = {"Type": "Images", "TotalCount": len(index.images),
                 "Active": sum(1 for i in index.images if i in used_images),
                 "Size": sum(index.layer_sizes.get(layer, 0) for layer in every),  # a shared layer once
                 "Reclaimable": sum(index.layer_sizes.get(layer, 0) for layer in every - kept)}
    sizes = {r.id: store.written(r) for r in records}
    running = {r.id for r in records if r.status == RUNNING or r.starting}
    container_row = {"Type": "Containers", "TotalCount": len(records), "Active": len(running),
                     "Size": sum(sizes.values()),
                     "Reclaimable": sum(size for cid, size in sizes.items() if cid not in running)}
    volumes = VolumeStore(root, records=lambda: records)
    volume_sizes = {v["name"]: du(volumes.data(v["name"])) for v in volumes.all()}
    in_use = {name for name in volume_sizes if volumes.users(name)}
    volume_row = {"Type": "Local Volumes", "TotalCount": len(volume_sizes), "Active": len(in_use),
                  "Size": sum(volume_sizes.values()),
                  "Reclaimable": sum(size for name, size in volume_sizes.items() if name not in in_use)}
    return [image_row, container_row, volume_row]


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
