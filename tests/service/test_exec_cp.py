"""docker's own CLI through the service on a container's processes and files: exec, cp
both ways, stats, diff, export, update."""

import io
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
    listed = subprocess.run(f"docker export f1 | tar t", shell=True, capture_output=True, env=env, timeout=120)
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
