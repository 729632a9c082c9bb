"""The container's side of its network, done by its init between unshare and pivot_root.

For a bridge network the init opens a netlink socket *before* it leaves the host's network
namespace: that socket keeps talking to the host's, so from the new namespace the init
makes the veth pair itself, its container end (eth0) created directly inside, and puts the
host end on the bridge. When the container's namespace goes (its last process ends, even
by SIGKILL), the kernel deletes the pair: no device can outlive its container.
"""

import os

from . import netlink


def enter(net: dict, unshare) -> None:
    """`unshare(extra_flags)` leaves the host's namespaces; `net` is the runtime's orders:
    {"mode": "none" | "host" | "bridge", and for a bridge "bridge", "veth", "address"
    (CIDR), "gateway"}."""
    from ..linux import syscalls as sc

    if net["mode"] == "host":
        unshare(0)
        return
    host = netlink.Netlink() if net["mode"] == "bridge" else None
    try:
        unshare(sc.CLONE_NEWNET)
        if host is not None:
            own = os.open("/proc/self/ns/net", os.O_RDONLY | os.O_CLOEXEC)
            try:
                host.create_veth(net["veth"], "eth0", peer_netns_fd=own)
            finally:
                os.close(own)
            host.set_master(net["veth"], net["bridge"])
            host.set_up(net["veth"])
    finally:
        if host is not None:
            host.close()
    with netlink.Netlink() as inside:  # opened now: it talks to the container's namespace
        inside.set_up("lo")
        if net["mode"] == "bridge":
            inside.add_address("eth0", net["address"])
            inside.set_up("eth0")
            inside.add_default_route(net["gateway"])
