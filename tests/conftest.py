"""Real containers, run as root on the real kernel, each test in its own data root.

Every test gets a `td` helper bound to a fresh data root. At teardown it kills, by pid
and start time, any container process still alive from that root, then checks that no
mount of the root is left in the host's mount table, that no container cgroup, network
device (bridge, veth) or published port of its containers appeared that is still there,
and deletes the root (its networks' bridges with it).
"""

import os
import random
import shutil
import signal
import socket
import subprocess
import sys
import time
import tomllib
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent
# the session's images and throwaway registries, for every test that asks for them
pytest_plugins = ["image_fixtures"]

from tinydocker import cgroups  # noqa: E402
from tinydocker.linux import proc  # noqa: E402
from tinydocker.network import netlink  # noqa: E402

if os.geteuid() != 0:
    pytest.exit("tinydocker's tests run real containers and need root", returncode=1)


def container_cgroups() -> set[str]:
    """Every tinydocker/ directory and tinydocker/<id> cgroup, in every hierarchy."""
    where = cgroups.layout()
    found = set()
    for mount in set(where.v1.values()) | ({where.v2} if where.v2 else set()):
        parent = Path(mount) / cgroups.PARENT
        try:
            found |= {str(p) for p in parent.iterdir() if p.is_dir()}
        except FileNotFoundError:
            continue  # absent, or removed with its last container as we looked
        found.add(str(parent))
    return found


def _remove_cgroups(paths) -> None:
    for path in sorted(paths, key=len, reverse=True):  # leaves before tinydocker/
        try:
            procs = Path(path, "cgroup.procs")
            for pid in procs.read_text().split():
                os.kill(int(pid), signal.SIGKILL)
            deadline = time.monotonic() + 10  # the killed leave it as they end
            while procs.read_text().split() and time.monotonic() < deadline:
                time.sleep(0.01)
            os.rmdir(path)
        except OSError:
            pass


def network_links() -> set[str]:
    """tinydocker's devices on the host: bridges (tdb…) and the host ends of veth pairs (tdv…)."""
    return {link["name"] for link in netlink.links() if link["name"].startswith(("tdb", "tdv"))}


def release_networks(root: Path) -> None:
    """A data root's bridges and their nftables elements (its default bridge lives on after
    its containers, as docker's does; a test's root goes away with the test)."""
    from tinydocker.network.store import NetworkStore
    from tinydocker.state.root import DataRoot

    if (root / "state" / "networks.toml").exists():
        NetworkStore(DataRoot(root)).destroy_all()


def published_ports(root: Path) -> list:
    """nftables port claims of this root's containers that are not running any more, dropped
    (after they are reported): a claim must go with its container's end."""
    from tinydocker.network import firewall

    ids = set()
    for rec_file in (root / "state" / "containers").glob("*/record.toml"):
        try:
            rec = tomllib.loads(rec_file.read_text())
        except (OSError, tomllib.TOMLDecodeError):
            continue
        if not (rec.get("status") == "running" and proc.is_alive(rec.get("pid"), rec.get("start_ticks"))):
            ids.add(rec["id"])
    stale = [c for c in firewall.claimed() if c[2] in ids]
    firewall.sweep(lambda cid: cid not in ids)
    return stale


def host_mounts_under(path: Path) -> list[str]:
    with open("/proc/self/mountinfo") as f:
        return [line for line in f if str(path) in line]


class TD:
    """Runs the tinydocker CLI against one data root."""

    def __init__(self, root: Path):
        self.root = root
        self.cmd = [sys.executable, "-m", "tinydocker", "--root", str(root)]
        self.env = {k: v for k, v in os.environ.items() if k != "TINYDOCKER_ROOT"}

    def __call__(self, *args, input=None, timeout=60, check=False, **kw) -> subprocess.CompletedProcess:
        res = subprocess.run(self.cmd + list(args), input=input, capture_output=True, timeout=timeout,
                             env=kw.pop("env", self.env), **kw)
        if check and res.returncode != 0:
            raise AssertionError(f"{args} exited {res.returncode}: {res.stderr.decode()}")
        return res

    def out(self, *args, **kw) -> str:
        return self(*args, check=True, **kw).stdout.decode()

    def popen(self, *args, **kw) -> subprocess.Popen:
        kw.setdefault("stdout", subprocess.PIPE)
        kw.setdefault("stderr", subprocess.PIPE)
        return subprocess.Popen(self.cmd + list(args), env=self.env, **kw)

    @property
    def containers(self) -> Path:
        return self.root / "state" / "containers"

    def record(self, name: str) -> dict:
        with open(self.containers / name / "record.toml", "rb") as f:
            return tomllib.load(f)

    def wait_running(self, name: str, timeout: float = 20) -> dict:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            try:
                rec = self.record(name)
                if rec.get("status") == "running":
                    return rec
            except (FileNotFoundError, tomllib.TOMLDecodeError):
                pass
            time.sleep(0.02)
        raise AssertionError(f"container {name} never reached running")

    def wait_trap(self, name: str, sig: int, command: str = "sh", timeout: float = 20) -> dict:
        """The record of container `name` once its PID 1 runs `command` and has a handler for
        `sig`: its shell's `trap` is set (a PID 1 ignores a signal it has no handler for)."""
        rec = self.wait_running(name, timeout)
        wait_for(lambda: proc.comm(rec["pid"]) == command and catches(rec["pid"], sig), timeout,
                 what=f"{name}'s handler for signal {sig}")
        return rec

    def wait_asleep(self, name: str, *where: str, command: str = "sh", timeout: float = 20) -> dict:
        """The record of container `name` once its PID 1 runs `command` and sleeps in the kernel
        in one of `where` (see asleep_in): waiting on its input, say."""
        rec = self.wait_running(name, timeout)
        wait_for(lambda: proc.comm(rec["pid"]) == command and asleep_in(rec["pid"], *where), timeout,
                 what=f"{name}'s {command} asleep in {' or '.join(where)}")
        return rec

    def image_rootfs(self, name: str = "busybox") -> Path:
        """The directory of a one-layer image's layer (where a run's lower directory points)."""
        import tomllib

        with open(self.root / "images" / "index.toml", "rb") as f:
            index = tomllib.load(f)
        full = name if "/" in name else f"docker.io/library/{name}"
        full = full if ":" in full.rsplit("/", 1)[-1] else f"{full}:latest"
        for image in index["images"].values():
            if full in image["names"]:
                assert len(image["layers"]) == 1, f"{name} has {len(image['layers'])} layers"
                return self.root / "images" / "layers" / image["layers"][0].split(":", 1)[1]
        raise AssertionError(f"no image {name} in {self.root}")


def _kill_leftovers(root: Path) -> None:
    containers = root / "state" / "containers"
    if not containers.is_dir():
        return
    for rec_file in containers.glob("*/record.toml"):
        try:
            rec = tomllib.loads(rec_file.read_text())
        except (OSError, tomllib.TOMLDecodeError):
            continue
        pid, ticks = rec.get("pid"), rec.get("start_ticks")
        if pid and proc.is_alive(pid, ticks):
            try:
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
            deadline = time.monotonic() + 10
            while proc.is_alive(pid, ticks) and time.monotonic() < deadline:
                time.sleep(0.01)


# Set when another test run shares this machine (a second developer's run): the checks
# above are machine-wide, so each run would take the other's containers for its leaks (and
# kill them). Then only cgroups of this root's recorded containers count, and devices not
# at all: weaker, for development only; CI runs alone and checks everything.
BESIDE = bool(os.environ.get("TINYDOCKER_TESTS_BESIDE"))
# TINYDOCKER_TEST_RUNTIME=runc (or tinydocker-runtime): every test data root runs its containers on it
RUNTIME = os.environ.get("TINYDOCKER_TEST_RUNTIME", "")


def _own(cgroup_paths: set[str], root: Path) -> set[str]:
    if not BESIDE:
        return cgroup_paths
    ids = set()
    for rec_file in (root / "state" / "containers").glob("*/record.toml"):
        try:
            ids.add(tomllib.loads(rec_file.read_text())["id"])
        except (OSError, KeyError, tomllib.TOMLDecodeError):
            continue
    return {p for p in cgroup_paths if os.path.basename(p) in ids}


@pytest.fixture
def td(tmp_path_factory):
    root = tmp_path_factory.mktemp("tdroot")
    if RUNTIME:
        # the whole suite on an OCI runtime: the data root's default (README, "The engine on the seam")
        (root / "config.toml").write_text(f'runtime = "{RUNTIME}"\n')
    helper = TD(root)
    cgroups_before = container_cgroups()
    links_before = network_links()
    helper.cgroups_before = cgroups_before
    yield helper
    _kill_leftovers(root)
    # a container's `run` removes its cgroup as it ends: give finishing ones time (five ending at
    # once take a third of a second here, and more than five seconds in the emulated VM)
    deadline = time.monotonic() + 60
    while container_cgroups() - cgroups_before and time.monotonic() < deadline:
        time.sleep(0.05)
    leaked_cgroups = _own(container_cgroups() - cgroups_before, root)
    _remove_cgroups(leaked_cgroups)
    # once the containers' cgroups are gone their monitors have released their ports
    leaked_ports = published_ports(root)
    release_networks(root)
    # the container's overlay lives and dies in its own mount namespace: none may show here
    deadline = time.monotonic() + 30
    while host_mounts_under(root) and time.monotonic() < deadline:
        time.sleep(0.05)
    leaked = host_mounts_under(root)
    shutil.rmtree(root, ignore_errors=True)
    # a container's veth pair goes with its network namespace, which the kernel frees a moment later
    deadline = time.monotonic() + 30
    while network_links() - links_before and time.monotonic() < deadline:
        time.sleep(0.05)
    leaked_links = set() if BESIDE else network_links() - links_before
    for name in leaked_links:
        netlink.delete_link(name)
    assert not leaked, f"mounts left on the host: {leaked}"
    assert not leaked_links, f"network devices left behind: {sorted(leaked_links)}"
    assert not leaked_ports, f"published ports left in nftables: {leaked_ports}"
    assert not leaked_cgroups, f"cgroups left behind: {sorted(leaked_cgroups)}"


def wait_for(predicate, timeout: float = 20, what: str = "condition"):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(0.02)
    raise AssertionError(f"timed out waiting for {what}")


# Ports for a test to publish or serve on: free when picked (another process could still take
# one before the test binds it, which tests running one at a time do not meet).

_given_ports: set[int] = set()


def free_port() -> int:
    """A loopback TCP port free now, never one given before in this run (two asked for at
    once must differ)."""
    while True:
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            port = s.getsockname()[1]
        if port not in _given_ports:
            _given_ports.add(port)
            return port


def free_ports(count: int, proto=socket.SOCK_STREAM) -> int:
    """The first of `count` consecutive ports free now on every IPv4 address of the host."""
    while True:
        base = random.randrange(20000, 30000)
        held = []
        try:
            for p in range(base, base + count):
                s = socket.socket(socket.AF_INET, proto)
                held.append(s)
                s.bind(("0.0.0.0", p))
            return base
        except OSError:
            continue
        finally:
            for s in held:
                s.close()


# What a process is doing, from /proc: for the conditions a test waits for instead of sleeping.

def catches(pid: int, sig: int) -> bool:
    """Whether the process has a handler of its own for `sig` (its SigCgt mask)."""
    try:
        with open(f"/proc/{pid}/status") as f:
            caught = next(line for line in f if line.startswith("SigCgt:")).split()[1]
    except (OSError, StopIteration):
        return False
    return bool(int(caught, 16) >> (sig - 1) & 1)


def asleep_in(pid: int, *where: str) -> bool:
    """Whether the process sleeps in a kernel function whose name contains one of `where`
    (its wchan; "0" while it runs). In part, as kernels rename them: anon_pipe_read, pipe_read."""
    try:
        with open(f"/proc/{pid}/wchan") as f:
            wchan = f.read()
    except OSError:
        return False
    return any(part in wchan for part in where)


def has_open(pid: int, path) -> bool:
    """Whether the process holds `path` open (a follower reading a journal or a log, say)."""
    target = os.path.realpath(path)
    try:
        fds = os.listdir(f"/proc/{pid}/fd")
    except OSError:
        return False
    for fd in fds:
        try:
            if os.readlink(f"/proc/{pid}/fd/{fd}") == target:
                return True
        except OSError:
            continue
    return False
