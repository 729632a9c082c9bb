"""The runtime's side of a container's network: what a start takes and what its end gives back.

    connect:    address (IPAM) → host ports claimed in nftables → /etc files written and
                every peer's hosts file refreshed → the init's orders (endpoint.py)
    disconnect: ports released → address given back → peers' hosts files refreshed

What a start took is written into the container's record (`network`), so that whoever
ends it — its monitor, `rm -f`, or `system prune` after a SIGKILL — releases exactly that.
Each step is idempotent: a release that was itself killed midway can be done again.
"""

import os

from ..errors import TinydockerError
from . import hosts


def connect(store, record, spec) -> tuple[dict, list[dict], dict | None]:
    """(orders for the init, binds of the /etc files, what to record) for a starting container."""
    cdir = str(store.container_dir(spec.name))
    if spec.network in ("none", "host"):
        binds = hosts.write_all(cdir, spec.hostname, spec.add_hosts, spec.dns, None, [])
        if spec.network == "host":
            binds = [b for b in binds if not b["target"].endswith("/hostname")]
        return {"mode": spec.network}, binds, None
    from . import firewall, ports
    from .nftables import NftError
    from .store import NetworkStore

    networks = NetworkStore(store.root, records=store.all)
    net = networks.attach(spec.network, record.id, spec.name, spec.hostname, spec.ip)
    info = {"name": spec.network, "ip": net["ip"], "prefix": net["prefix"], "gateway": net["gateway"],
            "bridge": net["bridge"], "ports": []}
    try:
        wanted = [ports.parse(p) for p in spec.ports]
        if spec.publish_all:
            wanted += ports.exposed(spec.exposed_ports)
        bindings = ports.choose(wanted)
        try:
            firewall.publish(record.id, net["ip"], bindings)
        except NftError:
            taken = {(m, k) for m, k, _ in firewall.claimed()}
            clash = next((b for b in bindings if firewall.element_key(b) in taken), bindings[0])
            raise ports.in_use(clash) from None
        info["ports"] = bindings
        members = networks.members(spec.network)
        me = {"ip": net["ip"], "id": record.id, "name": spec.name, "hostname": spec.hostname}
        binds = hosts.write_all(cdir, spec.hostname, spec.add_hosts, spec.dns, me, members)
        hosts.refresh(store, members, skip=record.id)
    except BaseException:
        disconnect(store, record.id, info)
        raise
    orders = {"mode": "bridge", "bridge": net["bridge"], "gateway": net["gateway"],
              "address": f"{net['ip']}/{net['prefix']}",
              # unique per start: the last start's pair may still be going away with its namespace
              "veth": "tdv" + record.id[:6] + os.urandom(3).hex()[:5]}
    return orders, binds, info


def disconnect(store, container_id: str, info: dict | None) -> None:
    """Give back what connect took (info: the record's `network`)."""
    if not info or "ip" not in info:
        return
    from . import firewall
    from .store import NetworkStore

    firewall.unpublish(info.get("ports", []))
    networks = NetworkStore(store.root, records=store.all)
    networks.detach(info["name"], container_id)
    hosts.refresh(store, networks.members(info["name"]))


def release_all(store, container_id: str) -> None:
    """Whatever the container may hold, recorded or not: for `rm`, after a start that was
    SIGKILLed between taking an address or claiming a port and recording it."""
    if not (store.root.state / "networks.toml").exists():
        return  # no container of this data root ever had a network
    from . import firewall
    from .store import NetworkStore

    firewall.sweep(lambda owner: owner != container_id)
    networks = NetworkStore(store.root, records=store.all)
    for name in networks.detach_everywhere(container_id):
        hosts.refresh(store, networks.members(name))


def check(spec) -> None:
    """What can be refused before anything is made."""
    if spec.network in ("none", "host") and (spec.ports or spec.publish_all):
        raise TinydockerError(f"cannot publish ports with --network {spec.network}: "
                              + ("the container uses the host's ports directly" if spec.network == "host"
                                 else "the container has no network"))
    if spec.network in ("none", "host") and spec.ip:
        raise TinydockerError(f"--ip needs a bridge or user network, not --network {spec.network}")
