"""docker inspect's document for a container, under docker's field names."""

from datetime import datetime, timezone


def _rfc3339(t: datetime | None) -> str:
    if t is None:
        return "0001-01-01T00:00:00Z"  # docker's zero time for "never"
    return t.astimezone(timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def inspect_doc(record, store) -> dict:
    """The fields of `docker inspect` that tinydocker has, under docker's names."""
    from ..cgroups import PARENT
    from ..cgroups.limits import Limits
    from ..security import capabilities

    spec = record.spec
    limits = Limits(**spec.get("limits", {}))
    cdir = store.container_dir(record.name)
    entrypoint = spec.get("entrypoint", [])
    running = record.status == "running"
    return {
        "Id": record.id,
        "Created": _rfc3339(record.created),
        "Path": record.command[0] if record.command else "",
        "Args": record.command[1:],
        "State": {
            "Status": record.state,
            "Running": running or record.state == "restarting",  # docker's: true in the back-off too
            "Paused": record.paused,
            "Restarting": record.state == "restarting",
            "OOMKilled": record.oom_killed,
            "Dead": False,
            "Pid": record.pid if running else 0,
            "ExitCode": record.exit_code or 0,
            "Error": record.error or "",
            "StartedAt": _rfc3339(record.started),
            "FinishedAt": _rfc3339(record.finished),
            **({"Health": health} if (health := _health(store, record)) else {}),
        },
        "Image": record.image_id,
        "Name": "/" + record.name,
        "LogPath": str(store.log_path(record.name)),
        "RestartCount": record.restart_count,
        "HostConfig": {
            "RestartPolicy": _restart_policy(spec.get("restart", "no")),
            "Init": spec.get("init", False),
            "LogConfig": {"Type": spec.get("log_driver", "json-file"), "Config": spec.get("log_opts") or {}},
            "Memory": limits.memory or 0,
            "MemorySwap": limits.memory_swap or 0,
            "MemoryReservation": limits.memory_reservation or 0,
            "NanoCpus": (limits.cpu_quota or 0) * 10_000,  # quota µs per 100 ms period → 1e9 per CPU
            "CpuShares": limits.cpu_shares or 0,
            "CpusetCpus": limits.cpuset_cpus or "",
            "CpusetMems": limits.cpuset_mems or "",
            "PidsLimit": limits.effective_pids_limit,
            "AutoRemove": spec.get("remove", False),
            "CgroupParent": PARENT,
            "CapAdd": spec.get("cap_add") or None,
            "CapDrop": spec.get("cap_drop") or None,
            "Privileged": spec.get("privileged", False),
            "SecurityOpt": spec.get("security_opt") or None,
            "Devices": [_device(d) for d in spec.get("devices") or []],
            "DeviceCgroupRules": spec.get("device_cgroup_rules") or None,
            "ReadonlyRootfs": spec.get("read_only", False),
            "Tmpfs": {t.partition(":")[0]: t.partition(":")[2] for t in spec.get("tmpfs") or []} or None,
            "GroupAdd": spec.get("group_add") or None,
            "Sysctls": spec.get("sysctls") or None,
            "NetworkMode": spec.get("network", "bridge"),
            "PidMode": spec.get("pid", ""),
            "PortBindings": _port_bindings(spec.get("ports") or []),
            "PublishAllPorts": spec.get("publish_all", False),
            "Dns": spec.get("dns") or [],
            "DnsOptions": spec.get("dns_options") or [],
            "DnsSearch": spec.get("dns_search") or [],
            "ExtraHosts": spec.get("add_hosts") or None,
        },
        # as podman shows them: what the container's processes hold, all flags applied (from
        # the recorded flags, as the spec's confinement() has them: a whole ContainerSpec
        # would check every flag again, importing what checks them)
        "EffectiveCaps": ["CAP_" + c for c in capabilities.effective(spec.get("cap_add") or [], spec.get("cap_drop") or [],
                                                                     spec.get("privileged", False))],
        "Mounts": [_mount(m, store) for m in spec.get("mounts") or []],
        "NetworkSettings": _network_settings(record if running else None, spec),
        "GraphDriver": {
            "Name": "overlay",
            "Data": {
                "LowerDir": ":".join(_layer_targets(cdir / "layers")),
                "UpperDir": str(cdir / "upper"),
                "WorkDir": str(cdir / "work"),
                "MergedDir": str(cdir / "merged"),
            },
        },
        "Config": {
            "Hostname": spec.get("hostname", ""),
            "Env": spec.get("env", []),
            "Cmd": record.command[len(entrypoint):],
            "Entrypoint": entrypoint or None,
            "Image": record.image,
            "User": spec.get("user", ""),
            "WorkingDir": spec.get("workdir", "/"),
            "Labels": spec.get("labels", {}),
            "ExposedPorts": {port: {} for port in spec.get("exposed_ports", [])} or None,
            "StopSignal": spec.get("stop_signal") or None,
            **({"StopTimeout": spec["stop_timeout"]} if spec.get("stop_timeout", -1) >= 0 else {}),
            **({"Healthcheck": _healthcheck(spec["healthcheck"])} if spec.get("healthcheck") else {}),
            "Tty": spec.get("tty", False),
            "OpenStdin": spec.get("interactive", False),
        },
    }


def _health(store, record) -> dict | None:
    if not record.spec.get("healthcheck"):
        return None  # without importing the module
    from ..container.health import state

    return state(store, record)


def _healthcheck(check: dict) -> dict:
    from ..container.health import to_docker

    return to_docker(check)


def _layer_targets(links) -> list[str]:
    """The image layer directories behind the container's short lower-dir names, top first."""
    import os

    try:
        count = len(os.listdir(links))
    except FileNotFoundError:
        return []
    return [os.readlink(links / str(i)) for i in range(count)]


def _network_settings(record, spec: dict) -> dict:
    """A running container's addresses and published ports, as docker shows them; a stopped
    one's networks without addresses."""
    net = (record.network if record is not None else None) or {}
    ports: dict = {}
    for b in net.get("ports", []):
        ports.setdefault(f"{b['container_port']}/{b['proto']}", []).append(
            {"HostIp": b["host_ip"] or "0.0.0.0", "HostPort": str(b["host_port"])})
    settings = {"IPAddress": net.get("ip", ""), "IPPrefixLen": net.get("prefix", 0), "Gateway": net.get("gateway", ""),
                "MacAddress": net.get("mac", ""), "Ports": ports, "Networks": {}}
    from ..network.attach import endpoints

    for e in endpoints(net):  # the network it started on, then those `network connect` added
        settings["Networks"][e["name"]] = {"IPAddress": e["ip"], "IPPrefixLen": e["prefix"],
                                           "Gateway": e["gateway"], "NetworkID": e.get("id", ""),
                                           "MacAddress": e.get("mac", ""),
                                           "Aliases": e.get("aliases") or None}
    if record is None:
        wanted = [{"name": spec.get("network", "bridge"), "aliases": spec.get("aliases")}] * (spec.get("network", "bridge").partition(":")[0]
                                                      not in ("none", "host", "container")) \
            + spec.get("networks", [])
        for n in wanted:
            settings["Networks"][n["name"]] = {"IPAddress": "", "IPPrefixLen": 0, "Gateway": "", "NetworkID": "",
                                               "MacAddress": "",
                                               "Aliases": n.get("aliases") or None}
    return settings


def _port_bindings(flags: list[str]) -> dict:
    if not flags:
        return {}  # without importing the parser (and socket)
    from ..network.ports import parse

    bindings: dict = {}
    for b in (b for flag in flags for b in parse(flag)):
        bindings.setdefault(f"{b['container_port']}/{b['proto']}", []).append(
            {"HostIp": b["host_ip"], "HostPort": "%d-%d" % b["host_range"] if "host_range" in b
             else str(b["host_port"] or "")})
    return bindings


def _mount(m: dict, store) -> dict:
    """A -v or --mount as docker's Mounts entry."""
    volume = m["type"] == "volume"
    source = str(store.root.state / "volumes" / m["source"] / "_data") if volume else m["source"]
    entry = {"Type": m["type"], "Source": source, "Destination": m["target"], "Mode": "ro" if m["readonly"] else "",
             "RW": not m["readonly"], "Propagation": "" if volume else "rprivate"}
    return {**({"Name": m["source"], "Driver": "local"} if volume else {}), **entry}


def _restart_policy(text: str) -> dict:
    from ..spec import parse_restart

    name, most = parse_restart(text)
    return {"Name": name, "MaximumRetryCount": most}


def _device(flag: str) -> dict:
    """A --device flag as docker's HostConfig.Devices entry."""
    parts = flag.split(":")
    host = parts[0]
    inside = parts[1] if len(parts) > 1 and parts[1].startswith("/") else host
    access = parts[-1] if len(parts) > 1 and not parts[-1].startswith("/") else "rwm"
    return {"PathOnHost": host, "PathInContainer": inside, "CgroupPermissions": access}
