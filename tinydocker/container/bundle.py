"""A container's start as an OCI bundle: the runtime-spec config.json that any OCI runtime
(tinydocker-runtime, runc, crun) realises, made from the orders the engine has resolved
(image layers, volumes, network, confinement) in one pass.

The root filesystem is an overlay mount at "/" in the config's own mounts: the runtime
mounts it inside the container's mount namespace, over root.path (the container's empty
merged directory), so it goes away with the container and nothing is left mounted on the
host when a runtime or a monitor is killed. The user is resolved here, from the image's
/etc/passwd and /etc/group as the layers hold them, since the config names numeric ids.
"""

import os
import stat

from ..cgroups.fs import PARENT
from ..cgroups.limits import CFS_PERIOD_US, Limits
from ..errors import TinydockerError
from ..linux import mount_options
from ..linux.overlay import mountable_in_user_namespace as overlay_in_user_namespace, options as overlay_options
from ..security import capabilities, masks, seccomp
from . import user

OCI_VERSION = "1.0.2"
INIT = "/dev/init"  # where --init's program is bound in a bundle's container
_PAGE = 4096  # the kernel copies mount options from one page


def config(orders: dict, spec, container_id: str, layer_dirs: list[str], joined: dict[str, str]) -> dict:
    """The config.json for `orders` (what runtime.py resolved for the start); `layer_dirs`
    the container's upper directory then the image's layers, top first (to look its user up);
    `joined` the namespaces of other processes to join ({"network": "/proc/PID/ns/net"})."""
    conf = orders["confinement"]
    privileged = conf["privileged"]
    ids = user_ids()
    process_ = process(orders, conf, layer_dirs, ids)
    own_network = orders["network"]["mode"] not in ("host", "container")
    namespaces = [{"type": "mount"}, {"type": "uts"}, {"type": "ipc"}, {"type": "cgroup"}]
    for kind, wanted in (("network", own_network or orders["network"]["mode"] == "container"),
                         ("pid", spec.pid != "host")):
        if kind in joined:
            namespaces.append({"type": kind, "path": joined[kind]})
        elif wanted:
            namespaces.append({"type": kind})
    sysctl = dict(orders.get("sysctls", {}))
    if own_network:
        # unprivileged ICMP echo sockets, so ping needs no CAP_NET_RAW (as podman does); in a
        # user namespace the range may hold only mapped groups
        top = 2147483647 if ids is None else sum(r.count for r in ids.gids) - 1
        sysctl.setdefault("net.ipv4.ping_group_range", f"0 {top}")
    if "user" in joined:  # an ordinary user's network's (network/usernet.py): its maps are made
        namespaces.insert(0, {"type": "user", "path": joined["user"]})
    elif ids is not None:
        namespaces.insert(0, {"type": "user"})
    linux = {
        "namespaces": namespaces,
        "cgroupsPath": f"/{PARENT}/{container_id}",
        "resources": resources(spec.limits, spec.device_rules(orders.get("devices", []))),
        "devices": [{"path": d["path"], "type": d["kind"], "major": d["major"], "minor": d["minor"],
                     "fileMode": d["mode"], "uid": d["uid"], "gid": d["gid"]} for d in orders.get("devices", [])],
        "sysctl": sysctl,
    }
    if ids is not None:
        from ..cgroups import cgroups_path

        path = cgroups_path(container_id)  # in the user's delegated subtree, if it has one
        if path is None:
            del linux["resources"]  # no cgroup to hold them: the user's limits were refused already
        else:
            linux["cgroupsPath"] = path
        if "user" not in joined:
            linux["uidMappings"] = [{"containerID": r.inside, "hostID": r.outside, "size": r.count}
                                    for r in ids.uids]
            linux["gidMappings"] = [{"containerID": r.inside, "hostID": r.outside, "size": r.count}
                                    for r in ids.gids]
    if not privileged:
        linux["maskedPaths"] = list(masks.MASKED)
        linux["readonlyPaths"] = list(masks.READ_ONLY)
    if conf.get("seccomp"):
        profile = spec.seccomp_profile  # a docker-format profile, read when the container was made
        linux["seccomp"] = (_runtime_form(profile, conf["caps"]) if profile
                            else seccomp.default_profile(seccomp.rules(conf["caps"])))
    return {"ociVersion": OCI_VERSION, "process": process_,
            "root": {"path": orders["merged"], "readonly": bool(orders.get("read_only"))},
            "hostname": orders["hostname"], "linux": linux,
            "mounts": mounts(orders, privileged, ids, own_network) + (_init_mount() if orders.get("init") else []),
            "annotations": {"org.tinydocker.name": spec.name}}


def user_ids():
    """An ordinary user's mapping: its containers run in a user namespace of their own, root
    inside being the user; None for root. (linux.idmap is loaded only for such a user.)"""
    if os.geteuid() == 0:
        return None
    from ..linux.idmap import for_caller

    return for_caller()


_ASK = object()  # process()'s ids, not given: looked up


def process(orders: dict, conf: dict, layer_dirs: list[str], ids=_ASK) -> dict:
    """The runtime-spec process of `orders` (argv, env, workdir, user, group_add, tty, init),
    held to `conf` (spec.confinement()); a run's or an exec's."""
    env = dict(orders["env"])
    try:
        uid, gid, groups, home = user.resolve(orders["user"], orders.get("group_add", ()), _reader(layer_dirs))
    except user.UnknownUser as e:
        raise TinydockerError(str(e)) from None
    env.setdefault("HOME", home)
    if ids is _ASK:  # an exec's: config() passes the start's
        ids = user_ids()
    if ids is not None:
        # only mapped groups can be given; with the user's own id alone, none (setgroups is denied)
        groups = [] if ids.own_only() else [g for g in groups if any(r.inside <= g < r.inside + r.count
                                                                         for r in ids.gids)]
    # what tinydocker does not hold itself a container cannot be given (--privileged under a
    # reduced bounding set gets that set); in a user namespace of its own, the bounding set's
    held = capabilities.held(in_user_namespace=ids is not None)
    caps = ["CAP_" + c for c in conf["caps"] if held >> capabilities.NUMBER[c] & 1]
    return {
        "terminal": orders["tty"], "args": ([INIT, "--"] if orders.get("init") else []) + list(orders["argv"]),
        "cwd": orders["workdir"],
        "env": [f"{k}={v}" for k, v in env.items()],
        "user": {"uid": uid, "gid": gid, "additionalGids": groups},
        # a non-root user gets none in effective and permitted, as docker gives
        "capabilities": {"bounding": caps, "effective": caps if uid == 0 else [],
                         "permitted": caps if uid == 0 else [], "inheritable": [], "ambient": []},
        "noNewPrivileges": bool(conf["no_new_privileges"]),
    }


def mounts(orders: dict, privileged: bool, ids=None, own_network: bool = True) -> list[dict]:
    """The root's overlay first (everything else is mounted on it), then /proc, /dev, /sys
    and the cgroups, then binds and volumes (shallow targets first), then tmpfs. `ids`: an
    ordinary user's mapping (linux.idmap), for a container in a user namespace."""
    if ids is not None and not overlay_in_user_namespace():
        raise TinydockerError(f"an ordinary user's containers need Linux 5.11 or later, whose overlayfs mounts in "
                              f"a user namespace (this kernel is {os.uname().release})")
    base = orders["lower_base"]
    overlay = overlay_options(":".join(os.path.join(base, d) for d in orders["lower"].split(":")),
                              orders["upper"], orders["work"])
    if len(overlay) >= _PAGE:
        # the kernel reads mount options from one page: many layers are named relative to the
        # bundle, the container's directory (layers/0:layers/1:…), where runtimes build the
        # root, as runc does
        overlay = overlay_options(orders["lower"], orders["upper"], orders["work"])
    if len(overlay) >= _PAGE:
        raise TinydockerError(f"the image has too many layers for an overlay mount "
                              f"({len(orders['lower'].split(':'))}: its options exceed a page)")
    ro = [] if privileged else ["ro"]
    out = [{"destination": "/", "type": "overlay", "source": "overlay", "options": overlay.split(",")},
           {"destination": "/proc", "type": "proc", "source": "proc", "options": ["nosuid", "noexec", "nodev"]},
           {"destination": "/dev", "type": "tmpfs", "source": "tmpfs",
            "options": ["nosuid", "noexec", "strictatime", "mode=755", "size=65536k"]},
           {"destination": "/dev/pts", "type": "devpts", "source": "devpts",
            "options": ["nosuid", "noexec", "newinstance", "ptmxmode=0666", "mode=0620",
                        *([] if ids is not None and ids.own_only() else ["gid=5"])]},  # tty's gid, if mapped
           {"destination": "/dev/shm", "type": "tmpfs", "source": "shm",
            "options": ["nosuid", "nodev", "noexec", "mode=1777", "size=65536k"]},
           {"destination": "/sys", "type": "sysfs", "source": "sysfs", "options": ["nosuid", "noexec", "nodev", *ro]}
           if ids is None or own_network else
           # sysfs is mounted only from the user namespace owning the network namespace: with
           # the host's network, the host's /sys bound (as runc's rootless bundles do)
           {"destination": "/sys", "type": "bind", "source": "/sys", "options": ["rbind", "nosuid", "noexec", "nodev",
                                                                                 "ro"]},
           {"destination": "/sys/fs/cgroup", "type": "cgroup", "source": "cgroup",
            "options": ["nosuid", "noexec", "nodev", "relatime", *ro]}]
    for b in orders.get("binds", []):
        ro_ = ["ro"] if b["readonly"] else []
        if "filesystem" in b:  # a volume of the local driver's own filesystem
            fs = b["filesystem"]
            out.append({"destination": b["target"], "type": fs["type"], "source": fs["device"],
                        "options": ["nosuid", "nodev", *ro_, *filter(None, fs["options"].split(","))]})
        else:
            out.append({"destination": b["target"], "type": "bind", "source": b["source"],
                        "options": ["rbind", "rprivate", *ro_]})
    for t in orders.get("tmpfs", []):
        words = [w for w, (sets, bit) in mount_options.FLAGS.items()
                 if bit and sets and t["flags"] & bit and w in ("ro", "nosuid", "nodev", "noexec")]
        out.append({"destination": t["path"], "type": "tmpfs", "source": "tmpfs",
                    "options": words + list(filter(None, t["data"].split(",")))})
    return out


def populate(orders: dict) -> None:
    """docker's copy-up for empty volumes mounted over image content: the image's files
    at each mount point, seen through a read-only overlay of its layers that a child mounts
    in a mount namespace of its own (it goes with the child)."""
    wanted = [b for b in orders.get("binds", []) if b.get("populate")]
    if not wanted:
        return
    from ..linux import syscalls as sc
    from ..linux.proc import in_child
    from .binds import populate as fill

    def fill_all() -> None:
        sc.unshare(sc.CLONE_NEWNS)
        sc.mount("none", "/", None, sc.MS_REC | sc.MS_PRIVATE)
        os.chdir(orders["lower_base"])  # the layers' short names, as the init mounts them
        lower = ":".join([orders["upper"], *orders["lower"].split(":")])
        sc.mount("overlay", orders["merged"], "overlay", sc.MS_RDONLY, overlay_options(lower))
        root = os.open(orders["merged"], os.O_PATH | os.O_DIRECTORY | os.O_CLOEXEC)
        for b in wanted:
            fill(root, b["target"], b["source"])

    if not in_child(fill_all):  # (an ordinary user's child: root of its namespace, which may mount the overlay)
        raise TinydockerError("cannot fill the container's new volumes from its image")


def _init_mount() -> list[dict]:
    """--init: the host's catatonit (podman's small init: it passes signals on
    and reaps orphans) bound at /dev/init, on the runtime's own /dev, nothing of the image's."""
    import shutil

    found = shutil.which("catatonit") or next((p for p in ("/usr/libexec/podman/catatonit",) if os.path.exists(p)), None)
    if not found:
        raise TinydockerError("--init needs catatonit on the host (Debian: apt-get install catatonit)")
    return [{"destination": INIT, "type": "bind", "source": found, "options": ["bind", "ro", "nosuid", "nodev"]}]


def resources(limits: Limits, device_rules: list[str] | None) -> dict:
    """docker's limits as the runtime-spec's linux.resources; `device_rules` the device
    cgroup's allow-list ("c 1:3 rwm"), None for every device (privileged)."""
    r: dict = {}
    memory = {}
    if limits.memory is not None:
        memory["limit"] = limits.memory
    swap = limits.swap_limit()
    if swap is not None:
        memory["swap"] = swap
    if limits.memory_reservation is not None:
        memory["reservation"] = limits.memory_reservation
    if memory:
        r["memory"] = memory
    cpu = {}
    if limits.cpu_quota is not None:
        cpu.update(quota=limits.cpu_quota, period=CFS_PERIOD_US)
    if limits.cpu_shares is not None:
        cpu["shares"] = limits.cpu_shares
    if limits.cpuset_cpus:
        cpu["cpus"] = limits.cpuset_cpus
    if limits.cpuset_mems:
        cpu["mems"] = limits.cpuset_mems
    if cpu:
        r["cpu"] = cpu
    pids = limits.pids_max(True)
    r["pids"] = {"limit": -1 if pids == "max" else pids}
    if device_rules is None:
        r["devices"] = [{"allow": True, "access": "rwm"}]
    else:
        r["devices"] = [{"allow": False, "access": "rwm"}] + [_device_rule(rule) for rule in device_rules]
    return r


def _device_rule(rule: str) -> dict:
    kind, numbers, access = rule.split()
    major, minor = numbers.split(":")
    out = {"allow": True, "type": kind, "access": access}
    if major != "*":
        out["major"] = int(major)
    if minor != "*":
        out["minor"] = int(minor)
    return out


def _runtime_form(profile: str, caps: list[str]) -> dict:
    """A docker-format profile (with its includes and excludes) as the runtime-spec's
    linux.seccomp, for a container holding `caps`."""
    import json

    doc = json.loads(profile)
    held = set(caps)
    calls = []
    for call in doc.get("syscalls") or []:
        if not seccomp.applies(call, held):
            continue
        names = call.get("names") or ([call["name"]] if call.get("name") else [])
        entry = {"names": names, "action": call["action"]}
        if call.get("errnoRet") is not None:
            entry["errnoRet"] = call["errnoRet"]
        if call.get("args"):
            entry["args"] = [{k: a[k] for k in ("index", "value", "valueTwo", "op") if k in a} for a in call["args"]]
        calls.append(entry)
    out = {"defaultAction": doc["defaultAction"], "syscalls": calls}
    if doc.get("defaultErrnoRet") is not None:
        out["defaultErrnoRet"] = doc["defaultErrnoRet"]
    # this machine's architectures only, as compile_profile takes them from an archMap
    native = seccomp.NATIVE_ARCH
    arches = [a for a in doc.get("architectures") or [] if a in seccomp.ARCHES]
    for entry in doc.get("archMap") or []:
        if entry.get("architecture") == native:
            arches += [native, *(a for a in entry.get("subArchitectures") or [] if a in seccomp.ARCHES)]
    if arches:
        out["architectures"] = list(dict.fromkeys(arches))
    return out


def _reader(layer_dirs: list[str]):
    """read(path) for user.resolve: the file as the overlay of `layer_dirs` (top first) shows
    it; a symlink on the way, or a whiteout, reads as no file (only numeric ids then)."""
    def read(path: str) -> list[list[str]]:
        parts = path.strip("/").split("/")
        for top in layer_dirs:
            where = top
            for i, part in enumerate(parts):
                where = os.path.join(where, part)
                try:
                    st = os.lstat(where)
                except (FileNotFoundError, NotADirectoryError):
                    break  # not in this layer: the next one down
                if stat.S_ISLNK(st.st_mode) or stat.S_ISCHR(st.st_mode):
                    return []  # a link (not followed out of the image) or a whiteout
                if i == len(parts) - 1:
                    if not stat.S_ISREG(st.st_mode):
                        return []
                    fd = os.open(where, os.O_RDONLY | os.O_NOFOLLOW | os.O_CLOEXEC)
                    with os.fdopen(fd, encoding="utf-8", errors="replace") as f:
                        return user.entries(f.read())
        return []

    return read

