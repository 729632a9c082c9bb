"""tinydocker.network.netlink against the real kernel, as root, with `ip -j` as the witness.

Every link and network namespace a test makes has a unique name ("tdt" + 6 hex digits) and
is removed at teardown whatever happened; the module checks at the end that none is left.
Addresses come from random 10.2xx.y.0/24 subnets, and the only traffic is a ping between
two namespaces this test made, over a bridge it made.
"""

import contextlib
import errno
import json
import os
import secrets
import subprocess
import time

import pytest

from tinydocker.linux import syscalls
from tinydocker.network import netlink


def uniq() -> str:
    return "tdt" + secrets.token_hex(3)


def subnet() -> str:
    """The first three octets of a random /24 in 10.200.0.0-10.249.255.255."""
    return f"10.{200 + secrets.randbelow(50)}.{secrets.randbelow(256)}"


def ip_json(*args: str, netns: str | None = None, pid: int | None = None) -> list:
    cmd = ["ip", *(["-n", netns] if netns else []), "-j", *args]
    if pid:
        cmd = ["nsenter", f"--net=/proc/{pid}/ns/net", *cmd]
    return json.loads(subprocess.run(cmd, check=True, capture_output=True, text=True).stdout or "[]")


def ip_link(name: str, **where) -> dict | None:
    found = [link for link in ip_json("-d", "link", "show", **where) if link["ifname"] == name]
    return found[0] if found else None


def ip_addresses(name: str, **where) -> list[dict]:
    return [a for link in ip_json("addr", "show", **where) if link["ifname"] == name
            for a in link["addr_info"] if a["family"] == "inet"]


def ours() -> set[str]:
    """Test-named links of the host and test-named network namespaces, as `ip` sees them."""
    links = {link["ifname"] for link in ip_json("link", "show") if link["ifname"].startswith("tdt")}
    namespaces = {ns["name"] for ns in ip_json("netns", "list") if ns["name"].startswith("tdt")}
    return links | {f"netns {ns}" for ns in namespaces}


@pytest.fixture(scope="module", autouse=True)
def nothing_left():
    before = ours()
    yield
    assert ours() - before == set(), "links or namespaces left behind"


@contextlib.contextmanager
def netns_fd(ns: str):
    """A descriptor of the named namespace, closed afterwards."""
    fd = os.open(f"/run/netns/{ns}", os.O_RDONLY)
    try:
        yield fd
    finally:
        os.close(fd)


class Scratch:
    """Unique names for links, and throwaway network namespaces, all removed at teardown."""

    def __init__(self):
        self.links, self.namespaces, self.sleepers = [], [], []

    def name(self) -> str:
        self.links.append(uniq())
        return self.links[-1]

    def netns(self) -> str:
        """A named namespace, /run/netns/<name>, made with `ip netns add`."""
        name = uniq()
        subprocess.run(["ip", "netns", "add", name], check=True)
        self.namespaces.append(name)
        return name

    def sleeper(self) -> int:
        """The pid of a process asleep in a namespace of its own, made with `unshare --net`."""
        proc = subprocess.Popen(["unshare", "--net", "sleep", "600"])
        self.sleepers.append(proc)
        deadline = time.monotonic() + 10
        while os.readlink(f"/proc/{proc.pid}/ns/net") == os.readlink("/proc/self/ns/net"):
            assert time.monotonic() < deadline, "unshare --net did not switch namespace"
            time.sleep(0.01)
        return proc.pid

    def cleanup(self) -> None:
        for name in self.links:  # deleting one end of a veth pair deletes the other
            subprocess.run(["ip", "link", "del", name], capture_output=True)
        for name in self.namespaces:
            subprocess.run(["ip", "netns", "del", name], check=True)
        for proc in self.sleepers:
            proc.kill()
            proc.wait()


@pytest.fixture
def scratch():
    made = Scratch()
    try:
        yield made
    finally:
        made.cleanup()


def in_netns(path: str, fn):
    """Run fn() in a forked child that setns()es into the network namespace at path.

    Returns what fn returned (through JSON), or raises here the OSError it raised.
    """
    read_end, write_end = os.pipe()
    pid = os.fork()
    if pid == 0:
        status = 1
        try:
            os.close(read_end)
            fd = os.open(path, os.O_RDONLY)
            syscalls.setns(fd, syscalls.CLONE_NEWNET)
            os.close(fd)
            report = {"result": fn()}
            status = 0
        except OSError as e:
            report = {"errno": e.errno, "error": str(e)}
        except BaseException as e:
            report = {"error": f"{type(e).__name__}: {e}"}
        finally:
            try:
                os.write(write_end, json.dumps(report).encode())
            finally:
                os._exit(status)
    os.close(write_end)
    with os.fdopen(read_end, "rb") as pipe:
        report = json.loads(pipe.read() or b'{"error": "child died"}')
    os.waitpid(pid, 0)
    if "result" in report:
        return report["result"]
    if report.get("errno"):
        raise OSError(report["errno"], report["error"])
    raise AssertionError(report["error"])


def test_bridge_create_exists_up_delete(scratch):
    name = scratch.name()
    assert netlink.link_index(name) is None
    netlink.create_bridge(name)
    seen = ip_link(name)
    assert seen["linkinfo"]["info_kind"] == "bridge"
    assert netlink.link_index(name) == seen["ifindex"]
    assert "UP" not in seen["flags"]

    with pytest.raises(FileExistsError) as exists:
        netlink.create_bridge(name)
    assert exists.value.errno == errno.EEXIST

    netlink.set_up(name)
    assert "UP" in ip_link(name)["flags"]
    assert [link for link in netlink.links() if link["name"] == name] == [
        {"index": seen["ifindex"], "name": name, "kind": "bridge", "master": None, "up": True}]
    netlink.set_up(seen["ifindex"], up=False)
    assert "UP" not in ip_link(name)["flags"]

    assert netlink.delete_link(name) is True
    assert ip_link(name) is None
    assert netlink.link_index(name) is None
    assert netlink.delete_link(name) is False


def test_veth_peer_made_in_netns_by_fd(scratch):
    ns, host, peer = scratch.netns(), scratch.name(), uniq()
    with netns_fd(ns) as fd:
        netlink.create_veth(host, peer, peer_netns_fd=fd)
    assert ip_link(host)["linkinfo"]["info_kind"] == "veth"
    assert ip_link(peer) is None, "the peer must not appear on the host, even for a moment"
    assert ip_link(peer, netns=ns)["linkinfo"]["info_kind"] == "veth"

    assert netlink.delete_link(host) is True
    assert ip_link(peer, netns=ns) is None, "deleting one end deletes the other"


def test_veth_peer_made_in_netns_by_pid(scratch):
    pid, host, peer = scratch.sleeper(), scratch.name(), uniq()
    netlink.create_veth(host, peer, peer_netns_pid=pid)
    assert ip_link(host) is not None and ip_link(peer) is None
    assert ip_link(peer, pid=pid)["linkinfo"]["info_kind"] == "veth"
    assert netlink.delete_link(host) is True
    assert ip_link(peer, pid=pid) is None


def test_set_master_rename_mtu(scratch):
    bridge, one, other = scratch.name(), scratch.name(), scratch.name()
    with netlink.Netlink() as nl:  # one socket for the whole set-up
        nl.create_bridge(bridge)
        nl.create_veth(one, other)
        nl.set_master(one, bridge)
        nl.set_master(nl.link_index(other), nl.link_index(bridge))  # by index too
        bridge_index = nl.link_index(bridge)
        masters = {link["name"]: link["master"] for link in nl.links()}
    assert ip_link(one)["master"] == bridge and ip_link(other)["master"] == bridge
    assert masters[one] == masters[other] == bridge_index and masters[bridge] is None

    index, renamed = netlink.link_index(other), scratch.name()
    netlink.rename(index, renamed)
    assert ip_link(other) is None
    assert ip_link(renamed)["ifindex"] == index

    netlink.set_mtu(one, 1400)
    assert ip_link(one)["mtu"] == 1400

    assert netlink.delete_link(one) and netlink.delete_link(bridge)
    assert ip_link(renamed) is None


def test_add_address_and_list_them(scratch):
    name, net, other = scratch.name(), subnet(), subnet()
    netlink.create_bridge(name)  # left down: the addresses' routes stay inactive
    netlink.add_address(name, f"{net}.1/24")
    netlink.add_address(netlink.link_index(name), f"{other}.7/32")

    seen = {f"{a['local']}/{a['prefixlen']}": a for a in ip_addresses(name)}
    assert sorted(netlink.addresses(name)) == sorted(seen) == sorted([f"{net}.1/24", f"{other}.7/32"])
    assert seen[f"{net}.1/24"]["broadcast"] == f"{net}.255"
    assert "broadcast" not in seen[f"{other}.7/32"]

    with pytest.raises(FileExistsError) as exists:
        netlink.add_address(name, f"{net}.1/24")
    assert exists.value.errno == errno.EEXIST
    assert netlink.delete_link(name)


def test_error_paths(scratch):
    missing = scratch.name()
    with pytest.raises(OSError) as no_index:
        netlink.add_address(0x7FFFFFF0, "10.231.0.1/24")
    assert no_index.value.errno == errno.ENODEV
    with pytest.raises(OSError) as no_name:
        netlink.set_up(missing)
    assert no_name.value.errno == errno.ENODEV
    assert netlink.delete_link(missing) is False

    with pytest.raises(ValueError):
        netlink.create_bridge("tdt" + "x" * 13)  # 16 bytes: one more than IFNAMSIZ leaves
    with pytest.raises(ValueError):
        netlink.add_address("lo", "10.1/8")
    with pytest.raises(ValueError):
        netlink.add_address("lo", "10.231.0.1/33")
    longest = "tdt" + secrets.token_hex(6)  # 15 bytes, the longest name there is
    scratch.links.append(longest)
    netlink.create_bridge(longest)
    assert ip_link(longest) is not None
    assert netlink.delete_link(longest)


def test_default_route_in_netns(scratch):
    ns, host, peer, net = scratch.netns(), scratch.name(), uniq(), subnet()
    with netns_fd(ns) as fd:
        netlink.create_veth(host, peer, peer_netns_fd=fd)

    def inside():
        unreachable = again = None
        with netlink.Netlink() as nl:  # opened after setns(): talks to the container's namespace
            try:
                nl.add_default_route(f"{net}.1")
            except OSError as e:
                unreachable = e.errno
            nl.set_up(peer)
            nl.add_address(peer, f"{net}.2/24")
            nl.add_default_route(f"{net}.1")
            try:
                nl.add_default_route(f"{net}.1")
            except OSError as e:
                again = e.errno
            return [unreachable, again, nl.addresses(peer)]

    unreachable, again, addresses = in_netns(f"/run/netns/{ns}", inside)
    assert unreachable == errno.ENETUNREACH, "no address covers the gateway yet"
    assert again == errno.EEXIST
    assert addresses == [f"{net}.2/24"]
    (default,) = ip_json("-d", "route", "show", "default", netns=ns)  # -d: shows "boot" too
    assert (default["gateway"], default["dev"], default["protocol"]) == (f"{net}.1", peer, "boot")
    assert ip_json("route", "show", "default", netns=ns) != ip_json("route", "show", "default")
    assert netlink.delete_link(host)


def test_socket_stays_in_the_namespace_it_was_opened_in(scratch):
    ns, bridge = scratch.netns(), scratch.name()
    netlink.create_bridge(bridge)
    with netlink.Netlink() as host_side:

        def inside():
            fresh = [link["name"] for link in netlink.links()]
            return [host_side.link_index(bridge), netlink.link_index(bridge), fresh]

        from_old_socket, from_new_socket, fresh = in_netns(f"/run/netns/{ns}", inside)
    assert from_old_socket == ip_link(bridge)["ifindex"]
    assert from_new_socket is None
    assert fresh == ["lo"]
    assert netlink.delete_link(bridge)


def test_ping_between_namespaces_over_a_bridge(scratch):
    bridge, net = scratch.name(), subnet()
    ends = []  # (namespace, host end, container end, address)
    with netlink.Netlink() as nl:
        nl.create_bridge(bridge)
        nl.set_up(bridge)
        for host_address in (2, 3):
            ns, host, peer = scratch.netns(), scratch.name(), uniq()
            with netns_fd(ns) as fd:
                nl.create_veth(host, peer, peer_netns_fd=fd)
            nl.set_master(host, bridge)
            nl.set_up(host)
            ends.append((ns, host, peer, f"{net}.{host_address}"))

    for ns, _, peer, address in ends:
        def inside():
            with netlink.Netlink() as nl:
                nl.set_up("lo")
                nl.set_up(peer)
                nl.add_address(peer, f"{address}/24")
                return nl.addresses(peer)

        assert in_netns(f"/run/netns/{ns}", inside) == [f"{address}/24"]

    (ns_a, _, _, address_a), (ns_b, _, _, address_b) = ends
    for source, target in ((ns_a, address_b), (ns_b, address_a)):
        for attempt in range(3):  # the first packet may wait on ARP and the ports coming up
            ping = subprocess.run(["nsenter", f"--net=/run/netns/{source}", "busybox", "ping", "-c1", "-W2", target],
                                  capture_output=True, text=True)
            if ping.returncode == 0:
                break
        assert ping.returncode == 0, ping.stdout + ping.stderr
        assert "1 packets received" in ping.stdout
    for _, host, _, _ in ends:
        assert netlink.delete_link(host)
    assert netlink.delete_link(bridge)


def test_replies_to_an_abandoned_request_are_skipped():
    with netlink.Netlink() as nl:
        # a links dump whose replies nobody reads, with a sequence number of its own...
        header = netlink._NLMSGHDR.pack(16 + netlink._IFINFOMSG.size, netlink.RTM_GETLINK,
                                        netlink.NLM_F_REQUEST | netlink.NLM_F_DUMP, 999, 0)
        nl._sock.send(header + netlink._ifinfo())
        # ...sits in the socket ahead of the next request's answer, which must still be found
        assert nl.link_index("lo") == ip_link("lo")["ifindex"]
        assert [link["name"] for link in nl.links()] == [link["ifname"] for link in ip_json("link", "show")]


NFT_THREADS = """
import sys, threading
from tinydocker.network import nftables
failed = []

def work():
    for _ in range(300):
        try:
            nftables.run("list tables")
        except Exception as e:
            failed.append(e)

threads = [threading.Thread(target=work) for _ in range(8)]
for t in threads:
    t.start()
for t in threads:
    t.join()
print(len(failed))
"""


def test_nftables_from_many_threads_of_one_process():
    """libnftables' context is not thread-safe: a script's threads starting containers at
    once crashed the process (a segfault, or libnftables' own exit: "nf_tables kernel ABI
    is broken"). Read-only commands only: nothing of the machine's changes."""
    import subprocess
    import sys

    from conftest import REPO

    res = subprocess.run([sys.executable, "-c", NFT_THREADS], capture_output=True, text=True, timeout=120,
                         env={"PYTHONPATH": str(REPO), "PATH": "/usr/sbin:/usr/bin:/sbin:/bin"})
    assert (res.returncode, res.stdout) == (0, "0\n"), res.stderr
