"""An ordinary user's default network (issue 23): slirp4netns attached to the container's own
network namespace, as throwaway users see it: an address, a route, its /etc files, outbound
traffic to a listener this test makes on a dummy interface of the host (nothing leaves the
machine), published ports answering on the host's loopback, and the tool's process gone
whenever the container ends, however it ends."""

import json
import os
import random
import signal
import socket
import subprocess
import threading

import pytest

from conftest import free_port, wait_for

from rootless_fixtures import bare_user, someone, tun_for_everyone, user, user_python  # noqa: F401 - the fixtures

HTTPD = "mkdir -p /www && echo hello-$HOSTNAME > /www/index.html && exec httpd -f -p 80 -h /www"
# busybox has no UDP server: the host's python, bound in read-only, echoes
HOST_PYTHON = ("/host/usr/lib/x86_64-linux-gnu/ld-linux-x86-64.so.2 --library-path /host/usr/lib/x86_64-linux-gnu "
               "/host/usr/bin/python3")
ECHO = ("import socket; s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM); s.bind(('', 7))\n"
        "while True: data, peer = s.recvfrom(100); s.sendto(data, peer)")


@pytest.fixture(autouse=True)
def _tun(tun_for_everyone):  # noqa: F811
    pass


@pytest.fixture
def ranged(user):  # noqa: F811
    res = user.td("image", "build", "busybox")
    assert res.returncode == 0, res.stderr
    return user


def fetch(port: int) -> bytes | None:
    """What the container's httpd says on the host's 127.0.0.1:port (None: nothing yet)."""
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=2) as s:
            s.sendall(b"GET / HTTP/1.0\r\n\r\n")
            data = b""
            while chunk := s.recv(4096):
                data += chunk
    except OSError:
        return None
    return data.partition(b"\r\n\r\n")[2] or None


def tools_of(u) -> list[int]:
    """The user's slirp4netns processes."""
    return u.running("slirp4netns")


def test_an_address_a_route_dns_and_its_name(someone):
    u = someone
    res = u.td("run", "--rm", "--hostname", "box", "c1", "sh", "-c",
               "ip -o -4 addr show eth0; ip route; cat /etc/hosts /etc/resolv.conf")
    assert res.returncode == 0, res.stderr
    out = res.stdout.decode()
    assert " inet 10.0.2.100/24 " in out, out
    assert "default via 10.0.2.2 dev eth0" in out, out
    assert "10.0.2.100\tbox c1\n" in out, out
    assert "nameserver 10.0.2.3\n" in out, out  # the tool's DNS forwarder
    # --dns is the user's, as docker's
    res = u.td("run", "--rm", "--dns", "10.9.9.9", "c2", "cat", "/etc/resolv.conf")
    assert res.returncode == 0 and b"nameserver 10.9.9.9\n" in res.stdout and b"10.0.2.3" not in res.stdout
    # inspect: the network and the address
    res = u.td("run", "-d", "c3", "sleep", "600")
    assert res.returncode == 0, res.stderr
    info = json.loads(u.td("inspect", "c3").stdout)[0]
    assert info["HostConfig"]["NetworkMode"] == "bridge"
    assert info["NetworkSettings"]["IPAddress"] == "10.0.2.100"
    assert info["NetworkSettings"]["Networks"]["bridge"]["Gateway"] == "10.0.2.2"
    assert len(tools_of(u)) == 1
    # network ls and inspect: docker's three, `bridge` with its member
    assert u.td("network", "ls", "--format", "{{.Name}} {{.Driver}}").stdout == b"bridge bridge\nhost host\nnone null\n"
    net = json.loads(u.td("network", "inspect", "bridge").stdout)[0]
    assert net["IPAM"]["Config"] == [{"Subnet": "10.0.2.0/24", "Gateway": "10.0.2.2"}]
    assert [(m["Name"], m["IPv4Address"]) for m in net["Containers"].values()] == [("c3", "10.0.2.100/24")]
    assert u.td("rm", "-f", "c3").returncode == 0
    wait_for(lambda: not tools_of(u), what="the tool to end")
    # an attached run's tool went with it
    assert not tools_of(u)


@pytest.fixture
def outside():
    """A listener on an address this test gives the host, on a veth pair of its own (a /32 of
    198.18.0.0/15, the benchmarking range): the container's traffic goes through the tool's
    own sockets on the host to it, and stays on this machine. Yields (address, port)."""
    tag = f"{random.randrange(16 ** 6):06x}"
    name = f"tdrd{tag}"
    address = f"198.18.{random.randrange(1, 255)}.{random.randrange(1, 255)}"
    subprocess.run(["ip", "link", "add", name, "type", "veth", "peer", "name", f"tdrp{tag}"], check=True)
    listener = None
    try:
        subprocess.run(["ip", "addr", "add", f"{address}/32", "dev", name], check=True)
        subprocess.run(["ip", "link", "set", name, "up"], check=True)
        subprocess.run(["ip", "link", "set", f"tdrp{tag}", "up"], check=True)
        listener = socket.socket()
        listener.bind((address, 0))
        listener.listen(8)

        def serve():
            while True:
                try:
                    conn, peer = listener.accept()
                except OSError:
                    return
                with conn:
                    conn.sendall(b"hello from the host\n")

        threading.Thread(target=serve, daemon=True).start()
        yield address, listener.getsockname()[1]
    finally:
        if listener is not None:
            listener.close()
        subprocess.run(["ip", "link", "del", name], capture_output=True)


def test_outbound_traffic_reaches_a_listener_on_the_host(ranged, outside):
    u = ranged
    address, port = outside
    res = u.td("run", "--rm", "c1", "sh", "-c", f"nc {address} {port} </dev/null")
    assert res.returncode == 0, res.stderr
    assert res.stdout == b"hello from the host\n"
    # the host's loopback is not the container's to reach (10.0.2.2 is not mapped to it)
    held = socket.socket()
    held.bind(("127.0.0.1", 0))
    held.listen(1)
    try:
        res = u.td("run", "--rm", "c2", "sh", "-c", f"nc -w 2 10.0.2.2 {held.getsockname()[1]} </dev/null; echo $?")
        assert res.returncode == 0, res.stderr
        assert res.stdout.strip().splitlines()[-1] != b"0", res.stdout
    finally:
        held.close()


def test_a_published_udp_port_answers(ranged, outside):
    """From an address of the host that is not loopback: with the host's loopback off,
    slirp4netns drops the container's replies to a client on 127.0.0.1 (which it shows the
    container as 10.0.2.2; podman's issue 4586), as the README says."""
    u = ranged
    address, _ = outside
    port = free_port()
    res = u.td("run", "-d", "-p", f"{port}:7/udp", "-v", "/usr:/host/usr:ro", "-e", "PYTHONHOME=/host/usr", "u1",
               "sh", "-c", f"exec {HOST_PYTHON} -c \"{ECHO}\"")
    assert res.returncode == 0, res.stderr
    assert u.td("port", "u1").stdout.decode() == f"7/udp -> 0.0.0.0:{port}\n"
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        s.bind((address, 0))
        s.settimeout(0.5)

        def echoed():
            s.sendto(b"ping", (address, port))
            try:
                return s.recv(100)
            except OSError:
                return None

        assert wait_for(echoed, what="the echo") == b"ping"
    assert u.td("rm", "-f", "u1").returncode == 0


def test_published_ports_answer_on_the_host_port_and_ps(ranged):
    u = ranged
    first, second = free_port(), free_port()
    res = u.td("run", "-d", "-p", f"{first}:80", "--hostname", "one", "w1", "sh", "-c", HTTPD)
    assert res.returncode == 0, res.stderr
    res = u.td("run", "-d", "-p", f"127.0.0.1:{second}:80", "-p", "80", "--hostname", "two", "w2", "sh", "-c", HTTPD)
    assert res.returncode == 0, res.stderr
    assert wait_for(lambda: fetch(first), what="the first port to answer") == b"hello-one\n"
    assert wait_for(lambda: fetch(second), what="the second port to answer") == b"hello-two\n"
    assert u.td("port", "w1").stdout.decode() == f"80/tcp -> 0.0.0.0:{first}\n"
    lines = u.td("port", "w2").stdout.decode().splitlines()
    assert lines[0] == f"80/tcp -> 127.0.0.1:{second}"
    ephemeral = int(lines[1].rsplit(":", 1)[1])
    assert lines[1].startswith("80/tcp -> 0.0.0.0:") and ephemeral >= 1024
    assert wait_for(lambda: fetch(ephemeral), what="the ephemeral port") == b"hello-two\n"
    ps = u.td("ps", "--format", "{{.Names}} {{.Ports}}").stdout.decode()
    assert f"w1 0.0.0.0:{first}->80/tcp" in ps, ps
    assert f"127.0.0.1:{second}->80/tcp" in ps, ps
    assert len(tools_of(u)) == 2
    # a port another container holds, and one a host socket holds: refused, nothing left of the try
    held = socket.socket()
    held.bind(("127.0.0.1", 0))
    held.listen(1)
    try:
        for spec in (f"{first}:80", f"127.0.0.1:{held.getsockname()[1]}:80"):
            res = u.td("run", "-d", "-p", spec, "w3", "sh", "-c", HTTPD)
            assert res.returncode == 125 and res.stderr.count(b"\n") == 1, res.stderr
            assert b"address already in use" in res.stderr, res.stderr
    finally:
        held.close()
    assert sorted(u.td("ps", "-a", "--format", "{{.Names}}").stdout.split()) == [b"w1", b"w2"]
    assert len(tools_of(u)) == 2
    # a port below the kernel's unprivileged start
    with open("/proc/sys/net/ipv4/ip_unprivileged_port_start") as f:
        start = int(f.read())
    if start > 1:
        res = u.td("run", "--rm", "-p", f"{start - 1}:80", "w4", "true")
        assert res.returncode == 125 and res.stderr.count(b"\n") == 1, res.stderr
        assert b"ip_unprivileged_port_start" in res.stderr, res.stderr
    # the tool goes with a stop, and with rm -f
    assert u.td("stop", "-t", "1", "w1").returncode == 0
    wait_for(lambda: len(tools_of(u)) == 1, what="w1's tool to end")
    assert fetch(first) is None
    assert u.td("rm", "-f", "w2").returncode == 0
    # its port is free again once rm -f has returned
    res = u.td("run", "-d", "-p", f"127.0.0.1:{second}:80", "--hostname", "again", "w5", "sh", "-c", HTTPD)
    assert res.returncode == 0, res.stderr
    assert wait_for(lambda: fetch(second), what="the port to answer again") == b"hello-again\n"
    assert u.td("rm", "-f", "w5").returncode == 0
    wait_for(lambda: not tools_of(u), what="the tools to end")
    assert u.td("rm", "w1").returncode == 0


def test_publish_all_takes_the_image_s_exposed_ports(ranged):
    u = ranged
    context = u.home / "web"
    context.mkdir()
    (context / "Dockerfile").write_text("FROM busybox\nEXPOSE 80\n")
    os.chown(context, u.uid, u.gid)
    res = u.td("build", "-t", "web", str(context))
    assert res.returncode == 0, res.stderr
    res = u.td("run", "-d", "-P", "--image", "web", "--hostname", "all", "p1", "sh", "-c", HTTPD)
    assert res.returncode == 0, res.stderr
    line = u.td("port", "p1").stdout.decode().strip()
    assert line.startswith("80/tcp -> 0.0.0.0:"), line
    assert wait_for(lambda: fetch(int(line.rsplit(":", 1)[1])), what="the port to answer") == b"hello-all\n"
    assert u.td("rm", "-f", "p1").returncode == 0
    wait_for(lambda: not tools_of(u), what="the tool to end")


def test_the_tool_goes_when_the_container_ends_by_itself(ranged):
    u = ranged
    # /tmp/go is taken away as the command ends: the container's upper layer outlives a stop, and
    # a restart that found it would end at once
    res = u.td("run", "-d", "e1", "sh", "-c", "while [ ! -e /tmp/go ]; do sleep 0.1; done; rm /tmp/go")
    assert res.returncode == 0, res.stderr
    for _ in range(2):
        assert len(tools_of(u)) == 1
        assert u.td("exec", "e1", "touch", "/tmp/go").returncode == 0
        wait_for(lambda: u.td("inspect", "-f", "{{.State.Status}}", "e1").stdout == b"exited\n",
                 what="e1 to end")
        wait_for(lambda: not tools_of(u), what="the tool to end")
        # started again: a tool of its own again
        assert u.td("start", "e1").returncode == 0
    assert len(tools_of(u)) == 1
    assert u.td("rm", "-f", "e1").returncode == 0
    wait_for(lambda: not tools_of(u), what="the tool to end")


def test_a_sigkilled_run_leaves_no_tool_once_rm_f_has_run(ranged):
    import time

    u = ranged
    command = ["setpriv", f"--reuid={u.uid}", f"--regid={u.gid}", "--init-groups", "env", "-i",
               *(f"{k}={v}" for k, v in u.env().items()), u.python[0], "-m", "tinydocker"]
    for i, delay in enumerate((0.0, 0.05, 0.1, 0.2, 0.3, 0.5, 0.8)):
        for how in ("-d", "-i"):
            p = subprocess.Popen([*command, "run", how, "-p", f"127.0.0.1:{free_port()}:80", f"k{how[1]}{i}",
                                  "sleep", "600"], cwd=u.home, stdin=subprocess.PIPE,
                                 stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
            time.sleep(delay)
            p.send_signal(signal.SIGKILL)
            p.wait()
    # the monitor killed under a running container: the tool's exit pipe closes with it, and
    # the tool leaves on its own (the container runs on, without a network, until rm -f)
    res = u.td("run", "-d", "last", "sleep", "600")
    assert res.returncode == 0, res.stderr
    assert tools_of(u)
    for pid in u.monitors():
        os.kill(pid, signal.SIGKILL)
    wait_for(lambda: not tools_of(u), what="the tools to leave with their monitor")
    names = u.td("ps", "-a", "--format", "{{.Names}}").stdout.decode().split()
    if names:
        res = u.td("rm", "-f", *names)
        assert res.returncode == 0, res.stderr
    wait_for(lambda: not tools_of(u), what="every tool to end")
    assert u.td("ps", "-aq").stdout == b""
    state = u.home / ".local/share/tinydocker/state/slirp4netns"
    assert not state.exists() or os.listdir(state) == []


def test_what_a_users_networks_refuse_is_one_line(someone):
    u = someone
    assert u.td("create", "c0", "true").returncode == 0
    assert u.td("network", "create", "mine").returncode == 0  # its own (test_rootless_user_networks.py)
    for args, said in ((["network", "connect", "mine", "c0"], b"not root"),
                       (["network", "disconnect", "bridge", "c0"], b"not root"),
                       (["run", "--rm", "--network", "theirs", "c1", "true"], b"theirs"),
                       (["run", "--rm", "--ip", "10.0.2.5", "c2", "true"], b"user defined networks only")):
        res = u.td(*args)
        assert res.returncode in (1, 125) and res.stderr.count(b"\n") == 1, (args, res.stderr)
        assert said in res.stderr and b"Traceback" not in res.stderr and b"Errno" not in res.stderr, res.stderr
    assert u.td("rm", "c0").returncode == 0
    assert u.td("network", "rm", "mine").returncode == 0
    assert u.td("ps", "-aq").stdout == b""
