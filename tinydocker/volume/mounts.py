"""`-v` and `--mount` as docker reads them, into one plain form the spec keeps.

A mount is a dict:

    {"type": "bind" | "volume", "source": host path | volume name, "target": path inside,
     "readonly": bool, "create": bool (bind: make a missing host directory, as -v does),
     "nocopy": bool (volume: never fill it from the image), "anonymous": bool (volume: named
     by tinydocker, removed with its container by `rm -v` and `--rm`)}

`--mount type=tmpfs` becomes a `--tmpfs` entry (volume/tmpfs.py). Only syntax is checked
here; host paths and volumes are looked at when the container is made and started.
"""

import os
import posixpath
import re

from ..errors import TinydockerError

# docker's rule for local volume names (at least two characters)
VOLUME_NAME_RE = re.compile(r"[a-zA-Z0-9][a-zA-Z0-9_.-]+")
_PROPAGATION = ("private", "rprivate")  # a container's mounts never propagate, either way
_SIZE_UNITS = {"": 1, "b": 1, "k": 1 << 10, "m": 1 << 20, "g": 1 << 30}


def check_volume_name(name: str) -> str:
    if not VOLUME_NAME_RE.fullmatch(name) or len(name) > 255:
        raise TinydockerError(f'"{name}" includes invalid characters for a local volume name, only '
                              '"[a-zA-Z0-9][a-zA-Z0-9_.-]" are allowed. If you intended to pass a host '
                              "directory, use absolute path")
    return name


def anonymous_name() -> str:
    return os.urandom(32).hex()


def _target(path: str, flag: str) -> str:
    if not path.startswith("/") or "\0" in path:
        raise TinydockerError(f"invalid {flag}: mount path {path!r} must be absolute")
    path = posixpath.normpath(path)
    if path.startswith("//"):
        path = path[1:]
    if path == "/":
        raise TinydockerError(f"invalid {flag}: a volume cannot be mounted on /")
    return path


def _mount(kind: str, source: str, target: str, readonly=False, create=False, nocopy=False,
           anonymous=False) -> dict:
    return {"type": kind, "source": source, "target": target, "readonly": readonly, "create": create,
            "nocopy": nocopy, "anonymous": anonymous}


def parse_volume(flag: str) -> dict:
    """-v [SOURCE:]TARGET[:OPTIONS]: SOURCE an absolute host path (a bind) or a volume name;
    without SOURCE an anonymous volume. OPTIONS: ro, rw, nocopy, z, Z (no SELinux here)."""
    what = f"-v {flag!r}"
    parts = flag.split(":")
    if len(parts) > 3 or not all(parts[:2]):
        raise TinydockerError(f"invalid {what}: want [SOURCE:]TARGET[:ro|rw|nocopy]")
    if len(parts) == 1 or (len(parts) == 2 and not parts[1].startswith("/")):
        source, target, options = "", parts[0], parts[1] if len(parts) == 2 else ""
    else:
        source, target, options = parts[0], parts[1], parts[2] if len(parts) == 3 else ""
    readonly = nocopy = False
    for option in filter(None, options.split(",")):
        if option in ("ro", "rw"):
            readonly = option == "ro"
        elif option == "nocopy":
            nocopy = True
        elif option in ("z", "Z") or option in _PROPAGATION:
            pass
        else:
            raise TinydockerError(f"invalid {what}: unknown option {option!r} (tinydocker knows ro, rw, nocopy)")
    target = _target(target, what)
    if source.startswith("/"):
        if nocopy:
            raise TinydockerError(f"invalid {what}: nocopy applies to volumes, not to a host directory")
        return _mount("bind", posixpath.normpath(source), target, readonly, create=True)
    if not source:
        return _mount("volume", anonymous_name(), target, readonly, nocopy=nocopy, anonymous=True)
    return _mount("volume", check_volume_name(source), target, readonly, nocopy=nocopy)


def parse_mount(flag: str) -> dict | str:
    """--mount type=bind|volume|tmpfs,source=…,target=…[,readonly][,volume-nocopy]
    [,tmpfs-size=…][,tmpfs-mode=…]: a mount, or for tmpfs a --tmpfs flag. As docker, a bind's
    source must exist and a tmpfs takes no source."""
    what = f"--mount {flag!r}"
    fields: dict[str, str] = {}
    for item in flag.split(","):
        key, eq, value = item.partition("=")
        key = key.strip().lower()
        if not key:
            raise TinydockerError(f"invalid {what}: empty field")
        if key in fields:
            raise TinydockerError(f"invalid {what}: {key} given twice")
        fields[key] = value if eq else ""
        if not eq and key not in ("readonly", "ro", "volume-nocopy"):
            raise TinydockerError(f"invalid {what}: field {key!r} must be a key=value pair")
    kind = fields.pop("type", "volume")
    source = _take(fields, "source", "src") or ""
    target = _take(fields, "target", "destination", "dst")
    readonly = _take(fields, "readonly", "ro")
    readonly = readonly is not None and _boolean(readonly, what)  # a bare "readonly" is true
    if not target:
        raise TinydockerError(f"invalid {what}: target is required")
    target = _target(target, what)
    fields.pop("consistency", None)
    propagation = fields.pop("bind-propagation", "rprivate")
    if kind == "bind":
        if propagation not in _PROPAGATION:
            raise TinydockerError(f"invalid {what}: bind-propagation {propagation!r} is not supported "
                                  "(a container's mounts are private)")
        _no_others(fields, what)
        if not source.startswith("/"):
            raise TinydockerError(f"invalid {what}: a bind's source must be an absolute host path")
        if not os.path.exists(source):
            raise TinydockerError(f'invalid mount config for type "bind": bind source path does not exist: {source}')
        return _mount("bind", posixpath.normpath(source), target, readonly)
    if kind == "volume":
        nocopy = _boolean(fields.pop("volume-nocopy", "false"), what)
        _no_others(fields, what)
        if not source:
            return _mount("volume", anonymous_name(), target, readonly, nocopy=nocopy, anonymous=True)
        return _mount("volume", check_volume_name(source), target, readonly, nocopy=nocopy)
    if kind == "tmpfs":
        if source:
            raise TinydockerError(f'invalid mount config for type "tmpfs": source is not allowed ({what})')
        options = ["ro"] if readonly else []
        if "tmpfs-size" in fields:
            options.append(f"size={_bytes(fields.pop('tmpfs-size'), what)}")
        if "tmpfs-mode" in fields:
            mode = fields.pop("tmpfs-mode")
            if not re.fullmatch(r"0?[0-7]{1,4}", mode):
                raise TinydockerError(f"invalid {what}: tmpfs-mode {mode!r} is not an octal mode")
            options.append(f"mode={mode}")
        _no_others(fields, what)
        return target + (":" + ",".join(options) if options else "")
    raise TinydockerError(f"invalid {what}: type {kind!r} is not bind, volume or tmpfs")


def _take(fields: dict, *aliases: str) -> str | None:
    """The value of a field that docker accepts under several names (the first one given)."""
    values = [fields.pop(a) for a in aliases if a in fields]
    return values[0] if values else None


def _no_others(fields: dict, what: str) -> None:
    if fields:
        raise TinydockerError(f"invalid {what}: unexpected field {sorted(fields)[0]!r}")


def _boolean(value: str, what: str) -> bool:
    if value.lower() in ("", "true", "1"):
        return True
    if value.lower() in ("false", "0"):
        return False
    raise TinydockerError(f"invalid {what}: {value!r} is not true or false")


def _bytes(value: str, what: str) -> int:
    match = re.fullmatch(r"(\d+)([bkmg]?)", value.strip().lower())
    if not match:
        raise TinydockerError(f"invalid {what}: size {value!r} is not bytes (k, m, g)")
    return int(match.group(1)) * _SIZE_UNITS[match.group(2)]


def check_targets(mounts: list[dict], tmpfs: list[str]) -> None:
    """Each path in the container takes one mount (docker's "Duplicate mount point")."""
    seen = set()
    for target in [m["target"] for m in mounts] + [posixpath.normpath(t.partition(":")[0]) for t in tmpfs]:
        if target in seen:
            raise TinydockerError(f"Duplicate mount point: {target}")
        seen.add(target)


def check_driver_options(options: dict) -> dict:
    """`volume create -o` for the local driver, as docker's: type, device and o (mount(8)'s
    words). `o=bind` with a host directory as device makes the volume that directory; any
    other type is mounted by each container's init at the volume's targets (so a tmpfs
    volume is each container's own, where docker's daemon shares one among its users)."""
    unknown = sorted(set(options) - {"type", "device", "o"})
    if unknown:
        raise TinydockerError(f'invalid option key: "{unknown[0]}" (the local driver takes type, device and o)')
    if not options:
        return {}
    if not options.get("type") or not options.get("device"):
        raise TinydockerError("the local driver's options need type and device (e.g. -o type=tmpfs -o device=tmpfs)")
    if "bind" in options.get("o", "").split(","):
        if not options["device"].startswith("/") or not os.path.isdir(options["device"]):
            raise TinydockerError(f"bind device {options['device']!r} is not a host directory")
    return dict(options)

