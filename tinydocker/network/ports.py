"""Published ports: `-p [IP:][HOST:]CTR[/tcp|udp]` and `-P`, and the host ports they get."""

import errno
import re
import socket

from ..errors import TinydockerError

_FLAG = re.compile(r"(?:(?P<ip>\d{1,3}(?:\.\d{1,3}){3}):)?(?:(?P<host>\d*):)?(?P<ctr>\d+)(?:/(?P<proto>tcp|udp))?")


def parse(flag: str) -> dict:
    """One -p flag: {"host_ip": "" for every address, "host_port": 0 for any free one,
    "container_port", "proto"}."""
    match = _FLAG.fullmatch(flag.strip())
    if not match:
        raise TinydockerError(f"invalid publish spec {flag!r}: want [IP:][HOST_PORT:]CONTAINER_PORT[/tcp|udp]")
    ip = match["ip"] or ""
    if ip:
        try:
            socket.inet_pton(socket.AF_INET, ip)
        except OSError:
            raise TinydockerError(f"invalid publish spec {flag!r}: {ip} is not an IPv4 address") from None
    host, ctr = int(match["host"] or 0), int(match["ctr"])
    if host > 65535 or not 1 <= ctr <= 65535:
        raise TinydockerError(f"invalid publish spec {flag!r}: ports are 1 to 65535")
    return {"host_ip": "" if ip == "0.0.0.0" else ip, "host_port": host, "container_port": ctr,
            "proto": match["proto"] or "tcp"}


def exposed(ports: list[str]) -> list[dict]:
    """-P: each of the image's ExposedPorts ("80/tcp") on a free host port."""
    return [parse(port) for port in ports]


def choose(bindings: list[dict], taken: list = ()) -> list[dict]:
    """The bindings with their host ports: a fixed one checked free of host sockets, a
    missing one (0) picked free by the kernel and not among `taken` ((map, key, owner)
    claims in the firewall). A clash with another container's claim is judged by the caller."""
    claimed = {(m.split("_")[0], key.rsplit(" ", 1)[-1]) for m, key, _ in taken}
    chosen = []
    for b in bindings:
        for _ in range(20):
            port = _probe(b)
            if b["host_port"] or (b["proto"], str(port)) not in claimed:
                break
        chosen.append({**b, "host_port": port})
    return chosen


def _probe(b: dict) -> int:
    kind = socket.SOCK_STREAM if b["proto"] == "tcp" else socket.SOCK_DGRAM
    where = b["host_ip"] or "0.0.0.0"
    with socket.socket(socket.AF_INET, kind) as s:
        try:
            s.bind((where, b["host_port"]))
        except OSError as e:
            if e.errno == errno.EADDRINUSE:
                raise in_use(b) from None
            if e.errno == errno.EADDRNOTAVAIL:
                raise TinydockerError(f"cannot publish on {where}: no such address on this host") from None
            raise TinydockerError(f"cannot publish on {where}:{b['host_port']}: {e.strerror}") from None
        return s.getsockname()[1]


def in_use(b: dict) -> TinydockerError:
    return TinydockerError(f"Bind for {b['host_ip'] or '0.0.0.0'}:{b['host_port']} failed: port is already allocated")


def describe(b: dict) -> str:
    """As `docker port` prints one: 80/tcp -> 0.0.0.0:32768."""
    return f"{b['container_port']}/{b['proto']} -> {b['host_ip'] or '0.0.0.0'}:{b['host_port']}"
