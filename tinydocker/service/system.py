"""The service's system endpoints: ping, version, info, disk usage."""

from __future__ import annotations

import os
import platform

from .. import api
from .server import MAX_API, MIN_API


def ping(req) -> None:
    req.send(200, b"OK", "text/plain; charset=utf-8",
             headers=[("Builder-Version", "1"), ("Cache-Control", "no-cache, no-store, must-revalidate")])


def version(req) -> None:
    own = api.version()
    req.send_json({
        "Platform": {"Name": "tinydocker"},
        "Components": [{"Name": "Engine", "Version": own["Version"],
                        "Details": {"ApiVersion": MAX_API, "MinAPIVersion": MIN_API, "Os": "linux",
                                    "Arch": own["Arch"], "KernelVersion": own["KernelVersion"],
                                    "PythonVersion": own["PythonVersion"]}}],
        "Version": own["Version"], "ApiVersion": MAX_API, "MinAPIVersion": MIN_API, "GitCommit": "",
        "GoVersion": f"python{own['PythonVersion']}", "Os": "linux", "Arch": own["Arch"],
        "KernelVersion": own["KernelVersion"], "BuildTime": "",
    })


def info(req) -> None:
    from ..state.record import RUNNING

    mine = api.info(root=req.root)
    records = api.ps(all=True, root=req.root)
    running = [r for r in records if r.status == RUNNING]
    paused = [r for r in running if r.paused]
    with open("/proc/meminfo") as f:
        mem = next(int(line.split()[1]) * 1024 for line in f if line.startswith("MemTotal:"))
    own = api.version()
    req.send_json({
        "ID": "tinydocker", "Name": platform.node(), "ServerVersion": own["Version"],
        "Containers": len(records), "ContainersRunning": len(running) - len(paused),
        "ContainersPaused": len(paused), "ContainersStopped": len(records) - len(running),
        "Images": len({i["id"] for i in api.images(root=req.root)}),
        "Driver": "overlay", "DriverStatus": [["Backing Filesystem", "overlayfs"]],
        "DockerRootDir": mine["root"], "LoggingDriver": mine["LoggingDriver"],
        "CgroupDriver": "cgroupfs", "CgroupVersion": str(mine["cgroup_version"]),
        "KernelVersion": mine["kernel"], "OperatingSystem": _os_name(), "OSType": "linux",
        "Architecture": platform.machine(), "NCPU": os.cpu_count() or 1, "MemTotal": mem,
        "SecurityOptions": ["name=seccomp,profile=builtin"], "Runtimes": {"runc": {"path": "tinydocker-runtime"}},
        "DefaultRuntime": "runc", "Swarm": {"LocalNodeState": "inactive", "ControlAvailable": False},
        "Plugins": {"Volume": ["local"], "Network": ["bridge", "host", "null"], "Log": ["json-file"]},
        "RegistryConfig": {"IndexConfigs": {}, "InsecureRegistryCIDRs": ["127.0.0.0/8"]},
        # what docker-py's and others' checks read as dockerd's (a missing key is their KeyError)
        "Debug": False, "ExperimentalBuild": False, "Experimental": False, "Warnings": [],
    })


def disk_usage(req) -> None:
    """docker's /system/df: every image, container and volume with its bytes; the CLI's
    `system df` adds them up."""
    from .translate import container_row

    root = req.root
    usage = api.disk_usage_items(root=root)
    records = [c["record"] for c in usage["containers"]]
    docs, _ = api.inspect_all([r.id for r in records], root=root) if records else ([], [])
    by_id = {d["Id"]: d for d in docs}
    images = [{"Id": i["id"], "ParentId": "", "RepoTags": [_familiar(n) for n in i["names"]],
               "RepoDigests": [_familiar(d) for d in i["digests"]], "Created": int(i["created"].timestamp()),
               "Size": i["size"], "SharedSize": i["shared"], "VirtualSize": i["size"], "Labels": i["labels"],
               "Containers": i["containers"]} for i in usage["images"]]
    containers = [{**container_row(c["record"], by_id.get(c["record"].id, {})), "SizeRw": c["size_rw"],
                   "SizeRootFs": c["size_root_fs"]} for c in usage["containers"]]
    volumes = [{**{k: v for k, v in doc.items() if k not in ("size", "ref_count")},
                "UsageData": {"Size": doc["size"], "RefCount": doc["ref_count"]}} for doc in usage["volumes"]]
    req.send_json({"LayersSize": usage["layers_size"], "Images": images, "Containers": containers,
                   "Volumes": volumes, "BuildCache": []})


def _familiar(name: str) -> str:
    from ..image import reference

    return reference.familiar(name)


def _os_name() -> str:
    try:
        with open("/etc/os-release") as f:
            for line in f:
                if line.startswith("PRETTY_NAME="):
                    return line.split("=", 1)[1].strip().strip('"')
    except OSError:
        pass
    return "Linux"


ROUTES = [
    ("GET", r"/_ping", ping),
    ("GET", r"/version", version),
    ("GET", r"/info", info),
    ("GET", r"/system/df", disk_usage),
]
