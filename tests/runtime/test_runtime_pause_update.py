"""`tinydocker-runtime pause`, `resume` and `update` on real containers, beside runc: pause
freezes the container's cgroup (the kernel's own freezer files say so, and a signal sent
meanwhile stays pending until resume), state and list say "paused", kill -9 and delete --force
of a paused container leave nothing; update writes new limits into the container's cgroups,
read back from the host. Errors are runc's lines, exit 1.
"""

import json
import os
import re
import shutil
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from conftest import catches, wait_for
from test_runtime_lifecycle import REPO, Runtime, _alive, one_line, rt  # noqa: F401 - rt: the fixture

USR1_WAITS = ["sh", "-c", "trap 'touch /got-usr1' USR1; while true; do sleep 1000 & wait; done"]


def leaves(rt: Runtime, cid: str) -> list[str]:
    return json.loads((rt.root / cid / "state.json").read_text())["leaves"]


def kernel_frozen(rt: Runtime, cid: str) -> bool:
    """What the kernel says of the container's cgroup: v1 freezer.state, v2 cgroup.events."""
    for leaf in leaves(rt, cid):
        if os.path.exists(f"{leaf}/freezer.state"):
            return Path(leaf, "freezer.state").read_text() == "FROZEN\n"
        if os.path.exists(f"{leaf}/cgroup.events"):
            return "frozen 1\n" in Path(leaf, "cgroup.events").read_text()
    raise AssertionError("the container has no freezer")


def pending(pid: int, sig: int) -> bool:
    """Whether `sig` waits, undelivered, for the process (its SigPnd or ShdPnd mask)."""
    with open(f"/proc/{pid}/status") as f:
        masks = [int(line.split()[1], 16) for line in f if line.startswith(("SigPnd:", "ShdPnd:"))]
    return any(mask >> (sig - 1) & 1 for mask in masks)


def running(rt: Runtime, args=USR1_WAITS) -> tuple[str, int, Path]:
    bundle = rt.bundle(f"b{len(rt.made)}", args)
    cid = rt.new_id()
    assert rt.create(bundle, cid).returncode == 0
    assert rt("start", cid).returncode == 0
    pid = rt.state(cid)["pid"]
    wait_for(lambda: catches(pid, signal.SIGUSR1), what="the trap")
    return cid, pid, bundle


# -- pause and resume ------------------------------------------------------------------------------

def test_pause_freezes_the_container_until_resume(rt):
    cid, pid, bundle = running(rt)
    done = rt("pause", cid)
    assert (done.returncode, done.stdout, done.stderr) == (0, "", "")
    assert kernel_frozen(rt, cid)
    assert rt.state(cid)["status"] == "paused" and rt.state(cid)["pid"] == pid
    [entry] = json.loads(rt("list", "--format", "json").stdout)
    assert entry["status"] == "paused"
    # runc signals a paused container's init: the signal waits, the trap does not run
    assert rt("kill", cid, "USR1").returncode == 0
    assert pending(pid, signal.SIGUSR1)
    assert not (bundle / "rootfs" / "got-usr1").exists()
    done = rt("pause", cid)
    assert done.returncode == 1 and one_line(done.stderr) == "tinydocker-runtime: container not running"
    done = rt("resume", cid)
    assert (done.returncode, done.stdout, done.stderr) == (0, "", "")
    assert not kernel_frozen(rt, cid)
    wait_for(lambda: (bundle / "rootfs" / "got-usr1").exists(), what="the trap, once thawed")
    assert rt.state(cid)["status"] == "running"
    done = rt("resume", cid)
    assert done.returncode == 1 and one_line(done.stderr) == "tinydocker-runtime: container not paused"


def test_a_created_container_pauses_cannot_start_paused_and_starts_once_resumed(rt):
    bundle = rt.bundle("b", ["touch", "/ran"])
    cid = rt.new_id()
    assert rt.create(bundle, cid).returncode == 0
    assert rt("pause", cid).returncode == 0
    assert rt.state(cid)["status"] == "paused"
    done = rt("start", cid)
    assert done.returncode == 1
    assert one_line(done.stderr) == "tinydocker-runtime: cannot start a container in the paused state"
    done = rt("delete", cid)
    assert one_line(done.stderr) == f"tinydocker-runtime: cannot delete container {cid} that is not stopped: paused"
    assert rt("resume", cid).returncode == 0
    assert rt.state(cid)["status"] == "created"
    assert rt("start", cid).returncode == 0
    wait_for(lambda: (bundle / "rootfs" / "ran").exists(), what="the program")


@pytest.mark.parametrize("how", [["kill", "KILL"], ["kill", "--all", "9"], ["delete", "--force"]])
def test_a_paused_container_is_killed_and_deleted_leaving_nothing(rt, how):
    cid, pid, _ = running(rt)
    assert rt("pause", cid).returncode == 0
    cgroups = leaves(rt, cid)
    done = rt(*how[:-1], cid, how[-1]) if how[0] == "kill" else rt(*how, cid)
    assert (done.returncode, done.stderr) == (0, "")
    if how[0] == "kill":
        rt.wait_status(cid, "stopped")
        assert rt("delete", cid).returncode == 0
    assert not (rt.root / cid).exists()
    wait_for(lambda: not _alive(pid), what="the init gone")
    assert not [c for c in cgroups if os.path.exists(c)]


@pytest.mark.parametrize("verb", ["pause", "resume"])
def test_pause_and_resume_of_a_stopped_or_unknown_container(rt, verb):
    done = rt(verb, "nosuch")
    assert done.returncode == 1 and one_line(done.stderr) == "tinydocker-runtime: container does not exist"
    bundle = rt.bundle("b", ["true"])
    cid = rt.new_id()
    assert rt.create(bundle, cid).returncode == 0
    assert rt("start", cid).returncode == 0
    rt.wait_status(cid, "stopped")
    done = rt(verb, cid)
    expected = "container not running" if verb == "pause" else "container not paused"
    assert done.returncode == 1 and one_line(done.stderr) == f"tinydocker-runtime: {expected}"
    done = rt(verb)
    assert done.returncode == 1 and "requires exactly 1 argument" in one_line(done.stderr)


def _answers(runtime: list[str], root: Path, bundle: Path, cid: str, scratch: Path) -> list[str]:
    """The answers of pause, resume and their neighbours under a runtime, in order: "ok",
    the status (state), or the error's message (its JSON log line)."""
    def call(*args) -> str:
        # files, not pipes: a detached container keeps the run's stdio open
        with open(scratch / "out", "w+") as out, open(scratch / "err", "w+") as err:
            done = subprocess.run([*runtime, "--root", str(root), "--log-format", "json", *args], stdout=out,
                                  stderr=err, stdin=subprocess.DEVNULL, env={**os.environ, "PYTHONPATH": str(REPO)},
                                  timeout=60)
            out.seek(0)
            err.seek(0)
            if done.returncode:
                return json.loads(err.read().splitlines()[-1])["msg"]
            return json.loads(out.read())["status"] if args[0] == "state" else "ok"

    seen = [call("run", "--detach", "--bundle", str(bundle), cid), call("pause", cid), call("state", cid),
            call("pause", cid), call("start", cid), call("kill", cid, "USR1"), call("resume", cid), call("state", cid),
            call("resume", cid), call("pause", cid), call("kill", cid, "KILL")]
    wait_for(lambda: call("state", cid) == "stopped", what=f"{runtime[0]}'s container stopped")
    return seen + [call("pause", cid), call("resume", cid), call("delete", cid)]


def test_pause_and_resume_answer_as_runcs(rt, tmp_path):
    if not shutil.which("runc"):
        pytest.fail("runc is not installed (Debian: apt-get install runc)")
    bundle = rt.bundle("b", USR1_WAITS)
    cid = rt.new_id()
    runc_root = tmp_path / "runc-root"
    try:
        theirs = _answers(["runc"], runc_root, bundle, cid, tmp_path)
    finally:
        subprocess.run(["runc", "--root", str(runc_root), "delete", "--force", cid], capture_output=True)
    assert theirs == ["ok", "ok", "paused", "container not running", "cannot start a container in the paused state",
                      "ok", "ok", "running", "container not paused", "ok", "ok",
                      "container not running", "container not paused", "ok"]
    assert _answers([sys.executable, "-m", "tinydocker.runtime"], rt.root, bundle, cid, tmp_path) == theirs


# -- update ----------------------------------------------------------------------------------------

def limits_of(leaves_: list[str]) -> dict:
    """The container's limits as the host's cgroup files say, by the update flag that sets
    each, read from v1's hierarchies or v2's one leaf."""
    files = {"memory": ("memory.limit_in_bytes", "memory.max"), "memory-reservation": ("memory.soft_limit_in_bytes",
             "memory.low"), "memory-swap": ("memory.memsw.limit_in_bytes", "memory.swap.max"),
             "cpu-share": ("cpu.shares", "cpu.weight"), "cpu-quota": ("cpu.cfs_quota_us", "cpu.max"),
             "cpu-period": ("cpu.cfs_period_us", "cpu.max"), "cpuset-cpus": ("cpuset.cpus", "cpuset.cpus"),
             "pids-limit": ("pids.max", "pids.max")}
    found = {}
    for flag, names in files.items():
        for leaf in leaves_:
            for name in names:
                if os.path.exists(f"{leaf}/{name}"):
                    found[flag] = Path(leaf, name).read_text().strip()
    return found


def fed(rt: Runtime, text: str, *args) -> subprocess.CompletedProcess:
    """The runtime with `text` on its stdin (containerd's shim gives update's JSON so)."""
    return rt(*args, input=text, stdin=None)


UNLIMITED = {"9223372036854771712", "max"}  # v1's page-rounded LONG_MAX, v2's word


def test_update_flags_set_the_limits_and_leave_the_rest(rt):
    cid, _, _ = running(rt)
    before = limits_of(leaves(rt, cid))
    done = rt("update", "--memory", "64m", "--memory-reservation", "32M", "--pids-limit", "50", "--cpu-share", "512",
              "--cpu-quota", "50000", "--cpu-period", "100000", "--cpuset-cpus", "0", cid)
    assert (done.returncode, done.stdout, done.stderr) == (0, "", "")
    after = limits_of(leaves(rt, cid))
    assert after["memory"] == str(64 << 20) and after["memory-reservation"] == str(32 << 20)
    assert after["pids-limit"] == "50" and after["cpuset-cpus"] == "0"
    if any(os.path.exists(f"{leaf}/cpu.shares") for leaf in leaves(rt, cid)):  # v1
        assert (after["cpu-share"], after["cpu-quota"], after["cpu-period"]) == ("512", "50000", "100000")
    else:
        assert after["cpu-quota"] == "50000 100000" and after["cpu-share"] == "20"  # runc's shares-to-weight
    assert after["memory-swap"] == before["memory-swap"]  # not given: unchanged
    assert rt("update", "--pids-limit", "-1", "--memory", "-1", cid).returncode == 0
    again = limits_of(leaves(rt, cid))
    assert again["pids-limit"] == "max" and again["memory"] in UNLIMITED
    assert again["cpuset-cpus"] == "0" and again["memory-reservation"] == str(32 << 20)


def test_update_resources_from_stdin_and_from_a_file_also_while_paused(rt, tmp_path):
    cid, _, _ = running(rt)
    doc = {"memory": {"limit": 48 << 20, "reservation": 0}, "pids": {"limit": 40}, "cpu": {"shares": 0},
           "blockIO": {"weight": 0}, "devices": [{"allow": False, "access": "rwm"}]}
    done = fed(rt, json.dumps(doc), "update", "--resources", "-", "--pids-limit", "7", cid)
    assert done.returncode == 0, done.stderr
    # runc's update leaves the device rules alone: the document's are reported, not applied
    assert one_line(done.stderr) == ("tinydocker-runtime: warning: resources: devices cannot be changed by update: "
                                     "left as they are (as runc does)")
    now = limits_of(leaves(rt, cid))
    assert (now["memory"], now["pids-limit"]) == (str(48 << 20), "40")  # --pids-limit ignored, as runc's
    assert rt("pause", cid).returncode == 0
    (tmp_path / "r.json").write_text(json.dumps({"pids": {"limit": 30}, "memory": {"kernel": 1 << 20}}))
    done = rt("update", "-r", tmp_path / "r.json", cid)
    assert done.returncode == 0
    assert one_line(done.stderr) == "tinydocker-runtime: warning: resources: memory.kernel is deprecated and ignored"
    now = limits_of(leaves(rt, cid))
    assert (now["memory"], now["pids-limit"]) == (str(48 << 20), "30")
    assert rt.state(cid)["status"] == "paused"
    assert rt("resume", cid).returncode == 0


def test_update_errors_are_one_line_and_change_nothing(rt, tmp_path):
    cid, _, _ = running(rt)
    assert rt("update", "--pids-limit", "20", cid).returncode == 0
    before = limits_of(leaves(rt, cid))
    for given, error in [
            ('{"memory": ', "the resources in standard input are not valid JSON at line 1 column 12: Expecting value"),
            ("[1]", "the resources must be a JSON object (the runtime-spec's LinuxResources)"),
            ('{"memory": {"limit": "1g"}}', "resources: memory.limit must be an integer"),
            ('{"hugepageLimits": [{"pageSize": "2MB", "limit": 2097152}]}',
             "resources: hugepageLimits is not supported (hugetlb limits are not implemented)"),
            ('{"cpu": {"realtimeRuntime": 1000}}', "resources: cpu.realtimeRuntime is not supported")]:
        done = fed(rt, given, "update", "-r", "-", cid)
        assert (done.returncode, done.stdout) == (1, ""), given
        assert one_line(done.stderr) == f"tinydocker-runtime: {error}"
    for flags, error in [(["--memory", "lots"], "invalid value for memory: invalid size: 'lots'"),
                         (["--pids-limit", "x"], "invalid value for pids-limit: 'x' is not an integer"),
                         (["--l3-cache-schema", "L3:0=f"], "--l3-cache-schema is not supported (Intel RDT is not "
                                                           "implemented)"),
                         (["-r", tmp_path / "none.json"], f"cannot read the resources from {tmp_path}/none.json: "
                                                         "No such file or directory")]:
        done = rt("update", *flags, cid)
        assert done.returncode == 1 and one_line(done.stderr) == f"tinydocker-runtime: {error}"
    # all or nothing: the memory limit written first goes back when the CPU list is refused
    done = fed(rt, json.dumps({"memory": {"limit": 64 << 20}, "pids": {"limit": 10}, "cpu": {"cpus": "4095"}}),
               "update", "-r", "-", cid)
    assert done.returncode == 1 and "cpuset.cpus to 4095: " in one_line(done.stderr)
    assert limits_of(leaves(rt, cid)) == before
    memory = next((leaf for leaf in leaves(rt, cid) if os.path.exists(f"{leaf}/memory.limit_in_bytes")), None)
    if memory:  # v1 refuses a limit below what the kernel cannot reclaim (v2 would OOM-kill instead)
        done = rt("update", "--memory", "4096", cid)
        assert done.returncode == 1
        assert re.fullmatch(r"tinydocker-runtime: cannot set the memory limit to 4096 bytes: the container uses \d+ "
                            r"bytes, which the kernel could not reclaim below it", one_line(done.stderr))
        assert limits_of(leaves(rt, cid)) == before
    assert rt("kill", cid, "KILL").returncode == 0
    rt.wait_status(cid, "stopped")
    done = rt("update", "--memory", "64m", cid)
    assert done.returncode == 1 and one_line(done.stderr) == "tinydocker-runtime: container not running"
    done = rt("update", "--memory", "64m", "nosuch")
    assert done.returncode == 1 and one_line(done.stderr) == "tinydocker-runtime: container does not exist"


def test_update_writes_what_runc_writes(rt, tmp_path):
    """The same flags and document, given to runc and to tinydocker-runtime for two containers of
    one bundle: the host's cgroup files end the same."""
    if not shutil.which("runc"):
        pytest.fail("runc is not installed (Debian: apt-get install runc)")
    top = f"td-rt-test-{os.urandom(4).hex()}"
    bundle = rt.bundle("b", USR1_WAITS)
    runc_root = tmp_path / "runc-root"
    ours = [sys.executable, "-m", "tinydocker.runtime", "--root", str(rt.root)]
    steps = [(["--memory", "96m", "--memory-swap", "128m", "--cpu-share", "256", "--cpu-quota", "20000",
               "--pids-limit", "64"], None),
             (["--resources", "-"], {"memory": {"limit": 80 << 20, "swap": 80 << 20, "reservation": 16 << 20},
                                     "cpu": {"period": 50000, "cpus": "0", "mems": "0"}, "pids": {"limit": -1}}),
             (["--memory", "-1"], None)]
    seen = {}
    for name, runtime in (("runc", ["runc", "--root", str(runc_root)]), ("ours", ours)):
        cid = rt.new_id()
        rt.edit(bundle, lambda d: d["linux"].update(cgroupsPath=f"/{top}/{name}"))
        env = {**os.environ, "PYTHONPATH": str(REPO)}
        try:
            with open(tmp_path / f"{name}.out", "w") as out:
                assert subprocess.run([*runtime, "run", "-d", "--bundle", str(bundle), cid], stdout=out,
                                      stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, env=env).returncode == 0
            # v1: a directory in each hierarchy; v2: the one under the unified root
            where = [p for p in [*(f"/sys/fs/cgroup/{h}/{top}/{name}" for h in os.listdir("/sys/fs/cgroup")),
                                 f"/sys/fs/cgroup/{top}/{name}"] if os.path.isdir(p)]
            assert where, f"no cgroup made at /{top}/{name}"
            seen[name] = []
            for flags, doc in steps:
                done = subprocess.run([*runtime, "update", *flags, cid], input=json.dumps(doc) if doc else None,
                                      capture_output=True, text=True, env=env, timeout=60)
                assert (done.returncode, done.stderr) == (0, ""), (name, flags)
                seen[name].append(limits_of(where))
        finally:
            subprocess.run([*runtime, "delete", "--force", cid], capture_output=True, env=env)
    for parent in [*(f"/sys/fs/cgroup/{h}/{top}" for h in os.listdir("/sys/fs/cgroup")), f"/sys/fs/cgroup/{top}"]:
        if os.path.isdir(parent):
            os.rmdir(parent)
    assert seen["ours"] == seen["runc"]
    assert seen["ours"][1]["memory"] == str(80 << 20) and seen["ours"][1]["pids-limit"] == "max"
