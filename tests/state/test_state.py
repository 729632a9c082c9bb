"""State: records, unique names under races, the truth after SIGKILL, ps and rm."""

import json
import os
import re
import signal
import tomllib

from conftest import host_mounts_under, wait_for


def test_record_holds_what_the_issue_asks(td):
    assert td("run", "c1", "sh", "-c", "exit 3").returncode == 3
    rec = td.record("c1")
    assert re.fullmatch(r"[0-9a-f]{64}", rec["id"])
    assert rec["name"] == "c1" and rec["image"] == "busybox"
    assert rec["command"] == ["sh", "-c", "exit 3"]
    assert rec["status"] == "exited" and rec["exit_code"] == 3
    assert rec["pid"] > 1 and rec["start_ticks"] > 0
    assert rec["created"] <= rec["started"] <= rec["finished"]
    # only the record, its log, the bundle's config, the overlay directories and the /etc
    # files bound in; no temp file beside them
    assert sorted(os.listdir(td.containers / "c1")) == ["config.json", "container.log", "hostname", "hosts", "layers",
                                                        "merged", "record.toml", "resolv.conf", "upper", "work"]


def test_running_record_has_pid_and_start_time_of_the_container(td):
    p = td.popen("run", "c1", "sleep", "30")
    rec = td.wait_running("c1")
    with open(f"/proc/{rec['pid']}/stat") as f:
        ticks = int(f.read().rsplit(")", 1)[1].split()[19])
    assert rec["start_ticks"] == ticks
    # 'running' is recorded before the child may go on; the exec follows moments later
    wait_for(lambda: open(f"/proc/{rec['pid']}/cmdline").read().split("\0")[0] == "sleep", what="exec")
    os.kill(rec["pid"], signal.SIGKILL)
    p.wait(30)


def test_twenty_parallel_runs_of_one_name_start_exactly_one(td):
    td.out("image", "build", "busybox")
    procs = [td.popen("run", "same", "sh", "-c", "sleep 2") for _ in range(20)]
    results = [(p.wait(60), p.stderr.read().decode()) for p in procs]
    winners = [r for r in results if r[0] == 0]
    losers = [r for r in results if r[0] != 0]
    assert len(winners) == 1, results
    holder = td.record("same")["id"]
    for code, err in losers:
        assert code == 125
        assert err.count("\n") == 1
        assert f'The container name "/same" is already in use by container "{holder}"' in err
    assert os.listdir(td.containers) == ["same"]


def test_sigkill_of_tinydocker_leaves_the_truth(td):
    p = td.popen("run", "c1", "sh", "-c", "sleep 30")
    rec = td.wait_running("c1")
    # killed after the exec: a `run` killed before sending the orders takes its child along
    wait_for(lambda: b"sleep" in open(f"/proc/{rec['pid']}/cmdline", "rb").read(), what="exec")
    os.kill(p.pid, signal.SIGKILL)
    p.wait()
    # the container outlives its tinydocker (as with docker's client) and is shown running
    assert "Up " in td.out("ps")
    assert not host_mounts_under(td.root)
    # once it is gone, ps tells so, without anybody having recorded the exit
    os.kill(rec["pid"], signal.SIGKILL)
    wait_for(lambda: not os.path.exists(f"/proc/{rec['pid']}"), what="container end")
    assert td.out("ps", "-q") == ""
    row = json.loads(td.out("ps", "-a", "--format", "json"))
    assert row["State"] == "exited" and row["Status"].startswith("Exited (255)")
    assert not host_mounts_under(td.root)
    assert td.out("rm", "c1") == "c1\n"
    assert os.listdir(td.containers) == []


def test_dead_pid_reused_is_not_taken_for_the_container(td):
    td.out("run", "c1", "true")
    path = td.containers / "c1" / "record.toml"
    # forge a record claiming a live process (this test itself) with a wrong start time
    text = path.read_text().replace('status = "exited"', 'status = "running"')
    text = re.sub(r"pid = \d+", f"pid = {os.getpid()}", text, count=1)
    path.write_text(text)
    assert td.out("ps", "-q") == ""
    assert tomllib.loads(path.read_text())["status"] == "exited"


def test_ps_columns_and_formats(td):
    assert td("run", "done", "sh", "-c", "exit 3").returncode == 3
    p = td.popen("run", "live", "sleep", "30")
    rec = td.wait_running("live")
    table = td.out("ps").splitlines()
    assert re.split(r"\s{3,}", table[0]) == ["CONTAINER ID", "IMAGE", "COMMAND", "CREATED", "STATUS", "PORTS", "NAMES"]
    assert len(table) == 2 and table[1].startswith(rec["id"][:12]) and table[1].endswith("live")
    assert re.search(r"\bUp (Less than a second|\d+ seconds?)\b", table[1])
    assert '"sleep 30"' in table[1]
    all_rows = td.out("ps", "-a").splitlines()
    assert len(all_rows) == 3
    assert any(re.search(r"Exited \(3\) .* ago\s+done$", r) for r in all_rows)
    ids = td.out("ps", "-a", "-q").split()
    assert len(ids) == 2 and all(re.fullmatch(r"[0-9a-f]{12}", i) for i in ids)
    rows = [json.loads(line) for line in td.out("ps", "-a", "--format", "json").splitlines()]
    by_name = {r["Names"]: r for r in rows}
    assert by_name["done"]["State"] == "exited" and by_name["done"]["ExitCode"] == 3
    assert by_name["live"]["State"] == "running" and by_name["live"]["ID"] == rec["id"][:12]
    assert td.out("ps", "-a", "-q", "--no-trunc").split()[0] in (rec["id"], td.record("done")["id"])
    os.kill(rec["pid"], signal.SIGKILL)
    p.wait(30)


def test_rm_several_with_unknown_among_them(td):
    for n in ("a", "b", "c"):
        td.out("run", n, "sh", "-c", "echo x > /file")
    bid = td.record("b")["id"]
    res = td("rm", "a", "nosuch", bid[:8])
    assert res.returncode == 1
    assert res.stdout.decode() == f"a\n{bid[:8]}\n"
    assert res.stderr.decode() == "tinydocker: No such container: nosuch\n"
    assert os.listdir(td.containers) == ["c"]


def test_rm_of_running_needs_force(td):
    p = td.popen("run", "c1", "sleep", "60")
    rec = td.wait_running("c1")
    res = td("rm", "c1")
    assert res.returncode == 1 and b"container is running" in res.stderr
    assert (td.containers / "c1").exists()
    assert td.out("rm", "-f", "c1") == "c1\n"
    assert p.wait(30) == 137
    assert not os.path.exists(f"/proc/{rec['pid']}") or open(f"/proc/{rec['pid']}/stat").read().split()[2] == "Z"
    assert os.listdir(td.containers) == []
    assert not host_mounts_under(td.root)


def test_rm_force_of_a_container_whose_tinydocker_was_killed(td):
    p = td.popen("run", "c1", "sh", "-c", "sleep 60 & sleep 60")
    rec = td.wait_running("c1")
    os.kill(p.pid, signal.SIGKILL)
    p.wait()
    assert td.out("rm", "-f", "c1") == "c1\n"
    wait_for(lambda: not os.path.exists(f"/proc/{rec['pid']}"), what="container end")
    assert os.listdir(td.containers) == []
    assert not host_mounts_under(td.root)


def test_interrupted_rm_is_finished_by_the_next(td):
    td.out("run", "c1", "true")
    rec = td.record("c1")
    # what an rm killed between its rename and its delete leaves behind
    dead_pid = _a_dead_pid()
    os.rename(td.containers / "c1", td.containers / f".trash-{dead_pid}-{rec['id']}")
    td.out("run", "c2", "true")
    td.out("rm", "c2")
    assert os.listdir(td.containers) == []


def test_half_made_container_dir_does_not_hold_the_name(td):
    # a `run` killed after taking the name's directory but before its record landed
    td.out("image", "build", "busybox")
    (td.containers / "c1" / "upper").mkdir(parents=True)
    assert td.out("ps", "-a", "-q") == ""
    assert td.out("run", "c1", "echo", "ok") == "ok\n"


def _listing(td) -> dict:
    return {r["Names"]: r for r in map(json.loads, td.out("ps", "-a", "--format", "json").splitlines())}


def test_ps_record_cache_never_serves_a_stale_record(td):
    """ps parses each record once and keeps it in state/records.cache beside the record's
    bytes (state/cache.py): whatever rewrote a record, ps must show what it holds."""
    import pickle

    from tinydocker import api

    for i in range(50):
        api.create(f"c{i}", ["true"], root=td.root, labels=["tier=aaa", f"n={i}"], network="none")
    want = {n: td.record(n) for n in os.listdir(td.containers)}
    assert len(want) == 50

    def check(rows):
        assert set(rows) == set(want)
        for name, rec in want.items():
            row = rows[name]
            assert row["ID"] == rec["id"][:12] and row["State"] == "created"
            assert row["Labels"] == ",".join(f"{k}={v}" for k, v in sorted(rec["spec"]["labels"].items()))

    check(_listing(td))
    cache = td.root / "state" / "records.cache"
    assert cache.exists()
    check(_listing(td))  # served from the cache

    # rewritten in place, same size, mtime put back: only the bytes tell the change
    path = td.containers / "c7" / "record.toml"
    before = os.stat(path)
    data = path.read_bytes()
    assert data.count(b'tier = "aaa"') == 1
    with open(path, "r+b") as f:
        f.write(data.replace(b'tier = "aaa"', b'tier = "bbb"'))
    os.utime(path, ns=(before.st_atime_ns, before.st_mtime_ns))
    assert os.stat(path).st_size == before.st_size and os.stat(path).st_ino == before.st_ino
    want["c7"]["spec"]["labels"]["tier"] = "bbb"
    check(_listing(td))
    assert td.out("ps", "-a", "-q", "--filter", "label=tier=bbb").split() == [want["c7"]["id"][:12]]

    # renamed and removed through tinydocker
    td.out("rename", "c3", "renamed")
    want["renamed"] = td.record("renamed")
    del want["c3"]
    td.out("rm", "c4")
    del want["c4"]
    check(_listing(td))

    # a damaged cache is ignored, and replaced by a good one
    cache.write_bytes(b"\x80\x05garbage" + os.urandom(64))
    check(_listing(td))
    assert cache.read_bytes()[:2] == b"\x80\x05"
    check(_listing(td))

    # a planted pickle cannot run code in ps: only plain data is unpickled
    marker = td.root / "planted"

    class Plant:
        def __reduce__(self):
            return os.mkdir, (str(marker),)

    cache.write_bytes(pickle.dumps((1, {"c0": (b"", Plant())})))
    check(_listing(td))
    assert not marker.exists()

    # a listing killed while writing its new cache leaves it; the next writer sweeps it
    dead = td.root / "state" / f".records.cache-{_a_dead_pid()}-tmp"
    dead.write_bytes(b"half")
    td.out("rm", "c5")
    del want["c5"]
    check(_listing(td))
    assert not dead.exists() and not list((td.root / "state").glob(".records.cache-*"))


def _a_dead_pid() -> int:
    import subprocess

    p = subprocess.Popen(["true"])
    p.wait()
    return p.pid
