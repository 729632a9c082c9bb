"""tinydocker-runtime run by an ordinary user, as `runc --rootless` is: a bundle from
`spec --rootless` (a user namespace mapping root to the caller), with the user's subordinate
ranges or its own id alone, no cgroup of its own where none is delegated, and a limit refused
rather than ignored; side by side with runc run by the same user on the same bundle."""

import json
import os
import shutil

import pytest

from rootless_fixtures import bare_user, user, user_bundle, user_python  # noqa: F401 - the fixtures

SCRIPT = "id -u; id -g; cat /proc/self/uid_map; touch /out/by-root; chown 1:1 /out/by-root 2>/dev/null; echo $?"


def _bundle(u, ranges: bool):
    doc = user_bundle(u, ("sh", "id", "cat", "touch", "chown"), ("proc", "sys", "dev", "tmp", "out"))
    b = u.home / "bundle"
    (b / "out").mkdir()  # the user's own directory, bound rw into the (read-only) rootfs
    os.chown(b / "out", u.uid, u.gid)
    doc["process"]["args"] = ["sh", "-c", SCRIPT]
    for kind in ("bounding", "effective", "permitted"):  # the template's three, and chown's
        doc["process"]["capabilities"][kind].append("CAP_CHOWN")
    doc["mounts"].append({"destination": "/out", "type": "bind", "source": str(b / "out"), "options": ["rbind", "rw"]})
    if ranges:
        doc["linux"]["uidMappings"].append({"containerID": 1, "hostID": u.subuid, "size": 65536})
        doc["linux"]["gidMappings"].append({"containerID": 1, "hostID": u.subgid, "size": 65536})
    (b / "config.json").write_text(json.dumps(doc))
    return b, doc


def _run(u, b, engine: str):
    state = u.home / f"{engine}-state"
    cmd = [u.python[0], "-m", "tinydocker.runtime"] if engine == "tinydocker" else [shutil.which("runc")]
    res = u(*cmd, "--root", str(state), "run", "--bundle", str(b), "c1", cwd=b)
    leftover = os.listdir(state) if state.exists() else []
    return res, leftover


@pytest.mark.parametrize("ranges", [True, False], ids=["subordinate-ranges", "own-id-alone"])
def test_an_ordinary_user_runs_a_bundle_as_runc_does(user, bare_user, ranges):  # noqa: F811
    u = user if ranges else bare_user
    b, _ = _bundle(u, ranges)
    seen = {}
    for engine in ("tinydocker", "runc"):
        if (b / "out" / "by-root").exists():
            assert u.td("unshare", "rm", "-f", str(b / "out" / "by-root")).returncode == 0
        res, leftover = _run(u, b, engine)
        assert res.returncode == 0, (engine, res.stderr)
        assert leftover == [], (engine, leftover)  # run removes its container at the end
        out = res.stdout.decode().split("\n")
        made = os.stat(b / "out" / "by-root")
        seen[engine] = (out[0], out[1], [line.split() for line in out[2:-2]], out[-2], (made.st_uid, made.st_gid))
    assert seen["tinydocker"] == seen["runc"], seen
    uid, gid, maps, chowned, owner = seen["tinydocker"]
    assert (uid, gid) == ("0", "0")  # root inside
    if ranges:
        assert maps == [["0", str(u.uid), "1"], ["1", str(u.subuid), "65536"]]
        assert (chowned, owner) == ("0", (u.subuid, u.subgid))  # id 1 inside: the range's first, outside
    else:
        assert maps == [["0", str(u.uid), "1"]]
        assert (chowned, owner) == ("1", (u.uid, u.gid))  # nobody else to give the file to


def test_a_limit_without_a_delegated_cgroup_is_refused_not_ignored(bare_user):  # noqa: F811
    u = bare_user
    b, doc = _bundle(u, ranges=False)
    doc["linux"]["resources"] = {"pids": {"limit": 10}}
    (b / "config.json").write_text(json.dumps(doc))
    if any(os.access(p, os.W_OK) for p in ("/sys/fs/cgroup/pids", "/sys/fs/cgroup")) and os.geteuid() != 0:
        pytest.skip("this machine delegates cgroups to ordinary users")
    res, leftover = _run(u, b, "tinydocker")
    err = res.stderr.decode()
    assert res.returncode == 1 and err.count("\n") == 1 and "a limit needs a cgroup this user may make" in err, err
    assert leftover == []
