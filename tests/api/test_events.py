"""events: the journal every tinydocker command appends to, read as docker's `events` reads."""

import json
import signal
import subprocess
import sys
import time

from conftest import REPO, has_open, wait_for


def actions(td, *args) -> list[str]:
    return td.out("events", "--since", "1h", "--until", "0s", "--format", "{{.Type}} {{.Action}}", *args).split("\n")[:-1]


def test_a_container_life_and_its_neighbours_in_order(td):
    cid = td.out("create", "--label", "tier=web", "--network", "none", "life", "sleep", "30").strip()
    td.out("start", "life")
    td.out("pause", "life")
    td.out("unpause", "life")
    td.out("update", "--pids-limit", "50", "life")
    td.out("kill", "-s", "USR1", "life")
    td.out("stop", "-t", "1", "life")
    wait_for(lambda: td.record("life")["status"] == "exited", what="the end recorded")
    td.out("rename", "life", "life2")
    td.out("rm", "life2")
    td.out("volume", "create", "vol1")
    td.out("volume", "rm", "vol1")
    td.out("tag", "busybox", "mine:1")
    td.out("rmi", "mine:1")

    mine = actions(td, "--filter", f"container={cid}")
    assert mine[:6] == ["container create", "container start", "container pause", "container unpause",
                        "container update", "container kill"]
    # stop's TERM, which sleep as PID 1 ignores, then its KILL, the end the monitor records, stop
    assert mine[6:10] == ["container kill", "container kill", "container die", "container stop"]
    assert mine[-2:] == ["container rename", "container destroy"]
    assert actions(td, "--filter", "type=volume") == ["volume create", "volume destroy"]
    assert actions(td, "--filter", "type=image") == ["image tag", "image untag"]
    # a container filter takes the name it had too, a label filter the container's labels
    assert actions(td, "--filter", "container=life", "--filter", "event=die") == ["container die"]
    assert "container create" in actions(td, "--filter", "label=tier=web")
    assert actions(td, "--filter", "label=tier=db") == []
    die = json.loads(td.out("events", "--since", "1h", "--until", "0s", "--filter", "event=die",
                            "--format", "{{json .}}"))
    assert die["Actor"]["Attributes"]["exitCode"] == "137" and die["id"] == cid and die["from"] == "busybox"
    line = td.out("events", "--since", "1h", "--until", "0s", "--filter", "event=rename")
    assert f"container rename {cid} (image=busybox, name=life2, oldName=/life, tier=web)" in line
    assert td.out("events", "--since", "1h", "--until", "0s", "-f", "event=tag",
                  "--format", "{{.Status}} {{.Actor.Attributes.name}}") == "tag mine:1\n"


def test_since_until_and_what_is_refused(td):
    td.out("volume", "create", "early")
    # a moment strictly between the two, to the millisecond that --since and --until are given in
    early = json.loads(td.out("events", "--since", "1h", "--until", "0s", "--format", "{{json .}}"))["timeNano"]
    wait_for(lambda: time.time_ns() > early + 1_000_000, what="the clock a millisecond past early's event")
    middle = time.time()
    td.out("volume", "create", "late")
    names = lambda *a: td.out("events", "--until", "0s", "--format", "{{.Actor.ID}}", *a).split()  # noqa: E731
    assert names("--since", "1h") == ["early", "late"]
    assert names("--since", f"{middle:.3f}") == ["late"]
    assert names("--since", "1h", "--until", f"{middle:.3f}") == ["early"]
    # RFC 3339 to the second: the next whole second after "late" was written (floor(t + 1) > t)
    stamp = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(time.time() + 1))
    assert names("--since", stamp) == []
    for args, what in ((["--since", "yesterday"], b"--since"), (["--until", "soon"], b"--until"),
                       (["--filter", "colour=red"], b"invalid filter"),
                       (["--format", "{{template \"x\"}}"], b"not supported")):
        res = td("events", *args)
        assert res.returncode == 125 and what in res.stderr and len(res.stderr.splitlines()) == 1, res.stderr


def following(td, events) -> bool:
    """Whether the `events` process reads the journal: it has taken its "now" before it opens it,
    so what is appended from here on is shown, what came before not."""
    return has_open(events.pid, td.root / "state" / "events.jsonl") or events.poll() is not None


def test_events_follows_until_interrupted_or_until_its_end(td):
    td.out("volume", "create", "before")  # the journal to follow, and an event it does not show
    follower = td.popen("events", "--filter", "type=volume", "--format", "{{.Action}} {{.Actor.ID}}")
    try:
        wait_for(lambda: following(td, follower), what="the follower reading the journal")
        td.out("volume", "create", "streamed")
        line = follower.stdout.readline()
        assert line == b"create streamed\n"
        follower.send_signal(signal.SIGINT)
        assert follower.wait(timeout=10) == 130
        assert b"Traceback" not in follower.stderr.read()
    finally:
        if follower.poll() is None:
            follower.kill()
            follower.wait()
    # --until in the future (a duration is that long ago, as in docker): events as they come,
    # then the command ends by itself
    bounded = td.popen("events", "--until", f"{time.time() + 6:.3f}", "--format", "{{.Actor.ID}}")
    wait_for(lambda: following(td, bounded), what="the bounded follower reading the journal")
    td.out("volume", "create", "within")
    out, _ = bounded.communicate(timeout=20)
    assert bounded.returncode == 0 and out == b"within\n"


WRITER = r"""
import sys
sys.path.insert(0, sys.argv[1])
from tinydocker.state import events
from tinydocker.state.root import resolve
events.MAX_BYTES = int(sys.argv[4])
root, me = resolve(sys.argv[2]), sys.argv[3]
for i in range(int(sys.argv[5])):
    events.emit(root, "volume", "create", f"{me}-{i}", {"pad": me * 700})
"""


def test_parallel_writers_never_interleave_and_the_journal_stays_bounded(td):
    writers, each, bound = 8, 150, 200_000
    procs = [subprocess.Popen([sys.executable, "-c", WRITER, str(REPO), str(td.root), f"w{n}", str(bound), str(each)])
             for n in range(writers)]
    assert all(p.wait(timeout=120) == 0 for p in procs)
    state = td.root / "state"
    files = [state / "events.jsonl.1", state / "events.jsonl"]
    seen = {f"w{n}": [] for n in range(writers)}
    for path in files:
        assert path.stat().st_size <= bound
        for line in path.read_bytes().splitlines():
            event = json.loads(line)  # a line two writers mixed would not parse
            who, index = event["Actor"]["ID"].split("-")
            assert event["Actor"]["Attributes"]["pad"] == who * 700
            seen[who].append(int(index))
    # each line is ~2.4 kB: 1200 of them cannot fit in two files of 200 kB; what is kept is
    # each writer's latest events, in the order each wrote them
    kept = sum(len(v) for v in seen.values())
    assert 0 < kept < writers * each
    for who, indexes in seen.items():
        assert indexes == sorted(indexes), who
    # and the reader sees exactly what the files hold, oldest first
    listed = td.out("events", "--since", "1h", "--until", "0s", "--format", "{{.Actor.ID}}").split()
    assert len(listed) == kept
