"""The cgroup back-ends on their own: layout detection, v2 on a real cgroup2 mount, v2's
writes on a tree of plain files (for machines whose cgroup2 has no controllers), removal."""

import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from tinydocker import cgroups
from tinydocker.cgroups import limits
from tinydocker.errors import TinydockerError

WHERE = cgroups.layout()

PURE_V2 = """\
24 30 0:22 / /sys rw,nosuid,nodev,noexec,relatime shared:7 - sysfs sysfs rw
29 24 0:26 / /sys/fs/cgroup rw,nosuid,nodev,noexec,relatime shared:4 - cgroup2 cgroup2 rw,nsdelegate,memory_recursiveprot
"""
HYBRID = """\
31 23 0:28 / /sys/fs/cgroup rw,relatime - tmpfs tmpfs rw,mode=755
32 31 0:29 / /sys/fs/cgroup/cpu,cpuacct rw,relatime - cgroup cgroup rw,cpu,cpuacct
35 31 0:32 / /sys/fs/cgroup/memory rw,relatime - cgroup cgroup rw,memory
36 31 0:33 / /sys/fs/cgroup/net_cls,net_prio rw,relatime - cgroup cgroup rw,net_cls,net_prio
39 31 0:36 / /sys/fs/cgroup/pids rw,relatime - cgroup cgroup rw,pids
40 31 0:37 / /sys/fs/cgroup/systemd rw,relatime - cgroup cgroup rw,xattr,name=systemd
41 31 0:38 / /sys/fs/cgroup/unified rw,relatime - cgroup2 cgroup2 rw,nsdelegate
"""
V1_ONLY = """\
32 31 0:29 / /sys/fs/cgroup/my\\040cpu rw,relatime - cgroup cgroup rw,cpu
34 31 0:31 / /sys/fs/cgroup/cpuset rw,relatime - cgroup cgroup rw,cpuset
"""


def test_layout_detection():
    v2 = cgroups.layout(PURE_V2)
    assert (v2.version, v2.backend, v2.v2, v2.v1) == ("v2", "v2", "/sys/fs/cgroup", {})
    hybrid = cgroups.layout(HYBRID)
    assert (hybrid.version, hybrid.backend, hybrid.v2) == ("hybrid", "v1", "/sys/fs/cgroup/unified")
    # every v1 hierarchy (the container gets its own cgroup in each, see layout.py)
    assert hybrid.v1 == {"cpu": "/sys/fs/cgroup/cpu,cpuacct", "cpuacct": "/sys/fs/cgroup/cpu,cpuacct",
                         "memory": "/sys/fs/cgroup/memory", "pids": "/sys/fs/cgroup/pids",
                         "net_cls": "/sys/fs/cgroup/net_cls,net_prio", "net_prio": "/sys/fs/cgroup/net_cls,net_prio",
                         "name=systemd": "/sys/fs/cgroup/systemd"}
    assert hybrid.v1_options["/sys/fs/cgroup/systemd"] == "name=systemd"
    # systemd's own v1 tree next to a cgroup2 with the controllers is v2 for limits
    named_only = cgroups.layout(PURE_V2.replace("/sys/fs/cgroup rw", "/sys/fs/cgroup/unified rw") +
                                "40 31 0:37 / /sys/fs/cgroup/systemd rw - cgroup cgroup rw,xattr,name=systemd\n")
    assert (named_only.version, named_only.backend) == ("v2", "v2")
    # a v1 hierarchy is mounted again (inside the container) with all of its controllers
    assert hybrid.v1_options["/sys/fs/cgroup/cpu,cpuacct"] == "cpu,cpuacct"
    group = cgroups.open_cgroup("abc", hybrid)
    assert group.version == "v1" and len(group.hierarchies) == 5
    v1 = cgroups.layout(V1_ONLY)
    assert v1.version == "v1" and v1.v1["cpu"] == "/sys/fs/cgroup/my cpu"
    assert cgroups.layout("").version == "none"
    with pytest.raises(TinydockerError, match="no cgroup filesystem"):
        cgroups.open_cgroup("abc", cgroups.layout(""))


def test_shares_map_onto_weight_as_runc_does():
    assert cgroups.shares_to_weight(2) == 1
    assert cgroups.shares_to_weight(1024) == 39
    assert cgroups.shares_to_weight(262144) == 10000
    assert cgroups.shares_to_weight(1) == 1  # the kernel's floor for shares is 2


# -- v2 on the files it writes ----------------------------------------------------------------

@pytest.fixture
def fake_v2(tmp_path):
    """A directory laid out as a cgroup2 root whose controllers are all on offer."""
    (tmp_path / "cgroup.controllers").write_text("cpuset cpu io memory hugetlb pids rdma misc\n")
    (tmp_path / "cgroup.subtree_control").write_text("")
    return tmp_path


def test_v2_enables_controllers_down_the_path_and_writes_limits(fake_v2):
    lim = limits.build(memory="32m", memory_swap="96m", cpus="0.5", cpu_shares=512, cpuset_cpus="0",
                       cpuset_mems="0", pids_limit=10)
    group = cgroups.CgroupV2(str(fake_v2), "c0ffee")
    group.create(lim)
    parent, leaf = fake_v2 / "tinydocker", fake_v2 / "tinydocker" / "c0ffee"
    assert (fake_v2 / "cgroup.subtree_control").read_text() == "+cpu +cpuset +memory +pids"
    assert (parent / "cgroup.subtree_control").read_text() == "+cpu +cpuset +memory +pids"
    # only the leaf has limits and (later) processes: tinydocker/ stays an inner node
    assert not (parent / "cgroup.procs").exists() and not (leaf / "cgroup.subtree_control").exists()
    written = {f.name: f.read_text() for f in leaf.iterdir()}
    assert written == {"memory.max": str(32 << 20), "memory.swap.max": str(64 << 20), "cpu.max": "50000 100000",
                       "cpu.weight": "20", "cpuset.cpus": "0", "cpuset.mems": "0", "pids.max": "10"}
    group.join(4242)
    assert (leaf / "cgroup.procs").read_text() == "4242"


def test_v2_already_enabled_controllers_are_not_written_again(fake_v2):
    (fake_v2 / "cgroup.subtree_control").write_text("cpu memory pids\n")
    cgroups.CgroupV2(str(fake_v2), "c1").create(limits.Limits())
    assert (fake_v2 / "cgroup.subtree_control").read_text() == "+cpuset"


def test_v2_swap_defaults_and_unlimited(fake_v2):
    cgroups.CgroupV2(str(fake_v2), "a").create(limits.build(memory="32m"))
    assert (fake_v2 / "tinydocker/a/memory.swap.max").read_text() == str(32 << 20)
    cgroups.CgroupV2(str(fake_v2), "b").create(limits.build(memory="32m", memory_swap="-1"))
    assert (fake_v2 / "tinydocker/b/memory.swap.max").read_text() == "max"


def test_v2_reads_usage_and_oom_kills(fake_v2):
    group = cgroups.CgroupV2(str(fake_v2), "r")
    group.create(limits.Limits())
    leaf = fake_v2 / "tinydocker" / "r"
    (leaf / "cpu.stat").write_text("usage_usec 1500\nuser_usec 1000\nsystem_usec 500\n")
    (leaf / "memory.current").write_text("10485760\n")
    (leaf / "memory.stat").write_text("anon 8388608\ninactive_file 2097152\n")
    (leaf / "memory.max").write_text("max\n")
    (leaf / "pids.current").write_text("3\n")
    (leaf / "memory.events").write_text("low 0\nhigh 0\nmax 4\noom 1\noom_kill 1\noom_group_kill 0\n")
    assert group.usage() == cgroups.Usage(cpu_ns=1_500_000, memory=8 << 20, memory_limit=None, pids=3)
    assert group.oom_kills() == 1


def test_v2_refuses_a_limit_whose_controller_is_missing(fake_v2):
    (fake_v2 / "cgroup.controllers").write_text("cpu pids\n")
    with pytest.raises(TinydockerError, match="memory controller is not available"):
        cgroups.CgroupV2(str(fake_v2), "m").create(limits.build(memory="32m"))
    assert not (fake_v2 / "tinydocker").exists()


# -- real cgroup filesystems -------------------------------------------------------------------

def _sleeper():
    return subprocess.Popen(["sleep", "60"])


@pytest.mark.skipif(WHERE.v2 is None, reason="no cgroup2 mount on this machine")
def test_v2_on_the_real_cgroup2_mount():
    """Whatever controllers it offers (here possibly none), the v2 back-end's tree, joining,
    namespace and removal run against the kernel's cgroup2."""
    group = cgroups.CgroupV2(WHERE.v2, os.urandom(32).hex())
    group.create(limits.Limits())
    sleeper = _sleeper()
    try:
        group.join(sleeper.pid)
        assert f"0::/tinydocker/{group.id}\n" in open(f"/proc/{sleeper.pid}/cgroup").read()
        assert open(Path(WHERE.v2, "tinydocker", "cgroup.procs")).read() == ""  # no internal process
        assert group.usage().cpu_ns is not None  # cpu.stat exists with or without the cpu controller
        # a cgroup namespace taken inside the cgroup shows it as its root
        inner = subprocess.run(["sh", "-c", f"echo $$ > {group.leaf}/cgroup.procs && "
                                "exec unshare --cgroup cat /proc/self/cgroup"], capture_output=True, text=True)
        assert "0::/\n" in inner.stdout, inner
    finally:
        group.remove()  # kills the sleeper that lingers in it
    assert sleeper.wait(10) == -signal.SIGKILL
    assert not group.leaf.exists()


@pytest.mark.skipif(WHERE.v2 is None, reason="no cgroup2 mount on this machine")
def test_v2_freezer_on_the_real_cgroup2_mount(tmp_path):
    """pause and unpause through cgroup.freeze (a core file: there with or without controllers),
    and removal of a frozen cgroup."""
    _freezes(cgroups.CgroupV2(WHERE.v2, os.urandom(32).hex()), tmp_path)


@pytest.mark.skipif(WHERE.backend != "v1" or "freezer" not in WHERE.v1, reason="no v1 freezer here")
def test_v1_freezer_and_removal_of_a_frozen_cgroup(tmp_path):
    _freezes(cgroups.open_cgroup(os.urandom(32).hex(), WHERE), tmp_path)


def _freezes(group, tmp_path) -> None:
    """A counting process stops counting while its cgroup is frozen and goes on once thawed;
    a frozen cgroup is removed (on v1 a frozen task acts on SIGKILL only once thawed)."""
    import time

    count = tmp_path / "count"
    group.create(limits.Limits())
    count.touch()
    counter = subprocess.Popen(["sh", "-c", f"while :; do echo x >> {count}; done"])
    size = lambda: count.stat().st_size  # noqa: E731 - only ever grows
    try:
        group.join(counter.pid)
        assert not group.frozen() and group.pids() == [counter.pid]
        group.freeze()
        assert group.frozen()
        frozen_at = size()
        # a fixed wait, kept: that nothing happens has no event to wait for; the loop, thawed,
        # appends many times in it
        time.sleep(0.3)
        assert size() == frozen_at
        group.thaw()
        assert not group.frozen()
        deadline = time.monotonic() + 10
        while size() == frozen_at and time.monotonic() < deadline:
            time.sleep(0.01)
        assert size() > frozen_at
        group.freeze()
    finally:
        group.remove()
    assert counter.wait(10) == -signal.SIGKILL
    assert not group.exists()


def _race_removals(group_of, rounds: int) -> list[str]:
    """Remove each of `rounds` fresh cgroups from two processes at once, as a foreground run
    ending and an `rm -f` of it do; what either of them raised."""
    failures = []
    for _ in range(rounds):
        group = group_of(os.urandom(32).hex())
        group.create(limits.Limits())
        r, w = os.pipe()
        pids = []
        for _ in range(2):
            pid = os.fork()
            if pid == 0:
                code = 1
                try:
                    os.close(w)
                    os.read(r, 1)  # both go at once
                    group.remove()
                    code = 0
                except BaseException as e:  # noqa: BLE001 - reported to the test
                    sys.stderr.write(f"{type(e).__name__}: {e}\n")
                finally:
                    os._exit(code)
            pids.append(pid)
        os.close(r)
        os.close(w)  # EOF releases both
        codes = [os.waitstatus_to_exitcode(os.waitpid(pid, 0)[1]) for pid in pids]
        if any(codes):
            failures.append(f"round with exits {codes}")
        group.remove()
    return failures


@pytest.mark.skipif(WHERE.v2 is None, reason="no cgroup2 mount on this machine")
def test_v2_two_removals_at_once_both_succeed():
    """Found in the cgroup-v2 VM: `rm -f` of a foreground `run --rm` removed the cgroup between
    the run's check for cgroup.kill and its write, and the run died of FileNotFoundError (125)."""
    assert _race_removals(lambda cid: cgroups.CgroupV2(WHERE.v2, cid), 300) == []


@pytest.mark.skipif(WHERE.backend != "v1", reason="no cgroup v1 controllers on this machine")
def test_v1_two_removals_at_once_both_succeed():
    assert _race_removals(cgroups.open_cgroup, 100) == []


DEVICE_PROBE = r"""
import errno, os, sys
results = []
for path, dev in (("null", os.makedev(1, 3)), ("kmsg", os.makedev(1, 11))):
    node = os.path.join(sys.argv[1], path)
    try:
        os.mknod(node, 0o600 | 0o020000, dev)
        results.append(f"mknod {path} ok")
    except OSError as e:
        results.append(f"mknod {path} {errno.errorcode[e.errno]}")
for path in ("/dev/null", "/dev/kmsg"):
    try:
        os.close(os.open(path, os.O_RDONLY | os.O_NONBLOCK))
        results.append(f"open {path} ok")
    except OSError as e:
        results.append(f"open {path} {errno.errorcode[e.errno]}")
print("; ".join(results))
"""


@pytest.mark.skipif(WHERE.v2 is None, reason="no cgroup2 mount on this machine")
def test_v2_device_program_allows_only_its_list(tmp_path):
    """The BPF device program on the real cgroup2 mount: a process in the cgroup may make
    and open /dev/null's numbers, and neither make nor open /dev/kmsg's (only looked at:
    opened and closed)."""
    from tinydocker.security import devices

    group = cgroups.CgroupV2(WHERE.v2, os.urandom(32).hex())
    group.create(limits.Limits(), devices.DEFAULT)
    try:
        child = subprocess.Popen([sys.executable, "-c", f"import os, sys; sys.stdin.read(1); exec({DEVICE_PROBE!r})",
                                  str(tmp_path)], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
        group.join(child.pid)
        out, _ = child.communicate("x", timeout=30)
    finally:
        group.remove()
    assert out.strip() == "mknod null ok; mknod kmsg EPERM; open /dev/null ok; open /dev/kmsg EPERM"


def test_device_program_matches_like_the_v1_list():
    """The rules as both back-ends read them (the v1 lines as written, the program built
    from them; the kernel runs the program in the test above)."""
    from tinydocker.security import devices

    assert devices.parse("c 136:* rwm") == (2, 136, None, 7)
    assert devices.parse("b 8:0 r") == (1, 8, 0, 2)
    assert devices.parse("a *:* m") == (0, None, None, 1)
    with pytest.raises(TinydockerError, match="invalid device rule"):
        devices.parse("c 1:x rwm")
    assert len(devices.program(devices.DEFAULT)) % 8 == 0


def _v2_offers(controller: str) -> bool:
    return WHERE.v2 is not None and controller in Path(WHERE.v2, "cgroup.controllers").read_text().split()


@pytest.mark.skipif(WHERE.v2 is None or _v2_offers("memory"), reason="needs a cgroup2 mount without memory")
def test_v2_limit_without_its_controller_is_refused_and_leaves_nothing():
    before = set(os.listdir(WHERE.v2))
    group = cgroups.CgroupV2(WHERE.v2, os.urandom(32).hex())
    with pytest.raises(TinydockerError, match="memory controller is not available"):
        group.create(limits.build(memory="32m"))
    assert set(os.listdir(WHERE.v2)) == before


@pytest.mark.skipif(WHERE.backend != "v1", reason="no cgroup v1 controllers on this machine")
def test_v1_remove_kills_what_lingers_in_every_hierarchy():
    group = cgroups.open_cgroup(os.urandom(32).hex())
    group.create(limits.build(pids_limit=5))
    sleeper = _sleeper()
    try:
        group.join(sleeper.pid)
        assert group.usage().pids == 1
    finally:
        group.remove()
    assert sleeper.wait(10) == -signal.SIGKILL
    assert not group.exists()
    assert not any((m / "tinydocker" / group.id).exists() for m in group.hierarchies)


def test_orphans_are_only_old_empty_cgroups():
    group = cgroups.open_cgroup(os.urandom(32).hex())
    group.create(limits.Limits())
    sleeper = _sleeper()
    try:
        assert group.id in cgroups.orphans(min_age=0)      # empty: nobody uses it
        assert group.id not in cgroups.orphans()           # ...but just made: a start may be under way
        group.join(sleeper.pid)
        assert group.id not in cgroups.orphans(min_age=0)  # in use
    finally:
        group.remove()
        sleeper.kill()  # if an assertion came before the join, the removal did not end it
        sleeper.wait(10)
