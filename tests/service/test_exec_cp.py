"""docker's own CLI through the service on a container's processes and files: exec, cp
both ways, stats, diff, export, update."""

import io
import os
import json
import subprocess
import tarfile

from service_fixtures import service  # noqa: F401 - the fixture


def _sleeper(service, name="s1", *args):  # noqa: F811
    service.out("run", "-d", "--name", name, "--network", "none", *args, "busybox", "sleep", "600")


def test_stats_no_stream_names_the_container_and_its_memory(service):  # noqa: F811
    _sleeper(service)
    out = service.out("stats", "--no-stream", "--format", "{{.Name}}|{{.MemUsage}}|{{.PIDs}}", "s1")
    name, memory, pids = out.strip().split("|")
    assert name == "s1" and pids == "1"
    used, limit = memory.split(" / ")
    assert used.endswith("B") and used[0].isdigit() and limit.endswith("B")
    status, body = service.request("GET", "/containers/s1/stats?stream=false")
    doc = json.loads(body)
    assert status == 200 and doc["name"] == "/s1" and doc["memory_stats"]["usage"] > 0
    assert doc["cpu_stats"]["system_cpu_usage"] > doc["precpu_stats"]["system_cpu_usage"] > 0
    assert doc["pids_stats"]["current"] == 1 and isinstance(doc["networks"], dict)
    # streamed: a document a second, until the client goes (the service keeps serving)
    from service_fixtures import _UnixHTTP

    conn = _UnixHTTP(service.sock)
    conn.request("GET", "/containers/s1/stats")
    res = conn.getresponse()
    first, second = json.loads(res.readline()), json.loads(res.readline())
    conn.close()
    assert first["name"] == second["name"] == "/s1"
    assert second["cpu_stats"]["system_cpu_usage"] > first["cpu_stats"]["system_cpu_usage"]
    assert service.out("stats", "--no-stream", "--format", "{{.Name}}", "s1") == "s1\n"


def test_diff_and_export_of_a_container_s_files(service):  # noqa: F811
    service.out("run", "--name", "f1", "--network", "none", "busybox",
                "sh", "-c", "echo hi > /new; rm /bin/true; echo x >> /etc/passwd")
    lines = set(service.out("diff", "f1").splitlines())
    assert {"A /new", "D /bin/true", "C /etc", "C /etc/passwd"} <= lines
    exported = service.docker("export", "f1").stdout
    with tarfile.open(fileobj=io.BytesIO(exported)) as tar:
        names = set(tar.getnames())
        assert "new" in names and "bin/sh" in names and "bin/true" not in names
        assert tar.extractfile("new").read() == b"hi\n"
    # docker export -o, and `docker export | tar t` as a user pipes it
    env = {**service.td.env, "DOCKER_HOST": f"unix://{service.sock}", "DOCKER_CONFIG": str(service.config)}
    listed = subprocess.run("docker export f1 | tar t", shell=True, capture_output=True, env=env, timeout=120)
    assert listed.returncode == 0 and b"new\n" in listed.stdout


def test_update_memory_reaches_the_container_s_cgroup_and_its_record(service):  # noqa: F811
    _sleeper(service)
    assert service.out("update", "--memory", "64m", "--memory-swap", "128m", "--pids-limit", "50",
                       "--restart", "on-failure:3", "s1") == "s1\n"
    out = service.out("inspect", "-f", "{{.HostConfig.Memory}} {{.HostConfig.PidsLimit}} "
                                        "{{.HostConfig.RestartPolicy.Name}}", "s1")
    assert out == "67108864 50 on-failure\n"
    limit = service.out("stats", "--no-stream", "--format", "{{.MemUsage}}", "s1").split(" / ")[1]
    assert limit.strip() == "64MiB"
    res = service.docker("update", "--memory", "64m", "nosuch")
    assert res.returncode == 1 and b"No such container: nosuch" in res.stderr


def test_cp_both_ways_files_and_directories_running_and_stopped(service, tmp_path):  # noqa: F811
    _sleeper(service, "c1")
    src = tmp_path / "src"
    (src / "sub").mkdir(parents=True)
    (src / "a.txt").write_text("alpha\n")
    (src / "sub" / "b.txt").write_text("beta\n")
    import os

    os.chown(src / "a.txt", 1234, 2345)
    td = service.td
    service.out("cp", str(src / "a.txt"), "c1:/tmp/")
    service.out("cp", "-a", str(src / "a.txt"), "c1:/tmp/owned.txt")
    service.out("cp", str(src), "c1:/tmp/dir")  # a directory to a missing path: made
    stat = td.out("exec", "c1", "stat", "-c", "%u:%g %n", "/tmp/a.txt", "/tmp/owned.txt", "/tmp/dir/sub/b.txt")
    assert stat.split("\n")[:3] == ["0:0 /tmp/a.txt", "1234:2345 /tmp/owned.txt", "0:0 /tmp/dir/sub/b.txt"]
    out = tmp_path / "out"
    out.mkdir()
    service.out("cp", "c1:/tmp/dir", str(out / "dir"))
    assert (out / "dir" / "sub" / "b.txt").read_text() == "beta\n"
    service.out("cp", "c1:/etc/hostname", str(out / "h"))
    assert (out / "h").read_text().strip() == service.out("inspect", "-f", "{{.Config.Hostname}}", "c1").strip()
    tar_out = service.docker("cp", "c1:/tmp/owned.txt", "-")
    with tarfile.open(fileobj=io.BytesIO(tar_out.stdout)) as tar:
        member = tar.getmember("owned.txt")
        assert (member.uid, tar.extractfile(member).read()) == (1234, b"alpha\n")
    # a stopped container: its files both ways as well
    service.out("stop", "-t", "0", "c1")
    service.out("cp", str(src / "sub"), "c1:/root/")
    service.out("cp", "c1:/root/sub/b.txt", str(out / "b-again"))
    assert (out / "b-again").read_text() == "beta\n"
    service.out("cp", "c1:/tmp/a.txt", str(out / "a-again"))
    assert (out / "a-again").read_text() == "alpha\n"
    # what goes wrong: docker's words and exit code
    res = service.docker("cp", "c1:/nosuch", str(out))
    assert res.returncode == 1 and b"Could not find the file /nosuch in container c1" in res.stderr, res.stderr
    res = service.docker("cp", str(src / "a.txt"), "nosuch:/tmp/a")
    assert res.returncode == 1 and b"No such container" in res.stderr
    # HEAD's stat: docker's base64 JSON, the mode as Go's FileMode
    conn = __import__("service_fixtures")._UnixHTTP(service.sock)
    conn.request("HEAD", "/containers/c1/archive?path=/root/sub")
    res = conn.getresponse()
    import base64

    doc = json.loads(base64.b64decode(res.getheader("X-Docker-Container-Path-Stat")))
    conn.close()
    assert res.status == 200 and doc["name"] == "sub" and doc["mode"] == (1 << 31) | 0o755 and doc["linkTarget"] == ""
    assert service.request("HEAD", "/containers/c1/archive?path=/nosuch")[0] == 404


def test_exec_exit_codes_env_user_workdir_stdin_and_detached(service):  # noqa: F811
    _sleeper(service, "e1", "-e", "FROM_RUN=1")
    res = service.docker("exec", "e1", "sh", "-c", "echo out; echo err >&2; exit 7")
    assert (res.returncode, res.stdout, res.stderr) == (7, b"out\n", b"err\n")
    out = service.out("exec", "-e", "A=b c", "-u", "1000:1001", "-w", "/tmp", "e1",
                      "sh", "-c", 'echo "$A|$FROM_RUN|$(id -u):$(id -g)|$PWD"')
    assert out == "b c|1|1000:1001|/tmp\n"
    res = service.docker("exec", "-i", "e1", "wc", "-l", input=b"a\nb\nc\n")
    assert (res.returncode, res.stdout.strip()) == (0, b"3"), res.stderr
    res = service.docker("exec", "e1", "nosuchcommand")
    assert res.returncode == 127 and b"nosuchcommand" in res.stderr, res
    # detached: back at once; what it does is done in the container
    assert service.out("exec", "-d", "e1", "sh", "-c", "echo done > /tmp/mark") == ""
    from conftest import wait_for

    wait_for(lambda: service.docker("exec", "e1", "cat", "/tmp/mark").stdout == b"done\n", what="the detached exec")
    # what goes wrong: docker's statuses and words
    res = service.docker("exec", "nosuch", "true")
    assert res.returncode == 1 and b"No such container: nosuch" in res.stderr
    service.out("stop", "-t", "0", "e1")
    res = service.docker("exec", "e1", "true")
    assert res.returncode == 1 and b"is not running" in res.stderr
    assert service.request("POST", "/containers/e1/exec", body={"Cmd": ["true"]})[0] == 409
    status, body = service.request("GET", "/exec/" + "0" * 64 + "/json")
    assert status == 404 and b"No such exec instance" in body
    # every instance went: ended and inspected, or its container stopped and swept
    execs = service.td.root / "state" / "execs"
    service.out("rm", "e1")
    service.out("run", "-d", "--name", "e2", "--network", "none", "busybox", "sleep", "600")
    assert service.out("exec", "e2", "true") == ""
    assert not execs.exists() or os.listdir(execs) == []


def test_an_exec_instance_starts_once_and_its_inspect_says_how_it_ended(service):  # noqa: F811
    _sleeper(service, "i1")
    status, body = service.request("POST", "/containers/i1/exec", body={"Cmd": ["sh", "-c", "exit 4"]})
    exec_id = json.loads(body)["Id"]
    assert status == 201 and len(exec_id) == 64
    doc = json.loads(service.request("GET", f"/exec/{exec_id}/json")[1])
    assert (doc["Running"], doc["ExitCode"], doc["ProcessConfig"]["entrypoint"]) == (False, None, "sh")
    # started twice at once, from two connections: one runs it, the other is refused
    from concurrent.futures import ThreadPoolExecutor

    with ThreadPoolExecutor(2) as pool:
        statuses = sorted(pool.map(lambda _: service.request("POST", f"/exec/{exec_id}/start",
                                                             body={"Detach": True})[0], range(2)))
    assert statuses == [200, 409]
    from conftest import wait_for

    doc = wait_for(lambda: (d := json.loads(service.request("GET", f"/exec/{exec_id}/json")[1])).get("ExitCode")
                   is not None and d, what="the exec's end")
    assert (doc["Running"], doc["ExitCode"], doc["ContainerID"]) == \
        (False, 4, service.out("inspect", "-f", "{{.Id}}", "i1").strip())
    # told once: an ended instance goes after its inspect
    assert service.request("GET", f"/exec/{exec_id}/json")[0] == 404
