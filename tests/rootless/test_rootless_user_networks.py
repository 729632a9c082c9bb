"""An ordinary user's own networks (issue 23): `network create` and `run --network NAME` as
throwaway users. Their bridges live in a network namespace the user's holder process keeps
(network/usernet.py): containers there reach each other by name, reach out through its
slirp4netns (to a listener this test makes on a veth of the host: nothing leaves the
machine), publish ports on the host; the namespace goes with the last network, and one whose
holder was killed is made anew by the next start."""

import json
import os
import signal

import pytest

from conftest import free_port, wait_for

from rootless_fixtures import bare_user, someone, tun_for_everyone, user, user_python  # noqa: F401 - the fixtures
from test_rootless_network import HTTPD, fetch, outside, ranged, tools_of  # noqa: F401 - fixtures too


@pytest.fixture(autouse=True)
def _tun(tun_for_everyone):  # noqa: F811
    pass


def holders_of(u) -> list[int]:
    """The user's networks' holder (its `sleep`: the tests run no other)."""
    return u.running("sleep")


def ask(u, port: int, name: str, *flags) -> bytes:
    """What a new container on `name`'s network gets from http://NAME:port/ (busybox's nc);
    nothing while the server is not yet listening (nc refused), for wait_for to try again."""
    res = u.td("run", "--rm", *flags, "asker", "sh", "-c",
               f"printf 'GET / HTTP/1.0\\r\\n\\r\\n' | nc -w 5 {name} {port}")
    if res.returncode != 0:
        return b""
    return res.stdout.partition(b"\r\n\r\n")[2]


def test_containers_on_a_user_network_reach_each_other_by_name(someone):
    u = someone
    res = u.td("network", "create", "n1")
    assert res.returncode == 0, res.stderr
    net = json.loads(u.td("network", "inspect", "n1").stdout)[0]
    subnet = net["IPAM"]["Config"][0]["Subnet"]
    for name in ("w1", "w2"):
        res = u.td("run", "-d", "--network", "n1", "--hostname", name, name, "sh", "-c", HTTPD)
        assert res.returncode == 0, res.stderr
    assert wait_for(lambda: ask(u, 80, "w1", "--network", "n1") or None, what="w1 by name") == b"hello-w1\n"
    assert ask(u, 80, "w2", "--network", "n1") == b"hello-w2\n"
    # the addresses are the network's, and both are its members
    members = json.loads(u.td("network", "inspect", "n1").stdout)[0]["Containers"]
    assert sorted(m["Name"] for m in members.values()) == ["w1", "w2"]
    prefix = subnet.rsplit(".", 1)[0] + "."
    assert all(m["IPv4Address"].startswith(prefix) for m in members.values()), (members, subnet)
    res = u.td("exec", "w1", "sh", "-c", "id -u; ip -o -4 addr show eth0")
    assert res.returncode == 0, res.stderr
    assert res.stdout.startswith(b"0\n") and prefix.encode() in res.stdout, res.stdout
    # the container's root is the user on the host, as on the default network
    info = json.loads(u.td("inspect", "w1").stdout)[0]
    assert os.stat(f"/proc/{info['State']['Pid']}").st_uid == u.uid
    assert info["NetworkSettings"]["Networks"]["n1"]["IPAddress"] == members[info["Id"]]["IPv4Address"].split("/")[0]
    # network ls shows it beside docker's three
    names = u.td("network", "ls", "--format", "{{.Name}}").stdout.decode().split()
    assert sorted(names) == ["bridge", "host", "n1", "none"]
    # a container on the default network is not on n1: no name, no route
    res = u.td("run", "--rm", "apart", "sh", "-c", "nc -w 2 w1 80 </dev/null; echo $?")
    assert res.stdout.strip().splitlines()[-1] != b"0", res.stdout
    # in use: refused; then the last network takes its namespace along
    assert u.td("network", "rm", "n1").returncode == 1
    assert u.td("rm", "-f", "w1", "w2").returncode == 0
    assert len(holders_of(u)) == 1
    # the data root's monitor adopted the holder (its launcher made it) and still leaves idle
    wait_for(lambda: not u.monitors(), timeout=30, what="the monitor to leave, the holder kept")
    assert len(holders_of(u)) == 1
    res = u.td("network", "rm", "n1")
    assert res.returncode == 0, res.stderr
    wait_for(lambda: not holders_of(u) and not tools_of(u), what="the holder and its slirp4netns to end")


def test_a_user_network_reaches_out_and_publishes_ports(ranged, outside):
    u = ranged
    address, port = outside
    assert u.td("network", "create", "n2").returncode == 0
    res = u.td("run", "--rm", "--network", "n2", "c1", "sh", "-c", f"nc {address} {port} </dev/null")
    assert res.returncode == 0, res.stderr
    assert res.stdout == b"hello from the host\n"
    first, second = free_port(), free_port()
    res = u.td("run", "-d", "--network", "n2", "-p", f"{first}:80", "--hostname", "one", "p1", "sh", "-c", HTTPD)
    assert res.returncode == 0, res.stderr
    res = u.td("run", "-d", "--network", "n2", "-p", f"127.0.0.1:{second}:80", "--hostname", "two", "p2",
               "sh", "-c", HTTPD)
    assert res.returncode == 0, res.stderr
    assert wait_for(lambda: fetch(first), what="the first port to answer") == b"hello-one\n"
    assert wait_for(lambda: fetch(second), what="the second port to answer") == b"hello-two\n"
    assert u.td("port", "p1").stdout.decode() == f"80/tcp -> 0.0.0.0:{first}\n"
    # a port already published is docker's one line
    res = u.td("run", "-d", "--network", "n2", "-p", f"{first}:80", "p3", "sleep", "60")
    assert res.returncode == 125 and b"address already in use" in res.stderr, res.stderr
    # given back at rm: published again at once by another container
    assert u.td("rm", "-f", "p1").returncode == 0
    assert fetch(first) is None
    res = u.td("run", "-d", "--network", "n2", "-p", f"{first}:80", "--hostname", "three", "p4", "sh", "-c", HTTPD)
    assert res.returncode == 0, res.stderr
    assert wait_for(lambda: fetch(first), what="the port to answer again") == b"hello-three\n"
    assert u.td("rm", "-f", "p2", "p4").returncode == 0
    assert u.td("network", "rm", "n2").returncode == 0


def test_a_killed_holder_is_made_anew_and_system_reset_ends_it(ranged):
    u = ranged
    assert u.td("network", "create", "n3").returncode == 0
    res = u.td("run", "-d", "--network", "n3", "--hostname", "k1", "k1", "sh", "-c", HTTPD)
    assert res.returncode == 0, res.stderr
    [holder] = holders_of(u)
    os.kill(holder, signal.SIGKILL)
    wait_for(lambda: not holders_of(u) and not tools_of(u), what="the holder and its slirp4netns to end")
    # the next start makes the namespace anew; the container that lost its network is restarted
    assert u.td("restart", "-t", "0", "k1").returncode == 0
    assert wait_for(lambda: ask(u, 80, "k1", "--network", "n3") or None, what="k1 again") == b"hello-k1\n"
    assert len(holders_of(u)) == 1
    res = u.td("system", "reset", "--force")
    assert res.returncode == 0, res.stderr
    wait_for(lambda: not holders_of(u) and not tools_of(u), what="the holder to end with the reset")


def test_joining_another_containers_namespaces_joins_its_user_namespace(ranged):
    """--network and --pid container:NAME: a namespace is the user namespace's that made it,
    so an ordinary user's container joins that one too (podman's containers share one)."""
    u = ranged
    assert u.td("network", "create", "n4").returncode == 0
    assert u.td("run", "-d", "--network", "n4", "a", "sleep", "600").returncode == 0
    assert u.td("run", "-d", "b", "sleep", "600").returncode == 0
    address = json.loads(u.td("inspect", "a").stdout)[0]["NetworkSettings"]["Networks"]["n4"]["IPAddress"]
    res = u.td("run", "--rm", "--network", "container:a", "--pid", "container:a", "c", "sh", "-c",
               "ip -o -4 addr show eth0; ps -o pid,comm")
    assert res.returncode == 0, res.stderr
    assert f"inet {address}/".encode() in res.stdout and b"sleep" in res.stdout, res.stdout
    res = u.td("run", "--rm", "--network", "container:b", "d", "ip", "-o", "-4", "addr", "show", "eth0")
    assert res.returncode == 0 and b"inet 10.0.2.100/24" in res.stdout, res.stderr
    # two containers' namespaces: two user namespaces, which one process cannot be in
    res = u.td("run", "--rm", "--network", "container:b", "--pid", "container:a", "e", "true")
    assert res.returncode == 125 and res.stderr.count(b"\n") == 1 and b"not root" in res.stderr, res.stderr
    # so too a user network's and a default network container's PID namespace; one on the network is fine
    res = u.td("run", "--rm", "--network", "n4", "--pid", "container:b", "f", "true")
    assert res.returncode == 125 and res.stderr.count(b"\n") == 1 and b"not root" in res.stderr, res.stderr
    res = u.td("run", "--rm", "--network", "n4", "--pid", "container:a", "g", "ps", "-o", "comm")
    assert res.returncode == 0 and b"sleep" in res.stdout, res.stderr
    assert u.td("rm", "-f", "a", "b").returncode == 0
    assert u.td("network", "rm", "n4").returncode == 0


def test_network_connect_and_disconnect_within_the_users_networks(ranged):
    u = ranged
    for net in ("n5", "n6"):
        assert u.td("network", "create", net).returncode == 0
    for name, net in (("c1", "n5"), ("c2", "n6")):
        res = u.td("run", "-d", "--network", net, "--hostname", name, name, "sh", "-c", HTTPD)
        assert res.returncode == 0, res.stderr
    # a running container joins a second network: its peers there know it by name
    res = u.td("network", "connect", "--alias", "web", "n6", "c1")
    assert res.returncode == 0, res.stderr
    assert wait_for(lambda: ask(u, 80, "web", "--network", "n6") or None, what="c1 on n6") == b"hello-c1\n"
    res = u.td("exec", "c2", "sh", "-c", "printf 'GET / HTTP/1.0\\r\\n\\r\\n' | nc -w 5 c1 80")
    assert res.returncode == 0 and res.stdout.endswith(b"hello-c1\n"), (res.stdout, res.stderr)
    assert u.td("exec", "c1", "ip", "-o", "-4", "addr", "show", "eth1").returncode == 0
    # and leaves it: the interface goes, its peers forget the name
    res = u.td("network", "disconnect", "n6", "c1")
    assert res.returncode == 0, res.stderr
    assert u.td("exec", "c1", "ip", "link", "show", "eth1").returncode != 0
    assert b"c1" not in u.td("exec", "c2", "cat", "/etc/hosts").stdout
    # a --network none container: connected while stopped, on the network at its start
    assert u.td("create", "--network", "none", "--hostname", "c3", "c3", "sh", "-c", HTTPD).returncode == 0
    res = u.td("network", "connect", "n5", "c3")
    assert res.returncode == 0, res.stderr
    assert u.td("start", "c3").returncode == 0
    assert wait_for(lambda: ask(u, 80, "c3", "--network", "n5") or None, what="c3 on n5") == b"hello-c3\n"
    # refused in one line: a running container in a user namespace of its own, the default network's
    assert u.td("run", "-d", "--network", "none", "c4", "sleep", "600").returncode == 0
    assert u.td("run", "-d", "c5", "sleep", "600").returncode == 0
    for args in (("network", "connect", "n5", "c4"), ("network", "connect", "n5", "c5"),
                 ("network", "disconnect", "bridge", "c5"), ("network", "connect", "bridge", "c1")):
        res = u.td(*args)
        assert res.returncode == 1 and res.stderr.count(b"\n") == 1 and b"Traceback" not in res.stderr, \
            (args, res.stderr)
    assert u.td("rm", "-f", "c1", "c2", "c3", "c4", "c5").returncode == 0
    assert u.td("network", "rm", "n5", "n6").returncode == 0
    wait_for(lambda: not holders_of(u), what="the holder to end with the last network")
