"""The runtime's side of a container's network: what a start takes and what its end gives back.

    connect:    address (IPAM) → host ports claimed in nftables → /etc files written and
                every peer's hosts file refreshed → the init's orders (endpoint.py)
    disconnect: ports released → address given back → peers' hosts files refreshed

Everything a start takes carries the container's id (the owner of its address, the comment
of its nftables elements), and is written into its record (`network`) once it runs: its
monitor gives back what the record says; `rm`, a new start and `system prune` find by id
what a killed start took before recording it. Each step can be done again after a kill.
"""

import os

from ..errors import TinydockerError
from . import hosts


def connect(store, record, spec) -> tuple[dict, list[dict], dict | None]:
    """(orders for the init, binds of the /etc files, what to record) for a starting container."""
    cdir = str(store.container_dir(spec.name))
    own = {m["target"] for m in spec.mounts}  # an /etc file the user mounts is the user's
    if spec.network in ("none", "host"):
        skip = own | ({"/etc/hostname"} if spec.network == "host" else set())
        return {"mode": spec.network}, hosts.write_all(cdir, spec.hostname, spec.add_hosts, spec.dns, None, [],
                                                       skip=skip), None
    from .store import NetworkStore

    networks = NetworkStore(store.root, records=store.all)
    net = networks.attach(spec.network, record.id, spec.name, spec.ip)
    info = {"name": spec.network, "id": net["id"], "ip": net["ip"], "prefix": net["prefix"], "gateway": net["gateway"],
            "bridge": net["bridge"], "ports": []}
    try:
        from . import ports

        wanted = [ports.parse(p) for p in spec.ports]
        if spec.publish_all:
            wanted += ports.exposed(spec.exposed_ports)
        info["ports"] = _claim(record.id, net["ip"], wanted)
        me = {"ip": net["ip"], "id": record.id, "name": spec.name}
        with networks.lock():  # one writer of a network's hosts files at a time, from one list
            members = networks.members(spec.network)
            binds = hosts.write_all(cdir, spec.hostname, spec.add_hosts, spec.dns, me, members, skip=own)
            hosts.refresh(store, members, skip=record.id)
    except BaseException:
        disconnect(store, record.id, info)
        raise
    _event(store, "connect", info, record.id)
    orders = {"mode": "bridge", "bridge": net["bridge"], "gateway": net["gateway"],
              "address": f"{net['ip']}/{net['prefix']}",
              # unique per start: the last start's pair may still be going away with its namespace
              "veth": "tdv" + record.id[:6] + os.urandom(3).hex()[:5]}
    return orders, binds, info


def _claim(container_id: str, address: str, wanted: list[dict]) -> list[dict]:
    """The host ports for `wanted`, claimed in nftables: a port a live container holds is
    refused, one a dead container left is taken back, an ephemeral pick that lost a race
    is picked again."""
    if not wanted:
        return []
    from .. import cgroups
    from . import firewall, ports
    from .nftables import NftError

    where = cgroups.layout()
    alive = lambda owner: cgroups.open_cgroup(owner, where).exists()  # noqa: E731
    claims = firewall.claimed()
    for _ in range(5):
        bindings = ports.choose(wanted, taken=claims)
        for b in bindings:
            owners = firewall.clashes(b, claims)
            if any(alive(o) for o in owners):
                raise ports.in_use(b)
            if owners:
                firewall.sweep(lambda o: o not in owners)  # what a killed run left
        try:
            firewall.publish(container_id, address, bindings)
            return bindings
        except NftError as e:
            error = e
            claims = firewall.claimed()
            for b, asked in zip(bindings, wanted):
                if asked["host_port"] and any(alive(o) for o in firewall.clashes(b, claims)):
                    raise ports.in_use(b) from None
    raise TinydockerError(f"cannot publish the ports of this container: {error}")


def disconnect(store, container_id: str, info: dict | None) -> None:
    """Give back what connect took (info: the record's `network`)."""
    if info and "ip" in info:
        _release(store, container_id, info["name"], ports=bool(info.get("ports")))
        _event(store, "disconnect", info, container_id)


def _event(store, action: str, info: dict, container_id: str) -> None:
    from ..state import events

    events.emit(store.root, "network", action, info.get("id", info["name"]),
                {"name": info["name"], "type": "bridge", "container": container_id})


def release_all(store, container_id: str) -> None:
    """Whatever the container may hold, recorded or not: for `rm` and for a new start, after
    one that was SIGKILLed between taking an address or claiming a port and recording it."""
    if (store.root.state / "networks.toml").exists():  # else no container here ever had a network
        _release(store, container_id, None, ports=True)


def _release(store, container_id: str, network: str | None, ports: bool) -> None:
    """The container's ports, then its addresses on `network` (None: on every network), then
    the hosts files of the networks it left."""
    from . import firewall
    from .store import NetworkStore

    if ports:
        firewall.unpublish(container_id)
    networks = NetworkStore(store.root, records=store.all)
    _refresh(store, networks, networks.detach(container_id, network))


def _refresh(store, networks, names: list[str]) -> None:
    """Rewrite the hosts files of every member of the networks `names`, one network at a time."""
    for name in names:
        with networks.lock():  # one writer of a network's hosts files at a time, from one list
            hosts.refresh(store, networks.members(name))


def rename(store, record, new_name: str) -> None:
    """Store.rename, with the container's name on its addresses changed under the same lock
    and its peers' /etc/hosts rewritten after."""
    if not (store.root.state / "networks.toml").exists():  # no container here ever had a network
        store.rename(record, new_name)
        return
    from .store import NetworkStore

    networks = NetworkStore(store.root, records=store.all)
    held = []
    store.rename(record, new_name, also=lambda r: held.extend(networks.rename_locked(r.id, new_name)))
    _refresh(store, networks, held)

