"""Volumes and bind mounts as docker users know them: -v, --mount, the volume verbs.

Everything a test binds from the host lives in its own tmp_path; every mount must stay in
the container's mount namespace (checked against the host's mount table after each test,
besides conftest's check of the data root).
"""

import json
import stat
import os
import subprocess
import threading


import pytest

import tinydocker

import fixtures  # the image tests' builders


@pytest.fixture
def host(tmp_path):
    """A host directory for binds; no mount of it may ever show in the host's table."""
    where = tmp_path / "host"
    where.mkdir()
    yield where
    with open("/proc/self/mountinfo") as f:
        leaked = [line for line in f if str(tmp_path) in line]
    assert not leaked, f"a container's mount appeared on the host: {leaked}"


def volume_dir(td, name):
    return td.root / "state" / "volumes" / name / "_data"


def volume_names(td):
    return td.out("volume", "ls", "-q").split()


def test_bind_mount_is_shared_with_the_host_and_a_missing_directory_is_made(td, host):
    missing = host / "made" / "by-v"
    out = td.out("run", "--rm", "-v", f"{missing}:/data", "c1", "sh", "-c",
                 "echo from-container > /data/f; cat /data/f")
    assert out == "from-container\n"
    assert (missing / "f").read_text() == "from-container\n"
    (host / "in").write_text("from-host\n")
    assert td.out("run", "--rm", "-v", f"{host}:/h", "c2", "cat", "/h/in") == "from-host\n"


def test_read_only_bind_refuses_writes_and_a_read_only_root_keeps_volumes_writable(td, host):
    res = td("run", "--rm", "-v", f"{host}:/data:ro", "c1", "touch", "/data/x")
    assert res.returncode == 1 and b"Read-only file system" in res.stderr
    assert not (host / "x").exists()
    out = td.out("run", "--rm", "--read-only", "-v", "vol:/data", "c2", "sh", "-c",
                 "touch /data/ok && echo writable; touch /nope 2>/dev/null || echo root-read-only")
    assert out == "writable\nroot-read-only\n"
    assert (volume_dir(td, "vol") / "ok").exists()


def test_a_file_can_be_bound_over_a_file(td, host):
    (host / "motd").write_text("bound\n")
    assert td.out("run", "--rm", "-v", f"{host / 'motd'}:/etc/motd:ro", "c1", "cat", "/etc/motd") == "bound\n"


def test_a_named_volume_is_made_on_first_use_filled_from_the_image_and_kept(td):
    td.out("run", "--rm", "-v", "etc-copy:/etc", "c1", "sh", "-c", "echo kept > /etc/mine")
    data = volume_dir(td, "etc-copy")
    # the image's /etc was copied in first, owners and modes kept
    image_passwd = td.image_rootfs() / "etc" / "passwd"
    assert (data / "passwd").read_bytes() == image_passwd.read_bytes()
    assert os.stat(data / "passwd").st_mode == os.stat(image_passwd).st_mode
    assert (data / "mine").read_text() == "kept\n"
    # a second container sees what the first left; a volume that is not empty is not refilled
    os.unlink(data / "passwd")
    out = td.out("run", "--rm", "-v", "etc-copy:/etc", "c2", "sh", "-c", "cat /etc/mine; ls /etc/passwd || true")
    assert out.startswith("kept\n") and not (data / "passwd").exists()
    # nocopy: an empty volume takes nothing from the image (only the mount points of the
    # container's own /etc/hosts, hostname and resolv.conf, bound over it as docker does)
    td.out("run", "--rm", "-v", "bare:/etc:nocopy", "c3", "true")
    assert sorted(os.listdir(volume_dir(td, "bare"))) == ["hostname", "hosts", "resolv.conf"]


def test_anonymous_volumes_go_with_rm_v_and_with_rm_flag_but_not_with_plain_rm(td):
    td.out("run", "-v", "/scratch", "keep", "touch", "/scratch/a")
    td.out("run", "-v", "/scratch", "drop", "touch", "/scratch/a")
    keep_vol = json.loads(td.out("inspect", "keep"))[0]["Mounts"][0]
    assert keep_vol["Type"] == "volume" and keep_vol["Destination"] == "/scratch" and len(keep_vol["Name"]) == 64
    assert os.path.exists(os.path.join(keep_vol["Source"], "a"))
    before = set(volume_names(td))
    assert len(before) == 2
    td.out("rm", "-v", "drop")
    td.out("rm", "keep")
    assert set(volume_names(td)) == {keep_vol["Name"]}
    td.out("run", "--rm", "-v", "/tmp/x", "gone", "true")
    assert set(volume_names(td)) == {keep_vol["Name"]}
    # a named volume is never taken by rm -v or --rm
    td.out("run", "--rm", "-v", "named:/x", "c3", "true")
    assert "named" in volume_names(td)


def test_volume_rm_is_refused_while_any_container_uses_it(td):
    td.out("run", "-v", "used:/data", "c1", "true")
    res = td("volume", "rm", "used")
    assert res.returncode == 1
    assert res.stderr.decode().startswith("tinydocker: remove used: volume is in use - [")
    td.out("rm", "c1")
    td.out("volume", "rm", "used")
    assert volume_names(td) == []
    res = td("volume", "rm", "used")
    assert res.returncode == 1 and b"No such volume: used" in res.stderr
    assert td("volume", "rm", "-f", "used").returncode == 0


def test_volume_create_inspect_ls_and_prune(td):
    assert td.out("volume", "create", "--label", "team=a", "v1") == "v1\n"
    assert td.out("volume", "create", "v1") == "v1\n"  # exists: not an error, as docker
    random_name = td.out("volume", "create").strip()
    assert len(random_name) == 64
    doc = json.loads(td.out("volume", "inspect", "v1"))[0]
    assert doc["Name"] == "v1" and doc["Driver"] == "local" and doc["Labels"] == {"team": "a"}
    assert doc["Mountpoint"] == str(volume_dir(td, "v1"))
    assert td.out("volume", "ls").splitlines()[0].split() == ["DRIVER", "VOLUME", "NAME"]
    res = td("volume", "inspect", "v1", "nope")
    assert res.returncode == 1 and b"No such volume: nope" in res.stderr
    td.out("run", "-v", "/anon", "c1", "true")            # an anonymous volume in use
    td.out("run", "--rm", "-v", "/anon", "c2", "true")    # one made and removed
    td.out("volume", "create", "unused-named")
    # prune takes unused anonymous volumes only; -a every unused one; never one in use
    assert td.out("volume", "prune", "-f").splitlines()[-1].startswith("Total reclaimed space:")
    assert set(volume_names(td)) >= {"v1", "unused-named", random_name}
    out = td.out("volume", "prune", "-f", "-a")
    assert "v1" in out and "unused-named" in out
    in_use = json.loads(td.out("inspect", "c1"))[0]["Mounts"][0]["Name"]
    assert volume_names(td) == [in_use]
    res = td("volume", "create", "bad/name")
    assert res.returncode == 125 and b"invalid characters for a local volume name" in res.stderr


def test_volume_ls_filters_as_dockers(td):
    td.out("volume", "create", "--label", "team=a", "--label", "tier=db", "alpha")
    td.out("volume", "create", "--label", "team=b", "beta")
    td.out("volume", "create", "gamma")
    td.out("create", "-v", "beta:/data", "c1", "true")  # a stopped container mounts beta

    def names(*flags):
        return td.out("volume", "ls", "-q", *flags).split()

    assert names() == ["alpha", "beta", "gamma"]
    assert names("--filter", "dangling=true") == ["alpha", "gamma"]
    assert names("-f", "dangling=false") == ["beta"]
    assert names("-f", "label=team") == ["alpha", "beta"]
    assert names("-f", "label=team=a", "-f", "label=tier=db") == ["alpha"]
    assert names("-f", "name=mm") == ["gamma"]
    assert names("-f", "name=alpha", "-f", "name=beta") == ["alpha", "beta"]
    assert names("-f", "driver=local", "-f", "dangling=true", "-f", "label=team") == ["alpha"]
    for bad in ("bogus=1", "dangling=maybe", "noequals"):
        res = td("volume", "ls", "-f", bad)
        assert res.returncode == 1 and res.stderr.count(b"\n") == 1 and b"Traceback" not in res.stderr, bad
    td.out("rm", "c1")


def test_volume_create_o_takes_the_local_drivers_options(td, host):
    # docker's -o type/device/o (podman's system tests): a tmpfs, and a host directory bound
    td.out("volume", "create", "-o", "type=tmpfs", "-o", "device=tmpfs", "-o", "o=size=1m,mode=0700", "t1")
    assert json.loads(td.out("volume", "inspect", "t1"))[0]["Options"] == \
        {"type": "tmpfs", "device": "tmpfs", "o": "size=1m,mode=0700"}
    line = td.out("run", "--rm", "-v", "t1:/data", "--network", "none", "c1", "grep", " /data ", "/proc/mounts")
    assert line.split()[2] == "tmpfs" and "size=1024k" in line and "mode=700" in line, line
    td.out("volume", "create", "-o", "type=none", "-o", "o=bind", "-o", f"device={host}", "b1")
    td.out("run", "--rm", "-v", "b1:/d", "--network", "none", "c2", "sh", "-c", "echo hi > /d/f")
    assert (host / "f").read_text() == "hi\n"
    for opts, words in ((["-o", "colour=red"], b'invalid option key: "colour"'),
                        (["-o", "type=tmpfs"], b"need type and device"),
                        (["-o", "type=none", "-o", "o=bind", "-o", "device=/no/such/dir"], b"not a host directory")):
        res = td("volume", "create", *opts, "bad")
        assert res.returncode == 125 and words in res.stderr and res.stderr.count(b"\n") == 1, res.stderr
    assert td.out("volume", "ls", "-q").split() == ["b1", "t1"]


def test_mount_flag_syntax_and_its_stricter_checks(td, host):
    (host / "f").write_text("x\n")
    out = td.out("run", "--rm", "--mount", f"type=bind,source={host},target=/b,readonly",
                 "--mount", "type=volume,src=mvol,dst=/v", "--mount", "type=tmpfs,target=/t,tmpfs-size=1m",
                 "c1", "sh", "-c", "cat /b/f; touch /b/no 2>/dev/null || echo ro; touch /v/ok; "
                 "grep ' /t ' /proc/mounts")
    lines = out.splitlines()
    assert lines[:2] == ["x", "ro"]
    assert lines[2].startswith("tmpfs /t tmpfs") and "size=1024k" in lines[2]
    assert (volume_dir(td, "mvol") / "ok").exists()
    for flag, said in [
        (f"type=bind,source={host}/absent,target=/b", "bind source path does not exist"),
        ("type=tmpfs,source=x,target=/t", "source is not allowed"),
        ("type=volume,target=rel", "must be absolute"),
        ("type=volume,source=v", "target is required"),
        ("type=nfs,target=/x", "is not bind, volume or tmpfs"),
        ("type=volume,target=/x,colour=blue", "unexpected field 'colour'"),
    ]:
        res = td("run", "--rm", "--mount", flag, "bad", "true")
        assert res.returncode == 125 and said in res.stderr.decode(), (flag, res.stderr)
    res = td("run", "--rm", "-v", "va:/d", "-v", "vb:/d", "dup", "true")
    assert res.returncode == 125 and b"Duplicate mount point: /d" in res.stderr
    res = td("run", "--rm", "-v", "x:/d:rx", "bad", "true")
    assert res.returncode == 125 and b"unknown option 'rx'" in res.stderr
    assert td.out("ps", "-aq") == "" and volume_names(td) == ["mvol"]  # nothing made for a refused run


def test_mount_targets_resolve_inside_the_root_never_through_a_symlink_out(td, tmp_path):
    """An image whose /data is a symlink to a host path, absolute or by "..", gets the
    volume at the link's target inside the container; nothing is made on the host."""
    outside = tmp_path / "outside"
    outside.mkdir()
    td.out("run", "maker", "sh", "-c", f"ln -s {outside}/abs /data && ln -s ../../../../../../{outside}/rel /up && "
           f"ln -s {outside}/file /conf")
    td.out("commit", "maker", "links:1")
    out = td.out("run", "--rm", "--image", "links:1", "-v", "vol:/data/sub", "-v", "vol2:/up",
                 "-v", f"{tmp_path / 'src.txt'}:/conf", "c1", "sh", "-c",
                 f"echo a > /data/sub/in; echo b > /up/in; ls {outside}/abs/sub {outside}/rel")
    assert out.split()[1::2] == ["in", "in"]  # ls names each directory, then its entry
    assert (volume_dir(td, "vol") / "in").read_text() == "a\n"
    assert (volume_dir(td, "vol2") / "in").read_text() == "b\n"
    assert os.listdir(outside) == []  # the host's side of those paths was never touched
    assert (tmp_path / "src.txt").is_dir()  # -v made the missing source as a directory, as docker


def test_nested_targets_and_exec_see_the_volumes(td):
    td.out("run", "-d", "-v", "outer:/data", "-v", "inner:/data/sub", "c1", "sleep", "60")
    td.wait_running("c1")
    td.out("exec", "c1", "sh", "-c", "echo o > /data/o; echo i > /data/sub/i")
    assert (volume_dir(td, "outer") / "o").exists() and (volume_dir(td, "inner") / "i").exists()
    td.out("rm", "-f", "c1")


def test_parallel_runs_share_one_new_named_volume(td):
    results = []

    def one(i):
        results.append(td("run", "--rm", "-v", "shared:/s", f"p{i}", "sh", "-c", f"touch /s/f{i}"))

    threads = [threading.Thread(target=one, args=(i,)) for i in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert [r.returncode for r in results] == [0] * 8, [r.stderr for r in results]
    assert volume_names(td) == ["shared"]
    assert sorted(os.listdir(volume_dir(td, "shared"))) == [f"f{i}" for i in range(8)]


def test_killed_volume_creation_and_removal_are_swept(td):
    vols = td.root / "state" / "volumes"
    td.out("volume", "create", "real")
    dead = subprocess.Popen(["true"])
    dead.wait()
    (vols / f".new-{dead.pid}-half" / "_data").mkdir(parents=True)
    (vols / f".trash-{dead.pid}-old" / "_data").mkdir(parents=True)
    assert volume_names(td) == ["real"]  # the halves never show
    td.out("volume", "prune", "-f")
    assert sorted(os.listdir(vols)) == ["real"]


def test_the_api_takes_volumes_and_mounts(td, host):
    (host / "f").write_text("api\n")
    done = tinydocker.run("api1", ["sh", "-c", "cat /b/f; echo w > /v/w"], capture_output=True, remove=True,
                          volumes=["apivol:/v"], mounts=[f"type=bind,source={host},target=/b"], root=td.root)
    assert done.exit_code == 0 and done.stdout == b"api\n"
    assert (volume_dir(td, "apivol") / "w").read_text() == "w\n"
    assert [v["Name"] for v in tinydocker.volumes(root=td.root)] == ["apivol"]
    tinydocker.remove_volume("apivol", root=td.root)
    assert tinydocker.prune_volumes(root=td.root) == {"volumes": [], "reclaimed": 0}


def test_the_images_volumes_become_anonymous_volumes_filled_from_it(td, base_image, tmp_path):
    """An image whose config says VOLUME /cache: each container gets an anonymous volume
    there, first filled with what the image has at /cache; a -v on that path replaces it."""
    def edit(rootfs):
        (rootfs / "cache").mkdir()
        (rootfs / "cache" / "seed").write_text("from the image\n")

    with fixtures._storage(tmp_path, "vol") as b:
        image_id = b.change(fixtures._pull_base(b, base_image), "VOLUME /cache", edit, "--volume", "/cache")
        layout = tmp_path / "layout"
        b.push(image_id, f"oci:{layout}:withvol")
    td.out("load", "-i", str(layout))
    td.out("run", "--image", "withvol", "c1", "sh", "-c", "cat /cache/seed; echo mine > /cache/mine")
    mount = json.loads(td.out("inspect", "c1"))[0]["Mounts"]
    assert [(m["Type"], m["Destination"], len(m["Name"])) for m in mount] == [("volume", "/cache", 64)]
    assert sorted(os.listdir(mount[0]["Source"])) == ["mine", "seed"]
    td.out("run", "--rm", "--image", "withvol", "-v", "named:/cache", "c2", "true")
    assert (volume_dir(td, "named") / "seed").read_text() == "from the image\n"
    td.out("rm", "-v", "c1")
    assert volume_names(td) == ["named"]


def test_copy_up_keeps_owners_and_modes_and_never_writes_through_a_planted_symlink(tmp_path):
    """linux/tree.copy_contents, which fills a new volume from the image: what it copies, and
    that a symlink another container planted in the volume cannot send a write outside."""
    from tinydocker.linux.tree import copy_contents

    src, dest, outside = tmp_path / "src", tmp_path / "dest", tmp_path / "outside"
    for d in (src, dest, outside):
        d.mkdir()
    (src / "sub").mkdir(mode=0o750)
    os.chown(src / "sub", 1000, 1000)
    (src / "sub" / "f").write_text("x\n")
    os.chmod(src / "sub" / "f", 0o640)
    os.symlink("/etc", src / "link")
    os.mkfifo(src / "fifo", 0o600)
    fd = os.open(src, os.O_RDONLY | os.O_DIRECTORY)
    try:
        copy_contents(fd, str(dest))
        st = os.stat(dest / "sub")
        assert (st.st_uid, st.st_gid, st.st_mode & 0o7777) == (1000, 1000, 0o750)
        assert (dest / "sub" / "f").read_text() == "x\n" and os.stat(dest / "sub" / "f").st_mode & 0o777 == 0o640
        assert os.readlink(dest / "link") == "/etc"
        assert stat.S_ISFIFO(os.lstat(dest / "fifo").st_mode)
        # a second volume where a co-tenant put sub -> outside before the copy
        planted = tmp_path / "planted"
        planted.mkdir()
        os.symlink(outside, planted / "sub")
        with pytest.raises(OSError):
            copy_contents(fd, str(planted))
        assert os.listdir(outside) == [] and os.stat(outside).st_mode & 0o777 != 0o750
    finally:
        os.close(fd)
