"""tinydocker's nftables table: one for the machine, shared by every data root.

    table ip tinydocker
      maps tcp_any, udp_any   host port → container address . port (-p PORT:CPORT)
      maps tcp_at, udp_at     host address . port → container address . port (-p IP:PORT:CPORT)
      set subnets             every network's subnet: masqueraded on the way out, and
                              forwarding from one network to another is dropped
      set same                bridge . bridge pairs: traffic within one network passes
                              (it is bridged, but br_netfilter, if loaded, shows it to forward)

A published port is a map element, made with `create`: the kernel itself refuses a second
claim on a host port, whichever data root makes it, so no lock or registry is needed. Each
element carries its container's id as a comment; an element whose container has no cgroup
any more (a run that was SIGKILLed) is swept by `system prune` and by the next publisher.
Traffic from the host's own 127.0.0.1 reaches published ports too (the output hook, with
route_localnet on each bridge and a masquerade so that the reply comes back to the host);
route_localnet would also let a container address the host's 127.0.0.1 services, so a
packet for 127.0.0.0/8 that did not come from the host's loopback is dropped
(CVE-2020-8558's lesson).
"""

import json

from ..errors import TinydockerError
from .nftables import NftError, run

TABLE = "ip tinydocker"
_MAPS = ("tcp_any", "udp_any", "tcp_at", "udp_at")

_DEFINITION = """
create table ip tinydocker
add map ip tinydocker tcp_any { type inet_service : ipv4_addr . inet_service; }
add map ip tinydocker udp_any { type inet_service : ipv4_addr . inet_service; }
add map ip tinydocker tcp_at { type ipv4_addr . inet_service : ipv4_addr . inet_service; }
add map ip tinydocker udp_at { type ipv4_addr . inet_service : ipv4_addr . inet_service; }
add set ip tinydocker subnets { type ipv4_addr; flags interval; }
add set ip tinydocker same { type ifname . ifname; }
add chain ip tinydocker prerouting { type nat hook prerouting priority dstnat; }
add chain ip tinydocker output { type nat hook output priority -100; }
""" + "".join(
    # the port rules sit in both base chains themselves, and a port without an element
    # simply finds no mapping there: a 6.1 kernel refuses dnat in a chain they would jump
    # to, and a map used as a set ("tcp dport @tcp_any")
    f"add rule ip tinydocker {chain} fib daddr type local meta l4proto {proto} dnat ip to {key} map @{proto}_{kind}\n"
    for chain in ("prerouting", "output") for proto in ("tcp", "udp")
    for kind, key in (("at", f"ip daddr . {proto} dport"), ("any", f"{proto} dport"))) + """
add chain ip tinydocker postrouting { type nat hook postrouting priority srcnat; }
add rule ip tinydocker postrouting ip saddr @subnets ip daddr != @subnets masquerade
add rule ip tinydocker postrouting ip saddr 127.0.0.0/8 ip daddr @subnets masquerade
add chain ip tinydocker localnet { type filter hook prerouting priority raw; }
add rule ip tinydocker localnet iifname != "lo" ip daddr 127.0.0.0/8 drop
add chain ip tinydocker forward { type filter hook forward priority filter; }
add rule ip tinydocker forward meta iifname . meta oifname @same accept
add rule ip tinydocker forward ip saddr @subnets ip daddr @subnets drop
"""


def ensure_table() -> None:
    """The table, made whole in one transaction; `create` fails if another process made it
    first, which is as good as having made it."""
    try:
        run(f"list table {TABLE}")
        return
    except NftError:
        pass
    try:
        run(_DEFINITION)
    except NftError:
        run(f"list table {TABLE}")  # made meanwhile by someone else, or truly failed: say so


def add_network(subnet: str, bridge: str) -> None:
    # each subnet its own element (no auto-merge): adjacent networks would merge into one
    # range, and removing one of them would then find no element to delete
    ensure_table()
    remove_network(subnet, bridge)  # a leftover of a network whose removal was killed
    run(f'add element {TABLE} subnets {{ {subnet} }}\nadd element {TABLE} same {{ "{bridge}" . "{bridge}" }}')


def remove_network(subnet: str, bridge: str) -> None:
    for line in (f"delete element {TABLE} subnets {{ {subnet} }}",
                 f'delete element {TABLE} same {{ "{bridge}" . "{bridge}" }}'):
        try:
            run(line)
        except TinydockerError:
            pass  # already gone (a removal killed midway, the table flushed), or no nftables at all


def element_key(binding: dict) -> tuple[str, str]:
    """The map and key of one published port."""
    proto = binding["proto"]
    if binding["host_ip"] in ("", "0.0.0.0"):
        return f"{proto}_any", str(binding["host_port"])
    return f"{proto}_at", f"{binding['host_ip']} . {binding['host_port']}"


def clashes(binding: dict, claims: list[tuple[str, str, str]]) -> list[str]:
    """The owners of claims that take the same host port as `binding`: on every address, or
    on its address (a claim on all addresses clashes with one on any, as in docker)."""
    proto, port = binding["proto"], str(binding["host_port"])
    owners = []
    for table_map, key, owner in claims:
        if table_map == f"{proto}_any" and key == port:
            owners.append(owner)
        elif table_map == f"{proto}_at" and key.endswith(f" . {port}") and (
                binding["host_ip"] in ("", "0.0.0.0") or key == f"{binding['host_ip']} . {port}"):
            owners.append(owner)
    return owners


def publish(container_id: str, address: str, bindings: list[dict]) -> None:
    """Claim every host port of `bindings` for the container at `address`, all or none.
    A port claimed meanwhile raises NftError: the kernel refuses a second element."""
    if not bindings:
        return
    ensure_table()
    lines = []
    for b in bindings:
        table_map, key = element_key(b)
        lines.append(f'create element {TABLE} {table_map} {{ {key} comment "{container_id}" : '
                     f'{address} . {b["container_port"]} }}')
    run("\n".join(lines))


def unpublish(container_id: str) -> list[str]:
    """Release every port the container claimed, and no other: a key it held may since
    belong to another container."""
    return sweep(lambda owner: owner != container_id)


def claimed() -> list[tuple[str, str, str]]:
    """Every published port on the machine: (map, key as nft writes it, container id)."""
    try:
        out = json.loads(run(f"list table {TABLE}", as_json=True))["nftables"]
    except TinydockerError:
        return []  # no table (no port was ever published), or no nftables at all
    found = []
    for item in out:
        m = item.get("map")
        if not m or m.get("name") not in _MAPS:
            continue
        for key, _value in m.get("elem", []):
            element = key.get("elem", {})
            value = element.get("val")
            text = " . ".join(map(str, value["concat"])) if isinstance(value, dict) else str(value)
            found.append((m["name"], text, element.get("comment", "")))
    return found


def sweep(alive) -> list[str]:
    """Drop the ports of containers that are gone (`alive(id)` false); their ids."""
    dropped = []
    for table_map, key, owner in claimed():
        if owner and not alive(owner):
            try:
                run(f"delete element {TABLE} {table_map} {{ {key} }}")
                dropped.append(owner)
            except NftError:
                pass
    return dropped
