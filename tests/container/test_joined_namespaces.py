"""--network container:NAME and --pid host / container:NAME: joining another's namespaces."""

import json
import os

from conftest import wait_for


def test_network_container_shares_the_others_interfaces_and_address(td):
    td.out("run", "-d", "--hostname", "webhost", "web", "sleep", "600")
    td.wait_running("web")
    web = td.out("exec", "web", "ip", "-o", "-4", "addr")
    out = td.out("run", "--rm", "--network", "container:web", "side", "sh", "-c",
                 "ip -o -4 addr; echo; hostname; cat /etc/hosts")
    seen, _, rest = out.partition("\n\n")
    assert seen.strip() == web.strip() and "eth0" in seen
    assert rest.splitlines()[0] == "webhost"
    assert "\twebhost web" in rest
    # a listener in one is reachable from the other over their shared loopback
    td.out("run", "-d", "--network", "container:web", "srv", "sh", "-c",
           "mkdir -p /www && echo shared > /www/index.html && exec httpd -f -p 127.0.0.1:7777 -h /www")
    wait_for(lambda: td("exec", "web", "wget", "-q", "-O", "-", "http://127.0.0.1:7777/").stdout == b"shared\n",
             what="the shared loopback")
    doc = json.loads(td.out("inspect", "srv"))[0]
    assert doc["HostConfig"]["NetworkMode"] == "container:web"
    td.out("rm", "-f", "srv", "web")


def test_network_container_refuses_what_belongs_to_the_other(td):
    for flags, words in ((["-p", "80"], "conflicting options: port publishing and the container type network mode"),
                         (["--hostname", "x"], "conflicting options: hostname and the network mode"),
                         (["--dns", "10.0.0.1"], "conflicting options: dns and the network mode")):
        res = td("run", "--rm", "--network", "container:web", *flags, "joiner", "true")
        assert res.returncode == 125 and res.stderr.decode().strip().endswith(words), res.stderr
    res = td("run", "--rm", "--network", "container:nosuch", "joiner", "true")
    assert res.returncode == 125 and b"nosuch" in res.stderr
    td.out("create", "stopped", "true")
    res = td("run", "--rm", "--network", "container:stopped", "joiner", "true")
    assert res.returncode == 125 and b"cannot join network of a non running container: stopped" in res.stderr
    # nothing left of the refused run (a name beyond hex: "c" would be taken for an id
    # prefix, and match the stopped container one time in 16)
    assert td("inspect", "joiner").returncode != 0


def test_pid_host_sees_the_hosts_processes_and_stop_ends_only_its_own(td):
    marker = os.getpid()
    out = td.out("run", "--rm", "--pid", "host", "c1", "sh", "-c", f"test -d /proc/{marker} && echo seen; echo $$")
    lines = out.split()
    assert lines[0] == "seen" and int(lines[1]) != 1
    import subprocess

    outsider = subprocess.Popen(["sleep", "600"])  # a host process the container sees, and must not end
    try:
        td.out("run", "-d", "--pid", "host", "bg", "sh", "-c", "sleep 600 & exec sleep 601")
        td.wait_running("bg")
        rows = td.out("top", "bg").splitlines()[1:]
        assert sorted(r.split()[-1] for r in rows) == ["600", "601"]  # its own processes, not the outsider
        pids = [int(r.split()[1]) for r in rows]
        assert str(outsider.pid) in td.out("exec", "bg", "ps", "-o", "pid").split()
        # SIGTERM ends its main process (no PID 1 shield here); the cgroup takes the orphaned rest
        td.out("stop", "-t", "5", "bg")
        assert td.out("inspect", "-f", "{{.State.Status}}", "bg").strip() == "exited"
        # its orphan was killed with the cgroup, and reaped by the host's init that adopted it
        wait_for(lambda: not any(os.path.exists(f"/proc/{p}") for p in pids), what="its processes to go")
        assert outsider.poll() is None
    finally:
        outsider.kill()
        outsider.wait()
    td.out("rm", "bg")


def test_pid_container_joins_the_others_processes(td):
    td.out("run", "-d", "host1", "sleep", "600")
    td.wait_running("host1")
    out = td.out("run", "--rm", "--pid", "container:host1", "c2", "ps", "-o", "pid,args")
    assert any(line.split()[:2] == ["1", "sleep"] for line in out.splitlines()[1:]), out
    doc = json.loads(td.out("inspect", "host1"))[0]
    assert doc["HostConfig"]["PidMode"] == ""
    res = td("run", "--rm", "--pid", "bogus", "c3", "true")
    assert res.returncode == 125 and b"invalid --pid" in res.stderr
    td.out("rm", "-f", "host1")
