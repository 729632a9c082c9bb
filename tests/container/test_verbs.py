"""docker's everyday container verbs: create, rename, pause/unpause, top, diff, the
`container` spellings, --env-file/--label/--stop-signal/--stop-timeout, and ps's filters."""

import json
import os
import signal
import time

from conftest import asleep_in, has_open, host_mounts_under, wait_for
from tinydocker import cgroups
from tinydocker.linux import proc

WHERE = cgroups.layout()


def state(td, name: str) -> dict:
    return json.loads(td.out("inspect", name))[0]["State"]


def test_create_makes_a_container_that_start_runs(td):
    cid = td.out("create", "--label", "tier=web", "c1", "sh", "-c", "echo from-create; exit 4").strip()
    assert len(cid) == 64
    rec = td.record("c1")
    assert rec["status"] == "created" and "pid" not in rec and "monitor_pid" not in rec
    assert "Created" in td.out("ps", "-a")
    assert td.out("ps", "-q") == ""  # not running
    assert state(td, "c1")["Status"] == "created"
    # a name taken by create is taken
    res = td("create", "c1", "true")
    assert res.returncode == 125 and b"is already in use" in res.stderr
    res = td("start", "-a", "c1")
    assert res.returncode == 4 and res.stdout == b"from-create\n"
    assert td.record("c1")["status"] == "exited"
    # a created container that is never started is removed as any stopped one
    td.out("create", "c2", "true")
    td.out("rm", "c2")
    assert not (td.containers / "c2").exists()


def test_create_refuses_what_run_refuses_and_leaves_nothing(td):
    res = td("create", "--memory", "lots", "bad", "true")
    assert res.returncode == 125 and res.stderr.count(b"\n") == 1
    res = td("create", "--env-file", str(td.root / "missing.env"), "bad", "true")
    assert res.returncode == 125 and b"missing.env: no such file or directory" in res.stderr
    assert not (td.containers / "bad").exists()


def test_env_file_label_stop_signal_and_stop_timeout(td, tmp_path):
    env_file = tmp_path / "app.env"
    env_file.write_text("# a comment\n\nFROM_FILE=1\nBOTH=file\nHOST_VAR\nUNSET_VAR\n")
    env = {**td.env, "HOST_VAR": "from-host"}
    env.pop("UNSET_VAR", None)
    out = td.out("run", "--rm", "--env-file", str(env_file), "-e", "BOTH=flag", "-l", "a=1", "--label", "b",
                 "e1", "env", env=env)
    lines = set(out.splitlines())
    assert {"FROM_FILE=1", "BOTH=flag", "HOST_VAR=from-host"} <= lines
    assert not any(line.startswith("UNSET_VAR") for line in lines)
    bad = tmp_path / "bad.env"
    bad.write_text("GOOD=1\nBAD KEY=2\n")
    res = td("run", "--rm", "--env-file", str(bad), "e2", "true")
    assert res.returncode == 125 and b"line 2" in res.stderr

    # a shell as PID 1 that ends on SIGUSR1 only: --stop-signal decides whether stop is graceful
    script = "trap 'exit 42' USR1; while :; do sleep 0.1; done"
    td.out("run", "-d", "--stop-signal", "SIGUSR1", "-l", "a=1", "-l", "b", "graceful", "sh", "-c", script)
    td.wait_trap("graceful", signal.SIGUSR1)
    doc = json.loads(td.out("inspect", "graceful"))[0]
    assert doc["Config"]["StopSignal"] == "SIGUSR1" and doc["Config"]["Labels"] == {"a": "1", "b": ""}
    td.out("stop", "graceful")
    assert td.record("graceful")["exit_code"] == 42
    # --stop-timeout: how long stop lets a SIGTERM handler run before SIGKILL
    slow = "trap 'sleep 2; exit 5' TERM; while :; do sleep 0.1; done"
    td.out("run", "-d", "--stop-timeout", "30", "patient", "sh", "-c", slow)
    td.wait_trap("patient", signal.SIGTERM)
    assert json.loads(td.out("inspect", "patient"))[0]["Config"]["StopTimeout"] == 30
    td.out("stop", "patient")
    assert td.record("patient")["exit_code"] == 5  # the handler had its two seconds
    td.out("run", "-d", "--stop-timeout", "0", "hasty", "sh", "-c", slow)
    td.out("stop", "hasty")
    assert td.record("hasty")["exit_code"] == 137  # killed at once, as docker's default 10 would not
    td.out("start", "hasty")
    td.wait_trap("hasty", signal.SIGTERM)
    td.out("stop", "-t", "30", "hasty")  # -t wins over the container's own
    assert td.record("hasty")["exit_code"] == 5
    res = td("run", "--stop-signal", "NOPE", "bad", "true")
    assert res.returncode == 125 and b"invalid signal" in res.stderr


def _frozen(rec: dict) -> bool:
    return cgroups.open_cgroup(rec["id"], WHERE).frozen()


def test_pause_freezes_every_process_and_unpause_thaws(td):
    # a counter in a second process: it only advances while the container is thawed
    td.out("run", "-d", "p1", "sh", "-c", "(while :; do echo x >> /tmp/n; sleep 0.05; done) & sleep 600")
    wait_for(lambda: int(td.out("exec", "p1", "sh", "-c", "wc -l < /tmp/n 2>/dev/null || echo 0")) > 2,
             what="the counter to run")
    td.out("pause", "p1")
    rec = td.record("p1")
    assert _frozen(rec)
    assert "(Paused)" in td.out("ps")
    assert state(td, "p1")["Status"] == "paused" and state(td, "p1")["Paused"] is True
    assert td.out("ps", "-q", "--filter", "status=paused").strip() == rec["id"][:12]
    upper = td.containers / "p1" / "upper" / "tmp" / "n"
    counted = upper.read_text().count("x")
    # a fixed wait, kept: that nothing happens has no event to wait for; the counter would
    # have counted ten times in it
    time.sleep(0.5)
    assert upper.read_text().count("x") == counted  # nothing ran while frozen
    res = td("exec", "p1", "true")
    assert res.returncode == 1 and b"is paused" in res.stderr
    assert td("pause", "p1").returncode == 1
    td.out("unpause", "p1")
    assert not _frozen(rec)
    wait_for(lambda: upper.read_text().count("x") > counted, what="the counter to go on")
    assert td("unpause", "p1").returncode == 1
    assert state(td, "p1")["Status"] == "running"


def test_stop_and_rm_force_work_on_a_paused_container(td):
    td.out("run", "-d", "s1", "sh", "-c", "trap 'exit 7' TERM; while :; do sleep 0.1; done")
    td.wait_trap("s1", signal.SIGTERM)
    td.out("pause", "s1")
    td.out("stop", "-t", "20", "s1")
    assert td.record("s1")["exit_code"] == 7  # the SIGTERM was acted on once thawed
    td.out("run", "-d", "s2", "sleep", "600")
    td.out("pause", "s2")
    rec = td.record("s2")
    td.out("rm", "-f", "s2")
    assert not proc.is_alive(rec["pid"], rec["start_ticks"])
    assert not cgroups.open_cgroup(rec["id"], WHERE).exists()
    assert td("pause", "s1").returncode == 1  # not running


def test_rename_a_stopped_and_a_running_container(td):
    td.out("run", "old", "true")
    td.out("rename", "old", "new")
    assert not (td.containers / "old").exists() and td.record("new")["name"] == "new"
    assert "new" in td.out("ps", "-a", "--format", "json")
    td.out("run", "-d", "taken", "sleep", "600")
    res = td("rename", "new", "taken")
    assert res.returncode == 125 and b"is already in use" in res.stderr
    res = td("rename", "missing", "x")
    assert res.returncode == 1 and b"No such container" in res.stderr
    assert td("rename", "new", "bad/name").returncode == 125
    # running, with a peer on its network: the monitor records its end under the new name,
    # and the peer's /etc/hosts lists the new name
    td.out("network", "create", "ren")
    td.out("run", "-d", "--network", "ren", "peer", "sleep", "600")
    td.out("run", "-d", "--network", "ren", "web", "sleep", "600")
    td.out("rename", "web", "web2")
    hosts = td.out("exec", "peer", "cat", "/etc/hosts")
    assert "\tweb2" in hosts and "\tweb\n" not in hosts
    assert td.out("exec", "web2", "hostname").strip() == "web"  # docker keeps the hostname
    td.out("kill", "web2")
    wait_for(lambda: td.record("web2")["status"] == "exited", what="the end recorded under the new name")
    assert td.record("web2")["exit_code"] == 137
    td.out("rm", "-f", "peer", "taken", "web2")


def test_top_lists_the_container_processes_only(td):
    td.out("run", "-d", "t1", "sh", "-c", "sleep 600 & sleep 700; true")
    rec = td.record("t1")
    out = td.out("top", "t1").splitlines()
    assert out[0].split()[:3] == ["UID", "PID", "PPID"]
    commands = sorted(line.split(None, 7)[7] for line in out[1:])
    assert commands == ["sh -c sleep 600 & sleep 700; true", "sleep 600", "sleep 700"]
    assert str(rec["pid"]) in [line.split()[1] for line in out[1:]]
    out = td.out("container", "top", "t1", "-o", "pid,comm").splitlines()
    assert out[0].split() == ["PID", "COMMAND"] and len(out) == 4
    res = td("top", "t1", "--bogus-ps-option")
    assert res.returncode == 1 and res.stderr.count(b"\n") == 1
    td.out("stop", "-t", "0", "t1")
    assert td("top", "t1").returncode == 1


def test_container_spellings_of_the_verbs(td):
    td.out("container", "create", "k1", "true")
    td.out("container", "start", "-a", "k1")
    assert json.loads(td.out("container", "inspect", "k1"))[0]["State"]["Status"] == "exited"
    for verb in ("ls", "list", "ps"):
        assert "k1" in td.out("container", verb, "-a")
    td.out("container", "rename", "k1", "k2")
    td.out("container", "rm", "k2")
    assert td.out("container", "ls", "-aq") == ""


def test_ps_filters_last_latest_and_size(td):
    assert td("run", "-l", "app=db", "-l", "tier=back", "first", "sh", "-c", "exit 3").returncode == 3
    td.out("run", "-d", "-l", "app=web", "second", "sleep", "600")
    td.out("create", "third", "true")
    td.out("run", "fourth", "sh", "-c", "head -c 50000 /dev/zero > /blob")

    def names(*flags):
        return [json.loads(line)["Names"] for line in td.out("ps", "--format", "json", *flags).splitlines()]

    assert names() == ["second"]
    assert names("-a") == ["fourth", "third", "second", "first"]
    assert names("--filter", "status=exited") == ["fourth", "first"]
    assert names("--filter", "status=created") == ["third"]
    assert names("--filter", "status=running", "--filter", "status=created") == ["third", "second"]
    assert names("--filter", "exited=3") == ["first"]
    assert names("--filter", "label=app") == ["second"]  # without -a, a filter finds running ones (docker's)
    assert names("-a", "--filter", "label=app") == ["second", "first"]
    assert names("-a", "--filter", "label=app=db", "--filter", "label=tier=back") == ["first"]
    assert names("-a", "--filter", "label=app=db", "--filter", "label=tier=front") == []
    assert names("--filter", "name=^f") == []
    assert names("-a", "--filter", "name=^f") == ["fourth", "first"]
    assert names("-a", "--filter", "name=ir") == ["third", "first"]
    assert names("-a", "--filter", "id=" + td.record("third")["id"][:5]) == ["third"]
    assert names("-a", "--filter", "before=third") == ["second", "first"]
    assert names("--filter", "before=third") == ["second"]
    assert names("-a", "--filter", "since=second") == ["fourth", "third"]
    assert names("--filter", "ancestor=busybox", "--filter", "status=exited") == ["fourth", "first"]
    assert names("-a", "--filter", "ancestor=nosuchimage") == []
    assert names("-n", "2") == ["fourth", "third"]
    assert names("--latest") == ["fourth"]
    rows = {json.loads(line)["Names"]: json.loads(line) for line in td.out("ps", "-a", "-s", "--format", "json").splitlines()}
    assert rows["fourth"]["Size"].startswith("5") and "virtual" in rows["fourth"]["Size"]
    assert "SIZE" in td.out("ps", "-a", "--size").splitlines()[0]
    for bad, code in (("bogus=1", 1), ("status=sleeping", 1), ("noequals", 1), ("name=[", 1)):
        res = td("ps", "--filter", bad)
        assert res.returncode == code and res.stderr.count(b"\n") == 1, (bad, res.stderr)
    td.out("rm", "-f", "second")


def test_diff_reads_the_upper_layer_exactly(td):
    script = ("echo more >> /etc/passwd; mkdir -p /tmp/new/deep; echo x > /tmp/new/deep/f; rm /bin/ls; "
              "rm /etc/group; mkfifo /fifo; ln -s /nowhere /dangling; chmod 711 /root; "
              "mknod /dev-null-copy c 1 3; rm -rf /usr/sbin; mkdir /usr/sbin; touch /usr/sbin/only")
    td.out("run", "--cap-add", "MKNOD", "d1", "sh", "-c", script)
    changes = [tuple(line.split(" ", 1)) for line in td.out("diff", "d1").splitlines()]
    assert changes == sorted(changes, key=lambda c: c[1])
    found = dict((path, kind) for kind, path in changes)
    expected = {"/etc": "C", "/etc/passwd": "C", "/tmp": "C", "/tmp/new": "A", "/tmp/new/deep": "A",
                "/tmp/new/deep/f": "A", "/bin": "C", "/bin/ls": "D", "/etc/group": "D", "/fifo": "A",
                "/dangling": "A", "/root": "C", "/dev-null-copy": "A", "/usr": "C", "/usr/sbin": "C",
                "/usr/sbin/only": "A"}
    for path, kind in expected.items():
        assert found.get(path) == kind, (path, found.get(path), changes)
    # the directory replaced by rm -rf and mkdir (opaque): what the image had in it is deleted
    sbin = [p for p in found if p.startswith("/usr/sbin/") and found[p] == "D"]
    image_sbin = td.out("run", "--rm", "look", "ls", "/usr/sbin").split()
    assert sorted(p.rsplit("/", 1)[1] for p in sbin) == sorted(image_sbin)
    # tinydocker's own mount points are not the container's changes; nothing untouched shows
    assert "/etc/hostname" not in found and "/usr/bin" not in found and "/home" not in found
    td.out("run", "untouched", "true")
    assert td.out("diff", "untouched") == ""
    # a running container's changes show as they happen
    td.out("run", "-d", "live", "sh", "-c", "touch /made; sleep 600")
    wait_for(lambda: "A /made" in td.out("diff", "live"), what="the running container's change")
    td.out("rm", "-f", "live")
    assert td("diff", "nosuch").returncode == 1


def test_cp_both_ways_running_and_stopped(td, tmp_path):
    src = tmp_path / "src"
    (src / "sub").mkdir(parents=True)
    (src / "sub" / "f").write_text("hello")
    os.chmod(src / "sub" / "f", 0o640)
    os.chown(src / "sub" / "f", 1234, 5678)
    os.symlink("sub/f", src / "rel-link")
    td.out("run", "-d", "-v", "cpvol:/vol", "c1", "sleep", "600")
    # a directory into an existing directory lands under its own name; owners become root
    td.out("cp", str(src), "c1:/tmp")
    out = td.out("exec", "c1", "stat", "-c", "%n %a %u:%g", "/tmp/src/sub/f")
    assert out.split() == ["/tmp/src/sub/f", "640", "0:0"]
    assert td.out("exec", "c1", "readlink", "/tmp/src/rel-link").strip() == "sub/f"
    # -a keeps them; SRC/. copies the contents; a file onto a new name; into a volume
    td.out("cp", "-a", str(src) + "/.", "c1:/vol")
    assert td.out("exec", "c1", "stat", "-c", "%u:%g", "/vol/sub/f").strip() == "1234:5678"
    td.out("cp", str(src / "sub" / "f"), "c1:/renamed")
    assert td.out("exec", "c1", "cat", "/renamed") == "hello"
    # out again: a directory that does not exist on the host is made as DEST
    td.out("exec", "c1", "sh", "-c", "mkfifo /tmp/src/fifo && chmod 4755 /tmp/src/sub")
    td.out("cp", "c1:/tmp/src", str(tmp_path / "back"))
    assert (tmp_path / "back" / "sub" / "f").read_text() == "hello"
    assert os.stat(tmp_path / "back" / "sub").st_mode & 0o7777 == 0o4755
    assert os.path.islink(tmp_path / "back" / "rel-link")
    import stat as st
    assert st.S_ISFIFO(os.lstat(tmp_path / "back" / "fifo").st_mode)
    # -L follows the source link; without it the link itself is copied
    td.out("cp", "-L", "c1:/tmp/src/rel-link", str(tmp_path / "followed"))
    assert (tmp_path / "followed").read_text() == "hello" and not os.path.islink(tmp_path / "followed")
    # tar streams: out to stdout, in from stdin
    import io
    import tarfile
    raw = td("cp", "c1:/renamed", "-", check=True).stdout
    with tarfile.open(fileobj=io.BytesIO(raw)) as tar:
        assert tar.getnames() == ["renamed"] and tar.extractfile("renamed").read() == b"hello"
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w") as tar:
        info = tarfile.TarInfo("from-stdin")
        info.size = 3
        tar.addfile(info, io.BytesIO(b"abc"))
    td.out("cp", "-", "c1:/tmp", input=buf.getvalue())
    assert td.out("exec", "c1", "cat", "/tmp/from-stdin") == "abc"
    # compressed, as docker takes it (podman's system tests send a .tar.gz)
    import bz2, gzip, lzma  # noqa: E401

    for kind, pack in (("gz", gzip.compress), ("bz2", bz2.compress), ("xz", lzma.compress)):
        td.out("exec", "c1", "mkdir", f"/tmp/{kind}")
        td.out("cp", "-", f"c1:/tmp/{kind}", input=pack(buf.getvalue()))
        assert td.out("exec", "c1", "cat", f"/tmp/{kind}/from-stdin") == "abc", kind
    # a stopped container: its overlay, mounted for the copy only (no mount is left on the host)
    td.out("stop", "-t", "0", "c1")
    td.out("cp", str(src / "sub" / "f"), "c1:/after-stop")
    assert ("A", "/after-stop") in [tuple(line.split(" ", 1)) for line in td.out("diff", "c1").splitlines()]
    td.out("cp", "c1:/after-stop", str(tmp_path / "after-stop"))
    assert (tmp_path / "after-stop").read_text() == "hello"
    td.out("start", "c1")
    assert td.out("exec", "c1", "cat", "/after-stop") == "hello"
    td.out("rm", "-f", "-v", "c1")


def test_cp_reaches_the_volumes_of_a_stopped_container(td, tmp_path):
    # docker mounts a stopped container's volumes for cp: a copy to /data is the volume's
    hostdir, rodir = tmp_path / "hb", tmp_path / "ro"
    hostdir.mkdir()
    rodir.mkdir()
    (hostdir / "x").write_text("from the host")
    td.out("run", "--network", "none", "-v", "cpvol:/data", "-v", f"{hostdir}:/hb", "-v", f"{rodir}:/ro:ro",
           "cpv", "true")
    (tmp_path / "f").write_text("into the volume")
    td.out("cp", str(tmp_path / "f"), "cpv:/data/f")
    td.out("cp", str(tmp_path / "f"), "cpv:/hb/g")
    assert (hostdir / "g").read_text() == "into the volume"
    assert not (td.containers / "cpv" / "upper" / "data" / "f").exists()
    assert not (td.containers / "cpv" / "upper" / "hb" / "g").exists()
    td.out("cp", "cpv:/hb/x", str(tmp_path / "x"))
    assert (tmp_path / "x").read_text() == "from the host"
    td.out("cp", "cpv:/data", str(tmp_path / "data-back"))
    assert (tmp_path / "data-back" / "f").read_text() == "into the volume"
    # a read-only bind stays read-only to cp
    res = td("cp", str(tmp_path / "f"), "cpv:/ro/f")
    assert res.returncode == 1 and res.stderr.count(b"\n") == 1 and b"Traceback" not in res.stderr, res.stderr
    assert not (rodir / "f").exists()
    # what another container sees in the volume
    assert td.out("run", "--rm", "--network", "none", "-v", "cpvol:/v", "peek", "cat", "/v/f") == "into the volume"
    assert not host_mounts_under(td.root)
    td.out("rm", "-v", "cpv")


def test_cp_errors_are_one_line_with_docker_codes(td, tmp_path):
    td.out("run", "-d", "e1", "sleep", "600")
    (tmp_path / "file").write_text("x")
    (tmp_path / "dir").mkdir()
    cases = [
        (("e1:/nope", str(tmp_path / "x")), b"Could not find the file /nope in container e1"),
        ((str(tmp_path / "missing"), "e1:/tmp"), b"Could not find the file"),
        ((str(tmp_path / "file"), "e1:/nodir/x"), b"destination directory /nodir does not exist"),
        ((str(tmp_path / "file"), "e1:/newdir/"), b"does not exist"),
        ((str(tmp_path / "dir"), "e1:/etc/passwd"), b"cannot copy a directory"),
        (("e1:/etc", str(tmp_path / "file")), b"cannot copy a directory"),
        ((str(tmp_path / "file"), str(tmp_path / "y")), b"must specify at least one container"),
        (("e1:/etc/passwd", "e1:/tmp"), b"between containers is not supported"),
        (("nosuch:/x", str(tmp_path)), b"No such container"),
        (("-", "e1:/etc/passwd"), b"must be an existing directory"),
    ]
    for args, message in cases:
        res = td("cp", *args, input=b"")
        assert res.returncode == 1 and message in res.stderr and res.stderr.count(b"\n") == 1, (args, res.stderr)


def test_cp_paths_resolve_inside_the_container(td, tmp_path):
    """Symlinks the container planted (absolute, and climbing with ..) lead into its own root,
    both ways, running or stopped; nothing is read from or written to the host's paths."""
    secret = tmp_path / "host-secret"
    secret.write_text("host only")
    landing = tmp_path / "landing"
    landing.mkdir()
    plant = (f"ln -sfn {landing} /abs && ln -sfn ../../../../../../..{landing} /climb && "
             f"mkdir -p {landing} && echo inside > {secret}")
    td.out("run", "-d", "p1", "sh", "-c", plant + "; sleep 600")
    wait_for(lambda: td("exec", "p1", "test", "-L", "/climb").returncode == 0, what="the links")
    (tmp_path / "payload").write_text("payload")
    for running in (True, False):
        if not running:
            td.out("stop", "-t", "0", "p1")
        for link in ("abs", "climb"):
            td.out("cp", str(tmp_path / "payload"), f"p1:/{link}/{link}-{running}")
            assert not (landing / f"{link}-{running}").exists()  # not the host's directory
        # reading through the planted path gives the container's file, not the host's
        out = td("cp", f"p1:/abs/../../../../../../../..{secret}", "-", check=True).stdout
        assert b"inside" in out and b"host only" not in out
    assert secret.read_text() == "host only"
    td.out("start", "p1")
    listed = td.out("exec", "p1", "ls", str(landing))
    assert sorted(listed.split()) == ["abs-False", "abs-True", "climb-False", "climb-True"]
    td.out("rm", "-f", "p1")


def _pids_max(rec: dict) -> str:
    group = cgroups.open_cgroup(rec["id"], WHERE)
    leaf = group.dir("pids") if group.version == "v1" else group.leaf
    return (leaf / "pids.max").read_text().strip()


def test_update_changes_a_running_container_and_its_record(td):
    td.out("run", "-d", "-m", "64m", "--pids-limit", "100", "u1", "sleep", "600")
    rec = td.record("u1")
    group = cgroups.open_cgroup(rec["id"], WHERE)
    assert group.usage().memory_limit == 64 << 20 and _pids_max(rec) == "100"
    assert td.out("update", "-m", "128m", "--pids-limit", "50", "u1").strip() == "u1"
    assert group.usage().memory_limit == 128 << 20 and _pids_max(rec) == "50"
    td.out("update", "-m", "32m", "u1")  # lowering, with the swap that went with it
    assert group.usage().memory_limit == 32 << 20
    td.out("update", "-m", "0", "--pids-limit", "-1", "u1")
    assert group.usage().memory_limit is None and _pids_max(rec) == "max"
    doc = json.loads(td.out("inspect", "u1"))[0]["HostConfig"]
    assert doc["Memory"] == 0 and doc["PidsLimit"] == 0
    # a process beyond the new limit is refused, in the running container
    td.out("update", "--pids-limit", "3", "u1")
    res = td("exec", "u1", "sh", "-c", "sleep 1 & sleep 1 & sleep 1 & sleep 1")
    assert res.returncode != 0 and b"fork" in res.stderr
    # stopped: recorded, and the next start has it
    td.out("stop", "-t", "0", "u1")
    td.out("update", "-m", "48m", "--pids-limit", "77", "u1")
    td.out("start", "u1")
    rec = td.record("u1")
    assert cgroups.open_cgroup(rec["id"], WHERE).usage().memory_limit == 48 << 20 and _pids_max(rec) == "77"
    for bad in (["u1"], ["--memory-swap", "10m", "--memory", "20m", "u1"], ["-m", "1k", "u1"]):
        res = td("update", *bad)
        assert res.returncode == 125 and res.stderr.count(b"\n") == 1, (bad, res.stderr)
    assert td("update", "-m", "64m", "nosuch").returncode == 1
    td.out("rm", "-f", "u1")


def test_attach_joins_input_output_and_signals_of_a_detached_container(td):
    import signal
    import subprocess

    td.out("run", "-d", "-i", "--network", "none", "echoer", "sh", "-c",
           "trap 'echo trapped; exit 9' TERM; while read l; do echo \"got $l\"; echo \"err $l\" >&2; done; "
           "while :; do sleep 0.1; done")
    td.wait_running("echoer")
    attached = td.popen("attach", "echoer", stdin=subprocess.PIPE)
    try:
        wait_for(lambda: _following(td, attached, "echoer"), what="attach following the output")
        attached.stdin.write(b"hello\n")
        attached.stdin.flush()
        assert _line(attached.stdout) == b"got hello\n"
        assert _line(attached.stderr) == b"err hello\n"
        # without a terminal the detach keys are input like any other bytes (docker's)
        attached.stdin.write(b"a\x10\x11b\n")
        attached.stdin.flush()
        assert _line(attached.stdout) == b"got a\x10\x11b\n"
        assert _line(attached.stderr) == b"err a\x10\x11b\n"
        attached.stdin.close()  # our input ends; the container's does not (docker's, without --stdin-once)
        # attach has read that end once it no longer copies input but only waits (a lock's
        # futex) for the container's end: it and the container go on
        wait_for(lambda: asleep_in(attached.pid, "futex") or attached.poll() is not None,
                 what="attach past the end of its input")
        assert td.record("echoer")["status"] == "running"
        # --sig-proxy (the default): what attach gets, the container gets; attach ends with its code
        attached.send_signal(signal.SIGTERM)
        assert attached.wait(timeout=30) == 9
        assert attached.stdout.read() == b"trapped\n"
    finally:
        if attached.poll() is None:
            attached.kill()
            attached.wait()
    assert td.out("logs", "echoer") == "got hello\ngot a\x10\x11b\ntrapped\n"
    res = td("attach", "echoer")
    assert res.returncode == 1 and b"start it first" in res.stderr


def _following(td, attach, name: str) -> bool:
    """Whether `attach` reads the container's log: it shows what comes from then on."""
    return has_open(attach.pid, td.containers / name / "container.log") or attach.poll() is not None


def _line(pipe, timeout: float = 60) -> bytes:
    """One line from a child's pipe, or what came before the deadline (never a hang)."""
    import select

    got = b""
    deadline = time.monotonic() + timeout
    while not got.endswith(b"\n") and time.monotonic() < deadline:
        if select.select([pipe.fileno()], [], [], 0.5)[0]:
            byte = os.read(pipe.fileno(), 1)
            if not byte:
                break
            got += byte
    return got


def test_attach_to_a_terminal_and_the_detach_keys(td):
    import pty
    import select
    import subprocess
    import termios

    td.out("run", "-d", "-it", "--network", "none", "term", "sh")
    td.wait_running("term")
    leader, follower = pty.openpty()
    attached = subprocess.Popen(td.cmd + ["attach", "term"], stdin=follower, stdout=follower, stderr=follower,
                                env=td.env, start_new_session=True)
    os.close(follower)
    seen = b""

    def read_until(text: bytes):
        nonlocal seen
        deadline = time.monotonic() + 30
        while text not in seen and time.monotonic() < deadline:
            if select.select([leader], [], [], 0.5)[0]:
                try:
                    seen += os.read(leader, 4096)
                except OSError:
                    break
        return text in seen

    try:
        # what we type goes to a terminal attach has made raw, and attach shows what comes of it
        wait_for(lambda: not termios.tcgetattr(leader)[3] & termios.ICANON and _following(td, attached, "term"),
                 what="attach holding the terminal, raw, and following the output")
        os.write(leader, b"echo $((6*7))\r")
        assert read_until(b"42"), seen
        os.write(leader, b"\x10\x11")  # Ctrl-P Ctrl-Q: leave it running
        assert attached.wait(timeout=30) == 0
        assert td.record("term")["status"] == "running"
    finally:
        if attached.poll() is None:
            attached.kill()
            attached.wait()
        os.close(leader)
    # what was typed went to the container's shell, and what it said is in its log
    assert "42" in td.out("logs", "term")
    res = td("attach", "--detach-keys", "ctrl-é", "term")
    assert res.returncode == 125 and b"detach key" in res.stderr
    td.out("rm", "-f", "term")
