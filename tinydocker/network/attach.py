"""The runtime's side of a container's network: what a start takes and what its end gives back.

    connect:    address (IPAM) → host ports claimed in nftables → /etc files written and
                every peer's hosts file refreshed → the init's orders (endpoint.py)
    disconnect: ports released → address given back → peers' hosts files refreshed

Everything a start takes carries the container's id (the owner of its address, the comment
of its nftables elements), and is written into its record (`network`) once it runs: its
monitor gives back what the record says; `rm`, a new start and `system prune` find by id
what a killed start took before recording it. Each step can be done again after a kill.

`network connect` / `disconnect` (connect_container, disconnect_container) do the same for
one more network of a running container, and record it in its spec for its later starts;
all a container holds, on every network, goes at its end.

An ordinary user's container has the default network through slirp4netns (slirp.py), and
the user's own networks in a namespace of the user's (usernet.py), where root's code above
makes their bridges, veths and nftables elements.
"""

import os

from ..errors import TinydockerError
from . import hosts


def connect(store, record, spec) -> tuple[dict, list[dict], dict | None]:
    """(orders for the init, binds of the /etc files, what to record) for a starting container:
    its network (`spec.network`), then the networks `network connect` added (`spec.networks`)."""
    cdir = str(store.container_dir(spec.name))
    own = {m["target"] for m in spec.mounts}  # an /etc file the user mounts is the user's
    if spec.joined_network():
        # --network container:NAME: that container's /etc files and hostname, as docker's
        # (the runtime opens its namespace)
        other = store.lookup(spec.joined_network())
        there = store.container_dir(other.name)
        binds = [{"source": str(there / name), "target": f"/etc/{name}", "readonly": False, "populate": False}
                 for name in (hosts.HOSTNAME, hosts.HOSTS, hosts.RESOLV) if f"/etc/{name}" not in own]
        return {"mode": "container", "hostname": other.spec["hostname"]}, binds, None
    if spec.network in ("none", "host") and not spec.networks:
        skip = own | ({"/etc/hostname"} if spec.network == "host" else set())
        return {"mode": spec.network}, hosts.write_all(cdir, spec.hostname, spec.add_hosts, spec.dns, None, [],
                                                       skip=skip, dns_search=spec.dns_search,
                                                       dns_options=spec.dns_options), None
    from .store import DEFAULT, NetworkStore

    user = os.geteuid() != 0
    if user and spec.network == DEFAULT:  # no bridge, veth or nftables on the host: a tap and a userspace stack
        from . import slirp

        return slirp.connect(store, record, spec, own)

    networks = NetworkStore(store.root, records=store.all)
    info: dict = {"connected": []}
    try:
        if spec.network not in ("none", "host"):
            net = networks.attach(spec.network, record.id, spec.name, spec.ip, spec.aliases)
            info.update(_endpoint(net, record.id, "eth0", aliases=spec.aliases, mac=spec.mac_address))
            from . import ports

            wanted = [b for p in spec.ports for b in ports.parse(p)]
            if spec.publish_all:
                wanted += ports.exposed(spec.exposed_ports)
            if user and wanted:
                from . import usernet

                info["ports"] = usernet.publish(store.root.state, record.id, spec.name, net["ip"], wanted,
                                                alive=lambda cid: started(store, cid))
            else:
                info["ports"] = _claim(record.id, net["ip"], wanted)
        for extra in spec.networks:  # -- after `network connect` to a container that was not running
            net = networks.attach(extra["name"], record.id, spec.name, extra.get("ip", ""), extra.get("aliases", ()))
            info["connected"].append(_endpoint(net, record.id, f"eth{len(endpoints(info))}",
                                               aliases=extra.get("aliases", [])))
        with networks.lock():  # one writer of a network's hosts files at a time, from one list
            views = networks.views([e["name"] for e in endpoints(info)])
            members = views.get(record.id, [])
            me = next((m for m in members if m["id"] == record.id), None)
            binds = hosts.write_all(cdir, spec.hostname, spec.add_hosts, spec.dns, me, members, skip=own,
                                    dns_search=spec.dns_search, dns_options=spec.dns_options)
            hosts.refresh(store, views, skip=record.id)
    except BaseException:
        disconnect(store, record.id, info)
        raise
    for e in endpoints(info):
        _event(store, "connect", e, record.id)
    # the default route through the network it was started on, else the first connected
    orders = {"mode": "bridge", "interfaces": [_order(e) for e in endpoints(info)],
              "gateway": endpoints(info)[0]["gateway"] if endpoints(info) else ""}
    if user:  # made in the user's network namespace, and so in its user namespace (usernet.py)
        orders["usernet"] = str(store.root.state)
    return orders, binds, info


def endpoints(info: dict | None) -> list[dict]:
    """Every network a record's `network` says the container is on: the one it started on
    (if it is still on it), then those connected."""
    if not info:
        return []
    return ([info] if "ip" in info else []) + list(info.get("connected", []))


def _endpoint(net: dict, container_id: str, ifname: str, aliases=(), mac: str = "") -> dict:
    """What to record of the container's place on a network; the host end's name is unique
    per start (the last start's pair may still be going away with its namespace). Its MAC
    is docker's, made from its address (02:42 and the address's four bytes), unless given:
    set when the pair is made, it is known before the device exists."""
    mac = mac or "02:42:" + ":".join(f"{int(b):02x}" for b in net["ip"].split("."))
    return {"name": net["name"], "id": net["id"], "ip": net["ip"], "prefix": net["prefix"], "mac": mac,
            "gateway": net["gateway"], "bridge": net["bridge"], "ifname": ifname, "aliases": list(aliases),
            "veth": "tdv" + container_id[:6] + os.urandom(3).hex()[:5], "ports": []}


def _order(e: dict) -> dict:
    return {"bridge": e["bridge"], "veth": e["veth"], "ifname": e["ifname"], "address": f"{e['ip']}/{e['prefix']}",
            "mac": e.get("mac", "")}


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


def started(store, container_id: str) -> bool:
    """Whether an ordinary user's container may hold its claims: running, or being started
    right now; one that exited, is gone, or whose start was killed holds none."""
    from ..state.record import RUNNING

    record = next((r for r in store.all() if r.id == container_id), None)
    return record is not None and (record.starting or record.status == RUNNING and record.container_alive())


def disconnect(store, container_id: str, info: dict | None) -> None:
    """Give back what connect (and `network connect` since) took (info: the record's `network`,
    as its start recorded it: every address the container holds goes, whatever it says)."""
    if info and info.get("driver") == "slirp4netns":
        from . import slirp

        slirp.release(str(store.root.state), container_id)
        return
    if endpoints(info):
        _release(store, container_id, None, ports=True)
        for e in endpoints(info):
            _event(store, "disconnect", e, container_id)


def _shared(spec: dict) -> bool:
    return spec.get("network") == "host" or spec.get("network", "").startswith("container:")


def connect_container(store, record, network: str, ip: str = "", aliases=()) -> None:
    """`network connect`: a running container gets an interface on `network` now (a veth
    into its namespace, an address, its peers' /etc/hosts told), and every later start
    too; a stopped one at its next start (recorded in its spec)."""
    from ..state.record import RUNNING
    from . import endpoint
    from .store import DEFAULT, NetworkStore, valid_address

    user = os.geteuid() != 0
    # slirp4netns's default network is each container's own, in a user namespace of its own
    if user and (network == DEFAULT or record.spec.get("network") in (DEFAULT, "", None)):
        from .slirp import refuse

        raise refuse(network, "connect")
    if network == "host" or _shared(record.spec):
        raise TinydockerError("container sharing network namespace with another container or host cannot be "
                              "connected to any other network", code=1)
    if network == "none":
        raise TinydockerError("container cannot be connected to multiple networks with one of the networks "
                              "in private (none) mode", code=1)
    if ip and not valid_address(ip):
        raise TinydockerError(f"invalid IPv4 address: {ip}", code=1)
    networks = NetworkStore(store.root, records=store.all)
    name = network if network == DEFAULT and networks.get(DEFAULT) is None else networks.find(network)["name"]
    spec = dict(record.spec)
    if name == spec.get("network") or name in [n["name"] for n in spec.get("networks", [])]:
        raise TinydockerError(f"endpoint with name {record.name} already exists in network {name}", code=1)
    running = record.status == RUNNING and record.container_alive()
    if user and running:
        from . import usernet

        if not usernet.holds(store.root.state, record.pid):
            if spec.get("network") != "none":
                raise usernet.gone(code=1)  # started on one of the user's networks, whose holder was killed
            raise TinydockerError(f"cannot connect container {record.name} to network {name} while it runs: it "
                                  "was started on no network of this user's (connect it once it is stopped)", code=1)
    parked = spec.pop("parked", None) or {}
    if not running and parked.get("network") == name and spec.get("network") == "none":
        # back on the network it was made for (compose disconnects and connects a new
        # container to give it its aliases): its published ports with it
        spec.update(network=name, ip=ip or "", aliases=list(aliases), ports=parked.get("ports", []),
                    publish_all=parked.get("publish_all", False))
    else:
        spec["networks"] = spec.get("networks", []) + [{"name": name, "ip": ip or "", "aliases": list(aliases)}]
    if not running:
        if store.update(record, spec=spec) is None:
            raise TinydockerError(f"container {record.name} changed meanwhile: try again", code=1)
        return
    from . import netlink

    info = record.network or {"connected": []}
    known = networks.get(name)
    if known is not None:
        # what a `network connect` killed midway left (the record, written last, does not
        # show it): its pair, named for the container and network, then its address
        _where_devices_are(store, lambda: netlink.delete_link(_live_veth(record.id, known["id"])))
        networks.detach(record.id, name)
    net = networks.attach(name, record.id, record.name, ip or "", aliases)
    used = {e["ifname"] for e in endpoints(info)}
    e = _endpoint(net, record.id, next(f"eth{i}" for i in range(len(used) + 1) if f"eth{i}" not in used), aliases)
    e["veth"] = _live_veth(record.id, net["id"])
    try:
        try:
            _where_devices_are(store, lambda: endpoint.join(record.pid, _order(e)), record.pid)
        except OSError as error:
            raise TinydockerError(f"cannot connect container {record.name} to network {name}: "
                                  f"{error.strerror or error}") from None
        info = {**info, "connected": info.get("connected", []) + [e]}
        if store.update(record, network=info, spec=spec) is None:
            raise TinydockerError(f"container {record.name} ended while being connected", code=1)
    except BaseException:
        _where_devices_are(store, lambda: netlink.delete_link(e["veth"]))
        networks.detach(record.id, name)
        raise
    _refresh(store, networks, [n["name"] for n in endpoints(info)])
    _event(store, "connect", e, record.id)


def _where_devices_are(store, fn, container_pid: int | None = None):
    """fn() where the data root's bridges and veths are: the host's namespace for root, the
    user's network namespace for an ordinary user (usernet.py: with no holder there is none
    of them to touch; for a container's `container_pid`, its holder's, or an error)."""
    if os.geteuid() == 0:
        return fn()
    from . import usernet

    if container_pid is not None:
        try:
            return usernet.run_for(store.root.state, container_pid, fn)
        except TinydockerError as e:
            raise TinydockerError(str(e), code=1) from None  # a network verb's failure
    return usernet.run(store.root.state, fn, required=False)


def _live_veth(container_id: str, network_id: str) -> str:
    """The host end's name of a pair `network connect` makes: the same each time for a
    container and a network, so that a connect finds and deletes what a killed one made."""
    return "tdv" + container_id[:6] + network_id[:5]


def disconnect_container(store, record, network: str, force: bool = False) -> None:
    """`network disconnect`: the container leaves `network`, now if it runs (its interface
    deleted, its address given back, its peers told) and for its later starts."""
    from ..state.record import RUNNING
    from . import netlink
    from .store import DEFAULT, NetworkStore, NoSuchNetwork

    if os.geteuid() != 0 and record.spec.get("network") in (DEFAULT, "", None):  # slirp4netns's
        from .slirp import refuse

        raise refuse(network, "disconnect")
    if network == "host" or _shared(record.spec):
        raise TinydockerError("container cannot be disconnected from host network or connected to host network",
                              code=1)
    networks = NetworkStore(store.root, records=store.all)
    try:
        name = networks.find(network)["name"]
    except NoSuchNetwork:
        if not force:
            raise
        name = network  # -f: the network is gone, the container's mention of it goes too
    spec = dict(record.spec)
    extras = spec.get("networks", [])
    if name == spec.get("network"):
        # no network left to start on: loopback only, as docker's container left without one
        # (its aliases go too: they were names on that network); kept aside for a connect
        spec["parked"] = {"network": name, "ports": spec.get("ports", []),
                          "publish_all": spec.get("publish_all", False)}
        spec.update(network="none", ip="", aliases=[], ports=[], publish_all=False)
    elif name in [n["name"] for n in extras]:
        spec["networks"] = [n for n in extras if n["name"] != name]
    else:
        raise TinydockerError(f"container {record.name} is not connected to network {name}", code=1)
    running = record.status == RUNNING and record.container_alive()
    info = record.network if running else None
    e = next((x for x in endpoints(info) if x["name"] == name), None)
    if e is not None:
        _where_devices_are(store, lambda: netlink.delete_link(e["veth"]))  # its container end goes with it
        if e is info:  # the network it started on: its published ports go too
            _unpublish(store, record.id)
            info = {"connected": info.get("connected", [])}
        else:
            info = {**info, "connected": [x for x in info["connected"] if x is not e]}
    if store.update(record, spec=spec, **({"network": info} if e is not None else {})) is None:
        raise TinydockerError(f"container {record.name} changed meanwhile: try again", code=1)
    if e is not None:
        networks.detach(record.id, name)
        _refresh(store, networks, [name] + [x["name"] for x in endpoints(info)])
        _event(store, "disconnect", e, record.id)


def _event(store, action: str, info: dict, container_id: str) -> None:
    from ..state import events

    events.emit(store.root, "network", action, info.get("id", info["name"]),
                {"name": info["name"], "type": "bridge", "container": container_id})


def release_all(store, container_id: str) -> None:
    """Whatever the container may hold, recorded or not: for `rm` and for a new start, after
    one that was SIGKILLed between taking an address or claiming a port and recording it."""
    if (store.root.state / "networks.toml").exists():  # else no container here ever had a network
        _release(store, container_id, None, ports=True)
    if (store.root.state / "slirp4netns").exists():  # an ordinary user's default network
        from . import slirp

        slirp.release(str(store.root.state), container_id)


def _release(store, container_id: str, network: str | None, ports: bool) -> None:
    """The container's ports, then its addresses on `network` (None: on every network), then
    the hosts files of the networks it left."""
    from .store import NetworkStore

    if ports:
        _unpublish(store, container_id)
    networks = NetworkStore(store.root, records=store.all)
    _refresh(store, networks, networks.detach(container_id, network))


def _unpublish(store, container_id: str) -> None:
    if os.geteuid() != 0:  # in the user's namespace, and its slirp4netns's forwards
        from . import usernet

        usernet.unpublish(store.root.state, container_id)
    else:
        from . import firewall

        firewall.unpublish(container_id)


def _refresh(store, networks, names: list[str]) -> None:
    """Rewrite the hosts files of every member of the networks `names`."""
    if names:
        with networks.lock():  # one writer of a network's hosts files at a time, from one list
            hosts.refresh(store, networks.views(names))


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

