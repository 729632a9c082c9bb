"""An ordinary user's limits on pure cgroup v2 with a delegated subtree (issue 23): the user
placed in a subtree made and chowned as systemd's Delegate=yes does; its containers' cgroups
made below it, with -m, --cpus and --pids-limit written and enforced, `update`, `pause`,
`unpause` and `stats` working as root's, and nothing left after `rm` (nor after a SIGKILLed
`run`, once `rm -f` has run); the OCI runtime's default cgroup there too. Run in the cgroup-v2
VM (tests/vm/cgroup-v2.sh); elsewhere they skip: a hybrid or v1 host delegates nothing to
an ordinary user, which tests/rootless/test_rootless_run.py shows refused in one line."""

import json
import os
import signal
import subprocess
import time
from pathlib import Path

import pytest

from rootless_fixtures import user, user_bundle, user_python  # noqa: F401 - the fixtures

from tinydocker.cgroups import layout

WHERE = layout()
pytestmark = [
    pytest.mark.skipif(WHERE.version != "v2", reason=f"needs pure cgroup v2 (this host's cgroups are "
                       f"{WHERE.version}: no subtree can be delegated to a user; see tests/vm/cgroup-v2.sh)"),
    pytest.mark.skipif(os.geteuid() != 0, reason="delegating a subtree to a throwaway user needs root"),
]


@pytest.fixture
def delegated(user):  # noqa: F811
    """(the user, its delegated subtree); its commands start in a leaf below the subtree."""
    top = user.delegate(WHERE.v2)
    res = user.td("image", "build", "busybox")
    assert res.returncode == 0, res.stderr
    return user, top


def _leaf(u, top: Path, name: str) -> Path:
    cid = json.loads(u.td("inspect", name).stdout)[0]["Id"]
    return top / "tinydocker" / cid


def _read(path: Path) -> str:
    return path.read_text().strip()


def test_limits_are_written_and_enforced_in_the_users_subtree(delegated):
    u, top = delegated
    res = u.td("run", "-d", "--network", "none", "-m", "64m", "--cpus", "0.5", "--pids-limit", "8",
               "lim", "sleep", "600")
    assert res.returncode == 0, res.stderr
    leaf = _leaf(u, top, "lim")
    assert _read(leaf / "memory.max") == str(64 << 20)
    assert _read(leaf / "cpu.max") == "50000 100000"
    assert _read(leaf / "pids.max") == "8"
    init = json.loads(u.td("inspect", "lim").stdout)[0]["State"]["Pid"]
    assert init in [int(p) for p in _read(leaf / "cgroup.procs").split()]
    # inside, its own cgroup is the root of what it sees
    res = u.td("exec", "lim", "sh", "-c", "cat /proc/self/cgroup; cat /sys/fs/cgroup/pids.max")
    assert res.returncode == 0, res.stderr
    assert res.stdout.decode().split("\n")[:2] == ["0::/", "8"], res.stdout
    # the pids limit holds: forks past it fail, and the kernel counts them
    res = u.td("exec", "lim", "sh", "-c", "for i in 1 2 3 4 5 6 7 8 9 10; do sleep 30 >/dev/null 2>&1 & done; echo forked")
    assert b"can't fork" in res.stderr or b"Resource temporarily unavailable" in res.stderr, res
    events = dict(line.split() for line in _read(leaf / "pids.events").splitlines())
    assert int(events["max"]) > 0
    assert u.td("rm", "-f", "lim").returncode == 0
    assert not leaf.exists()
    assert not (top / "tinydocker").exists()  # the user's shared parent goes with its last container


def test_update_pause_unpause_and_stats(delegated):
    u, top = delegated
    res = u.td("run", "-d", "--network", "none", "-m", "64m", "upd", "sleep", "600")
    assert res.returncode == 0, res.stderr
    leaf = _leaf(u, top, "upd")
    res = u.td("update", "--memory", "96m", "--pids-limit", "30", "--cpus", "1.5", "upd")
    assert res.returncode == 0, res.stderr
    assert (_read(leaf / "memory.max"), _read(leaf / "pids.max"), _read(leaf / "cpu.max")) == \
        (str(96 << 20), "30", "150000 100000")
    res = u.td("stats", "--no-stream", "--format", "{{.MemUsage}} {{.PIDs}}", "upd")
    assert res.returncode == 0, res.stderr
    usage, pids = res.stdout.decode().rsplit(None, 1)
    assert usage.endswith("/ 96MiB") and pids == "1", res.stdout
    assert u.td("pause", "upd").returncode == 0
    assert _read(leaf / "cgroup.freeze") == "1" and "frozen 1" in _read(leaf / "cgroup.events")
    assert u.td("inspect", "-f", "{{.State.Status}}", "upd").stdout == b"paused\n"
    assert u.td("unpause", "upd").returncode == 0
    assert "frozen 0" in _read(leaf / "cgroup.events")
    res = u.td("exec", "upd", "echo", "running")
    assert res.stdout == b"running\n", res.stderr
    assert u.td("rm", "-f", "upd").returncode == 0
    assert not leaf.exists() and not (top / "tinydocker").exists()


def test_a_killed_run_leaves_nothing_rm_f_and_prune_cannot_clean(delegated):
    u, top = delegated
    for i, delay in enumerate((1.0, 2.5, 4.0, 6.0)):  # along a start (emulated, it takes seconds)
        p = subprocess.Popen(u.command(u.python[0], "-m", "tinydocker", "run", "-d", "--network", "none",
                                       "--pids-limit", "20", f"k{i}", "sleep", "600"),
                             cwd=u.home, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        time.sleep(delay)
        p.send_signal(signal.SIGKILL)
        p.wait()
    # removed from outside the subtree (an ssh login's): each record says where its cgroup is,
    # said before the cgroup was made
    inside, u.cgroup = u.cgroup, None
    try:
        for name in u.td("ps", "-a", "--format", "{{.Names}}").stdout.decode().split():
            res = u.td("rm", "-f", name)
            assert res.returncode == 0, res.stderr
    finally:
        u.cgroup = inside
    parent = top / "tinydocker"
    assert not parent.exists() or not [e for e in parent.iterdir() if e.is_dir()], list(parent.iterdir())
    # a cgroup its container's record never knew of (killed between the two): prune's, once old
    stray = parent / ("0" * 64)
    assert u("mkdir", "-p", str(stray)).returncode == 0
    past = time.time() - 3600
    os.utime(stray, (past, past))
    res = u.td("system", "prune", "-f")
    assert res.returncode == 0, res.stderr
    assert ("0" * 64).encode() in res.stdout, res.stdout
    assert not parent.exists(), [e.name for e in parent.iterdir() if e.is_dir()]


def test_a_container_made_in_the_subtree_is_reached_from_outside_it(delegated):
    """Commands from an ssh login start in root's session scope, outside the subtree: the
    record says where the container's cgroup was made, so `stats`, `pause`, `unpause` and `rm
    -f` of a paused one from there still reach it, and `rm` leaves no cgroup behind."""
    u, top = delegated
    res = u.td("run", "-d", "--network", "none", "--pids-limit", "9", "far", "sleep", "600")
    assert res.returncode == 0, res.stderr
    leaf = _leaf(u, top, "far")
    inside, u.cgroup = u.cgroup, None  # from now on its commands start in the test's own cgroup
    try:
        res = u.td("stats", "--no-stream", "--format", "{{.PIDs}}", "far")
        assert (res.returncode, res.stdout) == (0, b"1\n"), res.stderr
        assert u.td("pause", "far").returncode == 0
        assert _read(leaf / "cgroup.freeze") == "1"
        assert u.td("ps", "--format", "{{.Status}}").stdout.decode().endswith("(Paused)\n")
        assert u.td("unpause", "far").returncode == 0
        assert _read(leaf / "cgroup.freeze") == "0"
        assert u.td("pause", "far").returncode == 0  # rm -f thaws it to kill it: from here too
        res = u.td("rm", "-f", "far")
        assert res.returncode == 0, res.stderr
        assert not leaf.exists() and not (top / "tinydocker").exists()
    finally:
        u.cgroup = inside


def test_the_oci_runtime_makes_its_default_cgroup_in_the_users_subtree(delegated):
    u, top = delegated
    doc = user_bundle(u)
    b = u.home / "bundle"
    doc["process"]["args"] = ["sh", "-c", "cat /sys/fs/cgroup/pids.max /sys/fs/cgroup/memory.max"]
    doc["linux"]["resources"] = {"pids": {"limit": 10}, "memory": {"limit": 32 << 20}}
    (b / "config.json").write_text(json.dumps(doc))
    res = u(u.python[0], "-m", "tinydocker.runtime", "--root", str(u.home / "state"), "run", "--bundle", str(b),
            "rc1", cwd=b)
    assert res.returncode == 0, res.stderr
    # no cgroup namespace in runc's rootless template: its own leaf is bound at /sys/fs/cgroup
    assert res.stdout.decode().split() == ["10", str(32 << 20)], res.stdout
    assert not (top / "tinydocker-runtime").exists()  # run deletes its container, and the parent made for it


def test_outside_a_delegated_subtree_a_limit_is_refused_in_one_line(user):  # noqa: F811
    """The same user started from root's cgroup (as an ssh login's session scope is root's):
    nothing of its own to write a limit into, said in one line, nothing made."""
    u = user
    res = u.td("run", "--rm", "--network", "none", "--pids-limit", "10", "nodeleg", "true")
    assert res.returncode == 125 and res.stderr.count(b"\n") == 1, res.stderr
    assert b"needs a cgroup of the container's own" in res.stderr and b"Traceback" not in res.stderr
    assert u.td("ps", "-aq").stdout == b""
