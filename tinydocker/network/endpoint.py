"""The container's side of its network, wired into the network namespace the runtime made
for its init, before the program starts.

From the host's namespace the veth pair is made with its container end (eth0) created
directly inside (named by the namespace's descriptor) and its host end on the bridge; a
child that enters the namespace then gives it addresses and routes. When the container's namespace goes (its last process
ends, even by SIGKILL), the kernel deletes the pair: no device can outlive its container.
"""

import os

from . import netlink


def _configure_all(net: dict, interfaces: list[dict]) -> None:
    with netlink.Netlink() as inside:  # opened now: it talks to the container's namespace
        for i in interfaces:
            configure(inside, i)
        if net.get("gateway"):
            inside.add_default_route(net["gateway"])


def plug(host: "netlink.Netlink", i: dict, netns_fd: int) -> None:
    """From the host's namespace (`host`): the veth pair of interface `i`, its container end
    made directly in the namespace `netns_fd`, its host end on the bridge and up."""
    host.create_veth(i["veth"], i["ifname"], peer_netns_fd=netns_fd, peer_mac=i.get("mac", ""))
    host.set_master(i["veth"], i["bridge"])
    host.set_up(i["veth"])


def configure(inside: "netlink.Netlink", i: dict) -> None:
    """From the container's namespace (`inside`): interface `i`'s address, and up."""
    inside.add_address(i["ifname"], i["address"])
    inside.set_up(i["ifname"])


def join(pid: int, i: dict) -> None:
    """`network connect` to a running container (`pid`, its PID 1): interface `i` into its
    namespace."""
    try:
        _from_host(pid, [i], lambda: configure_in(i))
    except _InsideFailed:
        netlink.delete_link(i["veth"])
        raise OSError(f"cannot set address {i['address']} on {i['ifname']} in the container") from None


def wire(pid: int, net: dict) -> int | None:
    """The network of a container an OCI runtime has created (`pid`, its init, not started
    yet): a bridge's veth pairs (the runtime brought loopback up, as runc does); for an
    ordinary user, slirp4netns, whose exit pipe (returned) the container's waiter holds."""
    if net["mode"] == "slirp4netns":
        from . import slirp

        return slirp.wire(pid, net)
    interfaces = net.get("interfaces", []) if net["mode"] == "bridge" else []
    if interfaces and net.get("usernet"):  # an ordinary user's: from its network namespace
        from . import usernet

        usernet.run_for(net["usernet"], pid, lambda: _from_host(pid, interfaces, lambda: _configure_all(net, interfaces)))
    elif interfaces:
        _from_host(pid, interfaces, lambda: _configure_all(net, interfaces))
    return None


class _InsideFailed(OSError):
    pass


def configure_in(i: dict) -> None:
    with netlink.Netlink() as inside:
        configure(inside, i)


def _from_host(pid: int, interfaces: list[dict], inside) -> None:
    """Plug `interfaces` into the namespace of `pid` from the host's, then run inside() in a
    child that enters it (setns moves only the caller, and this process must stay in the
    host's)."""
    from ..linux import syscalls as sc
    from ..linux.proc import in_child

    ns = os.open(f"/proc/{pid}/ns/net", os.O_RDONLY | os.O_CLOEXEC)
    try:
        if interfaces:
            with netlink.Netlink() as host:
                for i in interfaces:
                    plug(host, i, ns)
        def entered() -> None:
            sc.setns(ns, sc.CLONE_NEWNET)
            inside()

        if not in_child(entered):
            raise _InsideFailed("cannot configure the container's network namespace")
    finally:
        os.close(ns)
