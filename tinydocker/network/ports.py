"""Published ports: `-p [IP:][HOST:]CTR[/tcp|udp]` and `-P`, and the host ports they get."""

import errno
import re
import socket

from ..errors import TinydockerError

_FLAG = re.compile(r"(?:(?P<ip>\d{1,3}(?:\.\d{1,3}){3}):)?(?:(?P<host>\d*(?:-\d+)?):)?(?P<ctr>\d+(?:-\d+)?)"
                   r"(?:/(?P<proto>tcp|udp))?")


def _range(text: str, flag: str) -> tuple[int, int]:
    low, _, high = text.partition("-")
    low, high = int(low), int(high or low)
    if not 1 <= low <= high <= 65535:
        raise TinydockerError(f"invalid publish spec {flag!r}: ports are 1 to 65535, a range low-high")
    return low, high


def parse(flag: str) -> list[dict]:
    """One -p flag, as docker reads it: [IP:][HOST[-HOST]:]CTR[-CTR][/tcp|udp]. One binding
    per container port: {"host_ip": "" for every address, "host_port": 0 for any free one,
    "container_port", "proto"}, and "host_range" (low, high) when one container port may
    take any free port of a host range (-p 8000-8010:80)."""
    match = _FLAG.fullmatch(flag.strip())
    if not match:
        raise TinydockerError(f"invalid publish spec {flag!r}: want [IP:][HOST_PORT:]CONTAINER_PORT[/tcp|udp]")
    ip = match["ip"] or ""
    if ip:
        try:
            socket.inet_pton(socket.AF_INET, ip)
        except OSError:
            raise TinydockerError(f"invalid publish spec {flag!r}: {ip} is not an IPv4 address") from None
    ctr_low, ctr_high = _range(match["ctr"], flag)
    count = ctr_high - ctr_low + 1
    base = {"host_ip": "" if ip == "0.0.0.0" else ip, "proto": match["proto"] or "tcp"}
    if not match["host"]:
        return [{**base, "host_port": 0, "container_port": c} for c in range(ctr_low, ctr_high + 1)]
    host_low, host_high = _range(match["host"], flag)
    if count == 1 and host_high > host_low:
        return [{**base, "host_port": 0, "container_port": ctr_low, "host_range": (host_low, host_high)}]
    if host_high - host_low + 1 != count:
        raise TinydockerError(f"invalid ranges specified for container and host ports: {match['ctr']} and "
                              f"{match['host']}")
    return [{**base, "host_port": host_low + i, "container_port": ctr_low + i} for i in range(count)]


def exposed(ports: list[str]) -> list[dict]:
    """-P: each of the image's ExposedPorts ("80/tcp") on a free host port."""
    return [b for port in ports for b in parse(port)]


def choose(bindings: list[dict], taken: list = ()) -> list[dict]:
    """The bindings with their host ports: a fixed one checked free of host sockets, a
    missing one (0) picked free by the kernel and not among `taken` ((map, key, owner)
    claims in the firewall). A clash with another container's claim is judged by the caller."""
    claimed = {(m.split("_")[0], key.rsplit(" ", 1)[-1]) for m, key, _ in taken}
    chosen = []
    for b in bindings:
        if "host_range" in b:
            chosen.append(_first_free(b, claimed))
            continue
        for _ in range(20):
            port = probe(b)
            if b["host_port"] or (b["proto"], str(port)) not in claimed:
                break
        chosen.append({**b, "host_port": port})
    return chosen


def _first_free(b: dict, claimed: set) -> dict:
    """-p LOW-HIGH:CTR: the first port of the range that neither a host socket nor another
    container's claim holds."""
    low, high = b["host_range"]
    b = {k: v for k, v in b.items() if k != "host_range"}
    for port in range(low, high + 1):
        if (b["proto"], str(port)) in claimed:
            continue
        try:
            return {**b, "host_port": probe({**b, "host_port": port})}
        except TinydockerError:
            continue
    raise TinydockerError(f"Bind for {b['host_ip'] or '0.0.0.0'}:{low}-{high} failed: every port of the range "
                          "is already allocated")


def probe(b: dict, taken=None) -> int:
    """The host port of `b` (0: one the kernel picks) if no socket holds it, else `taken(b)`
    raised (default: in_use, docker's words for a published port's). A TCP port whose last
    connections linger in TIME_WAIT (a container just removed) is free, as to a listener with
    SO_REUSEADDR (docker's proxy, slirp4netns); one a listener holds is not."""
    kind = socket.SOCK_STREAM if b["proto"] == "tcp" else socket.SOCK_DGRAM
    where = b["host_ip"] or "0.0.0.0"
    with socket.socket(socket.AF_INET, kind) as s:
        if kind == socket.SOCK_STREAM:
            s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            s.bind((where, b["host_port"]))
        except OSError as e:
            if e.errno == errno.EADDRINUSE:
                raise (taken or in_use)(b) from None
            if e.errno == errno.EADDRNOTAVAIL:
                raise TinydockerError(f"cannot publish on {where}: no such address on this host") from None
            raise TinydockerError(f"cannot publish on {where}:{b['host_port']}: {e.strerror}") from None
        return s.getsockname()[1]


def in_use(b: dict) -> TinydockerError:
    return TinydockerError(f"Bind for {b['host_ip'] or '0.0.0.0'}:{b['host_port']} failed: port is already allocated")


def describe(b: dict) -> str:
    """As `docker port` prints one: 80/tcp -> 0.0.0.0:32768."""
    return f"{b['container_port']}/{b['proto']} -> {b['host_ip'] or '0.0.0.0'}:{b['host_port']}"
