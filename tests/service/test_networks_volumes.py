"""docker's own CLI driving tinydocker's networks, volumes and disk usage through `system service`.

Traffic goes only between the test's own containers, and from the host to 127.0.0.1."""

import json
import random
import subprocess
import urllib.request

from conftest import free_port, wait_for
from service_fixtures import service  # noqa: F401 - the fixture

HTTPD = "mkdir -p /www && echo hello-$HOSTNAME > /www/index.html && exec httpd -f -p 80 -h /www"


def spare_subnet() -> str:
    """A /24 of 10.79.0.0/16 no host interface is in."""
    used = subprocess.run(["ip", "-4", "-o", "addr"], capture_output=True, text=True).stdout
    while True:
        third = random.randrange(256)
        if f" 10.79.{third}." not in used:
            return f"10.79.{third}.0/24"


def fetch(url: str) -> str:
    try:
        with urllib.request.urlopen(url, timeout=2) as reply:
            return reply.read().decode()
    except OSError:
        return ""


def get(service, network: str, name: str) -> bytes:
    """The body of http://NAME/ fetched from a container on `network` (busybox's nc: its static
    wget crashes resolving names through /etc/hosts); b"" if nothing answered."""
    res = service.docker("run", "--rm", "--network", network, "busybox", "sh", "-c",
                         f"printf 'GET / HTTP/1.0\\r\\n\\r\\n' | nc -w 2 {name} 80")
    return res.stdout.partition(b"\r\n\r\n")[2]


def test_network_create_ls_inspect_rm_and_docker_s_statuses(service):  # noqa: F811
    subnet = spare_subnet()
    try:
        nid = service.out("network", "create", "--subnet", subnet, "--label", "team=a", "front").strip()
        assert len(nid) == 64
        again = service.docker("network", "create", "front")
        assert again.returncode == 1 and b"network with name front already exists" in again.stderr
        status, _ = service.request("POST", "/networks/create", body={"Name": "front"})
        assert status == 409
        names = service.out("network", "ls", "--format", "{{.Name}} {{.Driver}}").splitlines()
        assert {"front bridge", "host host", "none null"} <= set(names)
        assert service.out("network", "ls", "-q", "--no-trunc", "--filter", "label=team=a").split() == [nid]
        assert service.out("network", "ls", "-q", "--filter", "type=custom", "--filter", "name=fro").split() == \
            [nid[:12]]
        doc = json.loads(service.out("network", "inspect", "front"))[0]
        assert (doc["Id"], doc["Driver"], doc["IPAM"]["Config"][0]["Subnet"], doc["Labels"]) == \
            (nid, "bridge", subnet, {"team": "a"})
        assert service.out("network", "inspect", "-f", "{{.Name}}", nid[:12]) == "front\n"
        # a container joins a network named by its id as by its name
        out = service.out("run", "--rm", "--network", nid[:12], "busybox", "ip", "-4", "-o", "addr", "show", "eth0")
        assert f" {subnet.rpartition('.')[0]}." in out, out
        lost = service.docker("run", "--rm", "--network", "nosuch", "busybox", "true")
        assert lost.returncode == 125 and b"network nosuch not found" in lost.stderr
        missing = service.docker("network", "inspect", "nosuch")
        assert missing.returncode == 1 and b"network nosuch not found" in missing.stderr
        refused = service.docker("network", "rm", "host")
        assert refused.returncode == 1 and b"pre-defined network" in refused.stderr
        assert service.request("DELETE", "/networks/host")[0] == 403
        assert service.out("network", "rm", "front") == "front\n"
        assert "front" not in service.out("network", "ls")
    finally:
        service.td("network", "rm", "front")


def test_containers_on_a_user_network_reach_each_other_by_name_alias_and_connect(service):  # noqa: F811
    subnet = spare_subnet()
    ip = subnet.replace(".0/24", ".9")
    try:
        service.out("network", "create", "--subnet", subnet, "front")
        service.out("network", "create", "back")
        service.out("run", "-d", "--name", "web", "--network", "front", "--network-alias", "www", "--ip", ip,
                    "busybox", "sh", "-c", HTTPD)
        doc = json.loads(service.out("network", "inspect", "front"))[0]
        (member,) = doc["Containers"].values()
        assert (member["Name"], member["IPv4Address"]) == ("web", f"{ip}/24")
        assert service.out("inspect", "-f", "{{.NetworkSettings.Networks.front.IPAddress}} "
                                            "{{.NetworkSettings.Networks.front.Aliases}}", "web") == f"{ip} [www]\n"
        # a peer reaches it by its name and by its alias (as soon as its httpd listens)
        for name in ("web", "www"):
            got = wait_for(lambda: get(service, "front", name), timeout=60, what=f"web to answer as {name}")
            assert got == b"hello-" + service.out("inspect", "-f", "{{.Config.Hostname}}", "web")[:-1].encode() + b"\n"
        busy = service.docker("network", "rm", "front")
        assert busy.returncode == 1 and b"has active endpoints" in busy.stderr
        assert service.request("DELETE", "/networks/front")[0] == 403
        # connected to a second network, with an alias there; then disconnected from it
        service.out("network", "connect", "--alias", "store", "back", "web")
        assert service.out("inspect", "-f", "{{range $k, $v := .NetworkSettings.Networks}}{{$k}} {{end}}",
                           "web").split() == ["back", "front"]
        assert get(service, "back", "store").startswith(b"hello-")
        twice = service.docker("network", "connect", "back", "web")
        assert twice.returncode == 1 and b"already exists in network back" in twice.stderr
        service.out("network", "disconnect", "back", "web")
        assert "back" not in service.out("inspect", "-f", "{{json .NetworkSettings.Networks}}", "web")
        nobody = service.docker("network", "connect", "back", "nosuch")
        assert nobody.returncode == 1 and b"No such container: nosuch" in nobody.stderr
        assert service.out("rm", "-f", "web") == "web\n"
        # prune takes what no container is on
        pruned = service.out("network", "prune", "-f")
        assert set(pruned.split()) >= {"back", "front"}, pruned
        assert {"back", "front"}.isdisjoint(service.out("network", "ls", "--format", "{{.Name}}").split())
    finally:
        service.td("rm", "-f", "web")
        service.td("network", "rm", "front", "back")


def test_a_published_port_on_127_0_0_1_answers_from_the_host(service):  # noqa: F811
    port = free_port()
    service.out("run", "-d", "--name", "pub", "-p", f"127.0.0.1:{port}:80", "busybox", "sh", "-c", HTTPD)
    assert wait_for(lambda: fetch(f"http://127.0.0.1:{port}/"), timeout=60, what="the port").startswith("hello-")
    assert service.out("ps", "--format", "{{.Ports}}") == f"127.0.0.1:{port}->80/tcp\n"
    assert service.out("port", "pub") == f"80/tcp -> 127.0.0.1:{port}\n"
    assert service.out("rm", "-f", "pub") == "pub\n"


def test_volume_create_ls_inspect_rm_prune_and_data_kept_across_runs(service):  # noqa: F811
    try:
        assert service.out("volume", "create", "--label", "keep=yes", "data") == "data\n"
        doc = json.loads(service.out("volume", "inspect", "data"))[0]
        assert (doc["Name"], doc["Driver"], doc["Labels"]) == ("data", "local", {"keep": "yes"})
        assert service.out("volume", "ls", "-q", "--filter", "label=keep") == "data\n"
        # written by one run, read by the next: the volume outlives its containers
        service.out("run", "--rm", "--network", "none", "-v", "data:/data", "busybox",
                    "sh", "-c", "echo kept > /data/f")
        assert service.out("run", "--name", "reader", "--network", "none", "-v", "data:/data", "busybox",
                           "cat", "/data/f") == "kept\n"
        busy = service.docker("volume", "rm", "data")
        assert busy.returncode == 1 and b"volume is in use" in busy.stderr
        status, _ = service.request("DELETE", "/volumes/data")
        assert status == 409
        assert service.out("rm", "reader") == "reader\n"
        missing = service.docker("volume", "inspect", "nosuch")
        assert missing.returncode == 1 and b"no such volume" in missing.stderr
        assert service.docker("volume", "rm", "-f", "nosuch").returncode == 0
        # prune: anonymous volumes only, unless --all
        service.out("volume", "create", "other")
        service.out("create", "--name", "anon", "--network", "none", "-v", "/scratch", "busybox", "true")
        (anonymous,) = set(service.out("volume", "ls", "-q").split()) - {"data", "other"}
        assert service.out("rm", "anon") == "anon\n"  # without -v: its anonymous volume stays
        assert service.out("volume", "prune", "-f").startswith(f"Deleted Volumes:\n{anonymous}\n")
        assert sorted(service.out("volume", "ls", "-q").split()) == ["data", "other"]
        pruned = service.out("volume", "prune", "-af")
        assert "data" in pruned and "other" in pruned
        assert service.out("volume", "ls", "-q") == ""
    finally:
        service.td("rm", "-f", "reader", "anon")
        service.td("volume", "prune", "-af")


def test_system_df_counts_images_containers_and_volumes(service):  # noqa: F811
    try:
        service.out("volume", "create", "dfvol")
        service.out("create", "--name", "dfc", "--network", "none", "-v", "dfvol:/data", "busybox", "true")
        rows = {line.split()[0]: line.split() for line in service.out("system", "df").splitlines()[1:]}
        assert rows["Images"][1:3] == ["1", "1"], rows
        assert rows["Containers"][1:3] == ["1", "0"], rows
        assert rows["Local"][2:4] == ["1", "1"], rows
        assert rows["Build"][2:4] == ["0", "0"], rows
        verbose = service.out("system", "df", "-v")
        assert "dfc" in verbose and "dfvol" in verbose and "busybox" in verbose
        doc = json.loads(service.request("GET", "/system/df")[1])
        assert {"LayersSize", "Images", "Containers", "Volumes", "BuildCache"} <= set(doc)
        (volume,) = doc["Volumes"]
        assert volume["UsageData"]["RefCount"] == 1
    finally:
        service.td("rm", "-f", "dfc")
        service.td("volume", "rm", "-f", "dfvol")


def test_the_cli_s_network_alias_is_what_the_service_shows_and_peers_reach(service):  # noqa: F811
    td = service.td
    try:
        service.out("network", "create", "back")
        td.out("run", "-d", "--network", "back", "--network-alias", "db", "--image", "busybox", "web2",
               "sh", "-c", HTTPD)
        assert service.out("inspect", "-f", "{{.NetworkSettings.Networks.back.Aliases}}", "web2") == "[db]\n"
        assert wait_for(lambda: get(service, "back", "db"), timeout=60, what="web2 as db").startswith(b"hello-")
        refused = td("run", "--network-alias", "x", "--image", "busybox", "z", "true")
        assert refused.returncode == 125 and b"only for containers in user defined networks" in refused.stderr
        assert service.out("ps", "-aq", "--filter", "name=z") == ""
    finally:
        td("rm", "-f", "web2")
        td("network", "rm", "back")
