"""A bundle's config.json (OCI runtime-spec 1.x, Linux) read into a typed, validated model.

Every property the runtime-spec defines is either read into the model below or refused with
one line naming it ("config.json: linux.intelRdt is not supported"): the issue's rule is that
nothing asked for is silently ignored. A property the spec does not define at all is ignored,
as the spec's "Extensibility" section requires ("MUST NOT generate an error if they encounter
an unknown property"); its dotted name is kept in `Config.ignored` so the caller can log it.
A defined property given with an empty value (null, false, 0, "", [] or {}) asks for nothing
and is accepted even where the property itself is not supported: engines write such defaults.

The checks are those runc 1.1 makes at create, plus the spec's MUSTs runc leaves to the
kernel (absolute paths, duplicated rlimits): an error here costs the caller nothing, one
found half-way through create leaves things to clean.
"""

import json
import os
import re
from pathlib import Path

from ..errors import TinydockerError
from ..plain import factory, plain
from . import tables

UINT32 = 2**32 - 1
UINT64 = 2**64 - 1
INT64_MIN, INT64_MAX = -2**63, 2**63 - 1


# a device node's file type bits (stat's S_IFCHR, S_IFBLK, S_IFIFO), by runtime-spec type
_NODE_TYPE_BITS = {"c": 0o020000, "u": 0o020000, "b": 0o060000, "p": 0o010000}


class ConfigError(TinydockerError):
    """A config.json refused: one line, naming the file's field. runc exits 1 for these."""

    code = 1


# -- the model ------------------------------------------------------------------------------

@plain(frozen=True)
class User:
    uid: int = 0
    gid: int = 0
    umask: int | None = None
    additional_gids: tuple[int, ...] = ()


@plain(frozen=True)
class Capabilities:
    bounding: tuple[str, ...] = ()
    effective: tuple[str, ...] = ()
    inheritable: tuple[str, ...] = ()
    permitted: tuple[str, ...] = ()
    ambient: tuple[str, ...] = ()


@plain(frozen=True)
class Rlimit:
    type: str
    soft: int
    hard: int

    @property
    def resource(self) -> int:
        return tables.RLIMITS[self.type]


@plain(frozen=True)
class Process:
    args: tuple[str, ...]
    cwd: str
    env: tuple[str, ...] = ()
    user: User = User()
    terminal: bool = False
    console_size: tuple[int, int] | None = None  # (height, width)
    capabilities: Capabilities | None = None  # None: the spec leaves them as they are
    rlimits: tuple[Rlimit, ...] = ()
    no_new_privileges: bool = False
    oom_score_adj: int | None = None
    apparmor_profile: str = ""


@plain(frozen=True)
class Root:
    path: Path  # absolute: a relative root.path is resolved against the bundle
    readonly: bool = False


@plain(frozen=True)
class Mount:
    destination: str
    type: str  # "bind" for every bind mount, whatever the file spelt ("none", "bind", "")
    source: str  # a relative bind source is resolved against the bundle, as runc does
    options: tuple[str, ...] = ()
    # options sorted for mount(2): flags to set, the propagation calls, the data string
    flags: int = 0
    propagation: tuple[int, ...] = ()
    data: str = ""
    copy_up: bool = False  # tmpcopyup: fill the new tmpfs with what the rootfs had there

    @property
    def bind(self) -> bool:
        return self.type == "bind"

    @property
    def recursive(self) -> bool:
        return "rbind" in self.options


@plain(frozen=True)
class Hook:
    path: str
    args: tuple[str, ...] = ()
    env: tuple[str, ...] = ()
    timeout: int | None = None


@plain(frozen=True)
class Hooks:
    prestart: tuple[Hook, ...] = ()
    createRuntime: tuple[Hook, ...] = ()  # noqa: N815 - the spec's own names
    createContainer: tuple[Hook, ...] = ()  # noqa: N815
    startContainer: tuple[Hook, ...] = ()  # noqa: N815
    poststart: tuple[Hook, ...] = ()
    poststop: tuple[Hook, ...] = ()


@plain(frozen=True)
class Namespace:
    type: str
    path: str | None = None  # join this one instead of making a new one


@plain(frozen=True)
class IDMapping:
    container_id: int
    host_id: int
    size: int


@plain(frozen=True)
class Device:
    type: str
    path: str
    major: int | None = None
    minor: int | None = None
    file_mode: int | None = None
    uid: int | None = None
    gid: int | None = None


@plain(frozen=True)
class DeviceRule:
    allow: bool
    type: str = "a"
    major: int | None = None  # None: any
    minor: int | None = None
    access: str = "rwm"


@plain(frozen=True)
class Memory:
    limit: int | None = None
    reservation: int | None = None
    swap: int | None = None
    swappiness: int | None = None
    disable_oom_killer: bool = False


@plain(frozen=True)
class CPU:
    shares: int | None = None
    quota: int | None = None
    period: int | None = None
    cpus: str = ""
    mems: str = ""


@plain(frozen=True)
class WeightDevice:
    major: int
    minor: int
    weight: int


@plain(frozen=True)
class ThrottleDevice:
    major: int
    minor: int
    rate: int


@plain(frozen=True)
class BlockIO:
    weight: int | None = None
    weight_device: tuple[WeightDevice, ...] = ()
    throttle_read_bps_device: tuple[ThrottleDevice, ...] = ()
    throttle_write_bps_device: tuple[ThrottleDevice, ...] = ()
    throttle_read_iops_device: tuple[ThrottleDevice, ...] = ()
    throttle_write_iops_device: tuple[ThrottleDevice, ...] = ()


@plain(frozen=True)
class Resources:
    devices: tuple[DeviceRule, ...] = ()
    memory: Memory | None = None
    cpu: CPU | None = None
    pids_limit: int | None = None
    block_io: BlockIO | None = None


@plain(frozen=True)
class SyscallArg:
    index: int
    value: int
    value_two: int
    op: str


@plain(frozen=True)
class SyscallRule:
    names: tuple[str, ...]
    action: str
    errno_ret: int | None = None
    args: tuple[SyscallArg, ...] = ()


@plain(frozen=True)
class Seccomp:
    default_action: str
    default_errno_ret: int | None = None
    architectures: tuple[str, ...] = ()
    flags: tuple[str, ...] = ()
    syscalls: tuple[SyscallRule, ...] = ()


@plain(frozen=True)
class Linux:
    namespaces: tuple[Namespace, ...] = ()
    uid_mappings: tuple[IDMapping, ...] = ()
    gid_mappings: tuple[IDMapping, ...] = ()
    devices: tuple[Device, ...] = ()
    cgroups_path: str = ""
    resources: Resources | None = None
    sysctl: dict = factory(dict)
    seccomp: Seccomp | None = None
    masked_paths: tuple[str, ...] = ()
    readonly_paths: tuple[str, ...] = ()
    rootfs_propagation: str = ""

    def namespace(self, kind: str) -> Namespace | None:
        return next((ns for ns in self.namespaces if ns.type == kind), None)


@plain(frozen=True)
class Config:
    oci_version: str
    bundle: Path
    root: Root
    process: Process | None  # optional until start (the runtime-spec's rule)
    linux: Linux
    hostname: str = ""
    domainname: str = ""
    mounts: tuple[Mount, ...] = ()
    hooks: Hooks = Hooks()
    annotations: dict = factory(dict)
    ignored: tuple[str, ...] = ()  # properties the spec does not define, by dotted name
    process_document: dict = factory(dict)  # process as given: exec's starting point
    warnings: tuple[str, ...] = ()  # what is accepted but not done, for the log


# -- the properties, as the spec names them --------------------------------------------------
# per object: the properties read into the model, and those the spec defines (in 1.0 or
# later) that this runtime refuses when given. Anything else is an unknown property.

_KEYS = {
    "": ({"ociVersion", "root", "mounts", "process", "hostname", "domainname", "hooks", "annotations", "linux"},
         {"windows", "solaris", "vm", "zos"}),
    "process": ({"terminal", "consoleSize", "cwd", "env", "args", "rlimits", "apparmorProfile", "capabilities",
                 "noNewPrivileges", "oomScoreAdj", "selinuxLabel", "user"},
                {"commandLine", "ioPriority", "scheduler", "execCPUAffinity"}),
    "user": ({"uid", "gid", "umask", "additionalGids"}, {"username"}),
    "consoleSize": ({"height", "width"}, set()),
    "capabilities": ({"bounding", "effective", "inheritable", "permitted", "ambient"}, set()),
    "rlimit": ({"type", "soft", "hard"}, set()),
    "root": ({"path", "readonly"}, set()),
    "mount": ({"destination", "type", "source", "options"}, {"uidMappings", "gidMappings"}),
    "hooks": (set(tables.HOOKS), set()),
    "hook": ({"path", "args", "env", "timeout"}, set()),
    "linux": ({"namespaces", "uidMappings", "gidMappings", "devices", "cgroupsPath", "resources", "sysctl",
               "seccomp", "maskedPaths", "readonlyPaths", "rootfsPropagation", "mountLabel"},
              {"intelRdt", "personality", "timeOffsets", "memoryPolicy", "netDevices"}),
    "namespace": ({"type", "path"}, set()),
    "mapping": ({"containerID", "hostID", "size"}, set()),
    "device": ({"type", "path", "major", "minor", "fileMode", "uid", "gid"}, set()),
    "resources": ({"devices", "memory", "cpu", "pids", "blockIO"}, {"hugepageLimits", "network", "rdma", "unified"}),
    "deviceRule": ({"allow", "type", "major", "minor", "access"}, set()),
    # kernel and kernelTCP: read only to be warned about (deprecated; runc ignores them too)
    "memory": ({"limit", "reservation", "swap", "swappiness", "disableOOMKiller", "kernel", "kernelTCP"},
               {"useHierarchy", "checkBeforeUpdate"}),
    "cpu": ({"shares", "quota", "period", "cpus", "mems"}, {"realtimeRuntime", "realtimePeriod", "burst", "idle"}),
    "pids": ({"limit"}, set()),
    "blockIO": ({"weight", "weightDevice", "throttleReadBpsDevice", "throttleWriteBpsDevice",
                 "throttleReadIOPSDevice", "throttleWriteIOPSDevice"}, {"leafWeight"}),
    "weightDevice": ({"major", "minor", "weight"}, {"leafWeight"}),
    "throttleDevice": ({"major", "minor", "rate"}, set()),
    "seccomp": ({"defaultAction", "defaultErrnoRet", "architectures", "flags", "syscalls"},
                {"listenerPath", "listenerMetadata"}),
    "syscall": ({"names", "action", "errnoRet", "args"}, set()),
    "syscallArg": ({"index", "value", "valueTwo", "op"}, set()),
}

# why a refused property is refused, where its name alone does not say
_WHY = {
    "selinuxLabel": "SELinux labels are not implemented",
    "mountLabel": "SELinux labels are not implemented",
    "hugepageLimits": "hugetlb limits are not implemented",
    "unified": "raw cgroup v2 files are not implemented",
    "listenerPath": "seccomp notification is not implemented",
}

_SEMVER = re.compile(r"^(\d+)\.(\d+)\.(\d+)(?:-[0-9A-Za-z.-]+)?(?:\+[0-9A-Za-z.-]+)?$")
_CPUSET = re.compile(r"^\d+(-\d+)?(,\d+(-\d+)?)*$")


def _given(value) -> bool:
    """A value that asks for something (engines write null, 0, "" and [] for "nothing")."""
    return value not in (None, False, 0, "", [], {})


class _Reader:
    """Walks the document, naming each field by its dotted path in errors."""

    def __init__(self, bundle: Path, name: str = "config.json"):
        self.bundle = bundle
        self.name = name  # the file errors name
        self.ignored: list[str] = []
        self.warnings: list[str] = []

    # -- errors and shapes
    def fail(self, where: str, problem: str) -> ConfigError:
        return ConfigError(f"{self.name}: {where or 'the document'} {problem}")

    def obj(self, value, where: str, kind: str) -> dict:
        if not isinstance(value, dict):
            raise self.fail(where, "must be an object")
        known, refused = _KEYS[kind]
        for key, item in value.items():
            if key in refused:
                if _given(item):
                    why = _WHY.get(key)
                    raise self.fail(_join(where, key), f"is not supported{f' ({why})' if why else ''}")
            elif key not in known:
                self.ignored.append(_join(where, key))
        return value

    def list(self, value, where: str) -> list:
        if value is None:
            return []
        if not isinstance(value, list):
            raise self.fail(where, "must be an array")
        return value

    def string(self, d: dict, key: str, where: str, required: bool = False, default: str = "") -> str:
        value = d.get(key)
        if value is None:
            if required:
                raise self.fail(_join(where, key), "must be given")
            return default
        if not isinstance(value, str):
            raise self.fail(_join(where, key), "must be a string")
        return value

    def strings(self, value, where: str) -> tuple[str, ...]:
        items = self.list(value, where)
        for i, item in enumerate(items):
            if not isinstance(item, str):
                raise self.fail(f"{where}[{i}]", "must be a string")
        return tuple(items)

    def boolean(self, d: dict, key: str, where: str) -> bool:
        value = d.get(key)
        if value is None:
            return False
        if not isinstance(value, bool):
            raise self.fail(_join(where, key), "must be true or false")
        return value

    def integer(self, d: dict, key: str, where: str, low: int, high: int, required: bool = False) -> int | None:
        value = d.get(key)
        name = _join(where, key)
        if value is None:
            if required:
                raise self.fail(name, "must be given")
            return None
        if isinstance(value, bool) or not isinstance(value, int):
            raise self.fail(name, "must be an integer")
        if not low <= value <= high:
            raise self.fail(name, f"{value} is out of range ({low} to {high})")
        return value

    def absolute(self, value: str, where: str) -> str:
        if not value.startswith("/"):
            raise self.fail(where, f"{value!r} must be an absolute path")
        return value

    def env(self, value, where: str) -> tuple[str, ...]:
        items = self.strings(value, where)
        for i, item in enumerate(items):
            name, eq, _ = item.partition("=")
            if not eq or not name:
                raise self.fail(f"{where}[{i}]", f"{item!r} is not KEY=value")
        return items

    # -- the document
    def config(self, doc) -> Config:
        doc = self.obj(doc, "", "")
        version = self.string(doc, "ociVersion", "", required=True)
        if not (m := _SEMVER.match(version)):
            raise self.fail("ociVersion", f"{version!r} is not a version (x.y.z)")
        if m.group(1) != "1":
            raise self.fail("ociVersion", f"{version} is not supported (this runtime reads 1.x)")
        linux = self.linux({} if doc.get("linux") is None else doc["linux"])
        hostname = self.string(doc, "hostname", "")
        domainname = self.string(doc, "domainname", "")
        for name, value in (("hostname", hostname), ("domainname", domainname)):
            if value and not linux.namespace("uts"):
                raise self.fail(name, "cannot be set without a UTS namespace (linux.namespaces)")
        annotations = self.obj_of_strings(doc.get("annotations"), "annotations")
        process = None
        if doc.get("process") is not None:
            process = self.process(doc["process"], "process", linux)
            self.mapped(process.user, linux)
        return Config(
            oci_version=version, bundle=self.bundle, root=self.root(doc.get("root")),
            process=process, linux=linux,
            hostname=hostname, domainname=domainname,
            mounts=tuple(self.mount(m, f"mounts[{i}]") for i, m in enumerate(self.list(doc.get("mounts"), "mounts"))),
            hooks=self.hooks(doc.get("hooks")), annotations=annotations, ignored=tuple(self.ignored),
            process_document=doc.get("process") or {}, warnings=tuple(self.warnings))

    def obj_of_strings(self, value, where: str) -> dict:
        if value is None:
            return {}
        if not isinstance(value, dict):
            raise self.fail(where, "must be an object")
        for key, item in value.items():
            if not isinstance(item, str):
                raise self.fail(f"{where}.{key}", "must be a string")
        return dict(value)

    def root(self, value) -> Root:
        if value is None:
            raise self.fail("root", "must be given")
        d = self.obj(value, "root", "root")
        given = self.string(d, "path", "root", required=True)
        if not given:
            raise self.fail("root.path", "must not be empty")
        path = Path(os.path.normpath(self.bundle / given))  # an absolute path stays as it is
        if not path.exists():
            raise self.fail("root.path", f"{path} does not exist")
        if not path.is_dir():
            raise self.fail("root.path", f"{path} is not a directory")
        # the real path: what is mounted and pivoted into later is then what was checked here
        return Root(path=Path(os.path.realpath(path)), readonly=self.boolean(d, "readonly", "root"))

    def process(self, value, where: str, linux: Linux) -> Process:
        d = self.obj(value, where, "process")
        args = self.strings(d.get("args"), f"{where}.args")
        if not args or not args[0]:
            raise self.fail(f"{where}.args", "must not be empty")
        cwd = self.string(d, "cwd", where, required=True)
        self.absolute(cwd, f"{where}.cwd")
        console = None
        if d.get("consoleSize") is not None:
            c = self.obj(d["consoleSize"], f"{where}.consoleSize", "consoleSize")
            console = (self.integer(c, "height", f"{where}.consoleSize", 0, 65535, required=True),
                       self.integer(c, "width", f"{where}.consoleSize", 0, 65535, required=True))
        caps = None
        if d.get("capabilities") is not None:
            c = self.obj(d["capabilities"], f"{where}.capabilities", "capabilities")
            sets = {}
            for name in _KEYS["capabilities"][0]:
                sets[name] = self.strings(c.get(name), f"{where}.capabilities.{name}")
                for cap in sets[name]:
                    if cap not in tables.CAPABILITIES:
                        raise self.fail(f"{where}.capabilities.{name}", f"{cap!r} is not a capability this runtime knows")
            caps = Capabilities(**sets)
        rlimits, seen = [], set()
        for i, item in enumerate(self.list(d.get("rlimits"), f"{where}.rlimits")):
            at = f"{where}.rlimits[{i}]"
            r = self.obj(item, at, "rlimit")
            kind = self.string(r, "type", at, required=True)
            if kind not in tables.RLIMITS:
                raise self.fail(f"{at}.type", f"{kind!r} is not an RLIMIT_* resource")
            if kind in seen:
                raise self.fail(f"{at}.type", f"{kind} is given twice")
            seen.add(kind)
            soft = self.integer(r, "soft", at, 0, UINT64, required=True)
            hard = self.integer(r, "hard", at, 0, UINT64, required=True)
            if soft > hard:
                raise self.fail(at, f"soft limit {soft} is above the hard limit {hard}")
            rlimits.append(Rlimit(kind, soft, hard))
        profile = self.string(d, "apparmorProfile", where)
        if profile and not apparmor_enabled():
            raise self.fail(f"{where}.apparmorProfile", "is set but AppArmor is not enabled on this host")
        if self.string(d, "selinuxLabel", where):
            raise self.fail(f"{where}.selinuxLabel", f"is not supported ({_WHY['selinuxLabel']})")
        return Process(
            args=args, cwd=cwd, env=self.env(d.get("env"), f"{where}.env"), user=self.user(d.get("user"), where),
            terminal=self.boolean(d, "terminal", where), console_size=console, capabilities=caps,
            rlimits=tuple(rlimits), no_new_privileges=self.boolean(d, "noNewPrivileges", where),
            oom_score_adj=self.integer(d, "oomScoreAdj", where, -1000, 1000), apparmor_profile=profile)

    def mapped(self, user: User, linux: Linux) -> None:
        """In a new user namespace the process's ids must be mapped, or setuid fails at start."""
        ns = linux.namespace("user")
        if ns is None or ns.path is not None:
            return
        for name, ids, maps in (("uid", [user.uid], linux.uid_mappings),
                                ("gid", [user.gid], linux.gid_mappings),
                                ("additionalGids", user.additional_gids, linux.gid_mappings)):
            for one in ids:
                if not any(m.container_id <= one < m.container_id + m.size for m in maps):
                    mapping = "linux.uidMappings" if name == "uid" else "linux.gidMappings"
                    raise self.fail(f"process.user.{name}", f"{one} is not mapped in the user namespace ({mapping})")

    def user(self, value, where: str) -> User:
        if value is None:
            return User()  # runc's reading: uid and gid 0
        at = f"{where}.user"
        u = self.obj(value, at, "user")
        gids = self.list(u.get("additionalGids"), f"{at}.additionalGids")
        return User(uid=self.integer(u, "uid", at, 0, UINT32 - 1) or 0, gid=self.integer(u, "gid", at, 0, UINT32 - 1) or 0,
                    umask=self.integer(u, "umask", at, 0, 0o777),
                    additional_gids=tuple(self.integer({i: g}, i, f"{at}.additionalGids", 0, UINT32 - 1, required=True)
                                          for i, g in enumerate(gids)))

    def mount(self, value, where: str) -> Mount:
        d = self.obj(value, where, "mount")
        destination = self.absolute(self.string(d, "destination", where, required=True), f"{where}.destination")
        kind = self.string(d, "type", where)
        source = self.string(d, "source", where)
        options = self.strings(d.get("options"), f"{where}.options")
        flags, propagation, data = 0, [], []
        for option in options:
            if option in tables.MOUNT_FLAGS:
                sets, bit = tables.MOUNT_FLAGS[option]
                flags = flags | bit if sets else flags & ~bit
            elif option in tables.MOUNT_PROPAGATION:
                propagation.append(tables.MOUNT_PROPAGATION[option])
            elif option == tables.MOUNT_COPY_UP:
                if kind != "tmpfs":
                    raise self.fail(f"{where}.options", f"{option!r} is for tmpfs mounts only")
            elif "=" in option or option in tables.MOUNT_DATA_WORDS:
                data.append(option)
            else:
                raise self.fail(f"{where}.options", f"{option!r} is not a mount option this runtime knows")
        bind = kind == "bind" or "bind" in options or "rbind" in options
        if bind:
            if kind not in ("bind", "none", ""):
                raise self.fail(f"{where}.type", f"{kind!r} cannot be bind-mounted (use \"bind\" or \"none\")")
            if data:
                # the kernel ignores a bind mount's data, and runc passes it on all the same:
                # accepted (engines and the OCI suite write mode= on binds), said, dropped
                self.warnings.append(f"config.json: {where}.options {', '.join(map(repr, data))}: no effect on a "
                                     "bind mount, ignored")
                data = []
            if not source:
                raise self.fail(f"{where}.source", "must be given for a bind mount")
            source = os.path.normpath(self.bundle / source)  # runc reads a relative source from the bundle
            kind = "bind"
        elif not kind:
            raise self.fail(f"{where}.type", "must be given (or a bind or rbind option)")
        elif kind not in tables.MOUNT_TYPES:
            raise self.fail(f"{where}.type", f"{kind!r} is not supported")
        return Mount(destination=destination, type=kind, source=source, options=options, flags=flags,
                     propagation=tuple(propagation), data=",".join(data), copy_up=tables.MOUNT_COPY_UP in options)

    def hooks(self, value) -> Hooks:
        if value is None:
            return Hooks()
        d = self.obj(value, "hooks", "hooks")
        found = {}
        for point in tables.HOOKS:
            hooks = []
            for i, item in enumerate(self.list(d.get(point), f"hooks.{point}")):
                at = f"hooks.{point}[{i}]"
                h = self.obj(item, at, "hook")
                path = self.absolute(self.string(h, "path", at, required=True), f"{at}.path")
                hooks.append(Hook(path=path, args=self.strings(h.get("args"), f"{at}.args"),
                                  env=self.env(h.get("env"), f"{at}.env"),
                                  timeout=self.integer(h, "timeout", at, 1, INT64_MAX)))  # the spec: > 0
            found[point] = tuple(hooks)
        return Hooks(**found)

    def linux(self, value) -> Linux:
        d = self.obj(value, "linux", "linux")
        namespaces, kinds = [], set()
        for i, item in enumerate(self.list(d.get("namespaces"), "linux.namespaces")):
            at = f"linux.namespaces[{i}]"
            n = self.obj(item, at, "namespace")
            kind = self.string(n, "type", at, required=True)
            if kind == "time":
                raise self.fail(f"{at}.type", "time namespaces are not supported")
            if kind not in tables.NAMESPACES:
                raise self.fail(f"{at}.type", f"{kind!r} is not a namespace type")
            if kind in kinds:
                raise self.fail(f"{at}.type", f"{kind} is given twice")
            kinds.add(kind)
            path = self.string(n, "path", at) or None
            if path is not None:
                self.absolute(path, f"{at}.path")
                if not os.path.exists(path):
                    raise self.fail(f"{at}.path", f"{path} does not exist")
            namespaces.append(Namespace(kind, path))
        if "mount" not in kinds:
            # without one the runtime's mounts and pivot_root would change the host's tree
            # (runc refuses too when maskedPaths or readonlyPaths are given, as its template
            # has; without them it mounts onto the host and leaves the mounts there)
            raise self.fail("linux.namespaces", "must include a mount namespace (the root filesystem's mounts "
                                                "would otherwise be made on the host)")
        uid_maps = self.mappings(d.get("uidMappings"), "linux.uidMappings")
        gid_maps = self.mappings(d.get("gidMappings"), "linux.gidMappings")
        user = next((n for n in namespaces if n.type == "user"), None)
        if user is None and (uid_maps or gid_maps):
            raise self.fail("linux.uidMappings" if uid_maps else "linux.gidMappings",
                            "needs a user namespace (linux.namespaces)")
        if user is not None and user.path is None and not (uid_maps and gid_maps):
            raise self.fail("linux.uidMappings" if not uid_maps else "linux.gidMappings",
                            "must be given for a new user namespace")
        if user is not None and user.path is not None and (uid_maps or gid_maps):
            raise self.fail("linux.uidMappings" if uid_maps else "linux.gidMappings",
                            "cannot be given when joining a user namespace by path (it has its own)")
        cgroups_path = self.string(d, "cgroupsPath", "linux")
        if ":" in cgroups_path:
            raise self.fail("linux.cgroupsPath", f"{cgroups_path!r} is systemd's slice:prefix:name form, "
                            "which needs --systemd-cgroup (not supported)")
        if ".." in cgroups_path.split("/"):
            raise self.fail("linux.cgroupsPath", f"{cgroups_path!r} must not contain '..'")
        sysctl = self.obj_of_strings(d.get("sysctl"), "linux.sysctl")
        for key in sysctl:
            self.sysctl(key, kinds)
        propagation = self.string(d, "rootfsPropagation", "linux")
        if propagation and propagation not in tables.ROOTFS_PROPAGATION:
            raise self.fail("linux.rootfsPropagation", f"{propagation!r} is not a propagation type")
        if self.string(d, "mountLabel", "linux"):
            raise self.fail("linux.mountLabel", f"is not supported ({_WHY['mountLabel']})")
        return Linux(
            namespaces=tuple(namespaces), uid_mappings=uid_maps, gid_mappings=gid_maps,
            devices=tuple(self.device(x, f"linux.devices[{i}]") for i, x in enumerate(self.list(d.get("devices"), "linux.devices"))),
            cgroups_path=cgroups_path,
            resources=None if d.get("resources") is None else self.resources(d["resources"]),
            sysctl=sysctl, seccomp=None if d.get("seccomp") is None else self.seccomp(d["seccomp"]),
            masked_paths=self.paths(d.get("maskedPaths"), "linux.maskedPaths"),
            readonly_paths=self.paths(d.get("readonlyPaths"), "linux.readonlyPaths"),
            rootfs_propagation=propagation)

    def paths(self, value, where: str) -> tuple[str, ...]:
        items = self.strings(value, where)
        for i, item in enumerate(items):
            self.absolute(item, f"{where}[{i}]")
        return items

    def mappings(self, value, where: str) -> tuple[IDMapping, ...]:
        found = []
        for i, item in enumerate(self.list(value, where)):
            at = f"{where}[{i}]"
            m = self.obj(item, at, "mapping")
            found.append(IDMapping(self.integer(m, "containerID", at, 0, UINT32 - 1, required=True),
                                   self.integer(m, "hostID", at, 0, UINT32 - 1, required=True),
                                   self.integer(m, "size", at, 1, UINT32, required=True)))
        return tuple(found)

    def sysctl(self, key: str, kinds: set) -> None:
        where = f"linux.sysctl.{key}"
        if key in tables.SYSCTL_IPC or key.startswith(tables.SYSCTL_IPC_PREFIXES):
            needs = "ipc"
        elif key in tables.SYSCTL_UTS:
            needs = "uts"
        elif key.startswith(tables.SYSCTL_NET_PREFIXES):
            needs = "network"
        else:
            raise self.fail(where, "is not in a namespace of the container (setting it would change the host)")
        if needs not in kinds:
            raise self.fail(where, f"needs a {needs} namespace (linux.namespaces)")

    def device(self, value, where: str) -> Device:
        d = self.obj(value, where, "device")
        kind = self.string(d, "type", where, required=True)
        if kind not in tables.DEVICE_TYPES:
            raise self.fail(f"{where}.type", f"{kind!r} is not a device type (c, b, u or p)")
        path = self.absolute(self.string(d, "path", where, required=True), f"{where}.path")
        needs_numbers = kind != "p"
        return Device(type=kind, path=path,
                      major=self.integer(d, "major", where, 0, INT64_MAX, required=needs_numbers),
                      minor=self.integer(d, "minor", where, 0, INT64_MAX, required=needs_numbers),
                      file_mode=self.file_mode(d, kind, where),
                      uid=self.integer(d, "uid", where, 0, UINT32 - 1), gid=self.integer(d, "gid", where, 0, UINT32 - 1))

    def file_mode(self, d: dict, kind: str, where: str) -> int | None:
        """The node's permission bits. podman (--privileged) writes the host node's whole
        st_mode, its type bits with it; runc ORs the type in anyway: those of the device's
        own type are dropped, any other bit above 0o7777 refused."""
        mode = self.integer(d, "fileMode", where, 0, 0o177777)
        if mode is None or mode <= 0o7777:
            return mode
        if mode & ~0o7777 != _NODE_TYPE_BITS[kind]:
            raise self.fail(_join(where, "fileMode"), f"{mode:#o} has file type bits that are not "
                                                       f"those of a {kind!r} device")
        return mode & 0o7777

    def resources(self, value) -> Resources:
        d = self.obj(value, "linux.resources", "resources")
        rules = []
        for i, item in enumerate(self.list(d.get("devices"), "linux.resources.devices")):
            at = f"linux.resources.devices[{i}]"
            r = self.obj(item, at, "deviceRule")
            if not isinstance(r.get("allow"), bool):
                raise self.fail(f"{at}.allow", "must be true or false")
            kind = self.string(r, "type", at, default="a") or "a"
            if kind not in tables.DEVICE_RULE_TYPES:
                raise self.fail(f"{at}.type", f"{kind!r} is not a device type (a, c or b)")
            access = self.string(r, "access", at, default="rwm") or "rwm"
            if set(access) - set("rwm"):
                raise self.fail(f"{at}.access", f"{access!r} is not made of r, w and m")
            major = self.integer(r, "major", at, -1, INT64_MAX)
            minor = self.integer(r, "minor", at, -1, INT64_MAX)
            rules.append(DeviceRule(allow=r["allow"], type=kind, access=access,
                                    major=None if major == -1 else major, minor=None if minor == -1 else minor))
        memory = cpu = block = pids = None
        if d.get("memory") is not None:
            at = "linux.resources.memory"
            m = self.obj(d["memory"], at, "memory")
            for key in ("kernel", "kernelTCP"):
                if self.integer(m, key, at, -1, INT64_MAX) not in (None, 0):
                    # deprecated by the runtime-spec; cgroup v2 has no such limit and Linux
                    # 6.x's v1 no longer its files: runc warns and goes on, so do we
                    self.warnings.append(f"config.json: {at}.{key} is deprecated and ignored")
            memory = Memory(limit=self.integer(m, "limit", at, -1, INT64_MAX),
                            reservation=self.integer(m, "reservation", at, -1, INT64_MAX),
                            swap=self.integer(m, "swap", at, -1, INT64_MAX),
                            swappiness=self.integer(m, "swappiness", at, 0, 100),
                            disable_oom_killer=self.boolean(m, "disableOOMKiller", at))
        if d.get("cpu") is not None:
            at = "linux.resources.cpu"
            c = self.obj(d["cpu"], at, "cpu")
            cpus, mems = self.string(c, "cpus", at), self.string(c, "mems", at)
            for name, text in (("cpus", cpus), ("mems", mems)):
                if text and not _CPUSET.match(text):
                    raise self.fail(f"{at}.{name}", f"{text!r} is not a list like 0-2,4")
            cpu = CPU(shares=self.integer(c, "shares", at, 0, UINT64), quota=self.integer(c, "quota", at, -1, INT64_MAX),
                      period=self.integer(c, "period", at, 0, UINT64), cpus=cpus, mems=mems)
        if d.get("pids") is not None:
            p = self.obj(d["pids"], "linux.resources.pids", "pids")
            pids = self.integer(p, "limit", "linux.resources.pids", -1, INT64_MAX, required=True)
        if d.get("blockIO") is not None:
            block = self.block_io(d["blockIO"])
        return Resources(devices=tuple(rules), memory=memory, cpu=cpu, pids_limit=pids, block_io=block)

    def block_io(self, value) -> BlockIO:
        at = "linux.resources.blockIO"
        b = self.obj(value, at, "blockIO")
        weights = []
        for i, item in enumerate(self.list(b.get("weightDevice"), f"{at}.weightDevice")):
            w_at = f"{at}.weightDevice[{i}]"
            w = self.obj(item, w_at, "weightDevice")
            weights.append(WeightDevice(self.integer(w, "major", w_at, 0, INT64_MAX, required=True),
                                        self.integer(w, "minor", w_at, 0, INT64_MAX, required=True),
                                        self.integer(w, "weight", w_at, 10, 1000, required=True)))

        def throttles(key: str) -> tuple[ThrottleDevice, ...]:
            found = []
            for i, item in enumerate(self.list(b.get(key), f"{at}.{key}")):
                t_at = f"{at}.{key}[{i}]"
                t = self.obj(item, t_at, "throttleDevice")
                found.append(ThrottleDevice(self.integer(t, "major", t_at, 0, INT64_MAX, required=True),
                                            self.integer(t, "minor", t_at, 0, INT64_MAX, required=True),
                                            self.integer(t, "rate", t_at, 0, UINT64, required=True)))
            return tuple(found)

        weight = self.integer(b, "weight", at, 0, 1000)
        if weight not in (None, 0) and weight < 10:
            raise self.fail(f"{at}.weight", f"{weight} is out of range (10 to 1000)")
        return BlockIO(weight=weight or None, weight_device=tuple(weights),
                       throttle_read_bps_device=throttles("throttleReadBpsDevice"),
                       throttle_write_bps_device=throttles("throttleWriteBpsDevice"),
                       throttle_read_iops_device=throttles("throttleReadIOPSDevice"),
                       throttle_write_iops_device=throttles("throttleWriteIOPSDevice"))

    def seccomp(self, value) -> Seccomp:
        at = "linux.seccomp"
        s = self.obj(value, at, "seccomp")
        default = self.action(self.string(s, "defaultAction", at, required=True), f"{at}.defaultAction")
        arches = self.strings(s.get("architectures"), f"{at}.architectures")
        for arch in arches:
            if arch not in tables.SECCOMP_ARCHES:
                raise self.fail(f"{at}.architectures", f"{arch!r} is not supported")
        flags = self.strings(s.get("flags"), f"{at}.flags")
        for flag in flags:
            if flag not in tables.SECCOMP_FLAGS:
                raise self.fail(f"{at}.flags", f"{flag!r} is not supported")
        rules = []
        for i, item in enumerate(self.list(s.get("syscalls"), f"{at}.syscalls")):
            r_at = f"{at}.syscalls[{i}]"
            r = self.obj(item, r_at, "syscall")
            names = self.strings(r.get("names"), f"{r_at}.names")
            if not names or not all(names):
                raise self.fail(f"{r_at}.names", "must name at least one system call")
            action = self.action(self.string(r, "action", r_at, required=True), f"{r_at}.action")
            args = []
            for j, a_item in enumerate(self.list(r.get("args"), f"{r_at}.args")):
                a_at = f"{r_at}.args[{j}]"
                a = self.obj(a_item, a_at, "syscallArg")
                op = self.string(a, "op", a_at, required=True)
                if op not in tables.SECCOMP_OPERATORS:
                    raise self.fail(f"{a_at}.op", f"{op!r} is not a comparison this runtime knows")
                args.append(SyscallArg(index=self.integer(a, "index", a_at, 0, 5, required=True),
                                       value=self.integer(a, "value", a_at, 0, UINT64, required=True),
                                       value_two=self.integer(a, "valueTwo", a_at, 0, UINT64) or 0, op=op))
            rules.append(SyscallRule(names=names, action=action,
                                     errno_ret=self.integer(r, "errnoRet", r_at, 0, UINT32), args=tuple(args)))
        return Seccomp(default_action=default, default_errno_ret=self.integer(s, "defaultErrnoRet", at, 0, UINT32),
                       architectures=arches, flags=flags, syscalls=tuple(rules))

    def action(self, name: str, where: str) -> str:
        if name == "SCMP_ACT_NOTIFY":
            raise self.fail(where, "SCMP_ACT_NOTIFY is not supported (seccomp notification is not implemented)")
        if name not in tables.SECCOMP_ACTIONS:
            raise self.fail(where, f"{name!r} is not a seccomp action")
        return name


def _join(where: str, key) -> str:
    if isinstance(key, int):  # an array's item
        return f"{where}[{key}]"
    return f"{where}.{key}" if where else key


def apparmor_enabled() -> bool:
    """AppArmor is on in this kernel (a profile can then be asked for by name)."""
    try:
        with open("/sys/module/apparmor/parameters/enabled") as f:
            return f.read().strip() == "Y"
    except OSError:
        return False


def parse(document, bundle) -> Config:
    """A parsed config.json as the model, for a bundle at `bundle` (its root.path's base)."""
    return _Reader(Path(os.path.abspath(bundle))).config(document)


def parse_process(document, name: str, where: str = "process") -> Process:
    """A runtime-spec process object alone (exec's --process, or the one create kept), its
    errors naming the file `name`."""
    return _Reader(Path("/"), name).process(document, where, Linux())


def resources(document, warn=None) -> Resources:
    """An `update`'s LinuxResources document, checked as config.json's linux.resources is;
    its errors and warnings name the field within the document ("resources: memory.limit")."""
    def within(text: str) -> str:
        return text.replace("config.json: linux.resources.", "resources: ", 1).replace(
            "config.json: linux.resources", "resources", 1)

    reader = _Reader(Path("."))
    try:
        found = reader.resources(document)
    except ConfigError as e:
        raise ConfigError(within(str(e))) from None
    for text in reader.warnings:
        if warn is not None:
            warn(within(text))
    return found


def load(bundle) -> Config:
    """The bundle's config.json, read and checked. Errors are one line each (ConfigError)."""
    bundle = Path(os.path.abspath(bundle))
    path = bundle / "config.json"
    if not bundle.is_dir():
        raise ConfigError(f"bundle {bundle} does not exist")
    try:
        with open(path, "rb") as f:
            text = f.read()
    except FileNotFoundError:
        raise ConfigError(f"JSON specification file {path} does not exist") from None
    except OSError as e:
        raise ConfigError(f"cannot read {path}: {e.strerror}") from None
    try:
        document = json.loads(text)
    except (ValueError, UnicodeDecodeError) as e:
        where = f" at line {e.lineno} column {e.colno}" if isinstance(e, json.JSONDecodeError) else ""
        raise ConfigError(f"config.json: not valid JSON{where}: {getattr(e, 'msg', e)}") from None
    return parse(document, bundle)
