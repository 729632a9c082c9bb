"""podman (Debian's 4.3, with conmon) drives tinydocker-runtime as it drives runc: each
scenario runs once per runtime, in a throwaway podman store, so that any difference between
them shows as one failing parameter.

One more test runs a single configuration, rich in what a runtime must honour, under both
and compares what the program sees, row by row (where runc 1.1.5 strays from the config,
ours is held to the config).

podman is given the runtime by name (--runtime NAME, its path in containers.conf's
[engine.runtimes], as the README shows); the runtime keeps its state in its default root
(/run/runc, /run/tinydocker-runtime), as for any podman user: podman's cleanup process would
not be given a --runtime-flag root=…. Containers have no network (nothing may leave the
machine). Each test ends with podman's `rm -af` and checks that nothing of its containers is
left: runtime state, process, conmon, cgroup, mount.
"""

import contextlib
import json
import os
import resource
import signal
import subprocess
import tempfile
from pathlib import Path

import pytest

from conftest import catches, host_mounts_under, wait_for
from peers import RUNTIMES, alive, frozen, memory_limit, needs, processes_mentioning, remove_new_dirs, runtime_path

IMAGE = "localhost/peer:1"
pytestmark = needs("podman", "conmon", package="podman conmon")


def _libpod_parents() -> set[str]:
    """podman's cgroupfs parent in each v1 hierarchy, or on cgroup2's root (conmon's cgroup,
    libpod_parent/conmon, lives on in it after its containers)."""
    return {str(p) for p in Path("/sys/fs/cgroup").glob("*/libpod_parent")} | (
        {"/sys/fs/cgroup/libpod_parent"} if os.path.isdir("/sys/fs/cgroup/libpod_parent") else set())


def _container_cgroups() -> set[str]:
    """The cgroups made in podman's parent for containers (libpod_parent/libpod-ID, and
    whatever else a runtime makes there), conmon's own left out."""
    return {str(d) for parent in _libpod_parents() for d in Path(parent).iterdir()
            if d.is_dir() and d.name != "conmon"}


def _ulimits() -> tuple[int, int]:
    """nofile and nproc limits podman may give: its defaults for root (nofile 1048576, nproc
    4194304, whenever one --ulimit is given) can only be set with CAP_SYS_RESOURCE, which a
    sandboxed root may lack; the host's own hard limits can always be kept. podman lowers its
    own nproc to 32768 before it starts conmon, hence that bound."""
    nofile = resource.getrlimit(resource.RLIMIT_NOFILE)[1]
    nproc = resource.getrlimit(resource.RLIMIT_NPROC)[1]
    return (min(1048576, nofile if nofile != resource.RLIM_INFINITY else 1048576),
            min(32768, nproc if nproc != resource.RLIM_INFINITY else 32768))


def _conf(store: Path, name: str, path: str) -> dict:
    """podman's configuration files, the host's left out (its registries, hooks, storage
    options); the runtime is named in containers.conf, as the README shows users."""
    nofile, nproc = _ulimits()
    (store / "containers.conf").write_text(
        f'[containers]\ndefault_ulimits = ["nofile={nofile}:{nofile}", "nproc={nproc}:{nproc}"]\n'
        f'[engine.runtimes]\n"{name}" = ["{path}"]\n')
    (store / "registries.conf").write_text("unqualified-search-registries = []\n")
    (store / "storage.conf").write_text(
        f'[storage]\ndriver = "overlay"\ngraphroot = "{store / "root"}"\nrunroot = "{store / "run"}"\n')
    (store / "tmp").mkdir()
    return {**os.environ, "CONTAINERS_CONF": str(store / "containers.conf"),
            "CONTAINERS_REGISTRIES_CONF": str(store / "registries.conf"),
            "CONTAINERS_STORAGE_CONF": str(store / "storage.conf"), "TMPDIR": str(store / "tmp")}


class Podman:
    """podman on one store with one runtime, and what its containers were on the host."""

    def __init__(self, store: Path, runtime: str, name: str):
        self.store, self.runtime, self.name = store, runtime, name
        self.state = Path("/run") / os.path.basename(runtime)  # the runtime's default --root
        self.env = _conf(store, name, runtime)
        self.argv = ["podman", "--root", str(store / "root"), "--runroot", str(store / "run"),
                     "--tmpdir", str(store / "libpod"), "--cgroup-manager", "cgroupfs", "--events-backend", "none",
                     "--network-config-dir", str(store / "net"), "--storage-driver", "overlay",
                     "--runtime", name]
        self.pids: list[int] = []

    def __call__(self, *args, input=None, timeout=120) -> subprocess.CompletedProcess:
        return subprocess.run(self.argv + list(args), input=input, capture_output=True, text=True,
                              env=self.env, timeout=timeout, stdin=None if input is not None else subprocess.DEVNULL)

    def ok(self, *args, **kw) -> str:
        done = self(*args, **kw)
        assert done.returncode == 0, f"podman {' '.join(args)} under {self.name} exited {done.returncode}: " \
                                     f"{done.stderr}"
        return done.stdout

    def run_d(self, name: str, *command: str, flags=()) -> int:
        """A detached container; its init's pid once podman says it runs."""
        self.ok("run", "-d", "--network", "none", "--name", name, *flags, IMAGE, *command)
        return self.pid(name)

    def pid(self, name: str) -> int:
        pid = int(self.ok("inspect", "--format", "{{.State.Pid}}", name))
        assert pid > 0, f"{name} has no process under {self.name}"
        if pid not in self.pids:
            self.pids.append(pid)
        return pid

    def inspect(self, name: str) -> dict:
        return json.loads(self.ok("inspect", name))[0]


def _states_of(root: Path, store: Path) -> list[str]:
    """The runtime's state directories of containers of this store (their bundle is in it)."""
    found = []
    for state in root.glob("*/state.json"):
        try:
            if str(store) in state.read_text():
                found.append(state.parent.name)
        except OSError:
            continue  # deleted as we looked
    return found


@contextlib.contextmanager
def _podman(name: str, image) -> Podman:
    """A throwaway store with `image` loaded as IMAGE, podman on it driving runtime `name`;
    at the end everything is removed, and checked gone (unless the body failed)."""
    runtime = runtime_path(name)
    # short: conmon's attach socket lives under the runroot, and a unix socket's path is short
    store = Path(tempfile.mkdtemp(prefix="tdpm", dir="/tmp"))
    parents, cgroups_before = _libpod_parents(), _container_cgroups()
    p = Podman(store, runtime, name)
    failed = False
    try:
        p.ok("load", "-q", "-i", str(image.docker_archive))
        p.ok("tag", "docker.io/library/base:latest", IMAGE)
        yield p
    except BaseException:
        failed = True
        raise
    finally:
        p("rm", "-af", "-t", "0")
        # conmon runs podman's cleanup command as its container ends, which may outlast rm
        try:
            wait_for(lambda: not processes_mentioning(str(store)), timeout=30)
        except AssertionError:
            pass
        monitors = processes_mentioning(str(store))
        # a container's cgroup goes as podman's cleanup ends; another run's podman may be
        # ending one of its own as we look (tests beside this one)
        try:
            wait_for(lambda: not (_container_cgroups() - cgroups_before), timeout=20)
        except AssertionError:
            pass
        cgroups = sorted(_container_cgroups() - cgroups_before)
        state = _states_of(p.state, store)
        live = [pid for pid in p.pids if alive(pid)]
        p("rmi", "-af")
        p("system", "reset", "-f")
        mounts = host_mounts_under(store)
        subprocess.run(["umount", "-R", "-l", str(store)], capture_output=True)
        subprocess.run(["rm", "-rf", "--one-file-system", str(store)])
        remove_new_dirs(parents, _libpod_parents())
        if not failed:
            assert not state, f"{name} left container state: {state}"
            assert not live, f"container processes left: {live}"
            assert not monitors, f"processes of the store left: {monitors}"
            assert not cgroups, f"container cgroups left: {cgroups}"
            assert not mounts, f"mounts left: {mounts}"


@pytest.fixture(params=RUNTIMES)
def podman(request, base_image):
    with _podman(request.param, base_image) as p:
        yield p


def test_run_gives_the_programs_output_and_exit_status(podman):
    done = podman("run", "--rm", "--network", "none", IMAGE, "echo", "hi")
    assert (done.returncode, done.stdout) == (0, "hi\n"), done.stderr
    done = podman("run", "--rm", "--network", "none", IMAGE, "sh", "-c", "echo out; echo err >&2; exit 3")
    assert (done.returncode, done.stdout) == (3, "out\n") and "err\n" in done.stderr, done.stderr
    # podman's own codes for a program that cannot run: 127 not found, 126 not executable
    assert podman("run", "--rm", "--network", "none", IMAGE, "nosuch").returncode == 127
    assert podman("run", "--rm", "--network", "none", IMAGE, "/etc").returncode == 126
    done = podman("run", "--rm", "-i", "--network", "none", IMAGE, "cat", input="fed\n")
    assert (done.returncode, done.stdout) == (0, "fed\n"), done.stderr
    done = podman("run", "--rm", "-t", "--network", "none", IMAGE, "tty")
    assert done.returncode == 0 and done.stdout.startswith("/dev/pts/"), done
    # --init: podman's catatonit, bound in, is the container's PID 1
    out = podman.ok("run", "--rm", "--init", "--network", "none", IMAGE,
                    "sh", "-c", "cat /proc/1/cmdline | tr '\\0' ' '")
    assert out.startswith("/run/podman-init -- sh -c "), out
    assert podman.ok("ps", "-aq") == ""


def test_pod_containers_share_the_infra_containers_namespaces(podman):
    """A pod's infra container (podman's own pause image, made locally from catatonit) holds the
    namespaces; the pod's containers are created joining them by path."""
    podman.ok("pod", "create", "--name", "p", "--network", "none", "--share", "uts,ipc,net", "--hostname", "podhost")
    podman.run_d("first", "sh", "-c", "echo shared > /dev/shm/mark; sleep 1000", flags=("--pod", "p"))
    wait_for(lambda: podman("exec", "first", "test", "-e", "/dev/shm/mark").returncode == 0, what="the mark")
    out = podman.ok("run", "--rm", "--pod", "p", IMAGE, "sh", "-c", "hostname; cat /dev/shm/mark")
    assert out.split() == ["podhost", "shared"]
    pod = podman.ok("pod", "inspect", "--format", "{{.Id}}", "p").strip()
    podman.ok("pod", "rm", "-f", "-t", "0", "p")
    # the pod's cgroup (libpod_parent/POD, its containers' parent) goes too: podman 4.3 removes it
    # from the controllers' hierarchies, and tinydocker-runtime the directories it made itself
    # (name=systemd's, where podman makes none). runc leaves the ones it made, in name=systemd's
    # and, on a hybrid host, the unified hierarchy: podman's and runc's leak, removed here
    wait_for(lambda: not alive(podman.pids[0]), what="the pod's first container to end")
    left = {d for d in _container_cgroups() if os.path.basename(d) == pod}
    if podman.name == "runc":
        remove_new_dirs(set(), left)
    else:
        assert not left, f"the pod's cgroup left: {sorted(left)}"


def test_run_honours_user_workdir_env_and_hostname(podman):
    out = podman.ok("run", "--rm", "--network", "none", "--user", "app", "--workdir", "/tmp", "-e", "WHO=peer",
                    "--hostname", "peerhost", IMAGE, "sh", "-c", "id -u; id -g; pwd; echo $WHO; hostname")
    assert out.split() == ["1000", "1000", "/tmp", "peer", "peerhost"]


def test_exec_into_a_running_container(podman):
    podman.run_d("c", "sleep", "1000")
    done = podman("exec", "c", "sh", "-c", "echo in; echo err >&2; exit 4")
    assert (done.returncode, done.stdout, done.stderr) == (4, "in\n", "err\n")
    done = podman("exec", "-i", "c", "cat", input="piped\n")
    assert (done.returncode, done.stdout) == (0, "piped\n"), done.stderr
    out = podman.ok("exec", "--user", "app", "--workdir", "/home/app", "-e", "WHO=exec", "c",
                    "sh", "-c", "id -u; pwd; echo $WHO")
    assert out.split() == ["1000", "/home/app", "exec"]
    # the exec'd process is in the container: its pid namespace (init is 1), its cgroup
    out = podman.ok("exec", "c", "sh", "-c", "cat /proc/1/cmdline | tr '\\0' ' '; echo; cat /proc/self/cgroup")
    assert out.splitlines()[0] == "sleep 1000 "
    assert podman("exec", "c", "nosuch").returncode == 127
    assert podman("exec", "c", "/etc").returncode == 126
    done = podman("exec", "-t", "c", "tty")
    assert done.returncode == 0 and done.stdout.startswith("/dev/pts/"), done
    # detached: podman returns at once, conmon waits on the process
    podman.ok("exec", "-d", "c", "touch", "/tmp/touched")
    wait_for(lambda: podman("exec", "c", "test", "-e", "/tmp/touched").returncode == 0, what="the detached exec")
    podman.ok("rm", "-f", "-t", "0", "c")


def test_attach_and_logs(podman):
    pid = podman.run_d("c", "sh", "-c", "read line; echo got $line; exit 5", flags=("-i",))
    wait_for(lambda: alive(pid), what="the container's shell")
    # podman 4.3's attach ends when its input does, with status 0 and a newline of its own
    # (so with runc too): the container's status is wait's
    done = podman("attach", "c", input="this\n")
    assert done.stdout.startswith("got this\n"), done
    assert podman.ok("wait", "c") == "5\n"
    assert podman.ok("logs", "c") == "got this\n"
    assert podman.inspect("c")["State"]["ExitCode"] == 5
    podman.ok("rm", "c")


def test_pause_and_unpause(podman):
    pid = podman.run_d("c", "sleep", "1000")
    podman.ok("pause", "c")
    state = podman.inspect("c")["State"]
    assert (state["Status"], state["Paused"]) == ("paused", True)
    assert podman.ok("ps", "-a", "--format", "{{.Status}}") == "Paused\n"
    assert frozen(pid)
    podman.ok("unpause", "c")
    assert podman.inspect("c")["State"]["Status"] == "running"
    assert not frozen(pid)
    assert podman.ok("exec", "c", "echo", "thawed") == "thawed\n"
    podman.ok("rm", "-f", "-t", "0", "c")


def test_update_memory(podman):
    pid = podman.run_d("c", "sleep", "1000", flags=("--memory", "96m"))
    assert memory_limit(pid) == 96 << 20
    podman.ok("update", "--memory", "64m", "c")
    assert memory_limit(pid) == 64 << 20  # (podman 4.3's inspect still says 96m, with runc too)
    podman.ok("rm", "-f", "-t", "0", "c")


def test_top(podman):
    pid = podman.run_d("c", "sleep", "1000")
    rows = podman.ok("top", "c", "hpid", "args").splitlines()
    assert rows[1].split() == [str(pid), "sleep", "1000"], rows
    # ps(1)'s own options: podman runs ps in the container, through the runtime's exec
    rows = podman.ok("top", "c", "-o", "pid,args").splitlines()
    assert rows[1].split() == ["1", "sleep", "1000"], rows
    podman.ok("rm", "-f", "-t", "0", "c")


def test_stop_sends_sigterm_then_sigkill(podman):
    pid = podman.run_d("trapped", "sh", "-c", "trap 'exit 7' TERM; while :; do sleep 1; done")
    wait_for(lambda: catches(pid, signal.SIGTERM), what="the shell's trap")
    podman.ok("stop", "-t", "30", "trapped")
    assert podman.inspect("trapped")["State"]["ExitCode"] == 7
    # PID 1 without a handler ignores SIGTERM: podman kills it when the timeout is over
    pid = podman.run_d("deaf", "sleep", "1000")
    podman.ok("stop", "-t", "1", "deaf")
    state = podman.inspect("deaf")["State"]
    assert (state["Status"], state["ExitCode"]) == ("exited", 137)
    assert not alive(pid)
    # and a stopped container starts again
    podman.ok("start", "trapped")
    pid = podman.pid("trapped")
    wait_for(lambda: catches(pid, signal.SIGTERM), what="the shell's trap")
    podman.ok("stop", "-t", "30", "trapped")
    podman.ok("rm", "trapped", "deaf")


def test_rm_force_removes_a_running_container(podman):
    pid = podman.run_d("c", "sleep", "1000")
    podman.ok("rm", "-f", "-t", "0", "c")
    assert not alive(pid)
    assert podman.ok("ps", "-aq") == ""
    assert podman("container", "exists", "c").returncode == 1


# What a program sees of itself and its container, one row per line ("key value"), for the
# comparison below: a mount row is its point, filesystem type and whether it is read-only.
PROBE = "; ".join([
    "grep -E '^(Cap[A-Za-z]+|NoNewPrivs|Seccomp|Uid|Gid|Groups):' /proc/self/status | tr -d ':'",
    "echo id $(id)", "echo hostname $(hostname)", "echo pwd $(pwd)", "echo umask $(umask)",
    "echo nofile $(ulimit -Sn) $(ulimit -Hn)", "echo data $(cat /data/hello)",
    "touch /scratch/x && echo scratch writable", "touch /x 2>/dev/null || echo root read-only",
    "echo port_start $(cat /proc/sys/net/ipv4/ip_unprivileged_port_start)",
    "echo memory $(cat /sys/fs/cgroup/memory/memory.limit_in_bytes /sys/fs/cgroup/memory.max 2>/dev/null)",
    "echo pids $(cat /sys/fs/cgroup/pids/pids.max /sys/fs/cgroup/pids.max 2>/dev/null)",
    "echo shm $(df -k /dev/shm | tail -1 | tr -s ' ' | cut -d' ' -f2)",
    "echo dev $(ls /dev | sort | tr '\\n' ' ')",
    "env | grep -v ^HOSTNAME= | sort | sed 's/^/env /'",
    "cat /proc/self/mountinfo | while read a b c d point opts rest; do "
    "echo mount:$point ${rest#*- } ${opts%%,*}; done",
])


def _rows(output: str) -> dict:
    rows = {}
    for line in output.strip().splitlines():
        key, value = (line.split(None, 1) + [""])[:2]
        if key.startswith("mount:"):
            fstype, ro = value.split()[0], value.split()[-1]
            value = f"{fstype} {ro}"
        rows[key] = rows[key] + "; " + value if key in rows and not key.startswith("mount:") else value
    return rows


def test_the_container_sees_what_it_sees_under_runc(base_image, tmp_path):
    """One podman configuration, rich in what the runtime must honour (user and groups,
    capabilities, no_new_privs, seccomp, rlimits, read-only root, tmpfs, a bind volume,
    sysctl, cgroup limits, /dev/shm's size, the environment), run under both runtimes: what
    the program sees is the same, row by row, in its init and in an exec."""
    data = tmp_path / "data"
    data.mkdir()
    (data / "hello").write_text("from the host\n")
    flags = ["--hostname", "probe", "--user", "1000:1000", "--group-add", "2000",
             "--workdir", "/home/app", "--read-only", "--tmpfs", "/scratch:size=1m,mode=1777", "--memory", "64m",
             "--pids-limit", "50", "--cap-drop", "all", "--cap-add", "chown,kill",
             "--security-opt", "no-new-privileges", "--ulimit", "nofile=512:1024",
             "--ulimit", f"nproc={_ulimits()[1]}:{_ulimits()[1]}", "--shm-size", "2m",
             "-e", "WHO=probe", "-v", f"{data}:/data:ro", "--sysctl", "net.ipv4.ip_unprivileged_port_start=80"]
    seen = {}
    for name in RUNTIMES:
        with _podman(name, base_image) as p:
            run = p("run", "--rm", "--network", "none", *flags, IMAGE, "sh", "-c", PROBE)
            assert run.returncode == 0, run.stderr
            p.run_d("c", "sleep", "1000", flags=flags)
            exec_ = p("exec", "c", "sh", "-c", PROBE)
            assert exec_.returncode == 0, exec_.stderr
            p.ok("rm", "-f", "-t", "0", "c")
            seen[name] = {"run": _rows(run.stdout), "exec": _rows(exec_.stdout)}
    # where runc (Debian 12's 1.1.5) does not do what the config asks, ours is held to the config
    runc_astray = {
        # podman asks a read-only cgroup mount; runc leaves v1's tmpfs under the hierarchies writable
        ("run", "mount:/sys/fs/cgroup"): "tmpfs ro", ("exec", "mount:/sys/fs/cgroup"): "tmpfs ro",
        # runc exec's NOFILE is reset by its Go runtime (opencontainers/runc#4195, fixed in 1.1.13)
        ("exec", "nofile"): "512 1024",
    }
    for what in ("run", "exec"):
        ours, runc = seen["tinydocker-runtime"][what], seen["runc"][what]
        for key in ours.keys() | runc.keys():
            if (what, key) in runc_astray and key in ours:
                assert ours[key] == runc_astray[what, key], (what, key, ours[key])
                runc.pop(key, None)
                ours.pop(key)
        differ = {k: (ours.get(k), runc.get(k)) for k in ours.keys() | runc.keys() if ours.get(k) != runc.get(k)}
        assert differ == {}, f"{what}: (tinydocker-runtime, runc) {differ}"
    # and what they agree on is what was asked
    rows = seen["tinydocker-runtime"]["run"]
    assert rows["id"] == "uid=1000(app) gid=1000(app) groups=1000(app),2000(extra)" and rows["NoNewPrivs"] == "1"
    assert (rows["nofile"], rows["memory"], rows["pids"], rows["shm"]) == ("512 1024", str(64 << 20), "50", "2048")
    assert (rows["data"], rows["scratch"], rows["root"], rows["port_start"]) == (
        "from the host", "writable", "read-only", "80")
    assert "WHO=probe" in rows["env"].split("; ") and rows["mount:/data"].endswith(" ro")
