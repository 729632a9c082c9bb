"""docker's JSON in the API's terms: a create's body as create()'s options, a record as a
/containers/json row."""

from __future__ import annotations

import random
from datetime import datetime, timezone

from ..errors import TinydockerError
from .server import HTTPError

# docker's generated names are an adjective and a surname; these are tinydocker's own
_ADJECTIVES = ("agile", "bold", "brave", "bright", "calm", "clever", "cosy", "daring", "eager", "earnest", "fond",
               "gentle", "glad", "happy", "hardy", "jolly", "keen", "kind", "lively", "lucid", "merry", "modest",
               "nimble", "noble", "patient", "proud", "quiet", "quick", "sharp", "steady", "sunny", "tender",
               "tidy", "upbeat", "vivid", "warm", "wise", "witty", "zealous", "zen")
_NAMES = ("babbage", "bell", "boole", "cerf", "curie", "darwin", "dijkstra", "einstein", "euler", "faraday",
          "fermi", "franklin", "gauss", "goodall", "hamilton", "hopper", "kepler", "knuth", "lamarr", "liskov",
          "lovelace", "maxwell", "meitner", "newton", "noether", "pascal", "planck", "ritchie", "sagan", "shannon",
          "stallman", "tesla", "thompson", "torvalds", "turing", "volta", "wiles", "wing", "wozniak", "yalow")


def generated_name(taken) -> str:
    for _ in range(100):
        name = f"{random.choice(_ADJECTIVES)}_{random.choice(_NAMES)}"
        if name not in taken:
            return name
    return f"{random.choice(_ADJECTIVES)}_{random.choice(_NAMES)}{random.randrange(1000)}"


def _strings(body: dict, key: str) -> list[str]:
    value = body.get(key)
    if value is None:
        return []
    if isinstance(value, str):
        return [value]
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise HTTPError(400, f"json: cannot unmarshal {type(value).__name__} into Go struct field {key} of type []string")
    return value


def _typed(body: dict, key: str, kind, default=None):
    value = body.get(key, default)
    if value is None:
        return default
    if kind is int and isinstance(value, bool) or not isinstance(value, kind):
        name = {int: "int64", bool: "bool", str: "string", dict: "object", list: "array"}[kind]
        raise HTTPError(400, f"json: cannot unmarshal {type(value).__name__} into Go struct field {key} of type {name}")
    return value


def create_options(body: dict) -> tuple[list[str] | None, dict]:
    """(the command, create()'s options) of a POST /containers/create body."""
    if not isinstance(body, dict):
        raise HTTPError(400, "the body must be a JSON object")
    host = _typed(body, "HostConfig", dict, {}) or {}
    image = _typed(body, "Image", str, "")
    if not image:
        raise HTTPError(400, "no image specified" if "Image" not in body else "image name cannot be blank")
    options: dict = {"image": image, "quiet": True, "pull": "never"}
    command = _strings(body, "Cmd") or None
    if "Entrypoint" in body and body["Entrypoint"] is not None:
        options["entrypoint"] = [e for e in _strings(body, "Entrypoint") if e] or ""
    for key, option in (("Env", "env"), ("DnsSearch", "dns_search")):
        if body.get(key) or host.get(key):
            options[option] = _strings(body if body.get(key) else host, key)
    if "env" in options:
        # a bare KEY (docker-py's environment={"KEY": None}) is the client's to resolve, as
        # docker's CLI does: create() would take the service's own value, root's environment
        options["env"] = [e for e in options["env"] if "=" in e]
    for key, option in (("WorkingDir", "workdir"), ("User", "user"), ("Hostname", "hostname"),
                        ("StopSignal", "stop_signal")):
        if body.get(key):
            options[option] = _typed(body, key, str)
    if body.get("MacAddress"):  # where docker-py puts mac_address (deprecated by API 1.44, still sent)
        options["mac_address"] = _typed(body, "MacAddress", str)
    if body.get("StopTimeout") is not None:
        options["stop_timeout"] = _typed(body, "StopTimeout", int)
    labels = _typed(body, "Labels", dict, {}) or {}
    if labels:
        options["labels"] = {str(k): str(v) for k, v in labels.items()}
    healthcheck = _typed(body, "Healthcheck", dict, {}) or {}
    if healthcheck:
        from ..container.health import from_docker

        for key in ("Interval", "Timeout", "StartPeriod", "Retries"):
            _typed(healthcheck, key, int)
        options["healthcheck"] = {**from_docker(healthcheck), "test": _strings(healthcheck, "Test")}
    options["tty"] = bool(_typed(body, "Tty", bool, False))
    options["interactive"] = bool(_typed(body, "OpenStdin", bool, False))
    options["stdin_once"] = bool(_typed(body, "StdinOnce", bool, False))
    _host_options(host, options)
    _anonymous_volumes(_typed(body, "Volumes", dict, {}) or {}, host, options)
    _endpoint_options(_typed(body, "NetworkingConfig", dict, {}) or {}, options)
    return command, options


def _anonymous_volumes(paths: dict, host: dict, options: dict) -> None:
    """Config.Volumes: where docker's CLI puts -v /path (an anonymous volume), not in Binds;
    compose also lists there the targets its binds and mounts already cover."""
    covered = {b.split(":")[1] if ":" in b else b for b in options.get("volumes", [])}
    covered |= {m.get("Target") for m in host.get("Mounts") or [] if isinstance(m, dict)}
    anonymous = [path for path in paths if path not in covered]
    if anonymous:
        options["volumes"] = options.get("volumes", []) + anonymous


def _endpoint_options(networking: dict, options: dict) -> None:
    """NetworkingConfig.EndpointsConfig: the container's place on the network it starts on
    (its address, its aliases, its MAC). One network here: API 1.44's others are taken out
    of the body by containers.create, and joined as /networks/{id}/connect joins them."""
    endpoints = _typed(networking, "EndpointsConfig", dict, {}) or {}
    if len(endpoints) > 1:
        raise HTTPError(400, f"Container cannot be connected to network endpoints: {', '.join(endpoints)}")
    for name, endpoint in endpoints.items():
        if options["network"] == "bridge" and name not in ("bridge", "default"):
            options["network"] = name  # named only here, as a client may
        elif name != options["network"] and not (name == "default" and options["network"] == "bridge"):
            raise HTTPError(400, f"the endpoint's network {name} is not the network mode {options['network']}")
        if not isinstance(endpoint, dict):
            raise HTTPError(400, f"the endpoint config of network {name} must be an object")
        ip = (_typed(endpoint, "IPAMConfig", dict, {}) or {}).get("IPv4Address")
        if ip:
            options["ip"] = ip
        aliases = _strings(endpoint, "Aliases")
        if aliases:
            options["network_aliases"] = aliases
        if endpoint.get("MacAddress"):
            options["mac_address"] = _typed(endpoint, "MacAddress", str)


def _host_options(host: dict, options: dict) -> None:
    binds = _strings(host, "Binds")
    if binds:
        options["volumes"] = binds
    mounts = [_mount(m) for m in _typed(host, "Mounts", list, []) or []]
    if mounts:
        options["mounts"] = mounts
    ports = []
    for port, bindings in (_typed(host, "PortBindings", dict, {}) or {}).items():
        container = port if "/" in port else f"{port}/tcp"
        for binding in bindings or [{}]:
            address, host_port = binding.get("HostIp") or "", binding.get("HostPort") or ""
            ports.append(":".join(p for p in (address, host_port) if p) + (":" if address or host_port else "")
                         + container)
    if ports:
        options["publish"] = ports
    if host.get("PublishAllPorts"):
        options["publish_all"] = True
    mode = _typed(host, "NetworkMode", str, "") or "bridge"
    options["network"] = "bridge" if mode == "default" else mode
    if host.get("AutoRemove"):
        options["remove"] = True
    for key, option in (("Memory", "memory"), ("MemorySwap", "memory_swap"),
                        ("MemoryReservation", "memory_reservation"), ("CpuShares", "cpu_shares")):
        if host.get(key):
            options[option] = _typed(host, key, int)
    if host.get("NanoCpus"):
        options["cpus"] = _typed(host, "NanoCpus", int) / 1e9
    elif host.get("CpuQuota") and host.get("CpuPeriod"):
        options["cpus"] = _typed(host, "CpuQuota", int) / _typed(host, "CpuPeriod", int)
    for key, option in (("CpusetCpus", "cpuset_cpus"), ("CpusetMems", "cpuset_mems"), ("PidMode", "pid"),
                        ("IpcMode", None)):
        if host.get(key) and option:
            options[option] = _typed(host, key, str)
    if host.get("PidsLimit"):
        options["pids_limit"] = _typed(host, "PidsLimit", int)
    for key, option in (("CapAdd", "cap_add"), ("CapDrop", "cap_drop"), ("SecurityOpt", "security_opt"),
                        ("Dns", "dns"), ("DnsOptions", "dns_options"), ("GroupAdd", "group_add"),
                        ("DeviceCgroupRules", "device_cgroup_rules")):
        if host.get(key):
            options[option] = _strings(host, key)
    if host.get("ExtraHosts"):
        options["add_hosts"] = [h.replace("=", ":", 1) if "=" in h else h for h in _strings(host, "ExtraHosts")]
    if host.get("Privileged"):
        options["privileged"] = True
    if host.get("ReadonlyRootfs"):
        options["read_only"] = True
    if host.get("Init"):
        options["init"] = True
    devices = [f"{d.get('PathOnHost')}:{d.get('PathInContainer') or d.get('PathOnHost')}:"
               f"{d.get('CgroupPermissions') or 'rwm'}" for d in _typed(host, "Devices", list, []) or []]
    if devices:
        options["devices"] = devices
    tmpfs = _typed(host, "Tmpfs", dict, {}) or {}
    if tmpfs:
        options["tmpfs"] = [f"{path}:{opts}" if opts else path for path, opts in tmpfs.items()]
    sysctls = _typed(host, "Sysctls", dict, {}) or {}
    if sysctls:
        options["sysctls"] = {str(k): str(v) for k, v in sysctls.items()}
    policy = _typed(host, "RestartPolicy", dict, {}) or {}
    if policy.get("Name"):
        name = policy["Name"]
        options["restart"] = f"{name}:{policy['MaximumRetryCount']}" if name == "on-failure" and \
            policy.get("MaximumRetryCount") else name
    log = _typed(host, "LogConfig", dict, {}) or {}
    if log.get("Type"):
        options["log_driver"] = log["Type"]
    if log.get("Config"):
        options["log_opts"] = {str(k): str(v) for k, v in log["Config"].items()}


def _mount(m) -> str:
    """A HostConfig.Mounts entry as --mount's text."""
    if not isinstance(m, dict):
        raise HTTPError(400, "a mount must be an object")
    parts = [f"type={m.get('Type') or 'volume'}"]
    if m.get("Source"):
        parts.append(f"source={m['Source']}")
    if not m.get("Target"):
        raise HTTPError(400, "invalid mount config: Target must not be empty")
    parts.append(f"target={m['Target']}")
    if m.get("ReadOnly"):
        parts.append("readonly")
    return ",".join(parts)


def container_row(record, doc: dict) -> dict:
    """A /containers/json row: docker's fields, from the record and its inspect document."""
    from ..wording import status_text

    ports = []
    for port, bindings in ((doc.get("NetworkSettings") or {}).get("Ports") or {}).items():
        number, _, kind = port.partition("/")
        for binding in bindings or [None]:
            row = {"PrivatePort": int(number), "Type": kind or "tcp"}
            if binding:
                row.update(IP=binding.get("HostIp") or "0.0.0.0", PublicPort=int(binding.get("HostPort") or 0))
            ports.append(row)
    return {
        "Id": record.id, "Names": [f"/{record.name}"], "Image": record.image, "ImageID": record.image_id,
        "Command": " ".join(record.command), "Created": int(record.created.timestamp()),
        "Ports": ports, "Labels": dict(record.spec.get("labels") or {}), "State": record.state,
        "Status": status_text(record, datetime.now(timezone.utc),
                              ((doc.get("State") or {}).get("Health") or {}).get("Status")),
        "HostConfig": {"NetworkMode": record.spec.get("network") or "default"},
        "NetworkSettings": {"Networks": (doc.get("NetworkSettings") or {}).get("Networks") or {}},
        "Mounts": doc.get("Mounts") or [],
    }


def filters_for_ps(filters: dict[str, list[str]]) -> list[str]:
    """?filters as ps()'s ["key=value"]."""
    out = []
    for key, values in filters.items():
        for value in values:
            if not isinstance(value, str):
                raise TinydockerError(f"invalid filter '{key}'")
            out.append(f"{key}={value}")
    return out
