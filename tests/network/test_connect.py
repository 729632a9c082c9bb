"""`network connect` / `network disconnect`, as docker's: a running container gets (and
loses) an interface on another network at once, a stopped one at its next start; its peers'
/etc/hosts follow; what a connect takes is given back at the container's end."""

import json
import sys

from conftest import network_links, wait_for

from test_networks import HTTPD, spare_subnet


def networks_of(td, name) -> dict:
    return json.loads(td.out("inspect", name))[0]["NetworkSettings"]["Networks"]


def addresses(td, name) -> dict:
    """interface: IPv4 address, as the container sees them."""
    out = td.out("exec", name, "ip", "-o", "-4", "addr")
    return {line.split()[1]: line.split()[3].split("/")[0] for line in out.splitlines() if " lo " not in line}


def allocations(td) -> list:
    import tomllib

    with open(td.root / "state" / "networks.toml", "rb") as f:
        nets = tomllib.load(f)["networks"]
    return sorted((n, ip) for n, net in nets.items() for ip in net.get("allocations", {}))


def test_connect_and_disconnect_a_running_container(td):
    subnet = spare_subnet()
    td.out("network", "create", "--subnet", subnet, "back")
    td.out("run", "-d", "web", "sh", "-c", HTTPD)
    td.out("run", "-d", "--network", "back", "db", "sleep", "600")
    td.wait_running("web")
    td.wait_running("db")
    wanted = subnet.rsplit(".", 1)[0] + ".50"
    td.out("network", "connect", "--ip", wanted, "--alias", "www", "back", "web")
    nets = networks_of(td, "web")
    assert set(nets) == {"bridge", "back"} and nets["back"]["IPAddress"] == wanted
    assert nets["back"]["Aliases"] == ["www"]
    seen = addresses(td, "web")
    assert seen["eth1"] == wanted and seen["eth0"] == nets["bridge"]["IPAddress"]
    # the peer on that network knows it by name and alias, and reaches it
    assert f"{wanted}\tweb www" in td.out("exec", "db", "cat", "/etc/hosts")
    wait_for(lambda: td("exec", "db", "wget", "-q", "-O", "-", "http://www/").stdout == b"hello-web\n",
             what="web to answer on its new interface")
    db_ip = networks_of(td, "db")["back"]["IPAddress"]
    assert f"{db_ip}\tdb" in td.out("exec", "web", "cat", "/etc/hosts")
    assert json.loads(td.out("network", "inspect", "back"))[0]["Containers"].keys() >= {
        td.out("inspect", "-f", "{{.Id}}", "web").strip()}
    # twice is refused, as docker refuses it
    res = td("network", "connect", "back", "web")
    assert res.returncode == 1 and b"already exists in network back" in res.stderr
    td.out("network", "disconnect", "back", "web")
    assert set(networks_of(td, "web")) == {"bridge"}
    assert "eth1" not in addresses(td, "web")
    assert "\tweb" not in td.out("exec", "db", "cat", "/etc/hosts")
    assert ("back", wanted) not in allocations(td)
    res = td("network", "disconnect", "back", "web")
    assert res.returncode == 1 and b"is not connected to network back" in res.stderr
    # connected again, then the container ends: the address goes back with it
    td.out("network", "connect", "back", "web")
    ip = networks_of(td, "web")["back"]["IPAddress"]
    td.out("rm", "-f", "web")
    assert ("back", ip) not in allocations(td)
    assert "\tweb" not in td.out("exec", "db", "cat", "/etc/hosts")


def test_connect_a_stopped_container_applies_at_its_next_start_and_every_start(td):
    td.out("network", "create", "--subnet", spare_subnet(), "extra")
    td.out("create", "box", "sleep", "600")
    res = td("network", "connect", "--ip", "10.0.0.300", "extra", "box")
    assert res.returncode == 1 and res.stderr == b"tinydocker: invalid IPv4 address: 10.0.0.300\n"
    assert set(networks_of(td, "box")) == {"bridge"}  # nothing recorded for a later start
    td.out("network", "connect", "extra", "box")
    assert set(networks_of(td, "box")) == {"bridge", "extra"}
    extra_id = json.loads(td.out("network", "inspect", "extra"))[0]["Id"]
    for which in ("extra", extra_id[:12], "bridge"):  # by name or id; connected ones too
        assert td.out("ps", "-a", "-f", f"network={which}", "--format", "{{.Names}}") == "box\n"
    td.out("start", "box")
    td.wait_running("box")
    seen = addresses(td, "box")
    assert set(seen) == {"eth0", "eth1"} and seen["eth1"] == networks_of(td, "box")["extra"]["IPAddress"]
    td.out("stop", "-t", "0", "box")
    td.out("network", "disconnect", "bridge", "box")
    assert set(networks_of(td, "box")) == {"extra"}
    assert td.out("ps", "-a", "-f", "network=bridge", "--format", "{{.Names}}") == ""
    td.out("start", "box")
    td.wait_running("box")
    assert set(addresses(td, "box")) == {"eth0"}
    assert td.out("exec", "box", "ip", "route").startswith("default via ")
    td.out("rm", "-f", "box")
    assert allocations(td) == []
    res = td("network", "connect", "nosuch", "box2")
    assert res.returncode == 1


def test_a_connect_killed_midway_leaves_nothing_once_the_container_ends(td):
    """The address a killed `network connect` took is its container's: it goes with it."""
    td.out("network", "create", "--subnet", spare_subnet(), "side")
    td.out("run", "-d", "box", "sleep", "600")
    td.wait_running("box")
    links = network_links()
    script = ("import os, sys\nfrom tinydocker.network import endpoint\n"
              "real = endpoint.join\n"
              "def join(pid, i):\n    real(pid, i)\n    os.kill(os.getpid(), 9)\n"
              "endpoint.join = join\nfrom tinydocker.cli import main\n"
              f"sys.argv = ['tinydocker', '--root', {str(td.root)!r}, 'network', 'connect', 'side', 'box']\nmain()\n")
    import subprocess

    res = subprocess.run([sys.executable, "-c", script], capture_output=True)
    assert res.returncode == -9
    assert any(n == "side" for n, _ in allocations(td))
    # connected again: what the killed one made is taken down first, not kept beside
    td.out("network", "connect", "side", "box")
    assert sorted(addresses(td, "box")) == ["eth0", "eth1"]
    assert [n for n, _ in allocations(td)].count("side") == 1
    td.out("rm", "-f", "box")
    wait_for(lambda: network_links() <= links, what="the veth to go with the namespace")
    td.out("system", "prune", "-f")
    assert not any(n == "side" for n, _ in allocations(td))


def test_mac_addresses_are_dockers_and_shown_by_inspect(td):
    td.out("network", "create", "--subnet", spare_subnet(), "two")
    td.out("run", "-d", "box", "sleep", "600")
    td.wait_running("box")
    td.out("network", "connect", "two", "box")
    doc = json.loads(td.out("inspect", "box"))[0]["NetworkSettings"]
    for ifname, net in (("eth0", "bridge"), ("eth1", "two")):
        real = td.out("exec", "box", "cat", f"/sys/class/net/{ifname}/address").strip()
        ip = doc["Networks"][net]["IPAddress"]
        assert real == doc["Networks"][net]["MacAddress"] == "02:42:" + ":".join(f"{int(b):02x}" for b in ip.split("."))
    assert doc["MacAddress"] == doc["Networks"]["bridge"]["MacAddress"]
    out = td.out("run", "--rm", "--mac-address", "02:AB:cd:00:00:01", "m", "cat", "/sys/class/net/eth0/address")
    assert out == "02:ab:cd:00:00:01\n"
    for bad, words in (("02:ab:cd", b"is not a valid mac address"), ("01:00:5e:00:00:01", b"multicast")):
        res = td("run", "--rm", "--mac-address", bad, "m2", "true")
        assert res.returncode == 125 and words in res.stderr
    res = td("run", "--rm", "--network", "container:box", "--mac-address", "02:00:00:00:00:01", "m3", "true")
    assert res.returncode == 125 and b"conflicting options: mac-address and the network mode" in res.stderr
    td.out("rm", "-f", "box")


def test_a_created_container_disconnected_from_its_network_and_connected_again_keeps_its_ports(td):
    """What compose does to each container it makes: disconnect it from its project's
    network and connect it again with its service's aliases. Its published ports stay (as
    docker's HostConfig keeps them), the aliases are the new ones, and it starts."""
    td.out("network", "create", "--subnet", spare_subnet(), "proj")
    td.out("create", "--network", "proj", "--network-alias", "old", "-p", "127.0.0.1::80", "web", "sh", "-c", HTTPD)
    assert networks_of(td, "web")["proj"]["Aliases"] == ["old"]
    td.out("network", "disconnect", "proj", "web")
    assert networks_of(td, "web") == {}
    td.out("network", "connect", "--alias", "www", "proj", "web")
    assert networks_of(td, "web")["proj"]["Aliases"] == ["www"]
    td.out("start", "web")
    td.wait_running("web")
    port = json.loads(td.out("inspect", "web"))[0]["NetworkSettings"]["Ports"]["80/tcp"][0]
    assert port["HostIp"] == "127.0.0.1" and int(port["HostPort"]) > 0
    td.out("run", "-d", "--network", "proj", "peer", "sleep", "600")
    wait_for(lambda: td("exec", "peer", "wget", "-q", "-O", "-", "http://www/").stdout == b"hello-web\n",
             what="web to answer by its new alias")
    assert "\tweb www" in td.out("exec", "peer", "cat", "/etc/hosts")


def test_a_created_container_disconnected_from_its_network_starts_without_one(td):
    td.out("network", "create", "--subnet", spare_subnet(), "proj")
    td.out("create", "--network", "proj", "--network-alias", "old", "-p", "80", "lone", "sleep", "600")
    td.out("network", "disconnect", "proj", "lone")
    td.out("start", "lone")
    td.wait_running("lone")
    assert addresses(td, "lone") == {}
