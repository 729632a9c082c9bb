"""How containers and images read in a terminal, following docker's wording."""

from datetime import datetime, timezone

from ..wording import ago, status_text
from .text import LabelText, go_json, table  # noqa: F401 (table is display.table to the commands)


def command_text(argv: list[str], trunc: bool = True) -> str:
    text = " ".join(argv)
    if trunc and len(text) > 20:
        text = text[:19] + "…"
    return f'"{text}"'


def ps_rows(records, no_trunc: bool = False, sizes: dict | None = None, health: dict | None = None) -> list[dict]:
    """docker ps's fields (its --format json names); Size with `sizes` (api.sizes); the
    status says the health of those in `health` (api.health_states)."""
    health = health or {}
    now = datetime.now(timezone.utc)
    rows = [{
        "ID": r.id if no_trunc else r.short_id,
        "Image": r.image,
        "Command": command_text(r.command, trunc=not no_trunc),
        "CreatedAt": r.created.strftime("%Y-%m-%d %H:%M:%S +0000 UTC"),
        "RunningFor": f"{ago(r.created, now)} ago",
        "Status": status_text(r, now, health.get(r.id)),
        "State": r.state,
        "ExitCode": r.exit_code if r.status == "exited" else None,
        "Ports": ports_text(r),
        "Names": r.name,
        "Labels": LabelText(r.spec.get("labels", {})),
        "Networks": r.spec.get("network", ""),
    } for r in records]
    if sizes is not None:
        for row, r in zip(rows, records):
            own, virtual = sizes[r.id]
            row["Size"] = f"{size_text(own)} (virtual {size_text(virtual)})"
    return rows


def ports_text(record) -> str:
    """docker ps's PORTS: 0.0.0.0:8080->80/tcp, … (a running container's published ports)."""
    if record.status != "running" or not record.network:
        return ""
    return ", ".join(f"{b['host_ip'] or '0.0.0.0'}:{b['host_port']}->{b['container_port']}/{b['proto']}"
                     for b in record.network.get("ports", []))


# docker's column titles for --format 'table {{…}}'
PS_TITLES = {"ID": "CONTAINER ID", "RunningFor": "CREATED", "CreatedAt": "CREATED AT"}
IMAGE_TITLES = {"ID": "IMAGE ID", "CreatedSince": "CREATED", "CreatedAt": "CREATED AT"}
STATS_TITLES = {"ID": "CONTAINER ID", "CPUPerc": "CPU %", "MemUsage": "MEM USAGE / LIMIT", "MemPerc": "MEM %"}


def ps_table(rows: list[dict], size: bool = False) -> str:
    headers = ["CONTAINER ID", "IMAGE", "COMMAND", "CREATED", "STATUS", "PORTS", "NAMES"] + ["SIZE"] * size
    keys = ["ID", "Image", "Command", "RunningFor", "Status", "Ports", "Names"] + ["Size"] * size
    return table(headers, [[row[k] for k in keys] for row in rows])


def json_lines(rows: list[dict]) -> str:
    return "\n".join(go_json(row) for row in rows)


def _scaled(size: float, base: int, units: tuple, digits: int) -> str:
    for unit in units:
        if size < base or unit == units[-1]:
            return f"{size:.{digits}g}{unit}"
        size /= base


def size_text(size: int) -> str:
    """docker's units.HumanSize for image sizes: three significant digits, decimal units."""
    return _scaled(size, 1000, ("B", "kB", "MB", "GB"), 3)


def since(created: str, now: datetime) -> str:
    """An RFC 3339 time from an image config as "N units ago" ("N/A" if absent or odd)."""
    from ..image.describe import parse_time

    t = parse_time(created)
    return f"{ago(t, now)} ago" if t else "N/A"


def image_rows(images: list[dict], digests: bool = False, no_trunc: bool = False) -> list[dict]:
    """docker images' fields (its --format json names): <none> for what an image lacks."""
    now = datetime.now(timezone.utc)
    return [{
        "Repository": i["repository"] or "<none>",
        "Tag": i["tag"] or "<none>",
        "Digest": i["digest"] or "<none>",
        "ID": i["id"] if no_trunc else i["id"].split(":", 1)[1][:12],
        "CreatedSince": f"{ago(i['created'], now)} ago",
        "CreatedAt": i["created"].strftime("%Y-%m-%d %H:%M:%S +0000 UTC"),
        "Size": size_text(i["size"]),
    } for i in images]


def images_table(rows: list[dict], digests: bool = False) -> str:
    headers = ["REPOSITORY", "TAG"] + (["DIGEST"] if digests else []) + ["IMAGE ID", "CREATED", "SIZE"]
    keys = ["Repository", "Tag"] + (["Digest"] if digests else []) + ["ID", "CreatedSince", "Size"]
    return table(headers, [[row[k] for k in keys] for row in rows])


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
