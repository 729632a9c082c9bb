"""`update [--resources FILE|-] [flags] ID`: new limits for a created, running or paused
container, written into the cgroups create made; runc's command (podman: `update --resources
FILE`, containerd's shim: `update --resources -` with the JSON on stdin).

The document is the runtime-spec's LinuxResources, checked as config.json's linux.resources
is (what create refuses, update refuses by the same name). As in runc, a value left out or
given as 0 ("") leaves the limit as it is, -1 lifts it, and with --resources the flags are
ignored. Device rules are not changed (runc's update skips them too); a document's are
reported and left. runc's flags give the same fields one by one, sizes as docker writes them
("64m", "1g").
"""

import json
import re

from ..plain import replace
from . import cgroups
from .config import ConfigError, Resources, resources as checked
from .state import RuntimeError_, Store, status

# runc's flags: (flag, the document's field), parsed as runc parses each
SIZES = (("memory", "limit"), ("memory-reservation", "reservation"), ("memory-swap", "swap"))
INTEGERS = (("cpu-share", "shares"), ("cpu-period", "period"), ("cpu-quota", "quota"),
            ("cpu-rt-period", "realtimePeriod"), ("cpu-rt-runtime", "realtimeRuntime"))
_SIZE = re.compile(r"^(\d+(?:\.\d+)?) ?([kmgtp])?i?b?$", re.IGNORECASE)


def size(text: str, flag: str) -> int:
    """docker's RAMInBytes: 1024-based units, "64m", "1.5g", "512KiB"; "-1" for unlimited."""
    if text == "-1":
        return -1
    m = _SIZE.match(text)
    if not m:
        raise RuntimeError_(f"invalid value for {flag}: invalid size: {text!r}")
    return int(float(m.group(1)) * 1024 ** " kmgtp".index((m.group(2) or " ").lower()))


def document_from_flags(flags: dict) -> dict:
    """runc's single-value flags as a LinuxResources document ({flag name: text or None})."""
    memory, cpu = {}, {}
    for flag, key in SIZES:
        if flags.get(flag):
            memory[key] = size(flags[flag], flag)
    for flag in ("kernel-memory", "kernel-memory-tcp"):
        if flags.get(flag):
            memory["kernel" if flag == "kernel-memory" else "kernelTCP"] = size(flags[flag], flag)
    for flag, key in INTEGERS:
        if flags.get(flag):
            try:
                cpu[key] = int(flags[flag])
            except ValueError:
                raise RuntimeError_(f"invalid value for {flag}: {flags[flag]!r} is not an integer") from None
    for flag, key in (("cpuset-cpus", "cpus"), ("cpuset-mems", "mems")):
        if flags.get(flag):
            cpu[key] = flags[flag]
    doc = {"memory": memory, "cpu": cpu}
    for flag, place in (("pids-limit", ("pids", "limit")), ("blkio-weight", ("blockIO", "weight"))):
        if flags.get(flag):
            try:
                doc[place[0]] = {place[1]: int(flags[flag])}
            except ValueError:
                raise RuntimeError_(f"invalid value for {flag}: {flags[flag]!r} is not an integer") from None
    for flag in ("l3-cache-schema", "mem-bw-schema"):
        if flags.get(flag):
            raise RuntimeError_(f"--{flag} is not supported (Intel RDT is not implemented)")
    return doc


def document_from(source: str, stdin) -> dict:
    """The JSON document of --resources: a file's, or stdin's for "-"."""
    name = "standard input" if source == "-" else source
    try:
        if source == "-":
            text = stdin.buffer.read()
        else:
            with open(source, "rb") as f:
                text = f.read()
    except OSError as e:
        raise RuntimeError_(f"cannot read the resources from {name}: {e.strerror}") from None
    try:
        return json.loads(text)
    except (ValueError, UnicodeDecodeError) as e:
        where = f" at line {e.lineno} column {e.colno}" if isinstance(e, json.JSONDecodeError) else ""
        raise RuntimeError_(f"the resources in {name} are not valid JSON{where}: {getattr(e, 'msg', e)}") from None


def _unchanged_as_none(r: Resources) -> Resources:
    """runc's update reads 0 (and "") as "leave it": None in the model, which writes nothing."""
    def keep(value):
        return None if value == 0 else value

    memory = r.memory and replace(r.memory, limit=keep(r.memory.limit), reservation=keep(r.memory.reservation),
                                  swap=keep(r.memory.swap))
    cpu = r.cpu and replace(r.cpu, shares=keep(r.cpu.shares), quota=keep(r.cpu.quota), period=keep(r.cpu.period))
    return replace(r, devices=(), memory=memory, cpu=cpu, pids_limit=keep(r.pids_limit))


def resources(document, warn) -> Resources:
    if not isinstance(document, dict):
        raise RuntimeError_("the resources must be a JSON object (the runtime-spec's LinuxResources)")
    try:
        r = checked(document, warn=warn)
    except ConfigError as e:
        raise RuntimeError_(str(e)) from None
    if r.devices:
        warn("resources: devices cannot be changed by update: left as they are (as runc does)")
    return _unchanged_as_none(r)


def update(store: Store, container_id: str, r: Resources) -> None:
    with store.open(container_id) as locked:
        state = locked.read()
        if status(locked.path, state, holding_lock=True) not in ("created", "running", "paused"):
            raise RuntimeError_("container not running")
        try:
            cgroups.update(state.leaves, r)
        except RuntimeError_ as e:
            # the checks are create's, naming config.json's fields; here the document's
            raise RuntimeError_(str(e).replace("config.json: linux.resources.", "resources: ")
                                .replace("config.json: linux.resources", "resources")) from None
