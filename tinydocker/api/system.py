"""The API for the data root as a whole: prune what is left over, and what this machine offers."""

import os

from ..errors import NoSuchContainer, TinydockerError
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

    from ..version import __version__
    from ..cgroups import layout

    arch = {"x86_64": "amd64", "aarch64": "arm64"}.get(platform.machine(), platform.machine())
    return {"Version": __version__, "PythonVersion": platform.python_version(), "Os": "linux", "Arch": arch,
            "KernelVersion": platform.release(), "CgroupVersion": layout().version}


def disk_usage(root=None) -> list[dict]:
    """docker system df: for images, containers and volumes, how many, how many in use
    (active), the bytes they take and the bytes removing the unused ones would give back."""
    from ..image.digests import sha256_hex
    from ..image.store import ImageStore
    from ..linux.tree import disk_usage as du
    from ..state.record import RUNNING
    from ..state.store import Store

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
    half-deleted containers and images, empty container cgroups nobody owns any more, and
    machine-wide, the bridges (and their rules) of data roots deleted meanwhile.
    Returns {"containers": [ids], "cgroups": [ids], "bridges": [names], "reclaimed": bytes}."""
    from .. import cgroups
    from ..image.store import ImageStore

    from .build import prune_builder

    root = paths.resolve(root)
    done = prune_containers(root=root)
    prune_builder(root=root)  # a killed build's containers, and the build cache
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
    from ..network.store import NetworkStore, release_orphans
    from ..state.store import Store

    addresses = NetworkStore(root, records=Store(root).all).sweep()
    if os.geteuid() != 0:  # the machine's bridges and nftables rules are root's; its own namespace's are its
        from ..network import usernet
        from ..network.attach import started

        store = Store(root)
        return {"addresses": addresses, "ports": usernet.sweep(root.state, lambda cid: started(store, cid)),
                "bridges": []}
    where = cgroups.layout()
    # no table, or no nftables at all: nothing is claimed (firewall.claimed)
    ports = firewall.sweep(lambda cid: cgroups.open_cgroup(cid, where).exists())
    return {"addresses": addresses, "ports": ports, "bridges": release_orphans()}


# what a data root's own files are, beside which a checkout keeps its own (.gitignore's rule)
_KEPT = {"state": lambda name: name == "README.md",
         "images": lambda name: name == "README.md" or name.endswith(".toml") and name != "index.toml"}


def reset(root=None) -> dict:
    """podman's `system reset`: every container (killed if running), image, volume and
    network of the data root, each network's bridge and rules with it, then the root's own
    files (a checkout keeps its READMEs and image recipes). What was removed, by kind."""
    import shutil

    from ..network.store import NetworkStore
    from ..state.store import Store
    from .containers import remove
    from .images import prune_images
    from .volumes import prune_volumes

    root = paths.resolve(root)
    containers = []
    for record in Store(root).all():
        try:
            remove(record.id, force=True, volumes=True, root=root)
            containers.append(record.id)
        except NoSuchContainer:
            pass  # removed meanwhile
    images = prune_images(all=True, root=root)["images"]
    volumes = prune_volumes(all=True, root=root)["volumes"]
    networks = NetworkStore(root)
    with networks.lock():
        gone = networks.all()
        networks.destroy_all()
        networks.path.unlink(missing_ok=True)
    leftovers = prune(root)  # what a killed removal left, machine-wide orphans too
    for top, kept in _KEPT.items():
        where = root.root / top
        for name in os.listdir(where) if where.is_dir() else []:
            if not kept(name):
                path = where / name
                # what goes by itself meanwhile (the monitor's socket, as it leaves idle) is gone already
                if path.is_dir() and not path.is_symlink():
                    shutil.rmtree(path, ignore_errors=True)
                    if path.exists():
                        shutil.rmtree(path)  # what failed, and why
                else:
                    path.unlink(missing_ok=True)
        try:
            where.rmdir()  # emptied: a root of its own, not a checkout
        except OSError:
            pass
    try:
        root.root.rmdir()
    except OSError:
        pass
    return {"containers": containers, "images": images, "volumes": volumes,
            "networks": [n["name"] for n in gone], "bridges": leftovers["bridges"]}


def info(root=None) -> dict:
    from ..spec import DEFAULT_LOG_DRIVER

    # LoggingDriver under docker's name: scripts read it with `info --format '{{.LoggingDriver}}'`
    from .rootless import mapping, rootless

    data = {"root": str(paths.resolve(root).root), **probe(), "LoggingDriver": DEFAULT_LOG_DRIVER,
            "rootless": rootless()}
    if data["rootless"]:
        from .. import cgroups

        data["id_mappings"] = mapping().document()
        if not cgroups.delegated(cgroups.layout()):
            data["cgroup_backend"] = "none"  # no cgroup of the containers' own: limits are refused
    return data
