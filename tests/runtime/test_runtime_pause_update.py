"""`tinydocker-runtime pause`, `resume` and `update` on real containers, beside runc: pause
freezes the container's cgroup (the kernel's own freezer files say so, and a signal sent
meanwhile stays pending until resume), state and list say "paused", kill -9 and delete --force
of a paused container leave nothing; update writes new limits into the container's cgroups,
read back from the host. Errors are runc's lines, exit 1.
"""

import json
import os
import shutil
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from conftest import catches, wait_for
from test_runtime_lifecycle import REPO, Runtime, one_line, rt  # noqa: F401 - rt: the fixture

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
    wait_for(lambda: not os.path.exists(f"/proc/{pid}") or Path(f"/proc/{pid}/stat").read_text().split()[2] == "Z",
             what="the init gone")
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
