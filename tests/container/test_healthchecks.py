"""Health checks from tinydocker's own CLI, as docker's flags: --health-cmd and its timings,
the image's HEALTHCHECK taken (and --no-healthcheck dropping it), the state in inspect."""

import json
import subprocess
import sys

from conftest import wait_for
from tinydocker import cgroups


def health(td, name):
    return json.loads(td.out("inspect", "-f", "{{json .State.Health}}", name))


def test_health_flags_make_a_check_the_monitor_runs(td):
    td.out("run", "-d", "--network", "none", "--health-cmd", "test -e /tmp/ok", "--health-interval", "100ms",
           "--health-retries", "1", "c1", "sleep", "600")
    wait_for(lambda: health(td, "c1")["Status"] == "unhealthy", what="c1 to be unhealthy")
    assert td.out("ps", "--format", "{{.Status}}").endswith(" (unhealthy)\n")  # docker ps's words
    td.out("exec", "c1", "touch", "/tmp/ok")
    wait_for(lambda: health(td, "c1")["Status"] == "healthy", what="c1 to be healthy")
    assert td.out("ps", "--format", "{{.Status}}").endswith(" (healthy)\n")
    assert json.loads(td.out("inspect", "-f", "{{json .Config.Healthcheck}}", "c1")) == {
        "Test": ["CMD-SHELL", "test -e /tmp/ok"], "Interval": 100_000_000, "Retries": 1}


def test_bad_health_flags_are_refused_in_one_line(td):
    for args, said in ((["--health-interval", "soon"], b"--health-interval"),
                       (["--health-interval", "10us"], b"Interval in Healthcheck cannot be less than 1ms"),
                       (["--health-retries", "-1"], b"Retries in Healthcheck cannot be negative"),
                       (["--no-healthcheck", "--health-cmd", "true"], b"--no-healthcheck conflicts")):
        res = td("create", *args, "bad", "true")
        assert res.returncode == 125 and said in res.stderr and res.stderr.count(b"\n") == 1, res.stderr
    assert td.out("ps", "-aq") == ""


def test_the_image_s_healthcheck_applies_and_no_healthcheck_drops_it(td, tmp_path):
    (tmp_path / "Dockerfile").write_text("FROM busybox\nHEALTHCHECK --interval=100ms --retries=1 CMD exit 1\n")
    td.out("image", "build", "busybox")
    td.out("build", "-q", "-t", "checked", str(tmp_path))
    td.out("run", "-d", "--image", "checked", "--network", "none", "c2", "sleep", "600")
    wait_for(lambda: health(td, "c2")["Status"] == "unhealthy", what="c2 to be unhealthy")
    # a flag over the image's, field by field: its test and retries stay
    td.out("run", "-d", "--image", "checked", "--network", "none", "--health-interval", "200ms", "c3", "sleep", "600")
    assert json.loads(td.out("inspect", "-f", "{{json .Config.Healthcheck}}", "c3")) == {
        "Test": ["CMD-SHELL", "exit 1"], "Interval": 200_000_000, "Retries": 1}
    td.out("run", "-d", "--image", "checked", "--network", "none", "--no-healthcheck", "c4", "sleep", "600")
    assert "Health" not in json.loads(td.out("inspect", "c4"))[0]["State"]  # docker omits it


def test_failures_in_the_start_period_do_not_count(td):
    td.out("run", "-d", "--network", "none", "--health-cmd", "false", "--health-interval", "100ms",
           "--health-retries", "1", "--health-start-period", "1h", "c5", "sleep", "600")
    wait_for(lambda: len(health(td, "c5")["Log"]) >= 2, what="two of c5's checks")
    now = health(td, "c5")
    assert (now["Status"], now["FailingStreak"]) == ("starting", 0)
    assert [r["ExitCode"] for r in now["Log"]][:2] == [1, 1]


PROBE = """
import sys, time
from tinydocker.container import health
from tinydocker.runtime import process

if sys.argv[4] == "held":
    def held(p):
        time.sleep(600)  # as a pause landing while the check's command starts holds it

    process.execute = held
check = {**health.DEFAULTS, "test": ["CMD", *sys.argv[5:]], "timeout": health.SECOND, "retries": 1}
health.probe(sys.argv[1], sys.argv[2], int(sys.argv[3]), check)
"""


def probe(td, rec: dict, how: str, *command: str) -> subprocess.Popen:
    """A check of the container run once, as the monitor's prober runs it, timing out in 1 s."""
    return subprocess.Popen([sys.executable, "-c", PROBE, str(td.root), rec["id"], str(rec["pid"]), how, *command],
                            env=td.env, stdout=subprocess.PIPE, stderr=subprocess.PIPE)


def timed_out(td, name: str) -> bool:
    kept = json.loads((td.containers / name / "health.json").read_text())
    return (kept["Status"], kept["Log"][-1]["ExitCode"], kept["Log"][-1]["Output"]) == (
        "unhealthy", -1, "Health check exceeded timeout (1s)")


def test_a_check_held_before_its_command_runs_times_out_and_its_prober_ends(td):
    """The check's deadline runs from before its exec: one held while it starts (a pause that
    froze it) is said to have timed out, and the prober ends, for the next check to run."""
    td.out("run", "-d", "--network", "none", "c1", "sleep", "600")
    rec = td.wait_running("c1")
    probing = probe(td, rec, "held", "true")
    _, err = probing.communicate(timeout=120)
    assert probing.returncode == 0 and err == b"", err
    assert timed_out(td, "c1")
    # what it had started died with it: the container holds its own process only
    wait_for(lambda: cgroups.open_cgroup(rec["id"]).pids() == [rec["pid"]], what="the held exec to end")
    td.out("rm", "-f", "c1")


def test_a_check_frozen_while_it_runs_times_out_and_its_prober_ends(td):
    """A pause that lands while the check runs: its SIGKILL at the deadline waits for the
    thaw on cgroup v1, and the prober does not."""
    td.out("run", "-d", "--network", "none", "c1", "sleep", "600")
    rec = td.wait_running("c1")
    group = cgroups.open_cgroup(rec["id"])
    probing = probe(td, rec, "running", "sleep", "600")
    try:
        wait_for(lambda: len(group.pids()) == 2, what="the check's command in the container")
        td.out("pause", "c1")
        _, err = probing.communicate(timeout=120)
    finally:
        if probing.poll() is None:
            probing.kill()
            probing.wait()
    assert probing.returncode == 0 and err == b"", err
    assert timed_out(td, "c1")
    td.out("unpause", "c1")
    wait_for(lambda: group.pids() == [rec["pid"]], what="the check's command to end")
    td.out("rm", "-f", "c1")
