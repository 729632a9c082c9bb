"""docker's own CLI driving tinydocker through `system service`: the containers' life as a
docker user lives it, and the service's answers to what goes wrong."""

import json

from service_fixtures import service  # noqa: F401 - the fixture


def test_version_info_and_an_attached_run_s_output_and_exit_code(service):  # noqa: F811
    assert "Server: tinydocker" in service.out("version")
    assert "Storage Driver: overlay" in service.out("info")
    res = service.docker("run", "--name", "a1", "--network", "none", "busybox",
                         "sh", "-c", "echo out; echo err >&2; exit 3")
    assert (res.returncode, res.stdout, res.stderr) == (3, b"out\n", b"err\n")
    # the CLI and the service see the same container at the same moment
    assert service.td.out("ps", "-a", "--format", "{{.Names}} {{.Status}}").startswith("a1 Exited (3)")
    assert service.out("inspect", "-f", "{{.State.ExitCode}} {{.Config.Cmd}}", "a1") == \
        "3 [sh -c echo out; echo err >&2; exit 3]\n"


def test_run_rm_leaves_nothing_and_its_output_is_never_lost(service):  # noqa: F811
    for _ in range(3):  # a container removed as soon as it ends: its output was read to the end
        res = service.docker("run", "--rm", "--network", "none", "busybox", "echo", "gone")
        assert (res.returncode, res.stdout) == (0, b"gone\n"), res.stderr
    assert service.out("ps", "-aq") == ""


def test_stdin_reaches_a_container_run_with_i_and_its_end_closes_it(service):  # noqa: F811
    res = service.docker("run", "-i", "--rm", "--network", "none", "busybox", "wc", "-l", input=b"a\nb\nc\n")
    assert (res.returncode, res.stdout.strip()) == (0, b"3"), res.stderr


def test_a_detached_container_s_life_ps_logs_stop_rm(service):  # noqa: F811
    cid = service.out("run", "-d", "--name", "d1", "--network", "none", "busybox",
                      "sh", "-c", "echo hello; echo oops >&2; exec sleep 600").strip()
    assert len(cid) == 64
    lines = service.out("ps", "--no-trunc").splitlines()
    assert lines[1].startswith(cid) and lines[1].split()[-1] == "d1" and "Up " in lines[1]
    from conftest import wait_for

    wait_for(lambda: service.docker("logs", "d1").stderr == b"oops\n", what="the log")
    logs = service.docker("logs", "d1")
    assert (logs.stdout, logs.stderr) == (b"hello\n", b"oops\n")
    assert service.out("stop", "-t", "1", "d1") == "d1\n"
    assert service.out("inspect", "-f", "{{.State.Status}} {{.State.ExitCode}}", "d1") == "exited 137\n"
    assert service.out("rm", "d1") == "d1\n"
    assert service.out("ps", "-aq") == ""


def test_errors_are_docker_s_status_and_message(service):  # noqa: F811
    res = service.docker("rm", "nosuch")
    assert res.returncode == 1 and b"No such container: nosuch" in res.stderr
    status, body = service.request("GET", "/v9.99/containers/json")
    assert status == 400 and b"is too new" in body
    status, body = service.request("POST", "/v1.43/containers/create", body=b"{not json")
    assert status == 400 and json.loads(body)["message"].startswith("invalid JSON")
    status, body = service.request("POST", "/containers/create", body={"Image": "busybox", "Cmd": "true",
                                                                         "HostConfig": {"Memory": "lots"}})
    assert status == 400 and b"Memory" in body
    status, _ = service.request("GET", "/containers/nosuch/json")
    assert status == 404
    status, body = service.request("GET", "/nowhere")
    assert status == 404
    # unversioned and versioned paths alike; the service keeps serving after all of that
    assert service.request("GET", "/containers/json")[0] == 200
    assert service.request("GET", "/v1.24/containers/json")[0] == 200


def test_run_rm_whose_start_fails_exits_and_leaves_nothing(service):  # noqa: F811
    res = service.docker("run", "--rm", "--network", "none", "busybox", "/no/such/program")
    assert res.returncode in (125, 126, 127) and res.stderr, res
    assert service.out("ps", "-aq") == ""


def test_run_rm_gives_the_container_s_exit_code(service):  # noqa: F811
    # removed as soon as it ends: the code is the journal's, whether or not the wait saw the record
    for code in (0, 3, 7, 3):
        res = service.docker("run", "--rm", "--network", "none", "busybox", "sh", "-c", f"exit {code}")
        assert res.returncode == code, res.stderr
    assert service.out("ps", "-aq") == ""
