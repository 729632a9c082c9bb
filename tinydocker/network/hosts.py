"""/etc/hosts, /etc/hostname and /etc/resolv.conf, written per container and bound in.

Containers on one network find each other by name through their /etc/hosts, rewritten
for every member whenever one starts or ends (no resident DNS responder: there is no
daemon to keep one). The files are rewritten in place, as the container's bind mount
holds their inode.
"""

import os

HOSTS, HOSTNAME, RESOLV = "hosts", "hostname", "resolv.conf"
_BASE = ("127.0.0.1\tlocalhost\n::1\tlocalhost ip6-localhost ip6-loopback\n"
         "fe00::0\tip6-localnet\nff00::0\tip6-mcastprefix\nff02::1\tip6-allnodes\nff02::2\tip6-allrouters\n")
# docker's fallback when the host has no nameserver a container could reach
_FALLBACK_DNS = ("8.8.8.8", "8.8.4.4")


def write_all(cdir, hostname: str, extra_hosts: list[str], dns: list[str], me: dict | None,
              members: list[dict], skip=(), dns_search=(), dns_options=()) -> list[dict]:
    """The three files in the container's directory; the binds that put them at /etc,
    but for targets in `skip` (the user's own -v or --mount there wins, as in docker)."""
    _write(os.path.join(cdir, HOSTNAME), hostname + "\n")
    _write(os.path.join(cdir, HOSTS), hosts_text(hostname, extra_hosts, me, members))
    _write(os.path.join(cdir, RESOLV), resolv_text(dns, dns_search, dns_options))
    return [{"source": os.path.join(cdir, name), "target": f"/etc/{name}", "readonly": False, "populate": False}
            for name in (HOSTNAME, HOSTS, RESOLV) if f"/etc/{name}" not in skip]


def hosts_text(hostname: str, extra_hosts: list[str], me: dict | None, members: list[dict]) -> str:
    lines = [_BASE]
    for entry in extra_hosts:  # --add-host NAME:IP
        name, _, address = entry.partition(":")
        lines.append(f"{address}\t{name}\n")
    if me is not None:
        names = dict.fromkeys([hostname, me["name"], *me.get("aliases", [])])
        lines.append(f"{me['ip']}\t{' '.join(names)}\n")
    for peer in members:
        if me is None or peer["id"] != me["id"]:
            # peers by container name (and --alias) only, as docker's DNS answers: a peer's
            # --hostname must not shadow another container's name
            names = dict.fromkeys([peer["name"], *peer.get("aliases", [])])
            lines.append(f"{peer['ip']}\t{' '.join(names)}\n")
    return "".join(lines)


def resolv_text(dns: list[str], search=(), options=()) -> str:
    """The host's resolv.conf without loopback nameservers (unreachable from a container's
    own network namespace); --dns replaces its nameservers, --dns-search its search line
    ("." for none), --dns-option its options line, written after the nameservers as
    docker writes them."""
    try:
        with open("/etc/resolv.conf") as f:
            host = f.read().splitlines()
    except OSError:
        host = []
    words = [line.split() for line in host]
    replaced = {"nameserver"} | ({"search", "domain"} if search else set()) | ({"options"} if options else set())
    kept = [line for line, w in zip(host, words) if not (w[:1] and w[0] in replaced)]
    found = [w[1] for w in words if w[:1] == ["nameserver"] and len(w) > 1 and not _loopback(w[1])]
    servers = list(dns) or found or list(_FALLBACK_DNS)
    domains = [d for d in search if d != "."]
    return ("".join(line + "\n" for line in kept) + "".join(f"nameserver {s}\n" for s in servers)
            + (f"search {' '.join(domains)}\n" if domains else "")
            + (f"options {' '.join(options)}\n" if options else ""))


def _loopback(address: str) -> bool:
    return address.startswith("127.") or address == "::1"


def refresh(store, views: dict[str, list[dict]], skip: str = "") -> None:
    """Rewrite the hosts file of every container of `views` (id: the members of every
    network it is on, NetworkStore.views) but `skip` (`store` the container store)."""
    for cid, members in views.items():
        peer = next((m for m in members if m["id"] == cid), None)
        if cid == skip or peer is None:
            continue
        record = store.load(peer["name"])
        if record is None or record.id != peer["id"]:
            continue  # removed meanwhile
        path = os.path.join(store.container_dir(peer["name"]), HOSTS)
        text = hosts_text(record.spec["hostname"], record.spec.get("add_hosts", []), peer, members)
        try:
            _write(path, text, create=False)
        except FileNotFoundError:
            pass


def _write(path: str, text: str, create: bool = True) -> None:
    fd = os.open(path, os.O_WRONLY | os.O_TRUNC | os.O_CLOEXEC | (os.O_CREAT if create else 0), 0o644)
    try:
        os.write(fd, text.encode())
    finally:
        os.close(fd)
