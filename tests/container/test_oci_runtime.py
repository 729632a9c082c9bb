"""The engine on the OCI seam: `run --runtime R` writes a bundle and starts the container
through the binary R's create and start, as podman drives crun. Each scenario runs on
tinydocker-runtime and on runc, and is checked against what the default (the same runtime
code, called in the engine's process) gives the same command:
output and exit codes, confinement, limits, volumes, networks, a terminal, the detached
lifecycle, and nothing left behind (the runtime's state included) when the container goes.
"""

import json
import os
import shutil
import signal

import pytest

from conftest import wait_for

RUNTIMES = ["tinydocker-runtime", "runc"]


@pytest.fixture(params=RUNTIMES)
def runtime(request):
    if request.param == "runc" and not shutil.which("runc"):
        pytest.skip("runc is not installed (Debian: apt-get install runc)")
    return request.param


def run(td, *args, **kw):
    """The CLI with text output."""
    return td(*args, text=True, **kw)


def runtime_state(td, runtime: str) -> list[str]:
    """What the runtime still holds under the data root (its --root)."""
    where = td.root / "state" / "runtimes" / runtime
    return sorted(os.listdir(where)) if where.exists() else []


PROBE = ("id; hostname; grep -E '^(CapEff|CapBnd|Seccomp|NoNewPrivs):' /proc/self/status; "
         "cat /proc/kcore | wc -c; touch /proc/sys/kernel/domainname 2>&1 | wc -l; ls /dev | tr '\\n' ' '")


def test_a_run_on_the_runtime_looks_from_inside_as_by_default(td, runtime):
    built_in = run(td, "run", "--rm", "--network", "none", "probe", "sh", "-c", PROBE)
    on_runtime = run(td, "run", "--rm", "--network", "none", "--runtime", runtime, "probe", "sh", "-c", PROBE)
    assert built_in.returncode == on_runtime.returncode == 0, on_runtime.stderr
    # user, hostname, capabilities, seccomp, masked and read-only /proc, the same /dev
    assert on_runtime.stdout == built_in.stdout
    assert "Seccomp:\t2" in on_runtime.stdout
    code = run(td, "run", "--rm", "--runtime", runtime, "three", "sh", "-c", "echo out; echo err >&2; exit 3")
    assert (code.returncode, code.stdout, code.stderr) == (3, "out\n", "err\n")
    assert td.out("ps", "-a", "-q") == ""
    assert runtime_state(td, runtime) == []


def test_confinement_options_reach_the_runtime(td, runtime):
    probe = "grep CapEff /proc/self/status; grep NoNewPrivs /proc/self/status; touch /x 2>&1; id -G"
    flags = ["--cap-drop", "ALL", "--cap-add", "NET_ADMIN", "--security-opt", "no-new-privileges",
             "--read-only", "-u", "nobody", "--group-add", "tty"]
    built_in = run(td, "run", "--rm", *flags, "conf", "sh", "-c", probe)
    on_runtime = run(td, "run", "--rm", *flags, "--runtime", runtime, "conf", "sh", "-c", probe)
    assert on_runtime.stdout == built_in.stdout, on_runtime.stderr
    assert "NoNewPrivs:\t1" in on_runtime.stdout and "Read-only file system" in on_runtime.stdout
    probe = "grep CapEff /proc/self/status; grep Seccomp: /proc/self/status; ls /dev | wc -l"
    privileged = td.out("run", "--rm", "--privileged", "--runtime", runtime, "priv", "sh", "-c", probe)
    assert privileged == td.out("run", "--rm", "--privileged", "priv", "sh", "-c", probe)
    assert "Seccomp:\t0" in privileged


def test_limits_volumes_tmpfs_and_binds(td, runtime, tmp_path):
    shared = tmp_path / "shared"
    shared.mkdir()
    (shared / "given").write_text("from the host\n")
    out = td.out("run", "--rm", "--runtime", runtime, "-m", "64m", "--pids-limit", "50",
                 "-v", "etcvol:/etc", "-v", f"{shared}:/shared:ro", "--tmpfs", "/scratch:size=1m",
                 "limits", "sh", "-c",
                 "cat /sys/fs/cgroup/memory/memory.limit_in_bytes /sys/fs/cgroup/pids/pids.max 2>/dev/null"
                 " || cat /sys/fs/cgroup/memory.max /sys/fs/cgroup/pids.max; "
                 "test -s /etc/passwd && echo populated; cat /shared/given; touch /shared/x 2>&1; "
                 "grep ' /scratch ' /proc/mounts | cut -d' ' -f3,4")
    lines = out.splitlines()
    assert lines[:2] == ["67108864", "50"]
    assert "populated" in lines  # the empty named volume took the image's /etc first
    assert "from the host" in lines
    assert any("Read-only file system" in line for line in lines)
    assert lines[-1].startswith("tmpfs rw,nosuid,nodev,noexec") and "size=1024k" in lines[-1]
    # the volume kept what the copy-up put there, for the next container
    assert "root:" in td.out("run", "--rm", "-v", "etcvol:/data", "reader", "cat", "/data/passwd")


def test_the_bridge_network_and_names_on_a_user_network(td, runtime):
    td("network", "create", "ocinet", check=True)
    try:
        td("run", "-d", "--runtime", runtime, "--network", "ocinet", "server", "sh", "-c",
           "echo reached | nc -l -p 8080", check=True)
        # polled from inside: the server listens once its shell has started nc
        out = run(td, "run", "--rm", "--runtime", runtime, "--network", "ocinet", "client", "sh", "-c",
                  "ip -o -4 addr show eth0 | grep -c inet; ip route | grep -c default; "
                  "for i in $(seq 100); do nc server 8080 </dev/null && break; sleep 0.1; done")
        assert out.stdout.split() == ["1", "1", "reached"], out.stderr
        td("rm", "-f", "server", check=True)
    finally:
        td("rm", "-f", "server")
        td("network", "rm", "ocinet")
    assert runtime_state(td, runtime) == []


def test_a_terminal_through_the_console_socket(td, runtime):
    out = run(td, "run", "--rm", "-t", "--runtime", runtime, "term", "sh", "-c", "tty; echo $TERM; exit 4")
    assert out.returncode == 4, out.stderr
    assert out.stdout.replace("\r", "").split() == ["/dev/pts/0", "xterm"]


def test_the_detached_lifecycle_logs_exec_stop_and_rm(td, runtime):
    td("run", "-d", "--runtime", runtime, "daemon", "sh", "-c", "echo started; exec sleep 100", check=True)
    record = td.wait_running("daemon")
    wait_for(lambda: td.out("logs", "daemon") == "started\n", what="the log line")
    assert td.out("exec", "daemon", "sh", "-c", "echo $((1 + 1)); hostname") == "2\ndaemon\n"
    assert runtime_state(td, runtime) == [record["id"]]
    td("stop", "-t", "1", "daemon", check=True)
    assert json.loads(td.out("inspect", "daemon"))[0]["State"]["ExitCode"] == 137
    # the runtime forgot it when it ended; a start goes through it again
    assert runtime_state(td, runtime) == []
    td("start", "daemon", check=True)
    td.wait_running("daemon")
    td("rm", "-f", "daemon", check=True)
    assert runtime_state(td, runtime) == []


def test_exec_goes_through_the_containers_runtime(td, runtime):
    """exec as a runtime-spec process through the container's runtime (`exec --detach`, the
    process adopted by the engine): its output, status, user, capabilities and terminal as
    with the default runtime, and nothing of it left in the bundle."""
    for name, extra in (("by-default", []), ("on-runtime", ["--runtime", runtime])):
        td("run", "-d", "--cap-drop", "ALL", "--cap-add", "KILL", *extra, name, "sleep", "100", check=True)
    try:
        seen = {}
        for name in ("by-default", "on-runtime"):
            td.wait_running(name)
            code = run(td, "exec", name, "sh", "-c", "echo out; echo err >&2; exit 5")
            caps = run(td, "exec", name, "grep", "CapEff", "/proc/self/status").stdout
            privileged = run(td, "exec", "--privileged", name, "grep", "CapEff", "/proc/self/status").stdout
            user = run(td, "exec", "-u", "nobody", "-w", "/tmp", name, "sh", "-c", "id -u; pwd").stdout
            missing = run(td, "exec", name, "no-such-command")
            term = run(td, "exec", "-t", name, "sh", "-c", "tty; exit 6")
            seen[name] = ((code.returncode, code.stdout, code.stderr), caps, privileged, user,
                          missing.returncode, term.returncode, term.stdout.replace("\r", "").split())
            assert "no-such-command" in missing.stderr and missing.stderr.count("\n") == 1, missing.stderr
            left = sorted(p.name for p in (td.root / "state" / "containers" / name).iterdir()
                          if p.name.startswith("exec-"))
            assert left == [], left
        assert seen["on-runtime"] == seen["by-default"]
        code, caps, privileged, user, missing, term, tty = seen["on-runtime"]
        assert code == (5, "out\n", "err\n") and user == "65534\n/tmp\n" and missing == 127
        assert caps != privileged and term == 6 and tty[0].startswith("/dev/pts/")
    finally:
        td("rm", "-f", "by-default", "on-runtime", check=True)
    assert runtime_state(td, runtime) == []


def test_a_command_that_cannot_run_is_127_and_leaves_nothing(td, runtime):
    out = run(td, "run", "--rm", "--runtime", runtime, "missing", "no-such-command")
    assert out.returncode == 127
    assert "no-such-command" in out.stderr and "Traceback" not in out.stderr
    assert td.out("ps", "-a", "-q") == ""
    assert runtime_state(td, runtime) == []


def test_an_unknown_runtime_is_refused_as_docker_does(td):
    out = run(td, "run", "--rm", "--runtime", "no-such-runtime", "nope", "true")
    assert out.returncode == 125
    assert out.stderr.strip() == "tinydocker: unknown or invalid runtime name: no-such-runtime"
    assert td.out("ps", "-a", "-q") == ""


def test_a_killed_monitor_leaves_what_rm_cleans(td, runtime):
    td("run", "-d", "--runtime", runtime, "orphan", "sleep", "100", check=True)
    record = td.wait_running("orphan")
    os.kill(record["monitor_pid"], signal.SIGKILL)
    wait_for(lambda: not os.path.exists(f"/proc/{record['monitor_pid']}/stat")
             or open(f"/proc/{record['monitor_pid']}/stat").read().split(")")[1].split()[0] == "Z",
             what="the monitor's end")
    td("rm", "-f", "orphan", check=True)
    assert runtime_state(td, runtime) == []
    assert not os.path.exists(f"/proc/{record['pid']}/stat") or \
        open(f"/proc/{record['pid']}/stat").read().split(")")[1].split()[0] == "Z"


def test_the_data_roots_configuration_names_the_default_runtime(td):
    config = td.root / "config.toml"
    config.write_text('runtime = "tinydocker-runtime"\n')
    try:
        td("run", "-d", "configured", "sleep", "100", check=True)
        record = td.wait_running("configured")
        assert runtime_state(td, "tinydocker-runtime") == [record["id"]]
        td("run", "-d", "--runtime", "builtin", "own", "sleep", "100", check=True)
        assert runtime_state(td, "tinydocker-runtime") == [record["id"]]  # not through it
        td("rm", "-f", "configured", "own", check=True)
        config.write_text("runtime = [\n")
        out = run(td, "run", "--rm", "broken", "true")
        assert out.returncode == 125 and len(out.stderr.splitlines()) == 1
        assert "cannot read the data root's configuration" in out.stderr
    finally:
        config.unlink()


def test_the_api_from_threads_on_a_runtime(td):
    """Scripts start containers from many threads: each create makes the process a child
    subreaper only while any create runs, and each init comes back to its own thread's wait."""
    script = (
        "import sys, threading, tinydocker\n"
        "from tinydocker.linux import syscalls\n"
        "root, codes = sys.argv[1], {}\n"
        "def work(i):\n"
        "    for j in range(3):\n"
        "        codes[i, j] = tinydocker.run(f't{i}-{j}', ['sh', '-c', f'exit {i}'], remove=True, root=root,\n"
        "                                     runtime='tinydocker-runtime')\n"
        "threads = [threading.Thread(target=work, args=(i,)) for i in range(4)]\n"
        "[t.start() for t in threads]\n"
        "[t.join() for t in threads]\n"
        "assert all(code == i for (i, _), code in codes.items()) and len(codes) == 12, codes\n"
        "print('subreaper', syscalls.child_subreaper())\n")
    import subprocess
    import sys

    td.out("image", "build")
    done = subprocess.run([sys.executable, "-c", script, str(td.root)], capture_output=True, text=True, timeout=300)
    assert (done.returncode, done.stdout) == (0, "subreaper False\n"), done.stderr
    assert td.out("ps", "-a", "-q") == ""
    assert runtime_state(td, "tinydocker-runtime") == []
