"""Health checks through the service, as docker's: `docker run --health-*` (Config.Healthcheck)
run by the data root's monitor in the detached container, the result in inspect's
State.Health: starting, unhealthy after `retries` failures, healthy after a success, each
result in the log with its exit code and output; a new start begins again from starting."""

import json

from conftest import wait_for
from service_fixtures import service  # noqa: F401 - the fixture


def health(service, name):  # noqa: F811
    return json.loads(service.out("inspect", "-f", "{{json .State.Health}}", name))


def test_a_check_turns_unhealthy_then_healthy_and_starts_again_with_a_new_run(service):  # noqa: F811
    service.out("run", "-d", "--name", "h1", "--network", "none", "--health-cmd", "cat /tmp/ok",
                "--health-interval", "200ms", "--health-retries", "2", "--health-timeout", "5s",
                "busybox", "sleep", "600")
    config = json.loads(service.out("inspect", "-f", "{{json .Config.Healthcheck}}", "h1"))
    assert config == {"Test": ["CMD-SHELL", "cat /tmp/ok"], "Interval": 200_000_000, "Timeout": 5_000_000_000,
                      "Retries": 2}
    wait_for(lambda: health(service, "h1")["Status"] == "unhealthy", what="h1 to be unhealthy")
    now = health(service, "h1")
    assert now["FailingStreak"] >= 2 and now["Log"][-1]["ExitCode"] == 1
    assert "No such file" in now["Log"][-1]["Output"]
    service.out("exec", "h1", "sh", "-c", "echo fine > /tmp/ok")
    wait_for(lambda: health(service, "h1")["Status"] == "healthy", what="h1 to be healthy")
    assert service.out("ps", "--format", "{{.Status}}").endswith(" (healthy)\n")  # as docker ps says it
    now = health(service, "h1")
    assert now["FailingStreak"] == 0 and now["Log"][-1] == {**now["Log"][-1], "ExitCode": 0, "Output": "fine\n"}
    events = service.td.out("events", "--since", "1h", "--until", "0s", "--format", "{{.Action}}").split("\n")
    assert "health_status: unhealthy" in events and "health_status: healthy" in events
    # a new run is checked anew: starting until its first result (its /tmp/ok is still there)
    service.out("restart", "-t", "0", "h1")
    assert health(service, "h1")["Status"] in ("starting", "healthy")
    wait_for(lambda: health(service, "h1")["Status"] == "healthy", what="h1 to be healthy again")


def test_a_check_that_outlives_its_timeout_fails_and_none_disables_the_image_s(service):  # noqa: F811
    service.out("run", "-d", "--name", "h2", "--network", "none", "--health-cmd", "sleep 600",
                "--health-interval", "100ms", "--health-timeout", "100ms", "--health-retries", "1",
                "busybox", "sleep", "600")
    wait_for(lambda: health(service, "h2")["Status"] == "unhealthy", what="h2 to be unhealthy")
    last = health(service, "h2")["Log"][-1]
    assert (last["ExitCode"], last["Output"]) == (-1, "Health check exceeded timeout (100ms)")
    # no check: no State.Health, as docker's
    service.out("run", "-d", "--name", "h3", "--network", "none", "--no-healthcheck", "busybox", "sleep", "600")
    assert service.out("inspect", "-f", "{{json .State.Health}}", "h3") == "null\n"


def test_a_bad_check_is_refused_at_create_with_docker_s_words(service):  # noqa: F811
    status, body = service.request("POST", "/containers/create", body={
        "Image": "busybox", "Cmd": ["true"], "Healthcheck": {"Test": ["CMD", "true"], "Interval": 5}})
    assert status == 400 and json.loads(body)["message"] == "Interval in Healthcheck cannot be less than 1ms"
    status, body = service.request("POST", "/containers/create", body={
        "Image": "busybox", "Cmd": ["true"], "Healthcheck": {"Test": ["CMD", "true"], "Retries": "3"}})
    assert status == 400 and b"Retries" in body
    status, body = service.request("POST", "/containers/create", body={
        "Image": "busybox", "Cmd": ["true"], "Healthcheck": {"Test": ["SHELL", "true"]}})
    assert status == 400 and b"invalid healthcheck test" in body
    assert service.out("ps", "-aq") == ""


def test_a_paused_container_s_check_fails_as_docker_s_exec_does(service):  # noqa: F811
    service.out("run", "-d", "--name", "h4", "--network", "none", "--health-cmd", "true",
                "--health-interval", "100ms", "--health-timeout", "2s", "--health-retries", "1",
                "busybox", "sleep", "600")
    wait_for(lambda: health(service, "h4")["Status"] == "healthy", what="h4 to be healthy")
    cid = service.out("inspect", "-f", "{{.Id}}", "h4").strip()
    service.out("pause", "h4")
    # a check under way as the pause lands is frozen with the container: it times out, and
    # the next one is refused
    refused = (-1, f"Container {cid} is paused, unpause the container before exec")

    def said():
        now = health(service, "h4")
        return now["Status"] == "unhealthy" and (now["Log"][-1]["ExitCode"], now["Log"][-1]["Output"]) == refused
    wait_for(said, timeout=30, what="h4 to be unhealthy, as paused")
    service.out("unpause", "h4")
    wait_for(lambda: health(service, "h4")["Status"] == "healthy", what="h4 to be healthy again")
