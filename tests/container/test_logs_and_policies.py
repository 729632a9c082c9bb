"""A container's log whatever way it ran (--since/--until/--details, rotation by --log-opt),
--restart policies kept by the monitor, and --init as PID 1."""

import json
import os
import re
import select
import signal
import time

from conftest import has_open, wait_for


def state(td, name: str) -> dict:
    return json.loads(td.out("inspect", name))[0]


def test_a_foreground_run_keeps_its_output_as_docker_does(td):
    res = td("run", "--network", "none", "fg", "sh", "-c", "echo out; echo err >&2; printf partial; exit 3")
    # the caller still gets the output, each stream on its own, and the code
    assert res.returncode == 3 and res.stdout == b"out\npartial" and res.stderr == b"err\n"
    res = td("logs", "fg")
    assert res.stdout == b"out\npartial" and res.stderr == b"err\n"
    # a start -a appends, as docker's log does
    td("start", "-a", "fg")
    assert td("logs", "fg").stdout == b"out\npartialout\npartial"
    # --log-driver none keeps nothing, and logs says it cannot read it (exit 1, as docker)
    assert td("run", "--network", "none", "--log-driver", "none", "quiet", "echo", "x").stdout == b"x\n"
    res = td("logs", "quiet")
    assert res.returncode == 1 and b"does not support reading" in res.stderr
    assert not (td.containers / "quiet" / "container.log").exists()


def test_a_closed_reader_closes_the_container_output_as_a_pipeline_does(td):
    import subprocess

    # `run … | head -1`: once head is gone the container's next write fails, as `seq | head`
    # would (SIGPIPE: 141); what passed before is in the log
    shell = subprocess.run(" ".join(td.cmd) + " run --network none many sh -c 'seq 1 100000; echo seq:$? >&2' | head -1",
                           shell=True, capture_output=True, env=td.env, timeout=60)
    assert shell.stdout == b"1\n"
    wait_for(lambda: td.record("many")["status"] == "exited", what="the end")
    assert shell.stderr == b"seq:141\n"
    kept = td.out("logs", "many").split()
    assert kept[0] == "1" and len(kept) < 100000


def test_logs_since_until_and_details(td):
    td.out("run", "-d", "--network", "none", "--label", "team=blue", "-e", "WHO=a b",
           "--log-opt", "labels=team,missing", "--log-opt", "env=WHO",
           "stamped", "sh", "-c", "echo first; while [ ! -e /go ]; do sleep 0.05; done; echo second")
    # the second line only once the first is in the log, with a stamp of its own
    wait_for(lambda: td.out("logs", "stamped") == "first\n", what="the first line logged")
    td.out("exec", "stamped", "touch", "/go")
    wait_for(lambda: td.record("stamped")["status"] == "exited", what="the end", timeout=30)
    lines = td.out("logs", "-t", "stamped").splitlines()
    assert [line.split(" ", 1)[1] for line in lines] == ["first", "second"]
    second = lines[1].split(" ", 1)[0]
    assert td.out("logs", "--since", second, "stamped") == "second\n"
    assert td.out("logs", "--until", lines[0].split(" ", 1)[0], "stamped") == "first\n"
    assert td.out("logs", "--since", "1h", "--until", "1m", "stamped") == ""
    assert td.out("logs", "--since", "1h", "stamped") == "first\nsecond\n"
    # docker's --details: the chosen label and env values, url-encoded, then a space
    assert td.out("logs", "--details", "stamped").splitlines()[0] == "WHO=a+b,team=blue first"
    assert td.out("logs", "--details", "-t", "stamped").splitlines()[0].split(" ", 1)[1] == "WHO=a+b,team=blue first"
    res = td("logs", "--since", "last tuesday", "stamped")
    assert res.returncode == 125 and b"--since" in res.stderr and len(res.stderr.splitlines()) == 1


def test_max_size_rotates_and_logs_reads_every_kept_file(td):
    # 40 records of ~44 bytes in files of at most 300: rotated, three files kept
    td.out("run", "--network", "none", "--log-opt", "max-size=300", "--log-opt", "max-file=3",
           "rot", "sh", "-c", "for i in $(seq 1 40); do echo line-$i; done")
    files = sorted(p.name for p in (td.containers / "rot").iterdir() if p.name.startswith("container.log"))
    assert files == ["container.log", "container.log.1", "container.log.2"]
    for name in files:
        assert (td.containers / "rot" / name).stat().st_size <= 300
    shown = td.out("logs", "rot").split()
    # the newest lines, in order, without a gap
    assert shown and shown[-1] == "line-40"
    first = int(shown[0].split("-")[1])
    assert shown == [f"line-{i}" for i in range(first, 41)] and first > 1
    for bad, what in ((["--log-opt", "max-file=0", "--log-opt", "max-size=1k"], b"max-file"),
                      (["--log-opt", "max-file=2"], b"needs max-size"),
                      (["--log-opt", "colour=red"], b"unknown log opt"),
                      (["--log-opt", "max-size=lots"], b"max-size"),
                      (["--log-driver", "syslog"], b"not supported")):
        res = td("run", "--network", "none", *bad, "bad", "true")
        assert res.returncode == 125 and what in res.stderr, res.stderr
        assert not (td.containers / "bad").exists()


def test_rotation_follows_a_running_container_renamed(td):
    # the monitor's log goes where the container's directory goes
    td.out("run", "-d", "--network", "none", "--log-opt", "max-size=300", "--log-opt", "max-file=3", "before",
           "sh", "-c", "while [ ! -e /go ]; do sleep 0.05; done; for i in $(seq 1 40); do echo line-$i; done")
    td.out("rename", "before", "after")
    td.out("exec", "after", "touch", "/go")
    wait_for(lambda: td.record("after")["status"] == "exited", what="the end recorded")
    files = sorted(p.name for p in (td.containers / "after").iterdir() if p.name.startswith("container.log"))
    assert files == ["container.log", "container.log.1", "container.log.2"]
    shown = td.out("logs", "after").split()
    first = int(shown[0].split("-")[1])
    assert shown == [f"line-{i}" for i in range(first, 41)] and first > 1
    # a foreground run renamed while it runs: its end is told under the new name too
    fg = td.popen("run", "--network", "none", "fg", "sh", "-c", "while [ ! -e /go ]; do sleep 0.05; done")
    td.wait_running("fg")
    td.out("rename", "fg", "fg2")
    td.out("exec", "fg2", "touch", "/go")
    assert fg.wait(30) == 0
    died = td.out("events", "--since", "1h", "--until", "0s", "-f", "event=die", "--format", "{{.Actor.Attributes.name}}")
    assert died.split() == ["after", "fg2"]


def test_follow_goes_on_across_rotations(td):
    td.out("run", "-d", "--network", "none", "--log-opt", "max-size=400", "--log-opt", "max-file=2",
           "chatty", "sh", "-c",
           "while [ ! -e /go ]; do sleep 0.05; done; for i in $(seq 1 60); do echo n-$i; sleep 0.02; done")
    follower = td.popen("logs", "-f", "chatty")
    # the output (and its rotations) only once the follower reads the log
    wait_for(lambda: has_open(follower.pid, td.containers / "chatty" / "container.log") or follower.poll() is not None,
             what="the follower reading the log")
    td.out("exec", "chatty", "touch", "/go")
    out, _ = follower.communicate(timeout=60)
    assert follower.returncode == 0
    assert out.split() == [f"n-{i}".encode() for i in range(1, 61)]


def test_restart_on_failure_counts_and_stops_at_its_bound(td):
    td.out("run", "-d", "--network", "none", "--restart", "on-failure:2", "flaky", "sh", "-c", "echo try; exit 3")
    wait_for(lambda: state(td, "flaky")["RestartCount"] == 2 and _monitor_gone(td, "flaky"), timeout=30,
             what="two restarts, and the last monitor's end")
    # no third start: the finisher that would have made it (after its back-off, asking the
    # monitor for the new start before it ends) has ended without one, and the monitor with it
    doc = state(td, "flaky")
    assert doc["RestartCount"] == 2 and doc["State"]["ExitCode"] == 3
    assert doc["HostConfig"]["RestartPolicy"] == {"Name": "on-failure", "MaximumRetryCount": 2}
    assert td.out("logs", "flaky") == "try\n" * 3
    starts = td.out("events", "--since", "1h", "--until", "0s", "-f", "container=flaky", "-f", "event=start",
                    "--format", "{{.Action}}")
    assert starts == "start\n" * 3
    # a clean exit is no failure
    td.out("run", "-d", "--network", "none", "--restart", "on-failure", "fine", "true")
    wait_for(lambda: _monitor_gone(td, "fine"), timeout=30, what="the monitor's end, without a start")
    assert state(td, "fine")["RestartCount"] == 0


def _monitor_gone(td, name: str) -> bool:
    from tinydocker.linux import proc

    rec = td.record(name)
    return rec["status"] == "exited" and not proc.is_alive(rec.get("monitor_pid"), rec.get("monitor_ticks"))


def test_restart_always_until_stopped_and_a_start_by_hand_resets_the_count(td):
    td.out("run", "-d", "--network", "none", "--restart", "always", "loop", "sh", "-c", "sleep 0.3")
    wait_for(lambda: state(td, "loop")["RestartCount"] >= 2, timeout=30, what="restarts")
    # a quick end doubles the back-off each time (0.1 s, 0.2 s, …): in it, the container is
    # listed as restarting, as docker lists it
    def one_back_off():
        # inspect, ps and inspect again, all within one back-off: the restart count (which
        # each start raises) is the same before and after, and both say restarting
        before = state(td, "loop")
        rows = [json.loads(line) for line in td.out("ps", "--format", "json").splitlines()]
        listed = td.out("ps", "-q", "--filter", "status=restarting")
        after = state(td, "loop")
        same = before["RestartCount"] == after["RestartCount"] and before["State"] == after["State"]
        return same and before["State"]["Restarting"] and (before, rows, listed)
    doc, rows, listed = wait_for(one_back_off, timeout=60, what="a back-off seen whole")
    assert len(rows) == 1 and rows[0]["State"] == "restarting", rows
    assert rows[0]["Names"] == "loop" and re.fullmatch(r"Restarting \(0\) .* ago", rows[0]["Status"]), rows
    assert doc["State"]["Restarting"] is True and doc["State"]["Running"] is True
    assert listed == doc["Id"][:12] + "\n"
    td.out("stop", "-t", "5", "loop")
    # its monitor ended without starting it again (a restart is asked of the monitor by the
    # finisher of the end before it): nothing is left that could start it, the stop holds
    wait_for(lambda: _monitor_gone(td, "loop"), timeout=30, what="the last monitor's end")
    assert td.out("ps", "-q") == "" and state(td, "loop")["State"]["Status"] == "exited"
    assert td.record("loop")["stopped_by_user"] is True
    td.out("start", "loop")
    # read at once: the policy's next restart comes ~0.4 s later, sooner than an inspect may answer
    assert td.record("loop").get("restart_count", 0) == 0
    # the policy holds again after a start by hand
    wait_for(lambda: state(td, "loop")["RestartCount"] >= 1, timeout=30, what="a restart after the start by hand")
    # killed by hand counts as stopped by the user too (docker's rule)
    wait_for(lambda: td("kill", "loop").returncode == 0, timeout=30, what="a kill while it runs")
    wait_for(lambda: _monitor_gone(td, "loop"), timeout=30, what="the last monitor's end")
    assert td.record("loop")["status"] == "exited"  # and so it stays, as above
    res = td("run", "--rm", "--restart", "always", "both", "true")
    assert res.returncode == 125 and b"Conflicting options: --restart and --rm" in res.stderr


def test_init_passes_signals_on_and_reaps_orphans(td):
    orphan_maker = ["sh", "-c", 'sh -c "sleep 0.3 & exit 0"; exec sleep 60']
    for init in (False, True):
        name = "with-init" if init else "bare"
        td.out("run", "-d", "--network", "none", *(["--init"] if init else []), name, *orphan_maker)
        td.wait_running(name)

        def zombies():
            table = td.out("exec", name, "ps", "-o", "stat,comm").split("\n")[1:]
            return [row for row in table if row.startswith("Z")]

        def orphan_reaped():
            # its parent sh has ended (PID 1's child has exec'd sleep 60), and the orphan is
            # neither running (nor still the forked sh) nor a zombie
            rows = [row.split(None, 2) for row in td.out("exec", name, "ps", "-o", "pid,stat,args").splitlines()[1:]]
            made = any(row[2:] == ["sleep 60"] for row in rows)
            return made and not [row for row in rows if row[0] != "1" and "sleep 0.3" in " ".join(row[2:])] \
                and zombies() == []

        if init:
            wait_for(orphan_reaped, what="the orphan's end, reaped by the init")
            assert zombies() == []
            top = td.out("exec", name, "ps", "-o", "pid,args").split("\n")
            # the host's catatonit, bound at /dev/init
            assert any(row.split(None, 1) == ["1", "/dev/init -- sh -c sh -c \"sleep 0.3 & exit 0\"; exec sleep 60"]
                       for row in top), top
        else:
            wait_for(zombies, what="the orphan left a zombie under a bare PID 1")
    # sleep as a bare PID 1 ignores SIGTERM (stop needs its SIGKILL: 137); under --init it ends (143)
    started = time.monotonic()
    td.out("stop", "-t", "30", "with-init")
    assert time.monotonic() - started < 20
    assert td.record("with-init")["exit_code"] == 143
    td.out("stop", "-t", "1", "bare")
    assert td.record("bare")["exit_code"] == 137
    # the command's status is the container's; one that cannot run is catatonit's words and
    # status (1), as under podman (the README says so)
    assert td("run", "--network", "none", "--init", "code", "sh", "-c", "exit 7").returncode == 7
    res = td("run", "--network", "none", "--init", "missing", "no-such-command")
    assert res.returncode == 1 and b"failed to exec pid1" in res.stderr
    # the command's end by a signal is 128+N, as a bare PID 1's would be
    assert td("run", "--network", "none", "--init", "selfterm", "sh", "-c", "kill -TERM $$").returncode == 143


def test_init_with_a_terminal_gives_the_command_the_foreground(td):
    import pty
    import subprocess

    leader, follower = pty.openpty()
    proc = subprocess.Popen(td.cmd + ["run", "-it", "--network", "none", "--init", "tty1", "sh", "-c",
                                      "trap 'echo got-int; exit 5' INT; echo ready; while :; do sleep 0.1; done"],
                            stdin=follower, stdout=follower, stderr=follower, env=td.env, start_new_session=True)
    os.close(follower)
    seen = b""
    deadline = time.monotonic() + 30
    while b"ready" not in seen and time.monotonic() < deadline:
        seen += _read(leader)
    os.write(leader, b"\x03")  # Ctrl-C on the user's terminal, raw: the container's pty makes it SIGINT
    while b"got-int" not in seen and time.monotonic() < deadline:
        seen += _read(leader)
    assert proc.wait(timeout=30) == 5, seen
    os.close(leader)


def _read(fd: int) -> bytes:
    if select.select([fd], [], [], 0.5)[0]:
        try:
            return os.read(fd, 4096)
        except OSError:
            return b""
    return b""


def test_an_attached_run_ends_with_its_container_and_its_policy_restarts_it_behind(td):
    # docker's client returns with the first end; the restart happens in the background
    res = td("run", "--network", "none", "--restart", "on-failure:2", "fg", "sh", "-c", "echo try; exit 3")
    assert res.returncode == 3 and res.stdout == b"try\n", res.stderr
    wait_for(lambda: state(td, "fg")["RestartCount"] == 2 and _monitor_gone(td, "fg"), timeout=30,
             what="two restarts behind the run, and the last monitor's end")
    assert td.out("logs", "fg") == "try\n" * 3 and state(td, "fg")["State"]["ExitCode"] == 3


def _held_fds(pid: int) -> int | None:
    """How many descriptors the process holds on anything but /dev/null (what a fork lets
    go of is pointed there: linux/fds.py)."""
    try:
        held = 0
        for fd in os.listdir(f"/proc/{pid}/fd"):
            try:
                held += os.readlink(f"/proc/{pid}/fd/{fd}") != os.devnull
            except FileNotFoundError:
                pass
        return held
    except FileNotFoundError:
        return None


def test_a_restarting_container_keeps_no_more_fds_and_rm_refuses_it_without_force(td):
    td.out("run", "-d", "-i", "--network", "none", "--restart", "always", "again", "sh", "-c", "exit 1")

    def in_back_off(count):
        # the monitor's finisher waiting out the back-off after the count-th restart, and what it holds
        rec = td.record("again")
        waiting = rec.get("restart_wait")
        if rec.get("restart_count") != count or not waiting:
            return None
        # the fewest of a few looks: what it holds for good, not a store lock it takes for a
        # moment (its next start's claim, say)
        looks = []
        for _ in range(5):
            looks.append(_held_fds(waiting["pid"]))
            time.sleep(0.01)
        held = None if None in looks else min(looks)
        return held is not None and td.record("again").get("restart_wait") == waiting and (held,)
    # the second back-off, 0.4 s: a look takes ~60 ms, which the first's 0.2 s could miss whole
    first = wait_for(lambda: in_back_off(2), timeout=30, what="the back-off after the second restart")
    # each generation's finisher is forked from the monitor as it is then: none may hold more
    later = wait_for(lambda: in_back_off(4), timeout=30, what="the back-off after the fourth restart")
    assert later == first
    # the fifth back-off is 3.2 s: rm meets it restarting (docker's refusal, exit 1)
    wait_for(lambda: in_back_off(5), timeout=30, what="the fifth back-off")
    res = td("rm", "again")
    assert res.returncode == 1 and b"You cannot remove a restarting container" in res.stderr, res.stderr
    td.out("rm", "-f", "again")


def test_a_slow_non_blocking_reader_is_waited_for_not_taken_for_gone(td):
    # some runners hand a child a non-blocking pipe: a full one (EAGAIN) is a slow reader
    r, w = os.pipe()
    os.set_blocking(w, False)
    p = td.popen("run", "--network", "none", "nb", "head", "-c", "1000000", "/dev/zero", stdout=w)
    # the pipe (64 KiB) fills while nobody reads: a write end of our own is not writable then
    # (no room), and the run's next write meets EAGAIN
    probe = os.dup(w)
    os.close(w)
    try:
        wait_for(lambda: not select.select([], [probe], [], 0)[1], timeout=60, what="the pipe full")
    finally:
        os.close(probe)
    data = b""
    with os.fdopen(r, "rb") as reader:
        while chunk := reader.read(65536):
            data += chunk
    assert p.wait(60) == 0 and len(data) == 1000000, p.stderr.read()


def test_a_suspended_run_does_not_hold_ps_and_still_records_its_end(td):
    p = td.popen("run", "--network", "none", "zz", "sleep", "1")
    td.wait_running("zz")
    os.kill(p.pid, signal.SIGSTOP)  # Ctrl-Z on the run: its container goes on and ends
    try:
        from tinydocker.linux import proc

        rec = td.record("zz")
        wait_for(lambda: not proc.is_alive(rec["pid"], rec["start_ticks"]), timeout=30,
                 what="the container's end (a zombie of the stopped run)")
        # nobody can record the end while its monitor is stopped: 255 meanwhile, at once
        res = td("ps", "-a", "--format", "{{.Status}}", timeout=30)
        assert res.stdout.startswith(b"Exited (255)"), res
    finally:
        os.kill(p.pid, signal.SIGCONT)
    assert p.wait(30) == 0
    assert td.record("zz")["exit_code"] == 0  # the run, resumed, records the truth


def test_a_log_on_a_full_disk_stops_without_an_error(tmp_path):
    import subprocess

    from tinydocker.container.logfile import LogWriter

    disk = tmp_path / "small"
    disk.mkdir()
    subprocess.run(["mount", "-t", "tmpfs", "-o", "size=64k", "tdtest-full", str(disk)], check=True)
    log = LogWriter(str(disk / "container.log"), 0, 1)
    try:
        for _ in range(100):  # 400 KiB of records into 64 KiB: ENOSPC part-way, then nothing
            log.write(b"stdout", b"x" * 4000 + b"\n")
        kept = (disk / "container.log").stat().st_size
        assert 0 < kept <= 64 * 1024
    finally:
        log.close()
        subprocess.run(["umount", str(disk)], check=True)


def test_a_non_fatal_signal_leaves_the_policy_in_place(td):
    # docker's rule: kill -s HUP (a reload, say) does not count as stopped by the user
    td.out("run", "-d", "--network", "none", "--restart", "on-failure", "hup", "sh", "-c",
           'trap "exit 1" HUP; while :; do sleep 0.1; done')
    td.wait_trap("hup", signal.SIGHUP)  # its trap set (a PID 1 ignores a signal it has no handler for)
    td.out("kill", "-s", "HUP", "hup")
    wait_for(lambda: state(td, "hup")["RestartCount"] == 1 and state(td, "hup")["State"]["Running"], timeout=30,
             what="the policy's restart after the HUP")
    assert td.record("hup")["stopped_by_user"] is False
    td.out("kill", "hup")  # KILL is fatal: no restart after it
    wait_for(lambda: _monitor_gone(td, "hup"), timeout=30, what="the monitor's end")
    assert td.record("hup")["stopped_by_user"] is True and state(td, "hup")["RestartCount"] == 1


def test_the_back_off_starts_again_after_a_long_run(td):
    # three quick failures, a run of over ten seconds, then quick failures again
    script = 'n=$(cat /n 2>/dev/null || echo 0); echo $((n+1)) > /n; [ "$n" = 3 ] && sleep 10.5; exit 1'
    td.out("run", "-d", "--network", "none", "--restart", "always", "slowly", "sh", "-c", script)
    streak = lambda: (td.record("slowly")["restart_count"], td.record("slowly").get("quick_ends", 0))  # noqa: E731
    wait_for(lambda: streak() == (3, 3), timeout=30, what="three quick ends in a row")
    # the long run's end starts the streak again (docker's reset to 0.1 s): at the sixth
    # restart only the ends of runs 4 and 5 (then 6) count, not all six
    count, quick = wait_for(lambda: streak()[0] == 6 and streak(), timeout=40, what="the sixth restart")
    assert quick in (2, 3), quick
    td.out("stop", "-t", "1", "slowly")


def test_attach_to_a_terminal_shows_what_is_written_before_its_line_ends(td):
    import pty
    import subprocess

    td.out("run", "-d", "-it", "--network", "none", "prompt", "sh")
    leader, follower = pty.openpty()
    proc = subprocess.Popen(td.cmd + ["attach", "prompt"], stdin=follower, stdout=follower, stderr=follower,
                            env=td.env, start_new_session=True)
    os.close(follower)
    seen = b""
    deadline = time.monotonic() + 30
    # typed at once: attach reads its input only once it follows the output, so no answer is lost
    os.write(leader, b"printf 'no-newline> '\r")
    while b"no-newline> " not in seen.replace(b"printf 'no-newline> '", b"") and time.monotonic() < deadline:
        seen += _read(leader)
    assert b"no-newline> " in seen.replace(b"printf 'no-newline> '", b""), seen  # a prompt shows as typed
    os.write(leader, b"exit 3\r")
    assert proc.wait(timeout=30) == 3, seen
    os.close(leader)
