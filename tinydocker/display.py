"""How containers and images read in a terminal, following docker's wording."""

import json
from datetime import datetime, timezone


def human_duration(seconds: float) -> str:
    """docker's (go-units) HumanDuration: 'Less than a second', '3 seconds', 'About a minute'..."""
    s = int(seconds)
    if seconds < 1:
        return "Less than a second"
    if s == 1:
        return "1 second"
    if s < 60:
        return f"{s} seconds"
    minutes = s // 60
    if minutes == 1:
        return "About a minute"
    if minutes < 60:
        return f"{minutes} minutes"
    hours = int(seconds / 3600 + 0.5)
    if hours == 1:
        return "About an hour"
    if hours < 48:
        return f"{hours} hours"
    if hours < 24 * 7 * 2:
        return f"{hours // 24} days"
    if hours < 24 * 30 * 2:
        return f"{hours // 24 // 7} weeks"
    if hours < 24 * 365 * 2:
        return f"{hours // 24 // 30} months"
    return f"{hours // 24 // 365} years"


def _ago(t: datetime, now: datetime) -> str:
    return human_duration((now - t).total_seconds())


def status_text(record, now: datetime) -> str:
    if record.status == "running":
        return f"Up {_ago(record.started, now)}"
    if record.status == "exited":
        return f"Exited ({record.exit_code}) {_ago(record.finished, now)} ago"
    return "Created"


def command_text(argv: list[str], trunc: bool = True) -> str:
    text = " ".join(argv)
    if trunc and len(text) > 20:
        text = text[:19] + "…"
    return f'"{text}"'


def ps_rows(records, no_trunc: bool = False) -> list[dict]:
    now = datetime.now(timezone.utc)
    return [{
        "ID": r.id if no_trunc else r.short_id,
        "Image": r.image,
        "Command": command_text(r.command, trunc=not no_trunc),
        "CreatedAt": r.created.strftime("%Y-%m-%d %H:%M:%S +0000 UTC"),
        "RunningFor": f"{_ago(r.created, now)} ago",
        "Status": status_text(r, now),
        "State": r.status,
        "ExitCode": r.exit_code if r.status == "exited" else None,
        "Names": r.name,
    } for r in records]


def table(headers: list[str], rows: list[list[str]]) -> str:
    """Columns padded as docker's tabwriter does: at least three spaces between them."""
    widths = [max([len(h)] + [len(row[i]) for row in rows]) for i, h in enumerate(headers)]
    lines = []
    for row in [headers] + rows:
        cells = [cell.ljust(w) for cell, w in zip(row[:-1], widths)] + [row[-1]]
        lines.append("   ".join(cells).rstrip())
    return "\n".join(lines)


def ps_table(rows: list[dict]) -> str:
    headers = ["CONTAINER ID", "IMAGE", "COMMAND", "CREATED", "STATUS", "NAMES"]
    keys = ["ID", "Image", "Command", "RunningFor", "Status", "Names"]
    return table(headers, [[row[k] for k in keys] for row in rows])


def json_lines(rows: list[dict]) -> str:
    return "\n".join(json.dumps(row) for row in rows)


def _scaled(size: float, base: int, units: tuple, digits: int) -> str:
    for unit in units:
        if size < base or unit == units[-1]:
            return f"{size:.{digits}g}{unit}"
        size /= base


def size_text(size: int) -> str:
    """docker's units.HumanSize for image sizes: three significant digits, decimal units."""
    return _scaled(size, 1000, ("B", "kB", "MB", "GB"), 3)


def images_table(images: list[dict]) -> str:
    now = datetime.now(timezone.utc)
    rows = [[i["name"], f"{_ago(i['created'], now)} ago", size_text(i["size"]), i.get("source", "")]
            for i in images]
    return table(["IMAGE", "CREATED", "SIZE", "SOURCE"], rows)


def bytes_binary(size: float) -> str:
    """docker's units.BytesSize: four significant digits, binary units ('1.5MiB', '31.26GiB')."""
    return _scaled(size, 1024, ("B", "KiB", "MiB", "GiB", "TiB"), 4)


def stats_rows(samples: list[dict], no_trunc: bool = False) -> list[dict]:
    def percent(value):
        return "--" if value is None else f"{value:.2f}%"

    rows = []
    for s in samples:
        if s["memory"] is None:
            memory = "-- / --"
        else:
            memory = f"{bytes_binary(s['memory'])} / {bytes_binary(s['memory_limit'])}"
        rows.append({
            "ID": s["id"] if no_trunc else s["id"][:12],
            "Name": s["name"],
            "CPUPerc": percent(s["cpu_percent"]),
            "MemUsage": memory,
            "MemPerc": percent(s["memory_percent"]),
            "PIDs": "--" if s["pids"] is None else str(s["pids"]),
        })
    return rows


def stats_table(rows: list[dict]) -> str:
    headers = ["CONTAINER ID", "NAME", "CPU %", "MEM USAGE / LIMIT", "MEM %", "PIDS"]
    keys = ["ID", "Name", "CPUPerc", "MemUsage", "MemPerc", "PIDs"]
    return table(headers, [[row[k] for k in keys] for row in rows])


def _rfc3339(t: datetime | None) -> str:
    if t is None:
        return "0001-01-01T00:00:00Z"  # docker's zero time for "never"
    return t.astimezone(timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def inspect_doc(record, store) -> dict:
    """The fields of `docker inspect` that tinydocker has, under docker's names."""
    from .cgroups import PARENT
    from .images import ImageStore
    from .limits import Limits

    spec = record.spec
    limits = Limits(**spec.get("limits", {}))
    cdir = store.container_dir(record.name)
    running = record.status == "running"
    return {
        "Id": record.id,
        "Created": _rfc3339(record.created),
        "Path": record.command[0] if record.command else "",
        "Args": record.command[1:],
        "State": {
            "Status": record.status,
            "Running": running,
            "OOMKilled": record.oom_killed,
            "Dead": False,
            "Pid": record.pid if running else 0,
            "ExitCode": record.exit_code or 0,
            "StartedAt": _rfc3339(record.started),
            "FinishedAt": _rfc3339(record.finished),
        },
        "Image": record.image,
        "Name": "/" + record.name,
        "LogPath": str(store.log_path(record.name)),
        "HostConfig": {
            "Memory": limits.memory or 0,
            "MemorySwap": limits.memory_swap or 0,
            "NanoCpus": (limits.cpu_quota or 0) * 10_000,  # quota µs per 100 ms period → 1e9 per CPU
            "CpuShares": limits.cpu_shares or 0,
            "CpusetCpus": limits.cpuset_cpus or "",
            "CpusetMems": limits.cpuset_mems or "",
            "PidsLimit": limits.pids_limit,
            "AutoRemove": spec.get("remove", False),
            "CgroupParent": PARENT,
        },
        "GraphDriver": {
            "Name": "overlay",
            "Data": {
                "LowerDir": str(ImageStore(store.root).rootfs(record.image)),
                "UpperDir": str(cdir / "upper"),
                "WorkDir": str(cdir / "work"),
                "MergedDir": str(cdir / "merged"),
            },
        },
        "Config": {
            "Hostname": spec.get("hostname", ""),
            "Env": spec.get("env", []),
            "Cmd": record.command,
            "Image": record.image,
            "WorkingDir": spec.get("workdir", "/"),
            "Tty": spec.get("tty", False),
            "OpenStdin": spec.get("interactive", False),
        },
    }
