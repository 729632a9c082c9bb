"""`tinydocker-runtime exec` and `ps` on real containers: the exec'd process is in the
container's namespaces, cgroup and root with its confinement (capabilities, seccomp, user
namespace), its status is exec's (128+N for a signal), --detach leaves it to the caller's
subreaper, --process takes a runtime-spec process object, a terminal goes to the console
socket; a refused exec is one line and leaves nothing. ps lists the cgroup's pids."""

import json
import os
import select
import signal
import socket
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from conftest import wait_for
# rt and open_dir are the lifecycle tests' fixtures (containers cleaned up and checked for leaks)
from test_runtime_lifecycle import REPO, Runtime, _alive, _status_line, one_line, open_dir, read_until, rt  # noqa: F401

SECCOMP = {"defaultAction": "SCMP_ACT_ALLOW", "architectures": ["SCMP_ARCH_X86_64", "SCMP_ARCH_X86"],
           "syscalls": [{"names": ["mkdir", "mkdirat"], "action": "SCMP_ACT_ERRNO"}]}


def running(rt: Runtime, name: str = "b", args=("sleep", "1000"), change=None, **edit) -> tuple[str, Path, int]:
    """A started container whose init sleeps: (its id, bundle, init's pid)."""
    bundle = rt.bundle(name, list(args), **edit)
    if change:
        rt.edit(bundle, change)
    cid = rt.new_id()
    done = rt.create(bundle, cid)
    assert done.returncode == 0, done.stderr
    assert rt("start", cid).returncode == 0
    return cid, bundle, rt.state(cid)["pid"]


def cgroup_pids(rt: Runtime, cid: str) -> list[int]:
    leaf = json.loads((rt.root / cid / "state.json").read_text())["leaves"][0]
    return sorted(int(p) for p in Path(leaf, "cgroup.procs").read_text().split())


def test_exec_runs_in_the_containers_namespaces_cgroup_and_root(rt):
    cid, bundle, pid = running(rt, hostname="inside", change=lambda d: d["mounts"].append(
        {"destination": "/scratch", "type": "tmpfs", "source": "tmpfs"}))
    (bundle / "rootfs" / "marker").write_text("in the rootfs\n")
    script = ("hostname; cat /marker; cat /proc/1/cmdline; echo; grep -c ' /scratch ' /proc/self/mountinfo; "
              "for ns in mnt uts ipc net pid cgroup; do test $(readlink /proc/self/ns/$ns) = $(readlink /proc/1/ns/$ns)"
              " && echo $ns; done; cat /proc/self/cgroup")
    done = rt("exec", cid, "sh", "-c", script)
    assert (done.returncode, done.stderr) == (0, "")
    lines = done.stdout.splitlines()
    assert lines[:4] == ["inside", "in the rootfs", "sleep\x001000\x00", "1"]
    assert lines[4:10] == ["mnt", "uts", "ipc", "net", "pid", "cgroup"]
    init_cgroups = Path(f"/proc/{pid}/cgroup").read_text().splitlines()
    assert lines[10:] == init_cgroups and f"/tinydocker-runtime/{cid}" in init_cgroups[0]
    assert cgroup_pids(rt, cid) == [pid]  # the exec'd process is gone and nothing else is left


def test_the_exit_status_is_the_processes_and_a_signal_is_128_plus_n(rt):
    cid, _, _ = running(rt)
    assert rt("exec", cid, "sh", "-c", "exit 3").returncode == 3
    assert rt("exec", cid, "sh", "-c", "kill -USR1 $$").returncode == 128 + signal.SIGUSR1
    done = rt("exec", cid, "no-such-program")
    assert done.returncode == 127
    assert one_line(done.stderr) == 'tinydocker-runtime: exec: "no-such-program": executable file not found in $PATH'


def test_signals_to_exec_go_to_the_process(rt):
    cid, bundle, _ = running(rt)
    exec_ = subprocess.Popen([sys.executable, "-m", "tinydocker.runtime", "--root", str(rt.root), "exec", cid, "sh",
                              "-c", "trap 'exit 42' TERM; touch /trapped; while true; do sleep 0.1; done"],
                             env={**os.environ, "PYTHONPATH": str(REPO)}, stdin=subprocess.DEVNULL)
    wait_for(lambda: (bundle / "rootfs" / "trapped").exists(), what="the trap")
    exec_.send_signal(signal.SIGTERM)
    assert exec_.wait(60) == 42


def _group_and_session(pid: int) -> tuple[int, int]:
    """A process's process group and session, as the host numbers them."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return int(fields[2]), int(fields[3])


def test_the_init_and_an_execd_process_each_lead_a_session_of_their_own(rt, tmp_path):
    """As under runc and crun (a terminal or not): an engine that signals the group of the
    container's pid (conmon's --timeout kills -getpgid(pid)) reaches the container, never
    itself. In the caller's group, conmon killed itself and podman found the container
    running forever (podman's system test "run --timeout")."""
    cid, _, pid = running(rt)
    assert _group_and_session(pid) == (pid, pid)
    pid_file = tmp_path / "exec.pid"
    # no pipes: the detached process would hold them open
    done = rt("exec", "--detach", "--pid-file", pid_file, cid, "sleep", "1000",
              capture_output=False, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    assert done.returncode == 0
    child = int(pid_file.read_text())
    assert _group_and_session(child) == (child, child)


def test_detach_writes_the_pid_file_and_leaves_the_process_to_the_callers_subreaper(rt, tmp_path):
    cid, bundle, _ = running(rt)
    pid_file = tmp_path / "exec.pid"
    # a subreaper as conmon and containerd's shim are: the process, orphaned when exec exits,
    # is reparented to it, which reaps it
    reaper = textwrap.dedent(f"""
        import ctypes, os, subprocess, sys
        ctypes.CDLL(None, use_errno=True).prctl(36, 1, 0, 0, 0)  # PR_SET_CHILD_SUBREAPER
        done = subprocess.run([sys.executable, "-m", "tinydocker.runtime", "--root", {str(rt.root)!r}, "exec",
                               "--detach", "--pid-file", {str(pid_file)!r}, {cid!r}, "sh", "-c",
                               "touch /started; while ! test -e /go; do sleep 0.05; done; exit 5"],
                              stdin=subprocess.DEVNULL)
        pid = int(open({str(pid_file)!r}).read())
        ppid = open(f"/proc/{{pid}}/stat").read().rsplit(")", 1)[1].split()[1]
        print(done.returncode, int(ppid) == os.getpid(), flush=True)
        open({str(bundle / "rootfs" / "go")!r}, "w").close()
        _, status = os.waitpid(pid, 0)
        print(os.waitstatus_to_exitcode(status))
    """)
    done = subprocess.run([sys.executable, "-c", reaper], env={**os.environ, "PYTHONPATH": str(REPO)},
                          capture_output=True, text=True, timeout=60, stdin=subprocess.DEVNULL)
    assert done.returncode == 0, done.stderr
    assert done.stdout.split() == ["0", "True", "5"]
    assert pid_file.read_text().isdigit()  # decimal, no newline


def test_a_process_json_gives_args_env_cwd_and_user(rt, tmp_path):
    cid, bundle, _ = running(rt)
    (bundle / "rootfs" / "work").mkdir()
    spec = {"args": ["sh", "-c", "grep -E '^(Uid|Gid|Groups):' /proc/self/status; echo $FOO; echo $PWD"],
            "cwd": "/work", "env": ["FOO=from-json", "PATH=/bin"],
            "user": {"uid": 1000, "gid": 1001, "additionalGids": [7]}}
    (tmp_path / "process.json").write_text(json.dumps(spec))
    done = rt("exec", "--process", tmp_path / "process.json", cid)
    assert (done.returncode, done.stderr) == (0, "")
    assert [line.split() for line in done.stdout.splitlines()] == [
        ["Uid:", "1000", "1000", "1000", "1000"], ["Gid:", "1001", "1001", "1001", "1001"], ["Groups:", "7"],
        ["from-json"], ["/work"]]
    # the same from flags, over the container's own process (env appended, gids added)
    done = rt("exec", "-e", "FOO=from-flag", "--cwd", "/work", "-u", "1000:1001", "-g", "7", cid,
              "sh", "-c", "grep -E '^(Uid|Gid|Groups):' /proc/self/status; echo $FOO $TERM; echo $PWD")
    assert (done.returncode, done.stderr) == (0, "")
    assert [line.split() for line in done.stdout.splitlines()] == [
        ["Uid:", "1000", "1000", "1000", "1000"], ["Gid:", "1001", "1001", "1001", "1001"], ["Groups:", "7"],
        ["from-flag", "xterm"], ["/work"]]
    (tmp_path / "bad.json").write_text(json.dumps({**spec, "args": []}))
    done = rt("exec", "--process", tmp_path / "bad.json", cid)
    assert done.returncode == 1
    assert one_line(done.stderr) == f"tinydocker-runtime: {tmp_path}/bad.json: process.args must not be empty"


def test_the_process_has_the_containers_capabilities(rt):
    cid, bundle, pid = running(rt)
    status = "grep -E '^(CapEff|CapBnd|NoNewPrivs|Seccomp):' /proc/self/status; mkdir /made && echo made"
    done = rt("exec", cid, "sh", "-c", status)
    assert done.returncode == 0, done.stderr
    init_status = Path(f"/proc/{pid}/status").read_text()
    for key in ("CapEff", "CapBnd"):
        assert _status_line(done.stdout, key) == _status_line(init_status, key)
    assert done.stdout.splitlines()[2:] == ["NoNewPrivs:\t1", "Seccomp:\t0", "made"]
    done = rt("exec", "--cap", "CAP_SYS_ADMIN", cid, "sh", "-c", status)
    assert _status_line(done.stdout, "CapEff") == _status_line(init_status, "CapEff") | 1 << 21


def test_the_containers_seccomp_filter_is_the_one_create_compiled(rt):
    cid, bundle, _ = running(rt, change=lambda d: d["linux"].update(seccomp=SECCOMP))
    rt.edit(bundle, lambda d: d["linux"].pop("seccomp"))  # later edits of the bundle do not matter
    done = rt("exec", cid, "sh", "-c", "grep -E '^Seccomp:' /proc/self/status; mkdir /made || echo denied")
    assert done.returncode == 0, done.stderr
    assert done.stdout.splitlines() == ["Seccomp:\t2", "denied"]
    assert not (bundle / "rootfs" / "made").exists()


@pytest.mark.parametrize("form", ["flags", "process"])
def test_a_terminal_goes_to_the_console_socket(rt, tmp_path, form):
    cid, _, _ = running(rt)
    script = "test -t 0 && test -t 1 && echo on-a-tty; read line; echo got $line"
    if form == "flags":
        how = ["-t", cid, "sh", "-c", script]
    else:  # podman's (conmon's) and containerd's way
        (tmp_path / "process.json").write_text(json.dumps(
            {"args": ["sh", "-c", script], "cwd": "/", "env": ["PATH=/bin"], "terminal": True,
             "consoleSize": {"height": 30, "width": 100}}))
        how = ["--process", str(tmp_path / "process.json"), cid]
    path = tmp_path / "console.sock"
    server = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    server.bind(str(path))
    server.listen(1)
    pid_file = tmp_path / "pid"
    exec_ = subprocess.Popen([sys.executable, "-m", "tinydocker.runtime", "--root", str(rt.root), "exec", "-d",
                              "--console-socket", str(path), "--pid-file", str(pid_file), *how],
                             env={**os.environ, "PYTHONPATH": str(REPO)}, stdin=subprocess.DEVNULL,
                             stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    # exec connects, or fails first: never wait for ever on a connection that cannot come
    wait_for(lambda: select.select([server], [], [], 0)[0] or exec_.poll() is not None, what="exec's connection")
    assert select.select([server], [], [], 0)[0], exec_.communicate()
    conn, _ = server.accept()
    data, fds, _, _ = socket.recv_fds(conn, 1024, 1)
    conn.close()
    server.close()
    assert exec_.wait(60) == 0, exec_.stderr.read()
    [master] = fds
    assert data.startswith(b"/dev/pts/")
    os.write(master, b"hello\n")
    output = read_until(master, b"got hello")
    assert b"on-a-tty" in output and b"got hello" in output
    wait_for(lambda: not _alive(int(pid_file.read_text())), what="the process's end")
    done = rt("exec", "-t", cid, "true")
    assert done.returncode == 1 and "--console-socket" in one_line(done.stderr)


def test_a_refused_exec_is_one_line_and_leaves_nothing(rt, tmp_path):
    done = rt("exec", "no-such-id", "true")
    assert done.returncode == 1 and one_line(done.stderr) == "tinydocker-runtime: container does not exist"
    cid, bundle, pid = running(rt)
    for args, said in [
            (["--cwd", "/nowhere", cid, "true"], "cannot exec in the container: chdir to cwd (/nowhere): "
                                                 "No such file or directory"),
            ([cid], "process args cannot be empty"),
            (["-u", "x", cid, "true"], "--user x: uid 'x' is not a number (UID[:GID])"),
            (["--apparmor", "unconfined", cid, "true"], None),
            (["--process-label", "system_u:system_r:container_t:s0", cid, "true"], None),
            (["--console-socket", tmp_path / "s", cid, "true"], None),
            (["--cgroup", "nowhere", cid, "true"], None),
            (["--preserve-fds", "40", cid, "true"], None)]:
        done = rt("exec", *args)
        assert done.returncode == 1 and done.stdout == "", (args, done.stderr)
        line = one_line(done.stderr)
        if said:
            assert line == f"tinydocker-runtime: {said}", args
    assert cgroup_pids(rt, cid) == [pid]  # no process left behind
    assert sorted(os.listdir(rt.root / cid)) == ["process.json", "state.json"]
    assert rt("kill", cid, "KILL").returncode == 0
    rt.wait_status(cid, "stopped")
    done = rt("exec", cid, "true")
    assert done.returncode == 1 and one_line(done.stderr) == "tinydocker-runtime: cannot exec in a stopped container"


def test_exec_enters_the_inits_root_under_no_pivot_too(rt):
    bundle = rt.bundle("b", ["sleep", "1000"])
    cid = rt.new_id()
    assert rt.create(bundle, cid, "--no-pivot").returncode == 0
    (bundle / "rootfs" / "marker").write_text("")
    done = rt("exec", cid, "ls", "/")
    assert (done.returncode, done.stdout.split()) == (0, ["bin", "dev", "marker", "proc", "sys", "tmp"]), done.stderr


def test_a_created_container_can_be_execd_into(rt):
    bundle = rt.bundle("b", ["true"], hostname="created")
    cid = rt.new_id()
    assert rt.create(bundle, cid).returncode == 0
    done = rt("exec", cid, "hostname")
    assert (done.returncode, done.stdout) == (0, "created\n"), done.stderr
    assert rt.state(cid)["status"] == "created"


def _freeze(leaves: list[str], frozen: bool) -> bool:
    for leaf in leaves:
        if os.path.exists(f"{leaf}/freezer.state"):
            Path(leaf, "freezer.state").write_text("FROZEN" if frozen else "THAWED")
            return True
        if os.path.exists(f"{leaf}/cgroup.freeze"):
            Path(leaf, "cgroup.freeze").write_text("1" if frozen else "0")
            return True
    return False


def test_a_paused_container_refuses_exec_unless_ignore_paused(rt):
    cid, bundle, _ = running(rt)
    leaves = json.loads((rt.root / cid / "state.json").read_text())["leaves"]
    if not _freeze(leaves, True):
        pytest.skip("no freezer on this host")
    try:
        done = rt("exec", cid, "true")
        assert done.returncode == 1
        assert one_line(done.stderr) == ("tinydocker-runtime: cannot exec in a paused container "
                                         "(use --ignore-paused to override)")
        # allowed, the process freezes with the container until it is resumed
        exec_ = subprocess.Popen([sys.executable, "-m", "tinydocker.runtime", "--root", str(rt.root), "exec",
                                  "--ignore-paused", cid, "sh", "-c", "echo ran"], stdin=subprocess.DEVNULL,
                                 stdout=subprocess.PIPE, env={**os.environ, "PYTHONPATH": str(REPO)}, text=True)
    finally:
        _freeze(leaves, False)
    assert exec_.communicate(timeout=60)[0] == "ran\n" and exec_.returncode == 0


def test_preserve_fds_passes_descriptors_from_3_up(rt, tmp_path):
    cid, _, _ = running(rt)
    (tmp_path / "passed").write_text("through fd 3\n")
    done = subprocess.run(["sh", "-c", 'exec 3<"$0"; exec "$@"', str(tmp_path / "passed"), sys.executable, "-m",
                           "tinydocker.runtime", "--root", str(rt.root), "exec", "--preserve-fds", "1", cid,
                           "sh", "-c", "cat <&3; ls /proc/self/fd"], env={**os.environ, "PYTHONPATH": str(REPO)},
                          capture_output=True, text=True, stdin=subprocess.DEVNULL, timeout=60)
    assert done.returncode == 0, done.stderr
    assert done.stdout.split() == ["through", "fd", "3", "0", "1", "2", "3", "4"]


def test_cgroup_runs_the_process_in_a_sub_cgroup(rt):
    cid, _, pid = running(rt)
    leaves = json.loads((rt.root / cid / "state.json").read_text())["leaves"]
    subs = [os.path.join(leaf, "sub") for leaf in leaves]
    for sub in subs:
        os.mkdir(sub)
        for name in ("cpuset.cpus", "cpuset.mems"):  # v1's cpuset takes no process without them
            if os.path.exists(os.path.join(sub, name)):
                Path(sub, name).write_text(Path(sub, "..", name).read_text())
    try:
        done = rt("exec", "--cgroup", "sub", cid, "cat", "/proc/self/cgroup")
        assert done.returncode == 0, done.stderr
        mine = f"/tinydocker-runtime/{cid}"
        expected = [line + "/sub" if line.endswith(mine) else line
                    for line in Path(f"/proc/{pid}/cgroup").read_text().splitlines()]
        assert done.stdout.splitlines() == expected and mine + "/sub" in done.stdout
    finally:
        for sub in subs:
            os.rmdir(sub)


def test_a_user_namespaced_container_can_be_execd_into(rt, open_dir):
    bundle = rt.bundle("b", base=open_dir, args=["sleep", "1000"])
    rt.edit(bundle, lambda d: (
        d["linux"]["namespaces"].append({"type": "user"}),
        d["linux"].update(uidMappings=[{"containerID": 0, "hostID": 100000, "size": 65536}],
                          gidMappings=[{"containerID": 0, "hostID": 100000, "size": 65536}])))
    os.chown(bundle / "rootfs" / "tmp", 100000, 100000)  # the namespace's root's
    cid = rt.new_id()
    assert rt.create(bundle, cid).returncode == 0
    assert rt("start", cid).returncode == 0
    done = rt("exec", cid, "sh", "-c", "cat /proc/self/uid_map; grep -E '^Uid:' /proc/self/status; "
                                       "test $(readlink /proc/self/ns/user) = "
                                       "$(readlink /proc/1/ns/user) && echo same; touch /tmp/made")
    assert done.returncode == 0, done.stderr
    assert done.stdout.split() == ["0", "100000", "65536", "Uid:", "0", "0", "0", "0", "same"]
    assert (bundle / "rootfs" / "tmp" / "made").stat().st_uid == 100000


def test_ps_lists_the_containers_processes(rt):
    cid, bundle, pid = running(rt, args=["sh", "-c", "sleep 1000 & touch /started; wait"])
    wait_for(lambda: (bundle / "rootfs" / "started").exists(), what="the container's child")
    pids = cgroup_pids(rt, cid)
    assert len(pids) == 2 and pid in pids
    done = rt("ps", "--format", "json", cid)
    assert (done.returncode, done.stdout) == (0, json.dumps(pids, separators=(",", ":")) + "\n")
    done = rt("ps", cid)
    lines = done.stdout.splitlines()
    assert lines[0].split()[:2] == ["UID", "PID"] and sorted(int(line.split()[1]) for line in lines[1:]) == pids
    done = rt("ps", cid, "-o", "pid,comm")
    assert done.returncode == 0, done.stderr
    assert [line.split() for line in done.stdout.splitlines()[1:]] in ([[str(pids[0]), "sh"], [str(pids[1]), "sleep"]],
                                                                       [[str(pids[0]), "sleep"], [str(pids[1]), "sh"]])
    done = rt("ps", cid, "-o", "comm")
    assert done.returncode == 1 and one_line(done.stderr) == "tinydocker-runtime: couldn't find PID field in ps output"
    assert rt("kill", "--all", cid, "KILL").returncode == 0
    rt.wait_status(cid, "stopped")
    wait_for(lambda: not cgroup_pids(rt, cid), what="the cgroup emptied")
    assert rt("ps", "-f", "json", cid).stdout == "null\n"  # runc's: the Go encoder's nil list
    assert rt("ps", cid).stdout.splitlines()[0].split()[:2] == ["UID", "PID"]
    done = rt("ps", "no-such-id")
    assert done.returncode == 1 and one_line(done.stderr) == "tinydocker-runtime: container does not exist"


def test_exec_answers_as_runcs_does(rt, tmp_path):
    import shutil
    import uuid

    runc = shutil.which("runc")
    if not runc:
        pytest.fail("runc is not installed (Debian: apt-get install runc)")
    cid, bundle, _ = running(rt, hostname="inside")
    (bundle / "rootfs" / "etc").mkdir()
    (bundle / "rootfs" / "etc" / "passwd").write_text("root:x:0:0::/root:/bin/sh\nuser:x:1000:1000::/home/user:/bin/sh\n")
    theirs, root = f"td-runc-{uuid.uuid4().hex[:12]}", str(tmp_path / "runc")
    with open(tmp_path / "runc.out", "w") as out:
        created = subprocess.run([runc, "--root", root, "create", "--bundle", str(bundle), theirs],
                                 stdin=subprocess.DEVNULL, stdout=out, stderr=out, timeout=60)
    try:
        assert created.returncode == 0, (tmp_path / "runc.out").read_text()
        assert subprocess.run([runc, "--root", root, "start", theirs], timeout=60).returncode == 0
        for args in (["sh", "-c", "exit 3"], ["sh", "-c", "kill -USR1 $$"], ["hostname"],
                     ["-e", "FOO=bar", "--cwd", "/tmp", "-u", "1000:1000", "--",
                      "sh", "-c", "echo $FOO $PWD; grep ^Uid: /proc/self/status"],
                     ["-d", "--", "true"], ["sh", "-c", "echo home=$HOME"],
                     ["-u", "1000", "--", "sh", "-c", "echo home=$HOME"], ["-u", "7", "--", "sh", "-c", "echo home=$HOME"],
                     ["-e", "HOME=/mine", "--", "sh", "-c", "echo home=$HOME"]):
            split = args.index("--") if "--" in args else 0
            flags, command = args[:split], args[split + 1:] if split else args
            mine = rt("exec", *flags, cid, *command)
            runcs = subprocess.run([runc, "--root", root, "exec", *flags, theirs, *command], capture_output=True,
                                   text=True, stdin=subprocess.DEVNULL, timeout=60)
            assert (mine.returncode, mine.stdout) == (runcs.returncode, runcs.stdout), args
    finally:
        subprocess.run([runc, "--root", root, "delete", "--force", theirs], timeout=60)


def test_a_process_killed_before_its_program_starts_is_one_line(rt):
    # the container's filter kills write(2): the process dies of it before it can say its
    # program is about to start (the init never writes: it sleeps)
    kill_write = {**SECCOMP, "syscalls": [{"names": ["write"], "action": "SCMP_ACT_KILL"}]}
    cid, _, pid = running(rt, change=lambda d: d["linux"].update(seccomp=kill_write))
    done = rt("exec", cid, "true")
    assert done.returncode == 1
    assert one_line(done.stderr) == (f"tinydocker-runtime: the process exited (signal {int(signal.SIGSYS)}) before it "
                                     "could start its program")
    assert cgroup_pids(rt, cid) == [pid]
