"""The API for networks: create, list, inspect, remove, prune; and a container's ports."""

import os

from ..state import root as paths


def _networks(root):
    from ..network.store import NetworkStore
    from ..state.store import Store

    data_root = paths.resolve(root)
    return NetworkStore(data_root, records=Store(data_root).all)


def _doc(net: dict, containers: dict | None = None) -> dict:
    """docker network inspect's document."""
    return {"Name": net["name"], "Id": net["id"], "Created": net["created"].strftime("%Y-%m-%dT%H:%M:%S.%fZ"),
            "Scope": "local", "Driver": "bridge", "EnableIPv6": False,
            "IPAM": {"Driver": "default", "Options": None,
                     "Config": [{"Subnet": net["subnet"], "Gateway": net["gateway"]}]},
            "Internal": False, "Attachable": False, "Ingress": False, "ConfigFrom": {"Network": ""},
            "ConfigOnly": False, "Labels": net.get("labels") or {},
            # the driver options given at create, as docker's (none are taken): a user network's
            # bridge device is tinydocker's own choice, and compose takes any option it did not
            # give for a change that needs the network made again; the default bridge's device
            # is shown, as dockerd shows docker0
            "Options": {"com.docker.network.bridge.name": net["bridge"]} if net["name"] == "bridge" else {},
            "Containers": containers if containers is not None else {}}


def _predefined(name: str) -> dict:
    """docker's `host` and `none`: there without being made, nothing to configure."""
    return {"Name": name, "Id": name, "Created": "0001-01-01T00:00:00Z", "Scope": "local",
            "Driver": "host" if name == "host" else "null", "EnableIPv6": False,
            "IPAM": {"Driver": "default", "Options": None, "Config": []}, "Internal": False, "Attachable": False,
            "Ingress": False, "ConfigFrom": {"Network": ""}, "ConfigOnly": False, "Labels": {}, "Options": {},
            "Containers": {}}


def _own_bridge(root) -> dict:
    """An ordinary user's default network, `bridge` as docker's rootless daemon shows it: each
    container has slirp4netns's 10.0.2.0/24 of its own (network/slirp.py); its members are
    the running containers on it."""
    from ..network import slirp
    from ..state.store import Store

    members = {}
    for record in Store(paths.resolve(root)).all():
        net = record.network or {}
        if record.status in ("running", "paused") and net.get("driver") == slirp.TOOL:
            members[record.id] = {"Name": record.name, "EndpointID": "", "MacAddress": "",
                                  "IPv4Address": f"{slirp.ADDRESS}/{slirp.PREFIX}", "IPv6Address": ""}
    doc = _predefined("bridge")
    prefix = slirp.GATEWAY.rsplit(".", 1)[0]
    doc.update(Driver="bridge", Containers=members,
               IPAM={"Driver": "default", "Options": None,
                     "Config": [{"Subnet": f"{prefix}.0/{slirp.PREFIX}", "Gateway": slirp.GATEWAY}]})
    return doc


def create_network(name: str, subnet: str | None = None, gateway: str | None = None, labels=(), root=None) -> dict:
    """A user network with its own bridge: its subnet chosen free on this host unless given."""
    labels = dict(label.partition("=")[::2] for label in labels) if not isinstance(labels, dict) else labels
    return _doc(_networks(root).create(name, subnet=subnet, gateway=gateway, labels=labels))


def networks(filters=(), root=None) -> list[dict]:
    """Every network of the data root (the default `bridge` once a container has used it),
    plus docker's `host` and `none`; filters as docker's network ls --filter ("name=part",
    "id=prefix", "driver=bridge", "label=k=v", "type=custom|builtin", "dangling=true")."""
    from .filters import network_filter

    store = _networks(root)
    wanted = network_filter(filters, lambda doc: bool(store.members(doc["Name"])))
    docs = [_doc(n) for n in store.all()]
    if os.geteuid() != 0:  # the default network is slirp4netns's; the user's own are in the store
        docs = [_own_bridge(root)] + [d for d in docs if d["Name"] != "bridge"]
    docs += [_predefined(name) for name in ("host", "none")]
    return [doc for doc in docs if wanted(doc)]


def inspect_network(ref: str, root=None) -> dict:
    """docker network inspect's document, with its Containers: {id: {Name, IPv4Address, ...}}."""
    if ref in ("host", "none"):
        return _predefined(ref)
    if ref == "bridge" and os.geteuid() != 0:
        return _own_bridge(root)
    store = _networks(root)
    net = store.find(ref)
    prefix = net["subnet"].partition("/")[2]
    members = {m["id"]: {"Name": m["name"], "EndpointID": "", "MacAddress": "",
                         "IPv4Address": f"{m['ip']}/{prefix}", "IPv6Address": ""}
               for m in store.members(net["name"])}
    return _doc(net, members)


def remove_network(ref: str, root=None) -> None:
    """Remove a user network and its bridge; refused while a container runs on it."""
    from ..errors import TinydockerError

    if ref in ("host", "none"):  # docker's, never made: nothing the store would find
        raise TinydockerError(f"{ref} is a pre-defined network and cannot be removed", code=1)
    _networks(root).remove(ref)


def prune_networks(root=None) -> list[str]:
    """Remove every user network no container runs on; their names."""
    from ..errors import TinydockerError

    store = _networks(root)
    store.sweep()
    removed = []
    for net in store.all():
        if net["name"] == "bridge":
            continue
        try:
            store.remove(net["name"])
            removed.append(net["name"])
        except TinydockerError:
            pass  # in use
    return removed


def port(ref: str, root=None) -> list[dict]:
    """A running container's published ports: {container_port, proto, host_ip, host_port}."""
    from .containers import _find

    _, record = _find(ref, root)
    if record.status != "running" or not record.network:
        return []
    return list(record.network.get("ports", []))


def connect_network(network: str, container: str, ip: str | None = None, aliases=(), root=None) -> None:
    """docker network connect: the container on one more network, at once if it runs (a new
    interface, eth1...), else from its next start; ip="10.78.0.9", aliases=["db"]."""
    from ..network import attach
    from .containers import _find

    store, record = _find(container, root)
    attach.connect_container(store, record, network, ip or "", list(aliases))


def disconnect_network(network: str, container: str, force: bool = False, root=None) -> None:
    """docker network disconnect: the container off a network, at once if it runs."""
    from ..network import attach
    from .containers import _find

    store, record = _find(container, root)
    attach.disconnect_container(store, record, network, force)
