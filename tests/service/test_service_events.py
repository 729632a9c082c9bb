"""docker's own CLI reading tinydocker's events through `system service`: the journal replayed
between --since and --until, and a following reader that goes away."""

import json
import os
import subprocess
import time

from conftest import wait_for
from service_fixtures import DOCKER, service  # noqa: F401 - the fixture


def test_events_since_until_replay_what_the_test_did(service):  # noqa: F811
    since = f"{time.time() - 1:.9f}"
    service.out("create", "--name", "ev1", "--network", "none", "busybox", "sh", "-c", "exit 3")
    service.out("start", "ev1")
    assert service.out("wait", "ev1") == "3\n"
    assert service.out("rm", "ev1") == "ev1\n"
    service.out("volume", "create", "evvol")
    service.out("volume", "rm", "evvol")
    until = f"{time.time() + 1:.9f}"
    # --until in the past... or just ahead: the stream ends by itself either way
    lines = service.out("events", "--since", since, "--until", until, "--filter", "container=ev1",
                        "--format", "{{.Type}} {{.Action}} {{.Actor.Attributes.name}}").splitlines()
    actions = [line for line in lines if line.split()[1] in ("create", "start", "die", "destroy")]
    assert actions == ["container create ev1", "container start ev1", "container die ev1", "container destroy ev1"]
    events = [json.loads(line) for line in service.out("events", "--since", since, "--until", until,
                                                       "--format", "{{json .}}").splitlines()]
    die = next(e for e in events if e["Type"] == "container" and e["Action"] == "die")
    assert die["Actor"]["Attributes"]["exitCode"] == "3" and die["Actor"]["Attributes"]["image"] == "busybox"
    assert (die["status"], die["id"], die["from"]) == ("die", die["Actor"]["ID"], "busybox")  # docker's old fields
    assert die["time"] == die["timeNano"] // 10**9
    volumes = [(e["Action"], e["Actor"]["ID"]) for e in events if e["Type"] == "volume"]
    assert volumes == [("create", "evvol"), ("destroy", "evvol")]
    bad = service.docker("events", "--since", since, "--until", until, "--filter", "colour=red")
    assert bad.returncode != 0 and b"invalid filter" in bad.stderr


def test_a_following_reader_sees_what_comes_and_its_going_away_ends_the_stream(service):  # noqa: F811
    tasks = f"/proc/{service.proc.pid}/task"
    # idle, the service is its main thread alone; each connection has a thread of its own
    wait_for(lambda: len(os.listdir(tasks)) == 1, what="the service to be idle")
    env = {**service.td.env, "DOCKER_HOST": f"unix://{service.sock}", "DOCKER_CONFIG": str(service.config)}
    # since a moment ago: the event is seen whether it comes before or after the request
    reader = subprocess.Popen([DOCKER, "events", "--since", f"{time.time():.9f}", "--filter", "type=volume",
                               "--format", "{{.Action}} {{.Actor.ID}}"], stdout=subprocess.PIPE, env=env)
    try:
        service.out("volume", "create", "followed")
        assert reader.stdout.readline() == b"create followed\n"
        reader.kill()
        # the reader gone, the service stops following for it (with no event to write that
        # would fail): its thread ends
        wait_for(lambda: len(os.listdir(tasks)) == 1, what="the events stream to end")
        assert service.request("GET", "/_ping")[0] == 200
    finally:
        reader.kill()
        reader.wait()
        reader.stdout.close()
        service.td("volume", "rm", "-f", "followed")
