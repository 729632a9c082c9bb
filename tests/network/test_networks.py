"""Container networks as docker users know them: the default bridge, user networks, names,
isolation, addresses, published ports and masquerading, and their cleanup.

Traffic goes only to loopback, to the addresses of containers the test made, or to a
network namespace the test made as "the outside"; nothing leaves the machine.
"""

import json
import os
import random
import signal
import socket
import subprocess
import sys
import threading
import tomllib
import urllib.request

import pytest

from conftest import free_port, free_ports, network_links, wait_for
from tinydocker.network import firewall


HOST_PYTHON = ("/host/usr/lib/x86_64-linux-gnu/ld-linux-x86-64.so.2 --library-path /host/usr/lib/x86_64-linux-gnu "
               "/host/usr/bin/python3")
HTTPD = "mkdir -p /www && echo hello-$HOSTNAME > /www/index.html && exec httpd -f -p 80 -h /www"


def spare_subnet(size: int = 24) -> str:
    """A subnet of 10.78.0.0/16 no host interface is in (the test's own user networks)."""
    used = subprocess.run(["ip", "-4", "-o", "addr"], capture_output=True, text=True).stdout
    while True:
        third = random.randrange(256)
        if f" 10.78.{third}." not in used:
            return f"10.78.{third}.0/{size}"


def address(td, name) -> str:
    return json.loads(td.out("inspect", name))[0]["NetworkSettings"]["IPAddress"]


def fetch(url: str, timeout: float = 5) -> str:
    with urllib.request.urlopen(url, timeout=timeout) as reply:
        return reply.read().decode()


def test_default_bridge_gives_an_address_a_route_and_etc_files(td):
    out = td.out("run", "--rm", "--hostname", "box", "--add-host", "db:10.1.2.3", "--dns", "10.9.9.9", "c1",
                 "sh", "-c", "ip -o -4 addr show eth0; ip route; cat /etc/hostname /etc/hosts /etc/resolv.conf")
    lines = out.splitlines()
    assert "inet 10.77." in lines[0]
    ip = lines[0].split("inet ")[1].split("/")[0]
    assert lines[1].startswith("default via 10.77.") and "dev eth0" in lines[1]
    assert "box" in lines
    assert "10.1.2.3\tdb" in lines and f"{ip}\tbox c1" in lines
    assert "nameserver 10.9.9.9" in lines and not any(line.startswith("nameserver 127.") for line in lines)
    bridges = [n for n in network_links() if n.startswith("tdb")]
    assert bridges, "the default network's bridge is made on first use"
    assert "bridge" in td.out("network", "ls")


def test_resolv_conf_is_the_hosts_without_loopback_nameservers(td):
    host = open("/etc/resolv.conf").read().split("\n")
    wanted = [line.split()[1] for line in host if line.startswith("nameserver") and not line.split()[1].startswith("127.")]
    out = td.out("run", "--rm", "c1", "cat", "/etc/resolv.conf")
    servers = [line.split()[1] for line in out.splitlines() if line.startswith("nameserver")]
    assert servers == (wanted or ["8.8.8.8", "8.8.4.4"])


def test_network_none_has_loopback_only_and_host_shares_the_hosts(td):
    out = td.out("run", "--rm", "--network", "none", "c1", "sh", "-c", "ls /sys/class/net")
    assert out.split() == ["lo"]
    host_links = sorted(os.listdir("/sys/class/net"))
    out = td.out("run", "--rm", "--network", "host", "c2", "ls", "/sys/class/net")
    assert sorted(out.split()) == host_links
    # docker discards published ports in host mode, with a warning, and runs
    res = td("run", "--rm", "-p", "8080", "--network", "host", "c3", "echo", "X")
    assert res.returncode == 0 and res.stdout == b"X\n"
    assert res.stderr == b"WARNING: Published ports are discarded when using host network mode\n"
    res = td("run", "--rm", "--network", "none", "-p", "80", "c4", "true")
    assert res.returncode == 125 and b"cannot publish ports with --network none" in res.stderr


def test_user_network_peers_find_each_other_by_name_and_other_networks_cannot_reach(td):
    td.out("network", "create", "front")
    td.out("network", "create", "back")
    td.out("run", "-d", "--network", "front", "web", "sh", "-c", HTTPD)
    td.out("run", "-d", "--network", "back", "db", "sleep", "600")
    td.wait_running("web")
    web_ip = address(td, "web")
    wait_for(lambda: td("run", "--rm", "--network", "front", "probe", "wget", "-q", "-O", "-",
                        "http://web/").returncode == 0, what="web to answer")
    out = td.out("run", "--rm", "--network", "front", "client", "sh", "-c", "wget -q -O - http://web/; cat /etc/hosts")
    assert out.startswith("hello-web\n") and f"{web_ip}\tweb" in out
    # the long-running peer's /etc/hosts learnt of the newcomer while it ran, and forgot it after
    hosts = td.out("exec", "web", "cat", "/etc/hosts")
    assert "\tclient" not in hosts  # client has ended and been removed
    td.out("run", "-d", "--network", "front", "late", "sleep", "600")
    assert "\tlate" in td.out("exec", "web", "cat", "/etc/hosts")
    # another network: its container cannot even open a connection to web
    res = td("exec", "db", "sh", "-c", f"echo | nc -w 2 {web_ip} 80 && echo reached || echo unreachable")
    assert res.stdout.decode().strip().endswith("unreachable")
    res = td("exec", "db", "ping", "-c", "1", "-W", "1", web_ip)
    assert res.returncode != 0
    # and the default bridge's containers cannot either
    res = td("run", "--rm", "probe2", "sh", "-c", f"echo | nc -w 2 {web_ip} 80 && echo reached || echo unreachable")
    assert res.stdout.decode().strip().endswith("unreachable")
    res = td("network", "rm", "front")
    assert res.returncode == 1 and b"has active endpoints" in res.stderr
    td.out("rm", "-f", "web", "late", "db")
    with open(td.root / "state" / "networks.toml", "rb") as f:
        bridge = tomllib.load(f)["networks"]["front"]["bridge"]
    assert json.loads(td.out("network", "inspect", "front"))[0]["Options"] == {}  # none were given
    assert bridge in network_links()
    td.out("network", "rm", "front", "back")
    assert bridge not in network_links()
    assert [n["Name"] for n in json.loads("[" + ",".join(td.out("network", "ls", "--format", "json").split("\n")[:-1]) + "]")
            ] == ["bridge", "host", "none"]


def test_subnet_gateway_and_ip_are_honoured_and_a_full_network_is_a_clear_error(td):
    subnet = spare_subnet(29)  # 8 addresses: network, gateway, broadcast and five for containers
    base = subnet.rsplit(".", 1)[0] + "."
    td.out("network", "create", "--subnet", subnet, "--gateway", base + "6", "tiny")
    doc = json.loads(td.out("network", "inspect", "tiny"))[0]
    assert doc["IPAM"]["Config"] == [{"Subnet": subnet, "Gateway": base + "6"}]
    td.out("run", "-d", "--network", "tiny", "--ip", base + "5", "fixed", "sleep", "600")
    assert address(td, "fixed") == base + "5"
    res = td("run", "--rm", "--network", "tiny", "--ip", base + "5", "again", "true")
    assert res.returncode == 125 and b"Address already in use" in res.stderr
    for i in range(4):
        td.out("run", "-d", "--network", "tiny", f"n{i}", "sleep", "600")
    ips = sorted(address(td, n) for n in ["fixed", "n0", "n1", "n2", "n3"])
    assert ips == sorted(base + str(i) for i in (1, 2, 3, 4, 5))
    res = td("run", "--rm", "--network", "tiny", "over", "true")
    assert res.returncode == 125 and b"is full" in res.stderr
    res = td("network", "create", "--subnet", subnet, "clash")
    assert res.returncode == 125 and b"overlaps" in res.stderr
    res = td("network", "create", "--subnet", "10.78.0.1/24", "bits")
    assert res.returncode == 125 and b"host bits are set" in res.stderr
    assert td("network", "rm", "bridge").returncode == 1
    assert td("network", "create", "host").returncode == 1


def test_twenty_parallel_runs_get_twenty_distinct_addresses(td):
    td.out("network", "create", "many")
    results = []

    def one(i):
        results.append(td("run", "-d", "--network", "many", f"p{i}", "sleep", "600", timeout=120))

    threads = [threading.Thread(target=one, args=(i,)) for i in range(20)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert [r.returncode for r in results] == [0] * 20, [r.stderr for r in results if r.returncode]
    ips = {f"p{i}": address(td, f"p{i}") for i in range(20)}
    assert len(set(ips.values())) == 20
    # every member's /etc/hosts, rewritten by twenty starts at once, lists the other nineteen
    for name in ("p0", "p7", "p19"):
        lines = td.out("exec", name, "cat", "/etc/hosts").splitlines()
        peers = {line.split("\t")[1]: line.split("\t")[0] for line in lines if line.split("\t")[-1].startswith("p")}
        assert peers == ips, (name, lines)
    td.out("rm", "-f", *[f"p{i}" for i in range(20)])
    with open(td.root / "state" / "networks.toml", "rb") as f:
        assert tomllib.load(f)["networks"]["many"]["allocations"] == {}


def test_an_address_held_by_a_killed_run_is_taken_back(td):
    subnet = spare_subnet(30)  # two addresses: the gateway and one container
    td.out("network", "create", "--subnet", subnet, "one")
    run = td.popen("run", "--network", "one", "holder", "sleep", "600")
    record = td.wait_running("holder")
    run.send_signal(signal.SIGKILL)
    run.wait()
    os.kill(record["pid"], signal.SIGKILL)
    wait_for(lambda: not os.path.exists(f"/proc/{record['pid']}"), what="the container to end")
    # the record still says running and holds the only address; its owner is gone
    out = td.out("run", "--rm", "--network", "one", "next", "sh", "-c", "ip -o -4 addr show eth0")
    assert subnet.rsplit(".", 1)[0] + ".2/30" in out
    td.out("rm", "-f", "holder")


def test_published_ports_answer_on_localhost_and_are_released(td):
    port = free_port()
    td.out("run", "-d", "-p", f"{port}:80", "-p", "80", "web", "sh", "-c", HTTPD)
    assert wait_for(lambda: _try(f"http://127.0.0.1:{port}/"), what="the port to answer") == "hello-web\n"
    lines = td.out("port", "web").splitlines()
    assert lines[0] == f"80/tcp -> 0.0.0.0:{port}"
    ephemeral = int(lines[1].rsplit(":", 1)[1])
    assert lines[1].startswith("80/tcp -> 0.0.0.0:") and ephemeral != port
    assert wait_for(lambda: _try(f"http://127.0.0.1:{ephemeral}/"), what="the ephemeral port") == "hello-web\n"
    assert td.out("port", "web", "80") == f"0.0.0.0:{port}\n0.0.0.0:{ephemeral}\n"
    assert f"0.0.0.0:{port}->80/tcp" in td.out("ps")
    container_id = json.loads(td.out("inspect", "web"))[0]["Id"]
    assert {c[1] for c in firewall.claimed() if c[2] == container_id} == {str(port), str(ephemeral)}
    # a second claim of the port is refused, whoever makes it
    res = td("run", "--rm", "-p", f"{port}:80", "web2", "true")
    assert res.returncode == 125
    assert res.stderr.decode() == f"tinydocker: Bind for 0.0.0.0:{port} failed: port is already allocated\n"
    td.out("rm", "-f", "web")
    assert not [c for c in firewall.claimed() if c[2] == container_id]
    with pytest.raises(OSError):
        fetch(f"http://127.0.0.1:{port}/", timeout=1)


def test_a_port_a_host_process_listens_on_is_refused(td):
    with socket.socket() as s:
        s.bind(("0.0.0.0", 0))
        s.listen()
        port = s.getsockname()[1]
        res = td("run", "--rm", "-p", f"{port}:80", "c1", "true")
    assert res.returncode == 125 and f"Bind for 0.0.0.0:{port} failed: port is already allocated" in res.stderr.decode()
    res = td("run", "--rm", "-p", "99999:80", "c2", "true")
    assert res.returncode == 125 and b"invalid publish spec" in res.stderr
    assert td.out("ps", "-aq") == ""


def test_a_port_bound_to_one_host_address_and_udp(td):
    port = free_port()
    # busybox has no UDP server: the host's python, bound in read-only, echoes
    echo_server = ("import socket; s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM); s.bind(('', 7))\n"
                   "while True: data, peer = s.recvfrom(100); s.sendto(data, peer)")
    td.out("run", "-d", "-p", f"127.0.0.1:{port}:80", "-p", f"127.0.0.1:{port}:7/udp", "-v", "/usr:/host/usr:ro",
           "-e", "PYTHONHOME=/host/usr", "web", "sh", "-c",
           f"{HOST_PYTHON} -c \"{echo_server}\" & " + HTTPD)
    assert wait_for(lambda: _try(f"http://127.0.0.1:{port}/"), what="the port to answer") == "hello-web\n"
    assert td.out("port", "web").splitlines() == [f"80/tcp -> 127.0.0.1:{port}", f"7/udp -> 127.0.0.1:{port}"]

    def echo():
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as u:
            u.settimeout(0.5)
            u.sendto(b"ping\n", ("127.0.0.1", port))
            try:
                return u.recv(100)
            except socket.timeout:
                return None

    assert wait_for(echo, what="the udp echo") == b"ping\n"
    td.out("rm", "-f", "web")


def test_outbound_traffic_is_masqueraded(td, tmp_path):
    """A namespace the test makes stands for the outside world: the container's connection
    to it arrives from the host's address on that link, not from the container's."""
    ns = f"tdtout{os.getpid() % 10000}"
    third = random.randrange(256)
    host_end, out_end = f"10.79.{third}.1", f"10.79.{third}.2"
    veth = f"tdtx{os.getpid() % 100000}"
    subprocess.run(["ip", "netns", "add", ns], check=True)
    listener = None
    try:
        subprocess.run(["ip", "link", "add", veth, "type", "veth", "peer", "name", "eth0", "netns", ns], check=True)
        subprocess.run(["ip", "addr", "add", f"{host_end}/30", "dev", veth], check=True)
        subprocess.run(["ip", "link", "set", veth, "up"], check=True)
        subprocess.run(["ip", "-n", ns, "addr", "add", f"{out_end}/30", "dev", "eth0"], check=True)
        subprocess.run(["ip", "-n", ns, "link", "set", "eth0", "up"], check=True)
        seen = tmp_path / "seen"
        listener = subprocess.Popen(["ip", "netns", "exec", ns, "python3", "-c", f"""
import socket
s = socket.socket(); s.bind(("{out_end}", 9000)); s.listen(); print("ready", flush=True)
c, peer = s.accept(); open("{seen}", "w").write(peer[0]); c.sendall(b"hi")
"""], stdout=subprocess.PIPE, text=True)
        assert listener.stdout.readline().strip() == "ready"
        out = td.out("run", "--rm", "c1", "sh", "-c", f"nc -w 3 {out_end} 9000 </dev/null")
        assert out == "hi"
        assert seen.read_text() == host_end
    finally:
        if listener is not None:
            listener.kill()
            listener.wait()
        subprocess.run(["ip", "link", "del", veth], capture_output=True)
        subprocess.run(["ip", "netns", "del", ns], capture_output=True)


def test_system_prune_releases_what_a_killed_monitor_held(td):
    port = free_port()
    run = td.popen("run", "-p", f"{port}:80", "held", "sleep", "600")
    record = td.wait_running("held")
    run.send_signal(signal.SIGKILL)
    run.wait()
    os.kill(record["pid"], signal.SIGKILL)
    wait_for(lambda: not os.path.exists(f"/proc/{record['pid']}"), what="the container to end")
    assert [c for c in firewall.claimed() if c[2] == record["id"]]  # still claimed: nobody released it
    td.out("system", "prune", "-f")
    assert not [c for c in firewall.claimed() if c[2] == record["id"]]
    with open(td.root / "state" / "networks.toml", "rb") as f:
        assert tomllib.load(f)["networks"]["bridge"]["allocations"] == {}


def test_the_api_takes_network_options(td):
    import tinydocker

    tinydocker.create_network("apinet", root=td.root)
    done = tinydocker.run("a1", ["sh", "-c", "ip -o -4 addr show eth0; cat /etc/hosts"], network="apinet",
                          add_hosts=["x:10.0.0.1"], capture_output=True, remove=True, root=td.root)
    assert done.exit_code == 0 and b"10.0.0.1\tx" in done.stdout
    assert [n["Name"] for n in tinydocker.networks(root=td.root)] == ["apinet", "host", "none"]
    assert tinydocker.prune_networks(root=td.root) == ["apinet"]


def _try(url: str):
    try:
        return fetch(url, timeout=1)
    except OSError:
        return None


KILL_POINTS = {
    # the address is taken; no port claimed, nothing recorded yet
    "after the address": "patch(NetworkStore, 'attach', after=True)",
    # the ports are claimed in nftables; the record does not say so yet
    "after the ports": "patch(firewall, 'publish', after=True)",
    # mid teardown: the ports are released, the address not yet
    "mid teardown": "patch(NetworkStore, 'detach', before=True)",
}

SCRIPT = """
import os, signal, sys
from tinydocker.network import firewall
from tinydocker.network.store import NetworkStore

def patch(owner, name, before=False, after=False):
    original = getattr(owner, name)

    def wrapper(*args, **kwargs):
        if before:
            os.kill(os.getpid(), signal.SIGKILL)
        result = original(*args, **kwargs)
        if after:
            os.kill(os.getpid(), signal.SIGKILL)
        return result
    setattr(owner, name, wrapper)

%s
from tinydocker.cli import main
main(["--root", sys.argv[1], "run", "-p", sys.argv[2] + ":80", "c1", "sh", "-c", "sleep 0.2"])
"""


@pytest.mark.parametrize("point", list(KILL_POINTS))
def test_a_run_killed_mid_network_setup_or_teardown_leaves_nothing_after_rm(td, point):
    td.out("image", "build")
    td.out("run", "--rm", "warm", "true")  # the default network exists: the kill lands in the container's part
    port = free_port()
    p = subprocess.Popen([sys.executable, "-c", SCRIPT % KILL_POINTS[point], str(td.root), str(port)],
                         env=td.env, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    assert p.wait(60) == -9, p.stderr.read().decode()
    container_id = td.record("c1")["id"]
    wait_for(lambda: not [n for n in network_links() if n.startswith("tdv" + container_id[:6])],
             what="the container's veth to go with its namespace")
    td.out("rm", "-f", "c1")
    assert not [c for c in firewall.claimed() if c[2] == container_id]
    with open(td.root / "state" / "networks.toml", "rb") as f:
        assert tomllib.load(f)["networks"]["bridge"]["allocations"] == {}
    # the port and the name are free again
    assert td.out("run", "--rm", "-p", f"{port}:80", "c1", "echo", "again") == "again\n"


def test_run_on_a_missing_network_is_refused_and_leaves_nothing(td):
    res = td("run", "--rm", "--network", "nosuch", "c1", "true")
    assert res.returncode == 125 and res.stderr.decode() == "tinydocker: network nosuch not found\n"
    assert td.out("ps", "-aq") == ""
    res = td("network", "rm", "nosuch")
    assert res.returncode == 1 and b"network nosuch not found" in res.stderr


def test_publish_all_publishes_the_images_exposed_ports(td, layered_image):
    """The layered fixture image exposes 8080/tcp; -P puts it on a free host port."""
    td.out("load", "-i", str(layered_image.docker_archive))
    td.out("run", "-d", "-P", "--image", "layered:latest", "--entrypoint", "httpd", "web", "-f", "-p", "8080", "-h", "/data")
    line = td.out("port", "web").strip()
    assert line.startswith("8080/tcp -> 0.0.0.0:")
    port = int(line.rsplit(":", 1)[1])
    assert wait_for(lambda: _try(f"http://127.0.0.1:{port}/b"), what="the exposed port") == "b\n"
    td.out("rm", "-f", "web")


def _subnets_in_firewall() -> set[str]:
    from tinydocker.network.nftables import run

    doc = json.loads(run(f"list set {firewall.TABLE} subnets", as_json=True))["nftables"]
    elements = next(item["set"] for item in doc if "set" in item).get("elem", [])
    return {f"{e['prefix']['addr']}/{e['prefix']['len']}" for e in elements if isinstance(e, dict) and "prefix" in e}


def test_network_rm_takes_its_subnet_and_bridge_out_of_the_firewall(td):
    td.out("network", "create", "n1")
    td.out("network", "create", "n2")  # most likely the next /24: adjacent, never merged
    first, second = (json.loads(td.out("network", "inspect", n))[0] for n in ("n1", "n2"))
    subnets = {first["IPAM"]["Config"][0]["Subnet"], second["IPAM"]["Config"][0]["Subnet"]}
    assert subnets <= _subnets_in_firewall()
    td.out("network", "rm", "n1")
    left = _subnets_in_firewall()
    assert first["IPAM"]["Config"][0]["Subnet"] not in left and second["IPAM"]["Config"][0]["Subnet"] in left
    td.out("network", "rm", "n2")
    assert not subnets & _subnets_in_firewall()


def test_starting_a_stopped_container_does_not_take_another_ones_port(td):
    port = free_port()
    td.out("run", "-d", "-p", f"{port}:80", "x", "sh", "-c", HTTPD)
    td.out("stop", "-t", "0", "x")
    td.out("run", "-d", "-p", f"{port}:80", "y", "sh", "-c", HTTPD)
    assert wait_for(lambda: _try(f"http://127.0.0.1:{port}/"), what="y's port") == "hello-y\n"
    res = td("start", "x")
    assert res.returncode == 125 and f"Bind for 0.0.0.0:{port} failed" in res.stderr.decode()
    assert _try(f"http://127.0.0.1:{port}/") == "hello-y\n"  # still y's
    y_id = json.loads(td.out("inspect", "y"))[0]["Id"]
    assert [c[2] for c in firewall.claimed() if c[1] == str(port)] == [y_id]
    td.out("rm", "-f", "x", "y")


def test_a_port_on_every_address_and_one_on_a_single_address_clash(td):
    port = free_port()
    td.out("run", "-d", "-p", f"127.0.0.1:{port}:80", "one", "sleep", "600")
    res = td("run", "--rm", "-p", f"{port}:80", "two", "true")
    assert res.returncode == 125 and f"Bind for 0.0.0.0:{port} failed" in res.stderr.decode()
    td.out("rm", "-f", "one")
    td.out("run", "-d", "-p", f"{port}:80", "three", "sleep", "600")
    res = td("run", "--rm", "-p", f"127.0.0.1:{port}:80", "four", "true")
    assert res.returncode == 125 and f"Bind for 127.0.0.1:{port} failed" in res.stderr.decode()
    td.out("rm", "-f", "three")


def test_a_hostname_cannot_write_into_peers_hosts_files_and_the_users_own_etc_file_wins(td, tmp_path):
    for bad in ("x db", "x\n6.6.6.6 db", "-x"):
        res = td("run", "--rm", "--hostname", bad, "c1", "true")
        assert res.returncode == 125 and b"invalid hostname" in res.stderr, bad
    mine = tmp_path / "hosts"
    mine.write_text("10.9.9.9\tmine\n")
    assert td.out("run", "--rm", "-v", f"{mine}:/etc/hosts:ro", "c2", "cat", "/etc/hosts") == "10.9.9.9\tmine\n"


def test_a_created_container_with_ports_starts_once_the_data_root_has_networks(td):
    """start, detached, after nftables was used in the caller (the monitor it forks must
    not reuse the caller's netlink socket, closed in it)."""
    port = free_port()
    td.out("create", "-p", f"{port}:80", "web", "sh", "-c", HTTPD)
    td.out("network", "create", "--subnet", spare_subnet(), "other")
    td.out("start", "web")
    wait_for(lambda: _try(f"http://127.0.0.1:{port}/") == "hello-web\n", what="the published port")
    td.out("rm", "-f", "web")


def test_port_ranges_as_docker_reads_them(td):
    base = free_ports(3)
    serve = "; ".join(f"mkdir -p /w{p} && echo port-{p} > /w{p}/index.html && httpd -p {p} -h /w{p}"
                      for p in (80, 81, 82))
    td.out("run", "-d", "-p", f"{base}-{base + 2}:80-82", "web", "sh", "-c", serve + "; exec sleep 600")
    for i, p in enumerate((80, 81, 82)):
        wait_for(lambda: _try(f"http://127.0.0.1:{base + i}/") == f"port-{p}\n", what=f"port {base + i}")
    udp = free_ports(2, socket.SOCK_DGRAM)
    td.out("run", "-d", "-p", f"127.0.0.1:{udp}-{udp + 1}:9000-9001/udp", "u", "sleep", "600")
    assert td.out("port", "u").splitlines() == [f"9000/udp -> 127.0.0.1:{udp}", f"9001/udp -> 127.0.0.1:{udp + 1}"]
    # a host range for one container port: its first free port
    spare = free_ports(3)
    with socket.socket() as taken:
        taken.bind(("0.0.0.0", spare))
        taken.listen()
        td.out("run", "-d", "-p", f"{spare}-{spare + 2}:80", "r", "sleep", "600")
    assert td.out("port", "r").strip() == f"80/tcp -> 0.0.0.0:{spare + 1}"
    doc = json.loads(td.out("inspect", "r"))[0]
    assert doc["HostConfig"]["PortBindings"] == {"80/tcp": [{"HostIp": "", "HostPort": f"{spare}-{spare + 2}"}]}
    # a container port alone: a free host port each, ranges too
    td.out("run", "-d", "-p", "7000-7001", "any", "sleep", "600")
    assert [line.split(" -> ")[0] for line in td.out("port", "any").splitlines()] == ["7000/tcp", "7001/tcp"]
    res = td("run", "--rm", "-p", "8000-8001:80-82", "bad", "true")
    assert res.returncode == 125 and b"invalid ranges specified for container and host ports" in res.stderr
    td.out("rm", "-f", "web", "u", "r", "any")


def test_dns_search_and_options_are_written_as_docker_writes_them(td):
    out = td.out("run", "--rm", "--dns", "10.9.9.9", "--dns-search", "a.example", "--dns-search", "b.example",
                 "--dns-option", "ndots:2", "--dns-option", "timeout:3", "c1", "cat", "/etc/resolv.conf")
    lines = out.splitlines()
    assert lines[-3:] == ["nameserver 10.9.9.9", "search a.example b.example", "options ndots:2 timeout:3"]
    assert sum(line.startswith(("search ", "domain ")) for line in lines) == 1
    assert sum(line.startswith("options ") for line in lines) == 1
    # "." clears the host's search domains
    out = td.out("run", "--rm", "--dns-search", ".", "c2", "cat", "/etc/resolv.conf")
    assert not any(line.startswith(("search ", "domain ")) for line in out.splitlines())
    td.out("create", "--dns-search", "x.example", "--dns-option", "ndots:5", "c3", "true")
    config = json.loads(td.out("inspect", "c3"))[0]["HostConfig"]
    assert config["DnsSearch"] == ["x.example"] and config["DnsOptions"] == ["ndots:5"]
    res = td("run", "--rm", "--dns-option", "ndots:2 rotate", "c4", "true")
    assert res.returncode == 125 and b"invalid --dns-search or --dns-option" in res.stderr
