"""testcontainers-python (its generic DockerContainer, on docker-py) driving tinydocker
through `system service`: a container started, waited for by its log and by its port,
reached from the test on the port it was published on, stopped, and nothing left.

Ryuk, testcontainers' reaper, is an image pulled from Docker Hub (unreachable here, and the
tests reach nothing beyond 127.0.0.1): TESTCONTAINERS_RYUK_DISABLED=true turns it off, and
the test removes what it started itself, as the `with` block does."""

import json
import os
import urllib.request

import pytest

from service_fixtures import service  # noqa: F401 - the fixture

tc = pytest.importorskip("testcontainers.core.container")

HTTPD = "mkdir -p /www && echo hello-from-tc > /www/index.html && echo serving && exec httpd -f -p 8080 -h /www"


@pytest.fixture
def docker_host(service, monkeypatch):  # noqa: F811
    monkeypatch.setenv("DOCKER_HOST", f"unix://{service.sock}")
    monkeypatch.setenv("DOCKER_CONFIG", str(service.config))
    monkeypatch.setenv("TESTCONTAINERS_RYUK_DISABLED", "true")
    return service


def test_a_generic_container_started_waited_for_reached_and_stopped(docker_host):
    from testcontainers.core.wait_strategies import LogMessageWaitStrategy, PortWaitStrategy

    service = docker_host
    container = (tc.DockerContainer("busybox").with_command(["sh", "-c", HTTPD]).with_exposed_ports(8080)
                 .with_env("GREETING", "hi").waiting_for(LogMessageWaitStrategy("serving")))
    with container:
        PortWaitStrategy(8080).wait_until_ready(container)
        host, port = container.get_container_host_ip(), container.get_exposed_port(8080)
        if os.path.exists("/.dockerenv"):
            # testcontainers believes itself in a container (docker's marker file): it goes
            # through the gateway of the container's network, the host's end of its bridge
            doc = json.loads(service.td.out("inspect", container.get_wrapped_container().id))[0]
            assert host == doc["NetworkSettings"]["Gateway"]
        else:
            assert host == "localhost"  # DOCKER_HOST is a unix socket: this machine
        with urllib.request.urlopen(f"http://{host}:{port}/index.html", timeout=30) as answer:
            assert answer.read() == b"hello-from-tc\n"
        code, output = container.exec(["sh", "-c", "echo $GREETING"])
        assert (code, output) == (0, b"hi\n")
        name = container.get_wrapped_container().name
        assert service.td.out("ps", "--format", "{{.Names}}").split() == [name]
    # stopped and removed by the with block: nothing of it is left
    assert service.td.out("ps", "-aq") == ""


def test_a_container_waited_for_by_its_health_check(docker_host):
    """testcontainers' HealthcheckWaitStrategy: docker-py's healthcheck= at create, the
    state read back from inspect's State.Health until it says healthy."""
    from testcontainers.core.wait_strategies import HealthcheckWaitStrategy

    service = docker_host
    check = {"test": ["CMD", "wget", "-q", "-O", "/dev/null", "http://127.0.0.1:8080/index.html"],
             "interval": 100_000_000, "timeout": 5_000_000_000, "retries": 50}
    container = (tc.DockerContainer("busybox", healthcheck=check).with_command(["sh", "-c", HTTPD])
                 .with_exposed_ports(8080).waiting_for(HealthcheckWaitStrategy()))
    with container:
        doc = json.loads(service.td.out("inspect", container.get_wrapped_container().id))[0]
        assert doc["State"]["Health"]["Status"] == "healthy"
    assert service.td.out("ps", "-aq") == ""


def test_two_containers_on_a_network_of_their_own_one_reaching_the_other_by_alias(docker_host, tmp_path):
    """testcontainers' Network: made and removed around the containers; one joins it with
    an alias (docker-py's networking_config at create), the other reaches it by that name,
    reading a host directory mapped into it; get_logs() gives its output."""
    from testcontainers.core.network import Network
    from testcontainers.core.wait_strategies import LogMessageWaitStrategy

    service = docker_host
    (tmp_path / "shared").mkdir()
    (tmp_path / "shared" / "path").write_text("/index.html\n")
    with Network() as net:
        server = (tc.DockerContainer("busybox").with_command(["sh", "-c", HTTPD]).with_network(net)
                  .with_network_aliases("srv").waiting_for(LogMessageWaitStrategy("serving")))
        fetch = "wget -q -O - http://srv:8080$(cat /host/path); echo fetched; exec sleep 600"
        client = (tc.DockerContainer("busybox").with_command(["sh", "-c", fetch]).with_network(net)
                  .with_volume_mapping(str(tmp_path / "shared"), "/host", "ro")
                  .waiting_for(LogMessageWaitStrategy("fetched")))
        with server, client:
            assert client.get_logs() == (b"hello-from-tc\nfetched\n", b"")
            assert client.exec(["sh", "-c", "touch /host/x"]).exit_code != 0  # mapped read-only
        assert net.name in service.td.out("network", "ls", "--format", "{{.Name}}").split()
    assert net.name not in service.td.out("network", "ls", "--format", "{{.Name}}").split()
    assert service.td.out("ps", "-aq") == ""
