"""docker-compose 1.29 (Debian's, on docker-py 5) driving tinydocker through `system
service`: a three-service application brought up, looked at, used and taken down.

`web` serves a file with busybox httpd on a port published on 127.0.0.1 and has a health
check; `client` waits for web to be healthy, then reaches it by its service name over the
project's network with nc, told where by its environment; `db` appends to a file in a named
volume. `up -d`, `ps`, `logs`, `exec` (-T, and on a real terminal, which compose hands to
docker's CLI), the published port from the test, `down -v` leaving nothing."""

import json
import shutil
import subprocess
import urllib.request

import pytest

from conftest import wait_for
from service_fixtures import service  # noqa: F401 - the fixture

COMPOSE = shutil.which("docker-compose")
PROJECT = "tdapp"

# version 2.4: the format whose schema has always had depends_on's condition (1.29 also
# takes it in 3.x files)
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


def test_a_three_service_application_up_used_and_down(service, compose):  # noqa: F811
    td = service.td
    res = compose("up", "-d")
    assert res.returncode == 0, res.stderr.decode()
    # busybox is here: compose looked it up and pulled nothing
    assert "pull" not in td.out("events", "--since", "1h", "--until", "0s", "--format", "{{.Action}}").split()

    ps = compose.out("ps").splitlines()
    rows = {line.split()[0]: line for line in ps[2:]}
    assert set(rows) == {f"{PROJECT}_web_1", f"{PROJECT}_client_1", f"{PROJECT}_db_1"}
    # the client was started once web was healthy (depends_on's condition)
    assert "Up (healthy)" in rows[f"{PROJECT}_web_1"] and "127.0.0.1:" in rows[f"{PROJECT}_web_1"]
    health = json.loads(td.out("inspect", "-f", "{{json .State.Health}}", f"{PROJECT}_web_1"))
    assert health["Status"] == "healthy" and health["Log"][-1]["ExitCode"] == 0

    # the client reached web by its service name, over the project's network
    def client_log():
        return compose.out("logs", "--no-color", "client")

    wait_for(lambda: "hello-from-web" in client_log(), timeout=60, what="the client's answer from web")
    assert "hello-from-client" in client_log() and "HTTP/1.1 200 OK" in client_log()
    assert compose.out("exec", "-T", "client", "sh", "-c", "echo $TARGET $GREETING") == "web hello-from-client\n"

    # the published port, from here
    address = compose.out("port", "web", "8080").strip()
    assert address.startswith("127.0.0.1:")
    with urllib.request.urlopen(f"http://{address}/index.html", timeout=30) as answer:
        assert answer.read() == b"hello-from-web\n"

    # db writes into its named volume, which is the project's
    wait_for(lambda: compose("exec", "-T", "db", "grep", "-c", "row", "/data/db.log").stdout.strip() not in
             (b"", b"0"), what="db's rows")
    assert f"{PROJECT}_dbdata" in td.out("volume", "ls", "-q").split()
    # exec -T: the command's exit code is compose's
    assert compose("exec", "-T", "db", "sh", "-c", "exit 3").returncode == 3

    # up again: everything is as the file says (the network too: its inspect shows no
    # option compose did not give), so nothing is made again
    res = compose("up", "-d")
    assert res.returncode == 0 and res.stderr.decode().count("is up-to-date") == 3, res.stderr.decode()
    # a one-off container of a service: its environment, its exit code, gone with --rm
    res = compose("run", "--rm", "-T", "client", "sh", "-c", "echo $GREETING; exit 5")
    assert (res.returncode, res.stdout) == (5, b"hello-from-client\n"), res.stderr.decode()
    assert len(td.out("ps", "-aq").split()) == 3

    assert compose("down", "-v", "-t", "1").returncode == 0
    assert td.out("ps", "-aq") == ""
    assert f"{PROJECT}_default" not in td.out("network", "ls", "--format", "{{.Name}}").split()
    assert td.out("volume", "ls", "-q") == ""


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
