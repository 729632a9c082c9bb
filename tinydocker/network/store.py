"""Networks and their addresses (IPAM), recorded in state/networks.toml under the state lock.

    [networks.NAME]  id, subnet, gateway, bridge (the device), created
    [networks.NAME.allocations]  "10.77.0.2" = {id, name}: who holds an address

An address is held by a container while it runs: taken at its start, given back at its
end, and taken back from an owner that is gone (a SIGKILLed run) whenever the pool runs
short or that very address is asked for. The default network, `bridge`, is made on first
use. A network's bridge device is made when the network is, and again after a reboot.

Device names and subnets are machine-wide while data roots are not: a bridge is named
from a hash of the data root and the network's id, and a subnet is chosen, under a
machine-wide lock, among those no address on the host falls into. Each bridge's owner
(data root, network id, subnet) is recorded machine-wide in /run/tinydocker/bridges/, so
that a bridge whose data root was deleted (a test's, a user's --root /tmp/x) can be found
and taken down by `system prune` from any data root. An ordinary user's bridges are in its
own network namespace instead (usernet.py): made there at each start on them, gone with it.
"""

import contextlib
import hashlib
import json
import os
from pathlib import Path
import socket
import struct
import tomllib
from datetime import datetime, timezone

from ..errors import TinydockerError
from ..linux.files import write_atomic
from ..state.root import DataRoot, file_lock
from . import firewall, netlink

DEFAULT = "bridge"
PREDEFINED = (DEFAULT, "host", "none")
POOL = "10.77.0.0/16"  # carved into /24s, one per network
MACHINE_LOCK = "/run/tinydocker/network.lock"
OWNERS = "/run/tinydocker/bridges"  # BRIDGE: {"root", "id", "subnet", "bridge"}, one per bridge made


class NoSuchNetwork(TinydockerError):
    code = 1

    def __init__(self, name: str):
        super().__init__(f"network {name} not found")


def _event(root, action: str, net: dict, **extra) -> None:
    from ..state import events

    events.emit(root, "network", action, net["id"], {"name": net["name"], "type": "bridge", **extra})


def _int(address: str) -> int:
    return struct.unpack("!I", socket.inet_aton(address))[0]


def _text(value: int) -> str:
    return socket.inet_ntoa(struct.pack("!I", value))


def parse_subnet(cidr: str) -> tuple[int, int]:
    """(network address, prefix length) of an IPv4 CIDR, refused if it is not one."""
    address, _, length = cidr.partition("/")
    try:
        prefix = int(length)
        base = _int(address)
        socket.inet_pton(socket.AF_INET, address)
    except (ValueError, OSError):
        raise TinydockerError(f"invalid subnet {cidr!r}: want an IPv4 CIDR such as 10.78.0.0/24") from None
    if not 8 <= prefix <= 30:
        raise TinydockerError(f"invalid subnet {cidr!r}: the prefix must be between /8 and /30")
    if base & ~_mask(prefix) & 0xFFFFFFFF:
        raise TinydockerError(f"invalid subnet {cidr!r}: host bits are set "
                              f"(did you mean {_text(base & _mask(prefix))}/{prefix}?)")
    return base, prefix


def _mask(prefix: int) -> int:
    return (0xFFFFFFFF << (32 - prefix)) & 0xFFFFFFFF


def _inside(address: int, subnet: tuple[int, int]) -> bool:
    base, prefix = subnet
    return address & _mask(prefix) == base


def _overlap(a: tuple[int, int], b: tuple[int, int]) -> bool:
    return _inside(a[0], b) or _inside(b[0], a)


def _host_subnets() -> list[tuple[int, int]]:
    """The subnets of every IPv4 address on the host's interfaces."""
    found = []
    with netlink.Netlink() as nl:
        for link in nl.links():
            for cidr in nl.addresses(link["index"]):
                address, _, length = cidr.partition("/")
                found.append((_int(address) & _mask(int(length)), int(length)))
    return found


class NetworkStore:
    def __init__(self, root: DataRoot, records=None):
        """`records()` lists the container records (state.store.Store.all), to tell a
        live owner of an address from one that is gone."""
        self.root = root
        self.path = root.state / "networks.toml"
        self._records = records or (lambda: [])

    def lock(self):
        return file_lock(self.root.state_lock)

    def _load(self) -> dict:
        try:
            with open(self.path, "rb") as f:
                return tomllib.load(f).get("networks", {})
        except FileNotFoundError:
            return {}
        except tomllib.TOMLDecodeError as e:
            raise TinydockerError(f"corrupt network records {self.path}: {e}") from None

    def _save(self, networks: dict) -> None:
        import tomli_w

        write_atomic(self.path, tomli_w.dumps({"networks": networks}).encode())

    def get(self, name: str) -> dict | None:
        return self._load().get(name)

    def all(self) -> list[dict]:
        return sorted(self._load().values(), key=lambda n: (n["name"] != DEFAULT, n["name"]))

    def find(self, ref: str) -> dict:
        """A network by name, full id or unique id prefix."""
        networks = self._load()
        if ref in networks:
            return networks[ref]
        matches = [n for n in networks.values() if ref and n["id"].startswith(ref.lower())]
        if len(matches) == 1:
            return matches[0]
        raise NoSuchNetwork(ref)

    # -- making and removing --------------------------------------------------------------

    def create(self, name: str, subnet: str | None = None, gateway: str | None = None,
               labels: dict | None = None) -> dict:
        from ..names import check_name

        if name in PREDEFINED:
            raise TinydockerError(f"{name} is a pre-defined network and cannot be created", code=1)
        check_name(name)
        with self.lock():
            networks = self._load()
            if name in networks:
                raise TinydockerError(f"network with name {name} already exists", code=1)
            net = self._make(networks, name, subnet, gateway, labels or {})
        return net

    def _make(self, networks: dict, name: str, subnet: str | None, gateway: str | None, labels: dict) -> dict:
        """Under the state lock: choose the subnet, record the network, make its bridge.

        The record is written before the device is made: a command killed in between
        leaves a network whose bridge the next start makes (or `network rm` finds gone),
        never a bridge nobody knows of. A device that fails halfway is taken down again."""
        user = os.geteuid() != 0  # an ordinary user's bridges are in its own namespace (usernet.py)
        if not user:
            os.makedirs(os.path.dirname(MACHINE_LOCK), exist_ok=True)
        with contextlib.nullcontext() if user else file_lock(Path(MACHINE_LOCK)):
            # the host's addresses, and this root's networks whose bridge is not there (yet)
            taken = _host_subnets() + [parse_subnet(n["subnet"]) for n in networks.values()]
            if subnet:
                wanted = parse_subnet(subnet)
                if any(_overlap(wanted, t) for t in taken):
                    raise TinydockerError("invalid pool request: Pool overlaps with other one on this address "
                                          f"space ({subnet})")
            else:
                pool_base, _ = parse_subnet(POOL)
                free = (c for c in ((pool_base + (i << 8), 24) for i in range(256))
                        if not any(_overlap(c, t) for t in taken))
                wanted = next(free, None)
                if wanted is None:
                    raise TinydockerError(f"could not find an available, non-overlapping IPv4 address pool in {POOL}")
            base, prefix = wanted
            if gateway:
                if not valid_address(gateway) or not _inside(_int(gateway), wanted):
                    raise TinydockerError(f"invalid gateway {gateway}: not an address in {_text(base)}/{prefix}")
            else:
                gateway = _text(base + 1)
            network_id = os.urandom(32).hex()
            net = {"id": network_id, "name": name, "subnet": f"{_text(base)}/{prefix}", "gateway": gateway,
                   "bridge": "tdb" + hashlib.sha256(f"{self.root.root}\0{network_id}".encode()).hexdigest()[:10],
                   "created": datetime.now(timezone.utc), "labels": labels, "allocations": {}}
            networks[name] = net
            self._save(networks)
            try:
                if not user:  # the user's: made in its namespace as a container first joins
                    _make_device(net, self.root)
            except BaseException:
                del networks[name]
                self._save(networks)
                destroy_device(net)
                raise
        _event(self.root, "create", net)
        return net

    def remove(self, ref: str) -> dict:
        """`network rm`: refused while a container holds an address on it."""
        with self.lock():
            networks = self._load()
            net = self.find(ref)
            if net["name"] in PREDEFINED:
                raise TinydockerError(f"{net['name']} is a pre-defined network and cannot be removed", code=1)
            gone = self._gone()
            live = [a["name"] for a in net.get("allocations", {}).values() if not gone(a["id"])]
            if live:
                names = ", ".join(sorted(live))
                raise TinydockerError(f"error while removing network: network {net['name']} id {net['id']} "
                                      f"has active endpoints ({names})", code=1)
            # the device first, the record last: a removal killed between leaves a network
            # whose bridge the next start makes again, or the next `network rm` finds gone
            if os.geteuid() != 0:
                from . import usernet

                usernet.run(self.root.state, lambda: _unplug(net), required=False)
                if not any(n["name"] not in (DEFAULT, net["name"]) for n in networks.values()):
                    usernet.end(self.root.state)  # the user's last network: its namespace goes
            else:
                destroy_device(net)
            del networks[net["name"]]
            self._save(networks)
        _event(self.root, "destroy", net)
        return net

    def destroy_all(self) -> None:
        """Every network's device and rules, the records kept (a test's data root going away)."""
        if os.geteuid() != 0:
            from . import usernet

            usernet.end(self.root.state)  # the user's bridges and rules go with its namespace
            return
        for net in self._load().values():
            destroy_device(net)

    # -- addresses ----------------------------------------------------------------------------

    def _gone(self):
        """A test of an owner's id: true unless it may still hold its address, being started
        by a live monitor (for a detached one, its launcher: runtime.py makes it the
        monitor before the network is taken) or running."""
        from ..state.record import RUNNING

        live = {r.id for r in self._records()
                if r.starting or (r.status == RUNNING and (r.container_alive() or r.monitor_alive()))}
        return lambda owner: owner not in live

    def attach(self, network: str, container_id: str, name: str, want_ip: str = "", aliases=()) -> dict:
        """Give a starting container an address on `network` (the default one made on first
        use); the network's record, with "ip" and "prefix" for this container. `aliases`:
        more names its peers on this network know it by (`network connect --alias`)."""
        with self.lock():
            networks = self._load()
            if network not in networks:
                if network != DEFAULT:
                    raise TinydockerError(f"network {network} not found")  # run's own failure: 125
                self._make(networks, DEFAULT, None, None, {})
            net = networks[network]
            if os.geteuid() != 0:  # an ordinary user's: in its namespace, made anew with it
                from . import usernet

                usernet.ensure(self.root.state)
                usernet.run(self.root.state, lambda: netlink.link_index(net["bridge"]) is None and plug(net))
            elif netlink.link_index(net["bridge"]) is None:
                _make_device(net, self.root)  # after a reboot, or removed by hand
            base, prefix = parse_subnet(net["subnet"])
            allocations = net.setdefault("allocations", {})
            reserved = {net["gateway"], _text(base), _text(base + (1 << (32 - prefix)) - 1)}
            if want_ip:
                if not valid_address(want_ip) or not _inside(_int(want_ip), (base, prefix)) or want_ip in reserved:
                    raise TinydockerError(f"invalid --ip {want_ip}: not a free address in {net['subnet']}")
                if want_ip in allocations:
                    _forget(allocations, self._gone())  # its owner may be gone
                if want_ip in allocations:
                    raise TinydockerError(f"Address already in use: {want_ip} is held by container "
                                          f"{allocations[want_ip]['name']}")
                ip = want_ip
            else:
                ip = _free(base, prefix, reserved, allocations)
                if ip is None and _forget(allocations, self._gone()):  # the pool is short: take back
                    ip = _free(base, prefix, reserved, allocations)
                if ip is None:
                    raise TinydockerError(f"no available IPv4 address on network {network} ({net['subnet']} is full)")
            if any(a["id"] == container_id for a in allocations.values()):
                raise TinydockerError(f"endpoint with name {name} already exists in network {network}", code=1)
            allocations[ip] = {"id": container_id, "name": name, **({"aliases": list(aliases)} if aliases else {})}
            self._save(networks)
        return {**net, "ip": ip, "prefix": prefix}

    def detach(self, container_id: str, network: str | None = None) -> list[str]:
        """Give back the container's addresses on `network`, or on every network; the
        networks it held one on."""
        with self.lock():
            networks = self._load()
            held = [n["name"] for n in networks.values() if network in (None, n["name"])
                    and _forget(n.get("allocations", {}), lambda owner: owner == container_id)]
            if held:
                self._save(networks)
        return held

    def rename_locked(self, container_id: str, name: str) -> list[str]:
        """The container's new name on its addresses (the caller holds the state lock); the
        networks whose hosts files now need rewriting."""
        networks = self._load()
        held = []
        for net in networks.values():
            for a in net.get("allocations", {}).values():
                if a["id"] == container_id:
                    a["name"] = name
                    held.append(net["name"])
        if held:
            self._save(networks)
        return held

    def members(self, network: str, loaded: dict | None = None) -> list[dict]:
        """The containers holding an address on a network: {ip, id, name[, aliases]} (one a
        killed run left stays listed until its address is taken back)."""
        net = (self._load() if loaded is None else loaded).get(network) or {}
        return [{"ip": ip, **a} for ip, a in net.get("allocations", {}).items()]

    def views(self, names) -> dict[str, list[dict]]:
        """For every container holding an address on one of the networks `names`: the members
        of every network it is on (itself included), as its /etc/hosts lists them."""
        networks = self._load()
        on: dict[str, list[str]] = {}
        for net in networks.values():
            for a in net.get("allocations", {}).values():
                on.setdefault(a["id"], []).append(net["name"])
        concerned = {a["id"] for n in names for a in networks.get(n, {}).get("allocations", {}).values()}
        return {cid: [m for n in on[cid] for m in self.members(n, networks)] for cid in concerned}

    def sweep(self) -> int:
        """Give back every address whose owner is gone; how many."""
        with self.lock():
            networks = self._load()
            gone = self._gone()
            dropped = sum(_forget(n.get("allocations", {}), gone) for n in networks.values())
            if dropped:
                self._save(networks)
        return dropped


def _forget(allocations: dict, gone) -> int:
    """Drop the addresses whose owner `gone(id)` says is gone; how many."""
    stale = [ip for ip, a in allocations.items() if gone(a["id"])]
    for ip in stale:
        del allocations[ip]
    return len(stale)


def _free(base: int, prefix: int, reserved: set, allocations: dict) -> str | None:
    """The lowest address of the subnet that is neither reserved nor held."""
    for offset in range(1, (1 << (32 - prefix)) - 1):
        candidate = _text(base + offset)
        if candidate not in reserved and candidate not in allocations:
            return candidate
    return None


def valid_address(text: str) -> bool:
    try:
        socket.inet_pton(socket.AF_INET, text)
        return True
    except OSError:
        return False


def _make_device(net: dict, root: DataRoot) -> None:
    """The network's bridge with its gateway address, up; forwarding on; its nft elements;
    its owner recorded first (a device no record names would be nobody's to take down)."""
    os.makedirs(OWNERS, exist_ok=True)
    owner = {"root": str(root.root), "id": net["id"], "subnet": net["subnet"], "bridge": net["bridge"]}
    write_atomic(os.path.join(OWNERS, net["bridge"]), json.dumps(owner).encode())
    plug(net)


def _bridge_up(net: dict) -> None:
    bridge = net["bridge"]
    prefix = int(net["subnet"].partition("/")[2])
    with netlink.Netlink() as nl:
        try:
            nl.create_bridge(bridge)
        except FileExistsError:
            pass
        try:
            nl.add_address(bridge, f"{net['gateway']}/{prefix}")
        except FileExistsError:
            pass
        nl.set_up(bridge)
    for path, value in ((f"/proc/sys/net/ipv4/conf/{bridge}/route_localnet", "1"),  # 127.0.0.1 → published ports
                        ("/proc/sys/net/ipv4/ip_forward", "1")):  # containers reach out, ports reach in
        with open(path, "w") as f:
            f.write(value)


def plug(net: dict) -> None:
    """The network's bridge and nft elements, where the caller is (root of an ordinary user's
    network namespace: usernet.py), made if missing."""
    try:
        _bridge_up(net)
    except OSError as e:
        raise TinydockerError(f"cannot set up network {net['name']}: {e.strerror or e}") from None
    firewall.add_network(net["subnet"], net["bridge"])


def _unplug(net: dict) -> None:
    netlink.delete_link(net["bridge"])
    firewall.remove_network(net["subnet"], net["bridge"])


def destroy_device(net: dict) -> None:
    _unplug(net)
    try:
        os.unlink(os.path.join(OWNERS, net["bridge"]))
    except FileNotFoundError:
        pass


def release_orphans() -> list[str]:
    """Take down the bridges (and their nft elements) whose data root no longer has their
    network: the root deleted, or its networks file gone or without that network. Their
    names. A damaged record of either kind is left alone: its bridge may be in use."""
    released = []
    try:
        names = os.listdir(OWNERS)
    except FileNotFoundError:
        return released
    with file_lock(Path(MACHINE_LOCK)):  # no network is being made meanwhile
        for name in names:
            if name.startswith("."):
                continue  # a record being written
            try:
                with open(os.path.join(OWNERS, name), "rb") as f:
                    owner = json.load(f)
                root = DataRoot(Path(owner["root"]))
                networks = NetworkStore(root)._load() if os.path.isdir(root.root) else {}
            except (OSError, ValueError, KeyError, TypeError, TinydockerError):
                continue
            if any(n.get("id") == owner["id"] and n.get("bridge") == name for n in networks.values()):
                continue
            destroy_device({"bridge": name, "subnet": owner["subnet"]})
            released.append(name)
    return released
