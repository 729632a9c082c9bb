"""`tinydocker-runtime`'s lifecycle on real containers, as an engine drives it: create leaves
the init waiting (its program not yet run), start releases it, state follows it, kill signals
it, delete removes everything; and what create honours of a config (namespaces joined by
path, capabilities, rlimits, mounts, seccomp, cgroup limits), each checked from inside or
from the host. Every container runs from a busybox-static bundle, with the runtime as a
subprocess and its own --root; each test checks that nothing is left (state directory,
cgroup directory, process, mount).
"""

import json
import os
import resource
import signal
import subprocess
import sys
import time
import uuid
from pathlib import Path

import pytest

from conftest import BESIDE, catches, host_mounts_under, wait_for
from tinydocker.runtime import template

REPO = Path(__file__).resolve().parents[2]
APPLETS = ("sh", "true", "touch", "cat", "mkdir", "sleep", "grep", "ls", "echo", "hostname", "readlink", "test")


def busybox_rootfs(rootfs: Path) -> None:
    (rootfs / "bin").mkdir(parents=True)
    (rootfs / "bin" / "busybox").write_bytes(Path("/bin/busybox").read_bytes())
    (rootfs / "bin" / "busybox").chmod(0o755)
    for applet in APPLETS:
        (rootfs / "bin" / applet).symlink_to("busybox")
    for d in ("proc", "sys", "dev", "tmp"):
        (rootfs / d).mkdir()


def _alive(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/stat", "rb") as f:
            return f.read().rsplit(b")", 1)[1].split()[0] != b"Z"
    except OSError:
        return False


class Runtime:
    """The runtime as a subprocess against its own --root, and the containers it made."""

    def __init__(self, tmp: Path):
        self.tmp = tmp
        self.root = tmp / "state"
        self.made: list[str] = []
        self.pids: list[int] = []
        self.cgroups: list[str] = []
        self.creates = 0

    def __call__(self, *args, timeout=60, **kw) -> subprocess.CompletedProcess:
        env = {**os.environ, "PYTHONPATH": str(REPO)}
        kw.setdefault("stdin", subprocess.DEVNULL)
        kw.setdefault("capture_output", True)
        return subprocess.run([sys.executable, "-m", "tinydocker.runtime", "--root", str(self.root),
                               *map(str, args)], text=True, env=env, timeout=timeout, **kw)

    def new_id(self) -> str:
        cid = f"td-rt-{uuid.uuid4().hex[:12]}"
        self.made.append(cid)
        return cid

    def bundle(self, name: str, args, base: Path | None = None, **edit) -> Path:
        path = (base or self.tmp) / name
        busybox_rootfs(path / "rootfs")
        doc = template.default()
        doc["process"]["terminal"] = False
        doc["process"]["args"] = list(args)
        doc["root"]["readonly"] = False
        for key, value in edit.items():
            doc[key] = value
        (path / "config.json").write_text(json.dumps(doc))
        return path

    def edit(self, bundle: Path, change) -> None:
        doc = json.loads((bundle / "config.json").read_text())
        change(doc)
        (bundle / "config.json").write_text(json.dumps(doc))

    def create(self, bundle: Path, cid: str, *extra) -> subprocess.CompletedProcess:
        """create, its output in files: the init keeps create's stdio (as engines give files
        or fifos), so pipes would stay open as long as the container lives."""
        self.creates += 1
        out, err = self.tmp / f"create-{self.creates}.out", self.tmp / f"create-{self.creates}.err"
        with open(out, "w") as o, open(err, "w") as e:
            done = self("create", "--bundle", bundle, *extra, cid, capture_output=False, stdout=o, stderr=e)
        done.stdout, done.stderr = out.read_text(), err.read_text()
        if done.returncode == 0:
            self.pids.append(self.state(cid)["pid"])
            self.cgroups += json.loads((self.root / cid / "state.json").read_text())["leaves"]
        return done

    def state(self, cid: str) -> dict:
        done = self("state", cid)
        assert done.returncode == 0, done.stderr
        return json.loads(done.stdout)

    def wait_status(self, cid: str, status: str) -> dict:
        return wait_for(lambda: (s := self.state(cid))["status"] == status and s, what=f"{cid} {status}")


@pytest.fixture
def rt(tmp_path):
    runtime = Runtime(tmp_path)
    yield runtime
    for cid in runtime.made:
        runtime("delete", "--force", cid)
    left = sorted(os.listdir(runtime.root)) if runtime.root.exists() else []
    assert not left, f"state left behind: {left}"
    assert not [p for p in runtime.pids if _alive(p)], "a container process outlived delete --force"
    assert not [c for c in runtime.cgroups if os.path.exists(c)], "cgroups left behind"
    for cid in runtime.made:
        for hierarchy in os.listdir("/sys/fs/cgroup"):
            assert not os.path.exists(f"/sys/fs/cgroup/{hierarchy}/tinydocker-runtime/{cid}"), (hierarchy, cid)
    assert not host_mounts_under(tmp_path)
    # the default parent of containers without a cgroupsPath goes with the last of them
    # (machine-wide: beside another run, its containers may hold it)
    if not BESIDE:
        assert not [h for h in os.listdir("/sys/fs/cgroup") if os.path.isdir(f"/sys/fs/cgroup/{h}/tinydocker-runtime")]


def read_until(master: int, marker: bytes) -> bytes:
    """A terminal's output from its master until `marker` (or its end), the master closed."""
    output = b""
    while marker not in output:
        try:
            chunk = os.read(master, 1024)
        except OSError:  # EIO: the terminal's last holder is gone
            break
        if not chunk:
            break
        output += chunk
    os.close(master)
    return output


def one_line(text: str) -> str:
    assert text.endswith("\n") and text.count("\n") == 1, text
    return text[:-1]


# -- the lifecycle -----------------------------------------------------------------------------

def test_create_leaves_the_init_waiting_start_runs_it_kill_and_delete_end_it(rt, tmp_path):
    bundle = rt.bundle("b", ["sh", "-c", "trap 'exit 0' TERM; touch /ran; sleep 1000 & wait"])
    cid = rt.new_id()
    pid_file = tmp_path / "pid"
    done = rt.create(bundle, cid, "--pid-file", pid_file)
    assert (done.returncode, done.stdout, done.stderr) == (0, "", "")
    state = rt.state(cid)
    assert state["status"] == "created" and state["id"] == cid and state["bundle"] == str(bundle)
    assert state["rootfs"] == str(bundle / "rootfs") and state["owner"] == "" and state["created"].endswith("Z")
    assert pid_file.read_text() == str(state["pid"])  # no newline
    assert not (bundle / "rootfs" / "ran").exists()  # the program waits for start
    assert f"/tinydocker-runtime/{cid}" in Path(f"/proc/{state['pid']}/cgroup").read_text()
    assert rt("start", cid).returncode == 0
    assert rt.state(cid)["status"] == "running"
    wait_for(lambda: (bundle / "rootfs" / "ran").exists() and catches(state["pid"], signal.SIGTERM), what="the trap")
    done = rt("start", cid)
    assert done.returncode == 1 and "running" in one_line(done.stderr)
    assert rt("kill", cid, "TERM").returncode == 0
    assert rt.wait_status(cid, "stopped")["pid"] == 0
    done = rt("kill", cid, "KILL")
    assert done.returncode == 1 and one_line(done.stderr) == "tinydocker-runtime: container not running"
    done = rt("start", cid)
    assert one_line(done.stderr) == "tinydocker-runtime: cannot start a container that has stopped"
    assert rt("delete", cid).returncode == 0
    done = rt("state", cid)
    assert done.returncode == 1 and one_line(done.stderr) == "tinydocker-runtime: container does not exist"


def test_a_created_container_is_killed_by_signal_and_delete_refuses_a_live_one(rt):
    bundle = rt.bundle("b", ["sh", "-c", "touch /ran"])
    cid = rt.new_id()
    assert rt.create(bundle, cid).returncode == 0
    done = rt("delete", cid)
    assert done.returncode == 1 and "not stopped" in one_line(done.stderr)
    assert rt.state(cid)["status"] == "created"  # no effect
    assert rt("kill", cid, "SIGUSR1").returncode == 0  # the waiting init dies of it
    rt.wait_status(cid, "stopped")
    assert not (bundle / "rootfs" / "ran").exists()
    assert rt("delete", cid).returncode == 0


def test_run_waits_and_exits_with_the_programs_status_then_deletes(rt):
    bundle = rt.bundle("b", ["sh", "-c", "echo out; echo err >&2; exit 7"])
    cid = rt.new_id()
    done = rt("run", "--bundle", bundle, cid)
    assert (done.returncode, done.stdout, done.stderr) == (7, "out\n", "err\n")
    assert not (rt.root / cid).exists()


@pytest.mark.parametrize("program, said", [
    ("no-such-program", 'exec: "no-such-program": executable file not found in $PATH'),
    ("/no/such/program", 'exec: "/no/such/program": stat /no/such/program: no such file or directory'),
    ("/bin", 'exec: "/bin": permission denied')])
def test_a_program_that_cannot_run_fails_create_as_under_runc(rt, program, said):
    bundle = rt.bundle("b", [program])
    cid = rt.new_id()
    done = rt.create(bundle, cid)
    assert done.returncode == 1
    assert one_line(done.stderr) == f"tinydocker-runtime: {said}"
    assert not (rt.root / cid).exists()
    done = rt("run", "--bundle", bundle, rt.new_id())  # run says the same, from its create
    assert done.returncode == 1 and one_line(done.stderr) == f"tinydocker-runtime: {said}"


def test_an_exec_failure_after_start_says_so_on_the_containers_stderr(rt):
    # the program goes between create's look and start's exec
    bundle = rt.bundle("b", ["/tmp/program"])
    (bundle / "rootfs" / "tmp" / "program").write_text("#!/bin/sh\n")
    (bundle / "rootfs" / "tmp" / "program").chmod(0o755)
    cid = rt.new_id()
    assert rt.create(bundle, cid).returncode == 0
    (bundle / "rootfs" / "tmp" / "program").unlink()
    err = rt.tmp / "start.err"
    with open(err, "w") as e:
        assert rt("start", cid, capture_output=False, stderr=e).returncode == 0
    pid = rt.pids[-1]
    wait_for(lambda: not _alive(pid), what="the init's end")
    said = (rt.tmp / f"create-{rt.creates}.err").read_text()
    assert one_line(said) == 'exec: "/tmp/program": stat /tmp/program: no such file or directory'


def _lowered_nofile_without_cap_sys_resource() -> None:
    # what a sandboxed root meets (podman asks 1048576 open files by default): a hard limit
    # below the config's, which only CAP_SYS_RESOURCE may raise, and that dropped
    resource.setrlimit(resource.RLIMIT_NOFILE, (1024, 1024))


def test_an_rlimit_the_runtime_may_not_raise_is_one_line_naming_it(rt):
    bundle = rt.bundle("b", ["true"])
    rt.edit(bundle, lambda d: d["process"].update(rlimits=[{"type": "RLIMIT_NOFILE", "soft": 2048, "hard": 2048}]))
    cid = rt.new_id()
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    done = subprocess.run(["setpriv", "--bounding-set", "-sys_resource", "--", sys.executable, "-m",
                           "tinydocker.runtime", "--root", str(rt.root), "run", "--bundle", str(bundle), cid],
                          stdin=subprocess.DEVNULL, capture_output=True, text=True, env=env, timeout=60,
                          preexec_fn=_lowered_nofile_without_cap_sys_resource)
    assert done.returncode != 0
    assert one_line(done.stderr).endswith("cannot set RLIMIT_NOFILE to 2048:2048: above the runtime's own hard "
                                          "limit (1024), which only CAP_SYS_RESOURCE may raise"), done.stderr


def test_an_oom_score_the_runtime_may_not_lower_fails_create_as_runc(rt):
    # as containerd's CRI asks for a pause container (-998), on a host without CAP_SYS_RESOURCE
    bundle = rt.bundle("b", ["true"])
    rt.edit(bundle, lambda d: d["process"].update(oomScoreAdj=-998))
    cid = rt.new_id()
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    done = subprocess.run(["setpriv", "--bounding-set", "-sys_resource", "--inh-caps", "-sys_resource", "--",
                           sys.executable, "-m", "tinydocker.runtime", "--root", str(rt.root), "create",
                           "--bundle", str(bundle), cid], stdin=subprocess.DEVNULL, capture_output=True, text=True,
                          env=env, timeout=60)
    assert done.returncode == 1
    assert one_line(done.stderr).endswith("cannot set oomScoreAdj to -998: Permission denied "
                                          "(lowering it needs CAP_SYS_RESOURCE)"), done.stderr
    assert not (rt.root / cid).exists()


def test_kill_all_of_a_stopped_container_reaches_what_outlived_its_init(rt):
    # a container in another's PID namespace (a pod's): its init's orphans outlive it, and
    # containerd's shim sends them SIGKILL with kill --all after the init's end, as runc takes it
    host = rt.bundle("host", ["sleep", "1000"])
    host_id = rt.new_id()
    assert rt.create(host, host_id).returncode == 0
    assert rt("start", host_id).returncode == 0
    host_pid = rt.state(host_id)["pid"]
    member = rt.bundle("member", ["sh", "-c", "sleep 1001 & exit 0"])
    rt.edit(member, lambda d: d["linux"].update(namespaces=[
        {"type": "pid", "path": f"/proc/{host_pid}/ns/pid"}, {"type": "mount"}, {"type": "ipc"}, {"type": "uts"}]))
    cid = rt.new_id()
    assert rt.create(member, cid).returncode == 0
    assert rt("start", cid).returncode == 0
    rt.wait_status(cid, "stopped")
    leaves = json.loads((rt.root / cid / "state.json").read_text())["leaves"]

    def orphans():
        return [int(p) for leaf in leaves for p in open(os.path.join(leaf, "cgroup.procs")).read().split()]

    wait_for(orphans, what="the orphaned sleep in the member's cgroup")
    assert rt("kill", cid, "KILL").returncode == 1  # the init itself: not running
    done = rt("kill", "--all", cid, "KILL")
    assert (done.returncode, done.stderr) == (0, "")
    wait_for(lambda: not orphans(), what="the orphan's end")


def test_list_shows_the_containers(rt):
    bundle = rt.bundle("b", ["true"])
    cid = rt.new_id()
    assert rt.create(bundle, cid).returncode == 0
    assert rt("list", "-q").stdout == f"{cid}\n"
    [entry] = json.loads(rt("list", "--format", "json").stdout)
    assert (entry["id"], entry["status"], entry["owner"]) == (cid, "created", "root")  # runc's owner
    table = rt("list").stdout.splitlines()
    assert table[0].split() == ["ID", "PID", "STATUS", "BUNDLE", "CREATED", "OWNER"] and cid in table[1]
    assert table[1].split()[-1] == "root"
    assert rt.state(cid)["owner"] == ""  # as runc's state
    assert rt("delete", "--force", cid).returncode == 0


# -- errors: one line, exit 1, nothing left -------------------------------------------------------

def test_create_errors_are_one_line_and_leave_nothing(rt, tmp_path):
    bundle = rt.bundle("b", ["true"])
    cid = rt.new_id()
    rt.edit(bundle, lambda d: d["root"].update(path="nowhere"))
    done = rt.create(bundle, cid)
    assert done.returncode == 1 and one_line(done.stderr).endswith(f"{bundle}/nowhere does not exist")
    (bundle / "config.json").write_text("{")
    done = rt.create(bundle, cid)
    assert done.returncode == 1 and "not valid JSON" in one_line(done.stderr)
    # a failure inside the init, during setup: a bind mount of a source that is not there
    bundle = rt.bundle("c", ["true"])
    rt.edit(bundle, lambda d: d["mounts"].append({"destination": "/x", "type": "bind", "source": "/no/such",
                                                   "options": ["bind"]}))
    done = rt.create(bundle, cid)
    assert done.returncode == 1 and "/no/such" in one_line(done.stderr)
    assert not (rt.root / cid).exists()
    assert not os.path.exists(f"/sys/fs/cgroup/memory/tinydocker-runtime/{cid}")
    done = rt.create(bundle, "bad/id")
    assert done.returncode == 1 and one_line(done.stderr) == "tinydocker-runtime: invalid container id format: bad/id"


def test_a_duplicate_id_is_refused_and_the_first_container_stays(rt):
    bundle = rt.bundle("b", ["true"])
    cid = rt.new_id()
    assert rt.create(bundle, cid).returncode == 0
    done = rt.create(bundle, cid)
    assert done.returncode == 1 and one_line(done.stderr) == f"tinydocker-runtime: container with id exists: {cid}"
    assert rt.state(cid)["status"] == "created"


@pytest.mark.parametrize("verb", [["start"], ["state"], ["kill"], ["delete"], ["kill", "--all"]])
def test_an_unknown_id_does_not_exist(rt, verb):
    done = rt(*verb, "nosuch")
    assert (done.returncode, done.stdout) == (1, "")
    assert one_line(done.stderr) == "tinydocker-runtime: container does not exist"


def test_delete_force_of_an_unknown_id_succeeds_quietly_as_runc(rt):
    assert (rt("delete", "--force", "nosuch").returncode, rt("delete", "-f", "nosuch").stderr) == (0, "")


def test_a_killed_create_is_cleaned_by_delete_force(rt):
    """create SIGKILLed at whatever point it reached: its state directory appearing, its
    state.json, its cgroup, its init forked; delete --force then removes everything."""
    bundle = rt.bundle("b", ["true"])
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    stages = [lambda cid: (rt.root / cid).exists(),
              lambda cid: (rt.root / cid / "state.json").exists(),
              lambda cid: os.path.exists(f"/sys/fs/cgroup/pids/tinydocker-runtime/{cid}"),
              lambda cid: (rt.root / cid / "exec.fifo").exists()]
    for reached in stages:
        cid = rt.new_id()
        proc = subprocess.Popen([sys.executable, "-m", "tinydocker.runtime", "--root", str(rt.root), "create",
                                 "--bundle", str(bundle), cid], env=env, stdin=subprocess.DEVNULL,
                                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        deadline = time.monotonic() + 30
        while proc.poll() is None and not reached(cid) and time.monotonic() < deadline:
            pass  # spin: the moment is what this test is about
        proc.kill()
        proc.wait()
        leaves = []
        try:
            leaves = json.loads((rt.root / cid / "state.json").read_text())["leaves"]
        except (OSError, ValueError):
            pass
        done = rt("delete", "--force", cid)
        assert done.returncode == 0, done.stderr
        assert not (rt.root / cid).exists()
        assert not [leaf for leaf in leaves if os.path.exists(leaf)]


# -- what create honours -------------------------------------------------------------------------

def test_a_namespace_joined_by_path_is_the_first_containers(rt):
    first = rt.bundle("a", ["sleep", "1000"])
    a = rt.new_id()
    assert rt.create(first, a).returncode == 0
    pid_a = rt.state(a)["pid"]
    net = f"/proc/{pid_a}/ns/net"
    second = rt.bundle("b", ["true"])
    rt.edit(second, lambda d: d["linux"]["namespaces"].__setitem__(
        d["linux"]["namespaces"].index({"type": "network"}), {"type": "network", "path": net}))
    b = rt.new_id()
    assert rt.create(second, b).returncode == 0
    pid_b = rt.state(b)["pid"]
    assert os.readlink(f"/proc/{pid_b}/ns/net") == os.readlink(net)
    assert os.readlink(f"/proc/{pid_b}/ns/uts") != os.readlink(f"/proc/{pid_a}/ns/uts")  # new ones stay new


def _status_line(output: str, key: str) -> int:
    return int(next(line for line in output.splitlines() if line.startswith(key + ":")).split()[1], 16)


def test_capabilities_are_the_configs_five_sets(rt):
    caps = {"bounding": ["CAP_CHOWN", "CAP_KILL", "CAP_NET_BIND_SERVICE", "CAP_SETUID", "CAP_SETGID"],
            "permitted": ["CAP_CHOWN", "CAP_KILL", "CAP_NET_BIND_SERVICE"],
            "effective": ["CAP_CHOWN", "CAP_KILL"],
            "inheritable": ["CAP_KILL", "CAP_NET_BIND_SERVICE"],
            "ambient": ["CAP_KILL"]}
    bundle = rt.bundle("b", ["cat", "/proc/self/status"])
    rt.edit(bundle, lambda d: d["process"].update(capabilities=caps, noNewPrivileges=False,
                                                   user={"uid": 1000, "gid": 1000}))
    done = rt("run", "--bundle", bundle, rt.new_id())
    assert done.returncode == 0, done.stderr
    # a non-root user's cat, exec'd without file capabilities: permitted and effective become
    # the ambient set (root's would get the whole bounding set back from execve)
    assert _status_line(done.stdout, "CapBnd") == (1 << 0) | (1 << 5) | (1 << 10) | (1 << 7) | (1 << 6)
    assert _status_line(done.stdout, "CapInh") == (1 << 5) | (1 << 10)
    assert _status_line(done.stdout, "CapAmb") == 1 << 5
    assert _status_line(done.stdout, "CapEff") == _status_line(done.stdout, "CapPrm") == 1 << 5


def test_user_rlimits_hostname_and_cwd(rt):
    bundle = rt.bundle("b", ["sh", "-c", "cat /proc/self/limits; cat /proc/self/status; hostname; echo $PWD"])
    rt.edit(bundle, lambda d: d["process"].update(
        rlimits=[{"type": "RLIMIT_NOFILE", "soft": 123, "hard": 456}],
        user={"uid": 1000, "gid": 1001, "additionalGids": [5, 7]}, cwd="/work/here", oomScoreAdj=123))
    rt.edit(bundle, lambda d: d.update(hostname="inside"))
    done = rt("run", "--bundle", bundle, rt.new_id())
    assert done.returncode == 0, done.stderr
    limits = next(line for line in done.stdout.splitlines() if line.startswith("Max open files")).split()
    assert limits[3:5] == ["123", "456"]
    status = {line.split(":")[0]: line.split(":", 1)[1].split() for line in done.stdout.splitlines() if ":\t" in line}
    assert status["Uid"][:2] == ["1000", "1000"] and status["Gid"][:2] == ["1001", "1001"]
    assert status["Groups"] == ["5", "7"]
    assert done.stdout.splitlines()[-2:] == ["inside", "/work/here"]


def test_mounts_a_sized_tmpfs_and_a_read_only_bind(rt, tmp_path):
    shared = tmp_path / "shared"
    shared.mkdir()
    (shared / "f").write_text("from the host\n")
    bundle = rt.bundle("b", ["sh", "-c", "grep ' /scratch ' /proc/self/mountinfo; cat /data/f; "
                                         "touch /data/g || echo refused; touch /scratch/ok && echo wrote"])
    rt.edit(bundle, lambda d: d["mounts"].extend([
        {"destination": "/scratch", "type": "tmpfs", "source": "tmpfs", "options": ["size=1m", "nosuid"]},
        {"destination": "/data", "type": "bind", "source": str(shared), "options": ["rbind", "ro"]}]))
    done = rt("run", "--bundle", bundle, rt.new_id())
    assert done.returncode == 0, done.stderr
    lines = done.stdout.splitlines()
    assert "size=1024k" in lines[0] and "nosuid" in lines[0]
    assert lines[1:] == ["from the host", "refused", "wrote"]
    assert not (shared / "g").exists()


def test_seccomp_in_the_runtime_specs_form(rt):
    bundle = rt.bundle("b", ["sh", "-c", "mkdir /made || echo denied; touch /touched && echo touched"])
    rt.edit(bundle, lambda d: d["linux"].update(seccomp={
        "defaultAction": "SCMP_ACT_ALLOW", "architectures": ["SCMP_ARCH_X86_64", "SCMP_ARCH_X86"],
        # _llseek and chown32 exist on 32-bit x86 only: ignored on this architecture, as runc does
        "syscalls": [{"names": ["mkdir", "mkdirat", "_llseek", "chown32"], "action": "SCMP_ACT_ERRNO"}]}))
    done = rt("run", "--bundle", bundle, rt.new_id())
    assert done.returncode == 0, done.stderr
    assert done.stdout.splitlines() == ["denied", "touched"]
    assert "Operation not permitted" in done.stderr
    assert not (bundle / "rootfs" / "made").exists()


def test_cgroup_limits_are_in_the_cgroups_path_while_created(rt):
    name = f"td-rt-test-{uuid.uuid4().hex[:8]}"
    bundle = rt.bundle("b", ["true"])
    rt.edit(bundle, lambda d: d["linux"].update(cgroupsPath=f"/{name}/inner", resources={
        "memory": {"limit": 64 << 20}, "pids": {"limit": 42}, "cpu": {"shares": 512}}))
    cid = rt.new_id()
    assert rt.create(bundle, cid).returncode == 0
    pid = rt.state(cid)["pid"]
    assert f":/{name}/inner\n" in Path(f"/proc/{pid}/cgroup").read_text()
    memory = Path(f"/sys/fs/cgroup/memory/{name}/inner")
    if memory.exists():  # a v1 host
        assert (memory / "memory.limit_in_bytes").read_text() == f"{64 << 20}\n"
        assert Path(f"/sys/fs/cgroup/pids/{name}/inner/pids.max").read_text() == "42\n"
        assert Path(f"/sys/fs/cgroup/cpu/{name}/inner/cpu.shares").read_text() == "512\n"
    else:
        unified = Path(f"/sys/fs/cgroup/{name}/inner")
        assert (unified / "memory.max").read_text() == f"{64 << 20}\n"
    assert rt("delete", "--force", cid).returncode == 0
    assert not [h for h in os.listdir("/sys/fs/cgroup") if os.path.exists(f"/sys/fs/cgroup/{h}/{name}")]


@pytest.mark.skipif(not os.path.exists("/sys/fs/cgroup/cgroup.subtree_control"),
                    reason="the runtime takes cgroup v1's hierarchies here (pure v2: tests/vm)")
def test_a_parent_made_by_another_create_that_has_not_yet_enabled_it(rt):
    """Two first creates under a fresh base: the one that makes the shared parent then enables
    the base's controllers for it. The other, finding the parent made, meets it before that:
    it still gets its limits."""
    name = f"td-rt-test-{uuid.uuid4().hex[:8]}"
    base = Path(f"/sys/fs/cgroup/{name}")
    Path("/sys/fs/cgroup/cgroup.subtree_control").write_text("+memory +pids")  # as any engine's start
    base.mkdir()
    (base / "shared").mkdir()
    try:
        assert (base / "shared" / "cgroup.controllers").read_text().split() == []  # the moment between
        bundle = rt.bundle("b", ["true"])
        rt.edit(bundle, lambda d: d["linux"].update(cgroupsPath=f"/{name}/shared/inner", resources={
            "memory": {"limit": 64 << 20}, "pids": {"limit": 42}}))
        cid = rt.new_id()
        done = rt.create(bundle, cid)
        assert done.returncode == 0, done.stderr
        assert (base / "shared" / "inner" / "memory.max").read_text() == f"{64 << 20}\n"
        assert (base / "shared" / "inner" / "pids.max").read_text() == "42\n"
        assert rt("delete", "--force", cid).returncode == 0
    finally:
        for d in (base / "shared" / "inner", base / "shared", base):
            if d.exists():
                d.rmdir()


def test_the_init_gets_create_stdio_and_no_other_descriptor(rt, tmp_path):
    bundle = rt.bundle("b", ["sh", "-c", "ls /proc/self/fd; echo to-err >&2"])
    extra = os.open(tmp_path, os.O_RDONLY)  # inheritable: a caller's descriptor beyond stdio
    out, err = tmp_path / "out", tmp_path / "err"
    try:
        with open(out, "w") as o, open(err, "w") as e:
            done = rt("run", "--bundle", bundle, rt.new_id(), pass_fds=(extra,), capture_output=False,
                      stdout=o, stderr=e)
    finally:
        os.close(extra)
    assert done.returncode == 0, err.read_text()
    assert out.read_text().split() == ["0", "1", "2", "3"]  # 3: ls's own listing of the directory
    assert err.read_text() == "to-err\n"


def test_a_terminal_goes_to_the_console_socket(rt, tmp_path):
    import socket

    bundle = rt.bundle("b", ["sh", "-c", "test -t 0 && test -t 1 && test -c /dev/console && echo on-a-tty"])
    rt.edit(bundle, lambda d: d["process"].update(terminal=True))
    path = tmp_path / "console.sock"
    server = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    server.bind(str(path))
    server.listen(1)
    cid = rt.new_id()
    creating = subprocess.Popen([sys.executable, "-m", "tinydocker.runtime", "--root", str(rt.root), "create",
                                 "--bundle", str(bundle), "--console-socket", str(path), cid],
                                env={**os.environ, "PYTHONPATH": str(REPO)}, stdin=subprocess.DEVNULL,
                                stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    conn, _ = server.accept()
    _, fds, _, _ = socket.recv_fds(conn, 1024, 1)
    conn.close()
    server.close()
    assert creating.wait(60) == 0, creating.stderr.read()
    rt.pids.append(rt.state(cid)["pid"])
    [master] = fds
    assert rt("start", cid).returncode == 0
    output = read_until(master, b"on-a-tty")
    assert b"on-a-tty" in output
    rt.wait_status(cid, "stopped")


def test_hooks_get_the_state_on_stdin_at_their_points(rt, tmp_path):
    def saving(name: str) -> dict:
        return {"path": "/bin/sh", "args": ["sh", "-c", f"cat > {tmp_path}/{name}.json"]}

    failing = {"path": "/bin/sh", "args": ["sh", "-c", "echo hook says no >&2; exit 3"]}
    bundle = rt.bundle("b", ["sh", "-c", "cat /startContainer.json"])
    rt.edit(bundle, lambda d: d.update(hooks={
        "prestart": [saving("prestart")], "createRuntime": [saving("createRuntime")],
        # in the container's namespaces: before pivot_root (a host path), then in its root
        "createContainer": [saving("createContainer")],
        "startContainer": [{"path": "/bin/sh", "args": ["sh", "-c", "cat > /startContainer.json"]}],
        "poststart": [failing, saving("poststart")], "poststop": [failing, saving("poststop")]}))
    cid = rt.new_id()
    assert rt.create(bundle, cid).returncode == 0
    pid = rt.state(cid)["pid"]
    for name in ("prestart", "createRuntime", "createContainer"):
        seen = json.loads((tmp_path / f"{name}.json").read_text())
        assert (seen["id"], seen["pid"], seen["status"], seen["bundle"]) == (cid, pid, "creating", str(bundle))
    assert not (tmp_path / "poststart.json").exists()
    done = rt("start", cid)
    # a failing poststart hook is a warning; the hooks after it still run
    assert done.returncode == 0
    assert one_line(done.stderr) == "tinydocker-runtime: warning: poststart hook /bin/sh failed with status 3: hook says no"
    assert json.loads((tmp_path / "poststart.json").read_text())["status"] == "running"
    rt.wait_status(cid, "stopped")
    assert json.loads((bundle / "rootfs" / "startContainer.json").read_text())["pid"] == pid
    done = rt("delete", cid)
    assert done.returncode == 0 and "poststop hook /bin/sh failed" in one_line(done.stderr)
    assert json.loads((tmp_path / "poststop.json").read_text())["status"] == "stopped"


def test_a_failing_prestart_hook_fails_create_and_leaves_nothing(rt, tmp_path):
    bundle = rt.bundle("b", ["touch", "/ran"])
    rt.edit(bundle, lambda d: d.update(hooks={"prestart": [{"path": "/bin/false"}]}))
    cid = rt.new_id()
    done = rt.create(bundle, cid)
    assert done.returncode == 1
    assert one_line(done.stderr) == "tinydocker-runtime: prestart hook /bin/false failed with status 1"
    assert not (rt.root / cid).exists() and not (bundle / "rootfs" / "ran").exists()
    rt.edit(bundle, lambda d: d.update(hooks={"createContainer": [{"path": "/bin/false"}]}))
    done = rt.create(bundle, cid)
    assert one_line(done.stderr) == "tinydocker-runtime: createContainer hook /bin/false failed with status 1"
    assert not (rt.root / cid).exists()


def test_a_container_hook_that_does_not_read_its_state_fails_as_itself(rt):
    # the state (with a large annotation) fills the pipe: the hook exits unread, the write
    # breaks, and the init, which dies of SIGPIPE when waiting, must take it as EPIPE
    bundle = rt.bundle("b", ["true"])
    rt.edit(bundle, lambda d: d.update(annotations={"big": "x" * (256 << 10)},
                                       hooks={"createContainer": [{"path": "/bin/false"}]}))
    cid = rt.new_id()
    done = rt.create(bundle, cid)
    assert done.returncode == 1
    assert one_line(done.stderr) == "tinydocker-runtime: createContainer hook /bin/false failed with status 1"
    assert not (rt.root / cid).exists()


@pytest.mark.parametrize("point", ["prestart", "createContainer", "startContainer"])
def test_a_hook_that_does_not_read_its_state_is_no_failure(rt, point):
    # the state document (its annotations) is more than a pipe holds: the hook has exited
    # before it is all written, which the runtime must take as a broken pipe, not die of
    bundle = rt.bundle("b", ["touch", "/ran"], annotations={"big": "x" * 200_000})
    rt.edit(bundle, lambda d: d.update(hooks={point: [{"path": "/bin/true"}]}))
    done = rt("run", "--bundle", bundle, rt.new_id())
    assert (done.returncode, done.stderr) == (0, "")
    assert (bundle / "rootfs" / "ran").exists()


def test_kill_all_signals_every_process_of_the_container(rt):
    # no PID namespace: the init's death alone would leave its children running
    bundle = rt.bundle("b", ["sh", "-c", "trap '' TERM; sleep 1000 & sleep 1000 & touch /started; wait"])
    rt.edit(bundle, lambda d: d["linux"].update(namespaces=[n for n in d["linux"]["namespaces"] if n["type"] != "pid"]))
    cid = rt.new_id()
    assert rt.create(bundle, cid).returncode == 0
    assert rt("start", cid).returncode == 0
    wait_for(lambda: (bundle / "rootfs" / "started").exists(), what="the container's children")
    leaf = json.loads((rt.root / cid / "state.json").read_text())["leaves"][0]

    def procs() -> list[int]:
        return [int(p) for p in Path(leaf, "cgroup.procs").read_text().split()]

    # the shell and its two sleeps, once the touch that made /started has gone too
    wait_for(lambda: len(procs()) == 3, what="the container's three processes")
    pids = procs()
    assert rt("kill", "--all", cid, "KILL").returncode == 0
    rt.wait_status(cid, "stopped")
    wait_for(lambda: not [p for p in pids if _alive(p)], what="every process gone")
    assert rt("delete", cid).returncode == 0


def test_preserve_fds_passes_descriptors_from_3_up(rt, tmp_path):
    (tmp_path / "passed").write_text("through fd 3\n")
    bundle = rt.bundle("b", ["sh", "-c", "cat <&3; ls /proc/self/fd"])
    done = subprocess.run(["sh", "-c", 'exec 3<"$0"; exec "$@"', str(tmp_path / "passed"), sys.executable, "-m",
                           "tinydocker.runtime", "--root", str(rt.root), "run", "--preserve-fds", "1", "--bundle",
                           str(bundle), rt.new_id()], env={**os.environ, "PYTHONPATH": str(REPO)},
                          capture_output=True, text=True, stdin=subprocess.DEVNULL, timeout=60)
    assert done.returncode == 0, done.stderr
    assert done.stdout.split() == ["through", "fd", "3", "0", "1", "2", "3", "4"]


def test_the_cgroup_mount_shows_the_containers_own_cgroup(rt):
    # the template mounts /sys/fs/cgroup and has no cgroup namespace: each hierarchy is then
    # the container's own directory, bound in place, never the host's root
    bundle = rt.bundle("b", ["sh", "-c", "cat /sys/fs/cgroup/pids/pids.max; ls /sys/fs/cgroup/pids | grep -c -v '^pids\\|^cgroup\\|^notify\\|^tasks'"])
    rt.edit(bundle, lambda d: d["linux"].update(resources={"pids": {"limit": 42}}))
    done = rt("run", "--bundle", bundle, rt.new_id())
    if not Path("/sys/fs/cgroup/pids/cgroup.procs").exists():
        pytest.skip("not a cgroup v1 host")
    assert done.stdout.split() == ["42", "0"], done.stderr  # no child cgroup of the host's in sight


def test_a_mount_destination_through_a_symlink_stays_in_the_rootfs(rt, tmp_path):
    bundle = rt.bundle("b", ["sh", "-c", "grep -c ' /outside/x ' /proc/self/mountinfo"])
    # rootfs/evil -> ../../outside would be tmp_path/outside on the host
    (bundle / "rootfs" / "evil").symlink_to("../../outside")
    (bundle / "rootfs" / "abs").symlink_to(str(tmp_path / "outside"))
    rt.edit(bundle, lambda d: d["mounts"].extend([
        {"destination": "/evil/x", "type": "tmpfs", "source": "tmpfs"},
        {"destination": "/abs/y", "type": "tmpfs", "source": "tmpfs"}]))
    done = rt("run", "--bundle", bundle, rt.new_id())
    assert (done.returncode, done.stdout) == (0, "1\n"), done.stderr
    assert not (tmp_path / "outside").exists()
    assert (bundle / "rootfs" / "outside" / "x").is_dir()
    assert (bundle / "rootfs" / str(tmp_path).lstrip("/") / "outside" / "y").is_dir()


def test_no_pivot_chroots_into_the_rootfs(rt):
    bundle = rt.bundle("b", ["sh", "-c", "ls /; cat /proc/self/mountinfo | grep -c ' / '"])
    done = rt("run", "--no-pivot", "--bundle", bundle, rt.new_id())
    assert done.returncode == 0, done.stderr
    assert done.stdout.split()[:4] == ["bin", "dev", "proc", "sys"]


def test_a_capability_the_runtime_lacks_is_refused_at_create(rt):
    bounding = int(next(line for line in open("/proc/self/status") if line.startswith("CapBnd:")).split()[1], 16)
    from tinydocker.security.capabilities import NAMES

    missing = [name for i, name in enumerate(NAMES) if not bounding >> i & 1]
    if not missing:
        pytest.skip("this runtime holds every capability: none to ask for in vain")
    bundle = rt.bundle("b", ["true"])
    rt.edit(bundle, lambda d: d["process"]["capabilities"]["permitted"].append("CAP_" + missing[0]))
    cid = rt.new_id()
    done = rt.create(bundle, cid)
    assert done.returncode == 1
    assert one_line(done.stderr) == (f"tinydocker-runtime: config.json: process.capabilities.permitted: CAP_{missing[0]} "
                                     "is not held by the runtime itself (its bounding set lacks it), so it cannot be given")
    assert not (rt.root / cid).exists()


@pytest.fixture
def open_dir():
    """A directory the namespace's root may cross (pytest's are 0700, root's own): as with
    runc, the bundle must be reachable by the mapped root."""
    import shutil
    import tempfile

    path = Path(tempfile.mkdtemp(prefix="td-rt-userns-"))
    path.chmod(0o711)
    yield path
    assert not host_mounts_under(path)
    shutil.rmtree(path)


def test_a_user_namespace_maps_the_containers_ids(rt, open_dir):
    shared = open_dir / "shared"
    shared.mkdir()
    os.chown(shared, 100000, 100000)
    bundle = rt.bundle("b", base=open_dir, args=["sh", "-c", "cat /proc/self/uid_map /proc/self/gid_map; grep -E '^(Uid|Gid):' "
                                         "/proc/self/status; touch /shared/made; cat /dev/null && echo devices"])
    rt.edit(bundle, lambda d: (
        d["linux"]["namespaces"].append({"type": "user"}),
        d["linux"].update(uidMappings=[{"containerID": 0, "hostID": 100000, "size": 65536}],
                          gidMappings=[{"containerID": 0, "hostID": 100000, "size": 65536}]),
        d["mounts"].append({"destination": "/shared", "type": "bind", "source": str(shared), "options": ["rbind"]})))
    (bundle / "rootfs" / "shared").mkdir()  # the rootfs is the host root's: its root could not make it
    cid = rt.new_id()
    assert rt.create(bundle, cid).returncode == 0
    pid = rt.state(cid)["pid"]
    host_uid = next(line for line in open(f"/proc/{pid}/status") if line.startswith("Uid:")).split()[1]
    assert host_uid == "100000"  # the init is the namespace's root already, as seen from the host
    assert os.readlink(f"/proc/{pid}/ns/user") != os.readlink("/proc/self/ns/user")
    assert rt("start", cid).returncode == 0
    rt.wait_status(cid, "stopped")
    out = (rt.tmp / f"create-{rt.creates}.out").read_text().split()
    assert out[:6] == ["0", "100000", "65536", "0", "100000", "65536"]
    assert out[6:] == ["Uid:", "0", "0", "0", "0", "Gid:", "0", "0", "0", "0", "devices"]
    assert (shared / "made").stat().st_uid == 100000


def test_two_creates_of_one_id_at_once_make_one_container(rt):
    bundle = rt.bundle("b", ["true"])
    cid = rt.new_id()
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    outs = [rt.tmp / f"race-{i}.err" for i in range(2)]
    procs = []
    for out in outs:
        with open(out, "w") as err:
            procs.append(subprocess.Popen([sys.executable, "-m", "tinydocker.runtime", "--root", str(rt.root),
                                           "create", "--bundle", str(bundle), cid], env=env,
                                          stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=err))
    codes = sorted(p.wait(60) for p in procs)
    assert codes == [0, 1]
    said = sorted(out.read_text() for out in outs)
    assert said == ["", f"tinydocker-runtime: container with id exists: {cid}\n"]
    rt.pids.append(rt.state(cid)["pid"])
    assert rt.state(cid)["status"] == "created"


def test_a_console_socket_nobody_listens_on_and_a_bad_cgroups_path_leave_nothing(rt, tmp_path):
    bundle = rt.bundle("b", ["true"])
    rt.edit(bundle, lambda d: d["process"].update(terminal=True))
    cid = rt.new_id()
    done = rt.create(bundle, cid, "--console-socket", tmp_path / "nobody.sock")
    assert done.returncode == 1
    assert one_line(done.stderr) == (f"tinydocker-runtime: cannot connect to the console socket {tmp_path}/nobody.sock: "
                                     "No such file or directory")
    assert not (rt.root / cid).exists()
    assert not [h for h in os.listdir("/sys/fs/cgroup") if os.path.exists(f"/sys/fs/cgroup/{h}/tinydocker-runtime/{cid}")]
    # a cgroupsPath through a file of the hierarchy: its directory cannot be made
    bundle = rt.bundle("c", ["true"])
    rt.edit(bundle, lambda d: d["linux"].update(cgroupsPath="/cgroup.procs/inner"))
    done = rt.create(bundle, cid)
    assert done.returncode == 1 and "cannot make the cgroup" in one_line(done.stderr)
    assert not (rt.root / cid).exists()
