"""An ordinary user's containers (issue 23): `tinydocker run` as a throwaway local user, with
and without subordinate ranges, in a user namespace where root is the user; its files on the
host owned as the mapping says; the container's life (detached, exec, logs, stop, rm) leaving
nothing the user cannot see; what needs root or a cgroup refused in one line."""

import json
import os


from conftest import wait_for

from rootless_fixtures import bare_user, someone, tun_for_everyone, user, user_python  # noqa: F401 - the fixtures


def _nothing_left(u) -> None:
    assert u.td("ps", "-aq").stdout == b""
    containers = u.home / ".local/share/tinydocker/state/containers"
    assert not containers.exists() or [e for e in os.listdir(containers) if not e.startswith(".lock")] == []
    # what is left of the user's is its data root's monitor, which leaves once idle

    def left():
        found = {}
        for pid in u.processes():
            try:
                with open(f"/proc/{pid}/cmdline", "rb") as f:
                    cmdline = f.read()
                with open(f"/proc/{pid}/stat") as f:
                    state, ppid = f.read().rsplit(")", 1)[1].split()[:2]
            except OSError:
                continue
            if b"container.monitor" not in cmdline:
                found[pid] = (state, ppid, cmdline[:80])
        return found

    try:
        wait_for(lambda: not left(), timeout=10, what="the user's processes to end")
    except AssertionError:
        raise AssertionError(f"left: {left()}") from None


def test_root_inside_is_the_user_outside(someone):
    u = someone
    data = u.home / "data"
    data.mkdir()
    os.chown(data, u.uid, u.gid)
    res = u.td("run", "--rm", "--network", "none", "-v", f"{data}:/data", "c1", "sh", "-c",
               "id -u; cat /proc/self/uid_map; echo hi > /data/by-root; "
               "mkdir /data/d; touch /data/d/f; chown -R 1:1 /data/d 2>/dev/null; echo $?")
    assert res.returncode == 0, res.stderr
    lines = res.stdout.decode().split("\n")
    assert lines[0] == "0"
    assert lines[1].split() == ["0", str(u.uid), "1"]
    assert (os.stat(data / "by-root").st_uid, os.stat(data / "by-root").st_gid) == (u.uid, u.gid)
    if u.subuid:
        assert lines[2].split() == ["1", str(u.subuid), "65536"] and lines[3] == "0"
        assert os.stat(data / "d" / "f").st_uid == u.subuid  # id 1 inside: the range's first
    else:
        assert lines[2] == "1"  # no other id to give a file to
    assert u.td("unshare", "rm", "-rf", str(data / "d")).returncode == 0
    _nothing_left(u)


def test_a_detached_container_s_life_exec_logs_stop_rm(someone):
    u = someone
    res = u.td("run", "-d", "--network", "host", "c2", "sh", "-c", "echo started; exec sleep 600")
    assert res.returncode == 0, res.stderr
    res = u.td("exec", "c2", "sh", "-c", "id -u; adduser -D -u 1000 app 2>/dev/null; touch /made; "
                                        "chown 1000 /made 2>/dev/null; echo $?")
    assert res.returncode == 0, res.stderr
    assert res.stdout.decode().split("\n")[0] == "0"
    wait_for(lambda: u.td("logs", "c2").stdout == b"started\n", what="c2's log")
    # no cgroup of its own: top lists its init and what is below it
    assert u.td("exec", "c2", "sh", "-c", "sleep 301 >/dev/null 2>&1 &").returncode == 0
    wait_for(lambda: b"sleep 301" in u.td("top", "c2").stdout, what="the exec'd process in top")
    commands = [line.split(None, 7)[-1] for line in u.td("top", "c2").stdout.decode().splitlines()[1:]]
    assert sorted(commands) == ["sleep 301", "sleep 600"], commands
    assert u.td("ps", "--format", "{{.Names}} {{.State}}").stdout == b"c2 running\n"
    res = u.td("pause", "c2")
    assert res.returncode == 125 and res.stderr.count(b"\n") == 1 and b"cgroup" in res.stderr, res.stderr
    assert u.td("stop", "-t", "1", "c2").returncode == 0
    assert u.td("inspect", "-f", "{{.State.ExitCode}}", "c2").stdout == b"137\n"
    # its upper layer holds a file of a subordinate id (with ranges): rm removes it all the same
    assert u.td("rm", "c2").returncode == 0
    _nothing_left(u)


def test_what_needs_root_or_a_cgroup_is_refused_in_one_line(someone, tun_for_everyone):  # noqa: F811
    u = someone
    for args, said in ((["run", "--rm", "-p", "80:80", "c3", "true"], b"ip_unprivileged_port_start"),
                       (["run", "--rm", "--network", "none", "-m", "64m", "c4", "true"], b"needs a cgroup"),
                       (["run", "--rm", "--network", "none", "-p", "8080:80", "c5", "true"], None)):
        res = u.td(*args)
        assert res.returncode == 125 and res.stderr.count(b"\n") == 1, (args, res.stderr)
        assert said is None or said in res.stderr, (args, res.stderr)
        assert b"Traceback" not in res.stderr and b"Errno" not in res.stderr
    _nothing_left(u)


def test_sigkills_of_an_ordinary_user_s_commands_leave_the_truth_and_nothing_behind(user):  # noqa: F811
    """As the fault-injection test does for root, in small: `run -d` SIGKILLed at moments along
    its start, the data root's monitor SIGKILLed under a running container; `ps` stays the
    truth, and `rm -f` leaves no process, container directory or trash of the user's."""
    import signal
    import subprocess
    import time

    u = user
    assert u.td("image", "build", "busybox").returncode == 0
    command = ["setpriv", f"--reuid={u.uid}", f"--regid={u.gid}", "--init-groups", "env", "-i",
               *(f"{k}={v}" for k, v in u.env().items()), u.python[0], "-m", "tinydocker"]
    for i, delay in enumerate((0.0, 0.05, 0.1, 0.2, 0.3, 0.5)):
        p = subprocess.Popen([*command, "run", "-d", "--network", "none", f"k{i}", "sleep", "600"], cwd=u.home,
                             stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        time.sleep(delay)
        p.kill()
        p.wait()
    res = u.td("run", "-d", "--network", "none", "last", "sleep", "600")
    assert res.returncode == 0, res.stderr
    for pid in u.monitors():  # the monitor, by its pid
        os.kill(pid, signal.SIGKILL)

    def truthful() -> bool:
        for line in u.td("ps", "-a", "--format", "json").stdout.decode().splitlines():
            row = json.loads(line)
            pid = json.loads(u.td("inspect", row["Names"]).stdout)[0]["State"]["Pid"]
            if (row["State"] == "running") != (pid != 0 and os.path.exists(f"/proc/{pid}")):
                return False
        return True

    wait_for(truthful, timeout=30, what="ps to tell the truth")
    names = u.td("ps", "-aq", "--format", "{{.Names}}").stdout.decode().split()
    if names:
        res = u.td("rm", "-f", *names)
        assert res.returncode == 0, res.stderr
    _nothing_left(u)
    data = u.home / ".local/share/tinydocker/state/containers"
    assert not data.exists() or not [e for e in os.listdir(data) if e.startswith(".trash")]
