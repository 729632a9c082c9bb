"""Detached containers and their monitor, logs, exec, stop/kill/start/restart/wait, prune."""

import json
import os
import re
import signal
import subprocess
import time

import pytest

from conftest import REPO, container_cgroups, has_open, host_mounts_under, wait_for
from tinydocker import cgroups
from tinydocker.linux import proc

WHERE = cgroups.layout()


def detach(td, name: str, *cmd, flags=()) -> dict:
    """run -d; returns the record once the command has been exec'd."""
    res = td("run", "-d", *flags, name, *cmd)
    assert res.returncode == 0, res.stderr
    cid = res.stdout.decode().strip()
    rec = td.record(name)
    assert cid == rec["id"] and re.fullmatch(r"[0-9a-f]{64}", cid)
    return rec


def alive(rec: dict) -> bool:
    return proc.is_alive(rec["pid"], rec["start_ticks"])


def ended(td, name: str) -> dict:
    """The record once the monitor has written the exit."""
    return wait_for(lambda: (r := td.record(name))["status"] == "exited" and r, what=f"{name} recorded as exited")


def state_is_clean(td) -> None:
    """No leftover of any container of this root: directory, mount, cgroup, process."""
    # a removal renames first, then deletes: let one still under way finish
    wait_for(lambda: not td.containers.exists() or os.listdir(td.containers) == [], what="directories removed")
    assert not host_mounts_under(td.root)
    wait_for(lambda: not (container_cgroups() - set(td.cgroups_before)), what="cgroups removed")


# -- run -d and the monitor -----------------------------------------------------------------

def test_detached_run_prints_the_id_and_keeps_running(td):
    rec = detach(td, "d1", "sleep", "30")
    assert rec["status"] == "running" and alive(rec)
    # the monitor is the data root's one resident monitor, not the CLI: a lean interpreter
    # (no site), in a session of its own (no terminal signals), and the container's parent
    monitor = rec["monitor_pid"]
    cmdline = open(f"/proc/{monitor}/cmdline", "rb").read().split(b"\0")
    assert b"-S" in cmdline and b"tinydocker.container.monitor import serve" in cmdline[3]
    assert os.getsid(monitor) != os.getsid(0)
    assert _parent(rec["pid"]) == monitor
    # a second detached container has the same monitor
    other = detach(td, "d2", "sleep", "30")
    assert other["monitor_pid"] == monitor and _parent(other["pid"]) == monitor
    assert sorted(td.out("ps", "-q").split()) == sorted([rec["id"][:12], other["id"][:12]])
    td.out("kill", "d1")
    assert ended(td, "d1")["exit_code"] == 137
    assert proc.is_alive(monitor, rec["monitor_ticks"])  # d2 still runs
    td.out("kill", "d2")
    assert ended(td, "d2")["exit_code"] == 137
    # it leaves once its last container's end is recorded
    wait_for(lambda: not proc.is_alive(monitor, rec["monitor_ticks"]), what="the monitor's leaving")
    assert not (td.root / "state" / "monitor.sock").exists()


def _parent(pid: int) -> int:
    with open(f"/proc/{pid}/stat") as f:
        return int(f.read().rsplit(")", 1)[1].split()[1])


def test_monitor_records_exit_code_and_oom_and_cleans_the_cgroup(td):
    detach(td, "c3", "sh", "-c", "exit 3")
    assert ended(td, "c3")["exit_code"] == 3
    detach(td, "oom", "dd", "if=/dev/zero", "of=/dev/null", "bs=64M", "count=1", flags=("-m", "32m"))
    rec = ended(td, "oom")
    assert rec["exit_code"] == 137 and rec["oom_killed"] is True
    assert not [p for p in container_cgroups() if p.endswith(rec["id"])]


def test_detached_rm_removes_itself(td):
    detach(td, "gone", "sh", "-c", "sleep 0.2", flags=("--rm",))
    wait_for(lambda: not (td.containers / "gone").exists(), what="--rm removal")
    state_is_clean(td)


def test_detached_start_failure_is_reported_with_docker_codes(td):
    res = td("run", "-d", "bad", "no-such-command")
    assert res.returncode == 127 and res.stderr.decode().count("\n") == 1
    assert td.record("bad")["status"] == "exited" and td.record("bad")["exit_code"] == 127


def test_detached_interactive_keeps_stdin_open(td):
    rec = detach(td, "sh1", flags=("-i",))  # sh reading a stdin that never ends, as docker run -di
    # asleep reading its stdin: it has found the pipe open and empty, not at its end (EOF ends sh)
    td.wait_asleep("sh1", "pipe_read")
    assert alive(rec)
    td.out("stop", "-t", "0", "sh1")


# -- logs -------------------------------------------------------------------------------------

def test_logs_keep_stdout_and_stderr_apart(td):
    # the pauses order the two streams' records in the log: the monitor reads two pipes
    detach(td, "l1", "sh", "-c", "echo out1; echo err1 >&2; sleep 0.2; echo out2; printf partial; "
           "sleep 0.2; echo err2 >&2")
    ended(td, "l1")
    res = td("logs", "l1", check=True)
    assert res.stdout == b"out1\nout2\npartial" and res.stderr == b"err1\nerr2\n"

    def tail(n):
        res = td("logs", "--tail", str(n), "l1", check=True)
        return res.stdout, res.stderr

    # a last line without its newline counts where it came, as docker's log entries do
    assert tail(1) == (b"", b"err2\n")
    assert tail(2) == (b"partial", b"err2\n")
    assert tail(3) == (b"out2\npartial", b"err2\n")
    assert tail(4) == (b"out2\npartial", b"err1\nerr2\n")
    assert tail(0) == (b"", b"")
    stamped = td("logs", "-t", "l1").stdout.decode().splitlines()
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{9}Z out1", stamped[0]), stamped


def test_logs_follow_until_the_container_exits(td):
    detach(td, "l2", "sh", "-c", "echo line 1; while [ ! -e /go ]; do sleep 0.05; done; "
           "for i in 2 3; do echo line $i; sleep 0.3; done")
    follower = td.popen("logs", "-f", "l2")
    # the rest, and the end, only once the follower reads the log
    wait_for(lambda: has_open(follower.pid, td.containers / "l2" / "container.log") or follower.poll() is not None,
             what="the follower reading the log")
    td.out("exec", "l2", "touch", "/go")
    out, err = follower.communicate(timeout=30)
    assert follower.returncode == 0 and out == b"line 1\nline 2\nline 3\n", err


def test_detached_with_a_tty_logs_what_the_terminal_shows(td):
    detach(td, "t1", "sh", "-c", "echo on-a-tty; readlink /proc/self/fd/1", flags=("-t",))
    ended(td, "t1")
    out = td("logs", "t1", check=True).stdout
    assert out.startswith(b"on-a-tty\r\n/dev/pts/")  # the pty's line discipline adds the \r


def test_logs_of_unknown_container(td):
    res = td("logs", "ghost")
    assert res.returncode == 1 and res.stderr == b"tinydocker: No such container: ghost\n"


# -- exec ---------------------------------------------------------------------------------------

def test_exec_enters_every_namespace_root_and_cgroup(td):
    # long enough for its execs on a loaded emulated machine (the VM): it outlived 30 s there
    rec = detach(td, "e1", "sh", "-c", "echo made-by-pid1 > /mark; hostname > /dev/null; sleep 600")
    wait_for(lambda: td("exec", "e1", "cat", "/mark").stdout == b"made-by-pid1\n", what="the container's file")
    # PID namespace: the exec'd shell sees the container's PID 1 and is not it
    out = td.out("exec", "e1", "sh", "-c", "echo $$; cat /proc/1/cmdline | tr '\\0' ' '")
    pid, pid1 = out.splitlines()
    assert int(pid) > 1 and pid1 == "sleep 600 "  # sh handed PID 1 over to its last command
    assert td.out("exec", "e1", "hostname") == "e1\n"
    # its cgroup: the exec'd process is listed in the container's cgroup, by container pids
    procs = "/sys/fs/cgroup/pids/cgroup.procs" if WHERE.backend == "v1" else "/sys/fs/cgroup/cgroup.procs"
    listed = td.out("exec", "e1", "cat", procs).split()
    assert "1" in listed and len(listed) >= 2
    # the network namespace: the container's own loopback and eth0
    assert td.out("exec", "e1", "ls", "/sys/class/net").split() == ["eth0", "lo"]
    # and the host still sees the process inside the container's cgroup
    host = td.popen("exec", "e1", "sleep", "5")
    inner = wait_for(lambda: [p for p in _children_in_cgroup(rec["id"]) if p != rec["pid"]], what="exec'd pid")
    assert inner
    host.kill()
    host.wait()
    td.out("rm", "-f", "e1")


def _children_in_cgroup(cid: str) -> list[int]:
    group = cgroups.open_cgroup(cid)
    path = (group.dir("pids") if group.version == "v1" else group.leaf) / "cgroup.procs"
    try:
        return [int(p) for p in path.read_text().split()]
    except FileNotFoundError:
        return []


def test_exec_env_workdir_exit_codes(td):
    # long enough for eight execs on an emulated machine (the cgroup-v2 VM): ~3 s each there
    detach(td, "e2", "sleep", "600", flags=("-e", "FROM_RUN=1"))
    out = td.out("exec", "-e", "EXTRA=x y", "-w", "/tmp", "e2", "sh", "-c", "echo $FROM_RUN $EXTRA; pwd")
    assert out == "1 x y\n/tmp\n"
    assert td("exec", "e2", "sh", "-c", "exit 5").returncode == 5
    res = td("exec", "e2", "no-such-command")
    assert res.returncode == 127 and b"executable file not found" in res.stderr
    assert td("exec", "e2", "/etc/passwd").returncode == 126
    assert td("exec", "-i", "e2", "cat", input=b"piped\n").stdout == b"piped\n"
    assert td.out("exec", "-t", "e2", "readlink", "/proc/self/fd/1").strip().startswith("/dev/pts/")
    td.out("rm", "-f", "e2")


def test_exec_detached_leaves_the_command_running_and_says_why_one_did_not_start(td):
    detach(td, "e3", "sleep", "600")
    res = td("exec", "-d", "-e", "SAID=later", "e3", "sh", "-c", "sleep 1; echo $SAID > /tmp/marker; sleep 600")
    assert (res.returncode, res.stdout, res.stderr) == (0, b"", b"")
    wait_for(lambda: td("exec", "e3", "cat", "/tmp/marker").stdout == b"later\n", timeout=20,
             what="the detached command's file")
    # still running after its exec left, reaped by a waiter that is no child of the CLI's
    assert b"sleep 600" in td("exec", "e3", "ps", "-o", "args").stdout.replace(b"sh -c sleep 1", b"")
    res = td("exec", "-d", "e3", "no-such-command")
    assert res.returncode == 127 and res.stderr == b'tinydocker: exec: "no-such-command": executable file not found in $PATH\n'
    assert td("exec", "-d", "e3", "/etc/passwd").returncode == 126
    td.out("stop", "-t", "0", "e3")
    assert td("exec", "-d", "e3", "true").returncode == 1
    td.out("rm", "-f", "e3")


def test_exec_into_a_stopped_container_is_a_clear_error(td):
    td.out("run", "s1", "true")
    res = td("exec", "s1", "true")
    assert res.returncode == 1 and res.stderr == b"tinydocker: container s1 is not running\n"
    assert td("exec", "ghost", "true").returncode == 1


# -- stop, kill, start, restart, wait, inspect --------------------------------------------------

def test_stop_kills_a_pid1_that_ignores_sigterm(td):
    # busybox sh as PID 1 has no SIGTERM handler: the kernel drops the signal; SIGKILL ends it
    rec = detach(td, "st1", "sh", "-c", "while :; do sleep 0.1; done")
    assert td.out("stop", "-t", "1", "st1") == "st1\n"
    assert not alive(rec) and td.record("st1")["exit_code"] == 137


def test_stop_sends_sigterm_first(td):
    detach(td, "st2", "sh", "-c", "trap 'exit 7' TERM; while :; do sleep 0.1; done")
    td.wait_trap("st2", signal.SIGTERM)
    assert td.out("stop", "-t", "30", "st2") == "st2\n"
    assert td.record("st2")["exit_code"] == 7  # the trap ran: not the SIGKILL


def test_kill_with_a_signal_and_bad_signal(td):
    detach(td, "k1", "sh", "-c", "trap 'exit 9' USR1; while :; do sleep 0.1; done")
    td.wait_trap("k1", signal.SIGUSR1)
    assert td.out("kill", "-s", "USR1", "k1") == "k1\n"
    assert ended(td, "k1")["exit_code"] == 9
    res = td("kill", "-s", "NOPE", "k1")
    assert res.returncode == 125 and b"invalid signal" in res.stderr
    res = td("kill", "k1")
    assert res.returncode == 1 and b"not running" in res.stderr


def test_start_reuses_the_upper_layer(td):
    assert td.out("run", "c1", "sh", "-c", "echo x >> /counter; wc -l < /counter") == "1\n"
    assert td("start", "-a", "c1").stdout == b"2\n"
    assert td.out("start", "c1") == "c1\n"  # detached now: the output goes to the log
    ended(td, "c1")
    assert td.out("logs", "c1") == "1\n2\n3\n"  # every start's output, attached or not, as docker's log
    assert td.record("c1")["exit_code"] == 0


def test_start_i_passes_stdin_on_to_a_container_made_with_i(td):
    # docker's start -i: attached, this stdin going to the container's (podman's system tests)
    td.out("create", "-i", "--network", "none", "c1", "sh", "-c", "read line; echo got $line")
    res = td("start", "-i", "c1", input=b"hello\n")
    assert (res.returncode, res.stdout) == (0, b"got hello\n"), res.stderr
    # -a alone shows the output and leaves this stdin alone: the container's stays open
    # with nothing coming (no end of file: cat is still reading when timeout ends it), as
    # docker's start -a
    td.out("create", "-i", "--network", "none", "c2", "sh", "-c",
           "timeout 1 cat; echo status $?")
    res = td("start", "-a", "c2", input=b"hello\n")
    assert (res.returncode, res.stdout) == (0, b"status 143\n"), res.stderr
    td.out("rm", "c1", "c2")


def test_start_of_a_running_container_does_nothing(td):
    rec = detach(td, "r1", "sleep", "30")
    assert td.out("start", "r1") == "r1\n"
    assert td.record("r1")["pid"] == rec["pid"]
    td.out("rm", "-f", "r1")


def test_restart_gives_a_new_pid1(td):
    rec = detach(td, "r2", "sleep", "30")
    assert td.out("restart", "-t", "0", "r2") == "r2\n"
    new = td.wait_running("r2")
    assert new["pid"] != rec["pid"] and alive(new) and not alive(rec)
    td.out("rm", "-f", "r2")


def test_wait_prints_the_exit_code(td):
    detach(td, "w1", "sh", "-c", "sleep 0.5; exit 4")
    res = td("wait", "w1")
    assert res.returncode == 0 and res.stdout == b"4\n"
    assert td.out("wait", "w1") == "4\n"  # already exited: at once


def test_wait_right_after_start_waits_for_the_end(td):
    # the first run exits 0, the second 3: a wait that returned early would print 0
    td.out("run", "w2", "sh", "-c", "test -f /again && sleep 0.3 && exit 3; touch /again")
    start = td.popen("start", "w2")
    # as soon as the start has claimed the record (created: being started; or running)
    wait_for(lambda: td.record("w2")["status"] != "exited", timeout=30, what="start under way")
    waiter = td.popen("wait", "w2")
    assert start.wait(30) == 0
    assert waiter.wait(30) == 0 and waiter.stdout.read() == b"3\n"


def test_inspect_running_and_stopped(td):
    rec = detach(td, "i1", "sleep", "30", flags=("-m", "64m"))
    doc = json.loads(td.out("inspect", "i1"))[0]
    assert doc["State"]["Running"] and doc["State"]["Pid"] == rec["pid"]
    assert doc["HostConfig"]["Memory"] == 64 << 20
    td.out("stop", "-t", "0", "i1")
    doc = json.loads(td.out("inspect", "i1"))[0]
    assert doc["State"]["Status"] == "exited" and doc["State"]["ExitCode"] == 137
    assert doc["State"]["FinishedAt"] >= doc["State"]["StartedAt"]


def test_container_prune_removes_only_stopped_ones(td):
    td.out("run", "done1", "true")
    rec = detach(td, "live", "sleep", "30")
    assert td("container", "prune", input=b"\n").returncode == 1
    assert (td.containers / "done1").exists()
    out = td.out("container", "prune", "-f")
    assert td.out("ps", "-a", "-q") == rec["id"][:12] + "\n"
    assert "Deleted Containers:" in out
    td.out("rm", "-f", "live")
    state_is_clean(td)


# -- crash safety ------------------------------------------------------------------------------

def test_monitor_killed_while_the_container_runs(td):
    rec = detach(td, "orphan", "sleep", "30")
    os.kill(rec["monitor_pid"], signal.SIGKILL)
    wait_for(lambda: not proc.is_alive(rec["monitor_pid"], rec["monitor_ticks"]), what="monitor gone")
    # the container goes on and is shown as running, since it is
    assert td.out("ps", "-q") == rec["id"][:12] + "\n"
    assert td.out("rm", "-f", "orphan") == "orphan\n"
    assert not alive(rec)
    state_is_clean(td)


def test_monitor_killed_then_container_dies_is_exited_255(td):
    rec = detach(td, "lost", "sleep", "30")
    os.kill(rec["monitor_pid"], signal.SIGKILL)
    os.kill(rec["pid"], signal.SIGKILL)
    wait_for(lambda: not alive(rec), what="container end")
    row = json.loads(td.out("ps", "-a", "--format", "json"))
    assert row["State"] == "exited" and row["ExitCode"] == 255
    # the command that settled it says so in the journal, once, as the monitor would have
    td.out("ps", "-a")
    assert td.out("events", "--since", "1h", "--until", "0s", "--filter", "event=die",
                  "--format", "{{.Actor.Attributes.name}} {{.Actor.Attributes.exitCode}}") == "lost 255\n"
    td.out("rm", "lost")
    state_is_clean(td)


def test_sigkill_of_run_detached_at_any_point_leaves_the_truth(td):
    td.out("image", "build")
    for i, delay in enumerate([0.0, 0.02, 0.04, 0.06, 0.08, 0.1, 0.12, 0.15, 0.2, 0.3, 0.5]):
        name = f"k{i}"
        p = td.popen("run", "-d", name, "sleep", "30")
        time.sleep(delay)
        p.kill()
        p.wait()
        # a start the monitor took goes on: its launcher finishes it
        wait_for(lambda: not _starting(_record_if_any(td, name)), what="no start in flight")
        _assert_truthful(td)
        res = td("rm", "-f", name)
        assert res.returncode == 0 and res.stderr.count(b"\n") <= 1, res.stderr  # -f forgives a gone one
    state_is_clean(td)


def test_sigkill_of_run_detached_between_record_and_start(td):
    td.out("image", "build")
    for attempt in range(20):
        name = f"w{attempt}"
        record = td.containers / name / "record.toml"
        p = td.popen("run", "-d", name, "sleep", "30")
        while not record.exists() and p.poll() is None:
            time.sleep(0.0005)
        p.kill()
        p.wait()
        if td.record(name)["status"] == "created":
            break  # caught in the window; otherwise it started already: try again
        td.out("rm", "-f", name)
    else:
        raise AssertionError("never caught a run -d between its record and its start")
    # killed before it asked the monitor, the start never happens; killed after, the
    # monitor's launcher carries it out (as docker's daemon does a request whose client
    # went): either way, once no live process is starting it, the record tells the truth
    wait_for(lambda: not _starting(td.record(name)), what="no start in flight")
    _assert_truthful(td)
    state = json.loads(td.out("ps", "-a", "--format", "json"))["State"]
    assert state in ("created", "running")
    assert td.out("rm", "-f", name) == f"{name}\n"
    state_is_clean(td)


def _starting(rec: dict | None) -> bool:
    return rec is not None and rec["status"] == "created" and proc.is_alive(rec.get("monitor_pid"),
                                                                            rec.get("monitor_ticks"))


def _record_if_any(td, name: str) -> dict | None:
    """The record, or None: not made yet, or never (a run killed between taking the name's
    directory and writing the record into it)."""
    try:
        return td.record(name)
    except FileNotFoundError:
        return None


def _assert_truthful(td, again: int = 3) -> None:
    """Every record shown running has its PID 1 alive; every live container has a record."""
    for line in td.out("ps", "-a", "--format", "json").splitlines():
        row = json.loads(line)
        rec = td.record(row["Names"])
        if row["State"] == "running":
            assert alive(rec), row
        elif row["State"] == "created" and rec["status"] == "running" and alive(rec) and again:
            # started between ps and this read, by the launcher of a `run -d` killed after it
            # asked (its record names the dead CLI until the launcher takes it): ps again
            time.sleep(0.1)
            return _assert_truthful(td, again - 1)
        else:
            assert not rec.get("pid") or not alive(rec), row


def test_sigkill_of_rm_midway_is_finished_by_the_next(td):
    for i, delay in enumerate([0.0, 0.03, 0.06, 0.09, 0.12, 0.2]):
        name = f"r{i}"
        rec = detach(td, name, "sleep", "30")
        p = td.popen("rm", "-f", name)
        time.sleep(delay)
        p.kill()
        p.wait()
        _assert_truthful(td)
        res = td("rm", "-f", name)
        assert res.returncode == 0, res.stderr
        assert not alive(rec)
    state_is_clean(td)


def test_reboot_shows_running_containers_as_exited(td):
    rec = detach(td, "boot", "sleep", "30")
    os.kill(rec["monitor_pid"], signal.SIGKILL)  # nobody will record anything now
    wait_for(lambda: not proc.is_alive(rec["monitor_pid"], rec["monitor_ticks"]), what="monitor gone")
    path = td.containers / "boot" / "record.toml"
    # the same record, written in an earlier boot: pid and start time still match a live process
    path.write_text(path.read_text().replace(rec["boot_id"], "00000000-0000-0000-0000-000000000000"))
    row = json.loads(td.out("ps", "-a", "--format", "json"))
    assert row["State"] == "exited" and row["ExitCode"] == 255
    assert td.out("ps", "-q") == ""
    os.kill(rec["pid"], signal.SIGKILL)  # a real reboot would have ended it
    wait_for(lambda: not alive(rec), what="container end")
    td.out("rm", "boot")
    state_is_clean(td)


# -- races a script produces -------------------------------------------------------------------

def test_run_rm_against_rm_force(td):
    for i in range(5):
        name = f"race{i}"
        run = td.popen("run", "--rm", name, "sleep", "30")
        td.wait_running(name)
        rm = td.popen("rm", "-f", name)
        assert run.wait(30) == 137, run.stderr.read()
        rm_code = rm.wait(30)
        assert rm_code == 0, rm.stderr.read()  # removed, or gone already (--rm): -f forgives that
    state_is_clean(td)


def test_two_stops_at_once(td):
    detach(td, "s2", "sleep", "30")
    stops = [td.popen("stop", "-t", "1", "s2") for _ in range(2)]
    for p in stops:
        assert p.wait(30) == 0 and p.stdout.read() == b"s2\n"
    assert td.record("s2")["exit_code"] == 137
    td.out("rm", "s2")
    state_is_clean(td)


def test_rm_while_start_runs(td):
    td.out("image", "build")
    for i in range(6):
        name = f"sr{i}"
        td.out("run", name, "true")
        start = td.popen("start", name)
        time.sleep(0.02 * i)
        rm = td.popen("rm", "-f", name)
        for p in (start, rm):
            code = p.wait(30)
            err = p.stderr.read()
            assert code in (0, 1) and err.count(b"\n") <= 1 and b"Traceback" not in err, err
        _assert_truthful(td)
        td("rm", "-f", name)
    state_is_clean(td)


def test_a_removal_under_way_refuses_starts_until_its_process_dies(td):
    # an `rm` marks the container first, so that no start makes a cgroup it then pulls away;
    # here the "rm" is a process that marks and then stops, as a SIGKILLed rm would
    td.out("image", "build")
    td.out("create", "mk", "true")
    holder = subprocess.Popen([td.cmd[0], "-c", (
        "import sys, time\n"
        "from pathlib import Path\n"
        "from tinydocker.state.root import DataRoot\n"
        "from tinydocker.state.store import Store\n"
        "s = Store(DataRoot(Path(sys.argv[1])))\n"
        "s.hold_for_removal(s.lookup('mk'), False)\n"
        "print('held', flush=True)\n"
        "time.sleep(60)\n"), str(td.root)], stdout=subprocess.PIPE, cwd=REPO)
    try:
        assert holder.stdout.readline() == b"held\n"
        res = td("start", "mk")
        assert res.returncode == 1 and res.stderr == b"tinydocker: container mk is marked for removal and cannot be started\n"
        assert td.record("mk")["status"] == "created"
    finally:
        holder.kill()
        holder.wait()
    # the marking process is gone: its mark no longer holds
    assert td("start", "-a", "mk").returncode == 0
    td.out("rm", "mk")
    state_is_clean(td)


@pytest.mark.slow
def test_a_hundred_detached_started_and_stopped_in_parallel(td):
    td.out("image", "build")
    names = [f"p{i}" for i in range(100)]
    starts = [td.popen("run", "-d", n, "sleep", "300") for n in names]
    for p in starts:
        assert p.wait(120) == 0, p.stderr.read()
    rows = [json.loads(line) for line in td.out("ps", "--format", "json").splitlines()]
    assert len(rows) == 100 and all(r["State"] == "running" for r in rows)
    stops = [td.popen("stop", "-t", "1", n) for n in names]
    for p in stops:
        assert p.wait(120) == 0, p.stderr.read()
    assert td.out("ps", "-q") == ""
    recs = [ended(td, n) for n in names]
    assert {r["exit_code"] for r in recs} == {137}
    assert not any(alive(r) for r in recs)
    td.out("container", "prune", "-f")
    state_is_clean(td)


# -- a start after a monitor that was killed (issue 8, item 2) ------------------------------

def _orphaned_and_ended(td, name: str) -> dict:
    """A detached container whose monitor was SIGKILLed and which then ended: its cgroup
    is still there, since nobody was left to remove it."""
    rec = detach(td, name, "sleep", "30")
    os.kill(rec["monitor_pid"], signal.SIGKILL)
    wait_for(lambda: not proc.is_alive(rec["monitor_pid"], rec["monitor_ticks"]), what="monitor gone")
    os.kill(rec["pid"], signal.SIGKILL)
    wait_for(lambda: not alive(rec), what="container end")
    assert cgroups.open_cgroup(rec["id"]).exists()
    return rec


def test_start_after_the_monitor_was_killed_reuses_the_leftover_cgroup(td):
    rec = _orphaned_and_ended(td, "again")
    res = td("start", "again")
    assert res.returncode == 0 and res.stdout == b"again\n", res.stderr
    fresh = td.wait_running("again")
    assert fresh["pid"] != rec["pid"] and alive(fresh)
    assert cgroups.open_cgroup(rec["id"]).exists()
    td.out("stop", "-t", "0", "again")
    assert ended(td, "again")["exit_code"] == 137
    td.out("rm", "again")
    state_is_clean(td)


def test_start_attached_after_a_killed_foreground_run(td):
    p = td.popen("run", "fg", "sh", "-c", "sleep 30")
    rec = td.wait_running("fg")
    p.kill()
    p.wait()
    os.kill(rec["pid"], signal.SIGKILL)
    wait_for(lambda: not alive(rec), what="container end")
    assert cgroups.open_cgroup(rec["id"]).exists()
    td.out("rm", "-f", "fg")
    # the same again, then start -a with a command that ends by itself
    res = td("run", "-d", "fg2", "sh", "-c", "[ -e /again ] && exit 7; touch /again; sleep 30")
    assert res.returncode == 0, res.stderr
    rec = td.record("fg2")
    wait_for(lambda: (td.containers / "fg2" / "upper" / "again").exists(), what="/again written")
    os.kill(rec["monitor_pid"], signal.SIGKILL)
    wait_for(lambda: not proc.is_alive(rec["monitor_pid"], rec["monitor_ticks"]), what="monitor gone")
    os.kill(rec["pid"], signal.SIGKILL)
    wait_for(lambda: not alive(rec), what="container end")
    res = td("start", "-a", "fg2")
    assert res.returncode == 7, res.stderr
    assert td.record("fg2")["exit_code"] == 7
    td.out("rm", "fg2")
    state_is_clean(td)


# -- the monitor under every install mode (issue 8, item 1) --------------------------------

def test_monitor_finds_tinydocker_without_the_callers_path(td):
    """The monitor imports tinydocker from beside its own package, not through the caller's
    sys.path: under setuptools' default editable install the package is found by an import
    hook, and no path entry leads to it."""
    import sys

    code = ("import sys, tinydocker; "
            f"sys.path[:] = [p for p in sys.path if p.rstrip('/') != {str(REPO)!r}]; "
            f"print(tinydocker.run('p1', ['sh', '-c', 'exit 9'], detach=True, root={str(td.root)!r}))")
    res = subprocess.run([sys.executable, "-c", code], capture_output=True, timeout=60, cwd="/",
                         env={**td.env, "PYTHONPATH": str(REPO)})
    assert res.returncode == 0, res.stderr
    assert ended(td, "p1")["exit_code"] == 9
    td.out("rm", "p1")
    state_is_clean(td)


def test_a_monitor_that_cannot_record_the_end_says_why_in_inspect(td):
    import shutil

    rec = detach(td, "broken", "sleep", "30")
    detach(td, "keeper", "sleep", "30")  # the monitor lives on for this one
    lock = td.root / "state" / ".lock"
    said = td.containers / "broken" / "monitor.error"
    # nobody can take the state lock while it is a directory: the finisher's record fails
    os.replace(lock, td.root / "state" / "lock.saved")
    lock.mkdir()
    try:
        os.kill(rec["pid"], signal.SIGKILL)
        wait_for(said.exists, what="the finisher's failure said")
    finally:
        shutil.rmtree(lock)
        os.replace(td.root / "state" / "lock.saved", lock)
    assert proc.is_alive(rec["monitor_pid"], rec["monitor_ticks"])
    # not waited for as a live monitor's to record: settled at once, with the reason
    doc = json.loads(td.out("inspect", "broken", timeout=20))[0]
    assert doc["State"]["ExitCode"] == 255  # nobody recorded the end: docker's code for that
    assert "could not record" in doc["State"]["Error"] and ".lock" in doc["State"]["Error"], doc["State"]
    td.out("rm", "broken")
    td.out("rm", "-f", "keeper")
    state_is_clean(td)
