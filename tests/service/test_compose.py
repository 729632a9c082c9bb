"""docker-compose 1.29 (Debian's, on docker-py 5) driving tinydocker through `system
service`: a three-service application brought up, looked at, used and taken down.

`web` serves a file with busybox httpd on a port published on 127.0.0.1 and has a health
check; `client` waits for web to be healthy, then reaches it by its service name over the
project's network with nc, told where by its environment; `db` appends to a file in a named
volume. `up -d`, `ps`, `logs`, `exec` (-T, and on a real terminal, which compose hands to
docker's CLI), the published port from the test, `down -v` leaving nothing."""

import shutil
import subprocess

import pytest

from service_fixtures import service  # noqa: F401 - the fixture

COMPOSE = shutil.which("docker-compose")
PROJECT = "tdapp"

# version 2.4: compose 1.29 takes depends_on's condition (service_healthy) only in 2.x files
APP = """\
version: "2.4"
services:
  web:
    image: busybox
    command: ["sh", "-c", "mkdir -p /www && echo hello-from-web > /www/index.html && exec httpd -f -p 8080 -h /www"]
    ports:
      - "127.0.0.1::8080"
    healthcheck:
      test: ["CMD", "wget", "-q", "-O", "/dev/null", "http://127.0.0.1:8080/index.html"]
      interval: 1s
      timeout: 10s
      retries: 30
  client:
    image: busybox
    environment:
      TARGET: web
      GREETING: hello-from-client
    command: ["sh", "-c", "echo $$GREETING; printf 'GET /index.html HTTP/1.0\\r\\n\\r\\n' | nc $$TARGET 8080; exec sleep 600"]
    depends_on:
      web:
        condition: service_healthy
  db:
    image: busybox
    command: ["sh", "-c", "while true; do echo row >> /data/db.log; sleep 1; done"]
    volumes:
      - dbdata:/data
volumes:
  dbdata:
"""

pytestmark = pytest.mark.skipif(COMPOSE is None, reason="docker-compose is not installed (Debian's docker-compose)")


class Compose:
    def __init__(self, service, directory):  # noqa: F811
        self.directory = directory
        self.env = {**service.td.env, "DOCKER_HOST": f"unix://{service.sock}", "DOCKER_CONFIG": str(service.config)}

    def __call__(self, *args, timeout=180) -> subprocess.CompletedProcess:
        return subprocess.run([COMPOSE, "-p", PROJECT, *args], cwd=self.directory, capture_output=True,
                              timeout=timeout, env=self.env, stdin=subprocess.DEVNULL)

    def out(self, *args, **kw) -> str:
        res = self(*args, **kw)
        assert res.returncode == 0, f"docker-compose {args} exited {res.returncode}: {res.stderr.decode()}"
        return res.stdout.decode()

    def on_terminal(self, *args) -> subprocess.CompletedProcess:
        """docker-compose on a pseudo-terminal of its own (util-linux's script)."""
        line = " ".join([COMPOSE, "-p", PROJECT, *args])
        return subprocess.run(["script", "-qec", line, "/dev/null"], cwd=self.directory, capture_output=True,
                              timeout=180, env=self.env, stdin=subprocess.DEVNULL)


@pytest.fixture
def compose(service, tmp_path):  # noqa: F811
    app = tmp_path / "app"
    app.mkdir()
    (app / "docker-compose.yml").write_text(APP)
    c = Compose(service, app)
    yield c
    c("down", "-v", "-t", "1")  # whatever a failed test left


def test_compose_exec_on_a_real_terminal(service, compose):  # noqa: F811
    """compose's exec without -T hands over to `docker exec -it`: the command's terminal,
    and its exit code, every time. The service used to close the connection with the
    client's last bytes (script's ^D at its input's end) unread, which resets it: about one
    run in six, the CLI said "connection reset by peer" and exited 1."""
    assert compose("up", "-d", "db").returncode == 0
    for _ in range(10):
        res = compose.on_terminal("exec", "db", "sh", "-c", "'tty; exit 4'")
        assert res.returncode == 4, res.stdout
        assert b"/dev/pts/" in res.stdout
    assert compose("down", "-v", "-t", "1").returncode == 0
    assert service.td.out("ps", "-aq") == ""
