"""containerd (Debian's 1.6) drives tinydocker-runtime as it drives runc: its runc v2 shim
(io.containerd.runc.v2) is given the runtime as its runc binary, and ctr runs, execs into,
lists, pauses, kills and deletes tasks; each scenario runs once per runtime, so that any
difference between them shows as one failing parameter. (The shim's metrics read the cgroup
itself, found by the init's pid: they check that the container is where the shim expects.)

One private containerd serves the module: its own config (root, state, sockets in a
temporary directory; no CRI plugin; overlayfs snapshotter), started as a subprocess and
stopped by its pid at the end, with everything it made on the host removed and checked
gone. Each test checks that the runtime's state, the task's processes and its shim are gone.
(ctr 1.6 has no `task update`: the runtime's update is driven by podman's test instead; nor
does it pass on the end of its input, so nothing here reads stdin to its end.)
"""

import os
import signal
import subprocess
import tempfile
import uuid
from pathlib import Path

import pytest

from conftest import catches, host_mounts_under, wait_for
from peers import RUNTIMES, alive, frozen, needs, processes_mentioning, remove_new_dirs, runtime_path

pytestmark = needs("containerd", "ctr", "containerd-shim-runc-v2", package="containerd")

IMAGE = "docker.io/library/base:latest"  # as the docker-archive of base_image names it
# containerd's shims put their sockets in /run/containerd/s and ctr its fifos in
# /run/containerd/fifo, whatever the daemon's state directory
SHIM_DIRS = ("/run/containerd/s", "/run/containerd/fifo", "/run/containerd")


def _config(top: Path) -> str:
    # no CRI (it would want CNI and a pause image), no opt plugin (it writes /opt/containerd),
    # no snapshotters that need a particular filesystem or device
    disabled = ["io.containerd.grpc.v1.cri", "io.containerd.internal.v1.opt", "io.containerd.snapshotter.v1.aufs",
                "io.containerd.snapshotter.v1.btrfs", "io.containerd.snapshotter.v1.devmapper",
                "io.containerd.snapshotter.v1.zfs", "io.containerd.internal.v1.tracing",
                "io.containerd.tracing.processor.v1.otlp"]
    return (f'version = 2\nroot = "{top / "root"}"\nstate = "{top / "state"}"\ntemp = "{top / "tmp"}"\n'
            f"disabled_plugins = {disabled!r}\n".replace("'", '"') +
            f'[grpc]\n  address = "{top / "containerd.sock"}"\n'
            f'[ttrpc]\n  address = "{top / "containerd.sock.ttrpc"}"\n')


def _cgroups_named(name: str) -> set[str]:
    """The cgroup directory ctr's default cgroups path (/NAMESPACE/ID) makes in each hierarchy."""
    return {str(p) for p in Path("/sys/fs/cgroup").glob(f"*/{name}")} | (
        {f"/sys/fs/cgroup/{name}"} if os.path.isdir(f"/sys/fs/cgroup/{name}") else set())


class Containerd:
    def __init__(self, top: Path, namespace: str):
        self.top, self.namespace = top, namespace
        self.socket = top / "containerd.sock"

    def ctr(self, *args, input=None, timeout=120) -> subprocess.CompletedProcess:
        return subprocess.run(["ctr", "--address", str(self.socket), "--namespace", self.namespace, *args],
                              input=input, capture_output=True, text=True, timeout=timeout,
                              stdin=None if input is not None else subprocess.DEVNULL)

    def ok(self, *args, **kw) -> str:
        done = self.ctr(*args, **kw)
        assert done.returncode == 0, f"ctr {' '.join(args)} exited {done.returncode}: {done.stderr}"
        return done.stdout

    def up(self) -> bool:
        return self.socket.exists() and self.ctr("version", timeout=30).returncode == 0


@pytest.fixture(scope="module")
def containerd(base_image):
    top = Path(tempfile.mkdtemp(prefix="tdctd", dir="/tmp"))
    (top / "tmp").mkdir()
    (top / "config.toml").write_text(_config(top))
    namespace = f"tdpeer{uuid.uuid4().hex[:8]}"
    dirs_before = {d for d in SHIM_DIRS if os.path.isdir(d)}
    daemon = Containerd(top, namespace)
    with open(top / "containerd.log", "w") as log:
        proc = subprocess.Popen(["containerd", "--config", str(top / "config.toml")], stdin=subprocess.DEVNULL,
                                stdout=log, stderr=log, start_new_session=True)
    try:
        wait_for(lambda: proc.poll() is not None or daemon.up(), timeout=60, what="containerd's socket")
        assert proc.poll() is None, f"containerd exited: {(top / 'containerd.log').read_text()[-2000:]}"
        daemon.ok("image", "import", str(base_image.docker_archive))
        yield daemon
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        try:
            wait_for(lambda: not processes_mentioning(str(top)), timeout=30)
        except AssertionError:
            pass
        left = processes_mentioning(str(top))
        for pid, _ in left:
            os.kill(pid, signal.SIGKILL)
        mounts = host_mounts_under(top)
        subprocess.run(["umount", "-R", "-l", str(top)], capture_output=True)
        subprocess.run(["rm", "-rf", "--one-file-system", str(top)])
        # the namespace's cgroup parent (/NAMESPACE, of ctr's default /NAMESPACE/ID), which runc
        # leaves (tinydocker-runtime removes the directories it made): empty, unless a task leaked
        remove_new_dirs(set(), _cgroups_named(namespace))
        remove_new_dirs(dirs_before, {d for d in SHIM_DIRS if os.path.isdir(d)})
        assert not left, f"processes of the private containerd left: {left}"
        assert not mounts, f"mounts left: {mounts}"
        assert not _cgroups_named(namespace), "cgroups left"


class Ctr:
    """ctr against the module's containerd, with one runtime as the shim's runc binary."""

    def __init__(self, daemon: Containerd, name: str, binary: str):
        self.daemon, self.name = daemon, name
        self.root = daemon.top / "runtime-roots" / name  # the shim adds the namespace
        self.runtime = ["--runc-binary", binary, "--runc-root", str(self.root)]
        self.ids: list[str] = []
        self.pids: list[int] = []

    def __call__(self, *args, **kw) -> subprocess.CompletedProcess:
        return self.daemon.ctr(*args, **kw)

    def ok(self, *args, **kw) -> str:
        done = self.daemon.ctr(*args, **kw)
        assert done.returncode == 0, f"ctr {' '.join(args)} under {self.name} exited {done.returncode}: " \
                                     f"{done.stderr}"
        return done.stdout

    def new_id(self) -> str:
        cid = f"c{uuid.uuid4().hex[:10]}"
        self.ids.append(cid)
        return cid

    def run(self, cid: str, *command: str, detach=False, input=None) -> subprocess.CompletedProcess:
        flags = ["-d"] if detach else ["--rm"]
        return self("run", *flags, *self.runtime, IMAGE, cid, *command, input=input)

    def task(self, cid: str) -> tuple[int, str]:
        """The task's pid and status, as `ctr task ls` shows them."""
        for line in self.ok("task", "ls").splitlines()[1:]:
            name, pid, status = line.split()
            if name == cid:
                if int(pid) not in self.pids and int(pid) > 0:
                    self.pids.append(int(pid))
                return int(pid), status
        raise AssertionError(f"no task {cid}")

    def wait_status(self, cid: str, status: str) -> int:
        return wait_for(lambda: (t := self.task(cid))[1] == status and t[0], what=f"{cid} {status}")


@pytest.fixture(params=RUNTIMES)
def ctr(request, containerd):
    c = Ctr(containerd, request.param, runtime_path(request.param))
    try:
        yield c
    finally:
        tasks = [line.split()[0] for line in c("task", "ls").stdout.splitlines()[1:]]
        containers = c("container", "ls", "-q").stdout.split()
        for cid in tasks:
            c("task", "kill", "-s", "SIGKILL", cid)
            c("task", "delete", "-f", cid)
        for cid in containers:
            c("container", "rm", cid)
        # a shim exits once its task is deleted
        try:
            wait_for(lambda: not any(processes_mentioning(f"-id {cid} ") for cid in c.ids), timeout=30)
        except AssertionError:
            pass
        shims = [p for cid in c.ids for p in processes_mentioning(f"-id {cid} ")]
        state_dir = c.root / containerd.namespace
        state = sorted(os.listdir(state_dir)) if state_dir.exists() else []
        live = [pid for pid in c.pids if alive(pid)]
        assert not state, f"{request.param} left container state: {state}"
        assert not live, f"container processes left: {live}"
        assert not shims, f"shims left: {shims}"


def test_run_gives_the_programs_output_and_exit_status(ctr):
    done = ctr.run(ctr.new_id(), "echo", "hi")
    assert (done.returncode, done.stdout) == (0, "hi\n"), done.stderr
    done = ctr.run(ctr.new_id(), "sh", "-c", "echo out; echo err >&2; exit 3")
    assert (done.returncode, done.stdout, done.stderr) == (3, "out\n", "err\n")
    # a program that cannot start: ctr fails (its exit status is not the container's)
    done = ctr.run(ctr.new_id(), "nosuch")
    assert done.returncode != 0 and "nosuch" in done.stderr, done
    assert ctr.ok("container", "ls", "-q") == ""


def _trapping(ctr) -> tuple[str, int]:
    """A running task whose shell exits 7 on SIGTERM, once its trap is set: its id and pid."""
    cid = ctr.new_id()
    ctr.ok("run", "-d", *ctr.runtime, IMAGE, cid, "sh", "-c", "trap 'exit 7' TERM; while :; do sleep 1; done")
    pid = ctr.wait_status(cid, "RUNNING")
    wait_for(lambda: catches(pid, signal.SIGTERM), what="the shell's trap")
    return cid, pid


def _end(ctr, cid: str, pid: int) -> None:
    """SIGTERM through ctr (the trap exits 7), then the task and the container deleted."""
    ctr.ok("task", "kill", cid)
    ctr.wait_status(cid, "STOPPED")
    done = ctr("task", "delete", cid)
    assert done.returncode == 0 and "exit code 7" in done.stderr, done
    ctr.ok("container", "rm", cid)
    assert not alive(pid)


def test_exec_and_ps(ctr):
    cid, pid = _trapping(ctr)
    done = ctr("task", "exec", "--exec-id", "x1", cid, "sh", "-c", "echo in; echo err >&2; exit 4")
    assert (done.returncode, done.stdout, done.stderr) == (4, "in\n", "err\n")
    done = ctr("task", "exec", "--exec-id", "x2", "--user", "1000", "--cwd", "/tmp", cid,
               "sh", "-c", "id -u; pwd; cat /proc/1/cmdline | tr '\\0' ' '")
    assert done.returncode == 0 and done.stdout.split("\n", 2)[:2] == ["1000", "/tmp"], done
    assert done.stdout.split("\n", 2)[2].startswith("sh -c trap"), done.stdout
    done = ctr("task", "exec", "--exec-id", "x3", cid, "nosuch")
    assert done.returncode != 0 and "nosuch" in done.stderr, done
    # ps: the container's processes by host pid (the shim asks the runtime's ps for them)
    pids = [int(line.split()[0]) for line in ctr.ok("task", "ps", cid).splitlines()[1:]]
    assert pid in pids, pids
    _end(ctr, cid, pid)


def test_pause_and_resume(ctr):
    cid, pid = _trapping(ctr)
    ctr.ok("task", "pause", cid)
    assert ctr.task(cid)[1] == "PAUSED" and frozen(pid)
    ctr.ok("task", "resume", cid)
    assert ctr.task(cid)[1] == "RUNNING" and not frozen(pid)
    _end(ctr, cid, pid)


def test_kill_sigkill_and_delete(ctr):
    cid = ctr.new_id()
    ctr.ok("run", "-d", *ctr.runtime, IMAGE, cid, "sleep", "1000")
    pid = ctr.wait_status(cid, "RUNNING")
    ctr.ok("task", "kill", "-s", "SIGKILL", cid)
    ctr.wait_status(cid, "STOPPED")
    done = ctr("task", "delete", cid)
    assert done.returncode == 0 and "exit code 137" in done.stderr, done
    ctr.ok("container", "rm", cid)
    assert not alive(pid)


def test_delete_force_of_a_running_task(ctr):
    cid = ctr.new_id()
    ctr.ok("run", "-d", *ctr.runtime, IMAGE, cid, "sleep", "1000")
    pid = ctr.wait_status(cid, "RUNNING")
    assert ctr("task", "delete", cid).returncode != 0  # running: refused without --force
    ctr.ok("task", "delete", "--force", cid)
    ctr.ok("container", "rm", cid)
    assert not alive(pid)


def test_limits_metrics_and_kill_all(ctr):
    """A memory limit given to ctr reaches the cgroup the shim reads its metrics from (it finds
    it by the init's pid); kill --all ends the task through the runtime's kill --all."""
    cid = ctr.new_id()
    ctr.ok("run", "-d", "--memory-limit", str(64 << 20), *ctr.runtime, IMAGE, cid, "sh", "-c", "sleep 1000 & wait")
    pid = ctr.wait_status(cid, "RUNNING")
    assert str(64 << 20) in ctr.ok("task", "metrics", cid)
    ctr.ok("task", "kill", "--all", "-s", "SIGKILL", cid)
    ctr.wait_status(cid, "STOPPED")
    ctr.ok("task", "delete", cid)
    ctr.ok("container", "rm", cid)
    assert not alive(pid)
