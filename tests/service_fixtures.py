"""The Engine API service for the tests: `tinydocker system service` on a socket of the test's
own, over the test's data root, and docker's own CLI pointed at it."""

import http.client
import json
import os
import shutil
import signal
import socket
import subprocess

import pytest

from conftest import wait_for

DOCKER = shutil.which("docker")


class _UnixHTTP(http.client.HTTPConnection):
    def __init__(self, path: str):
        super().__init__("localhost", timeout=60)
        self.path = path

    def connect(self):
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.sock.settimeout(60)
        self.sock.connect(self.path)


class Service:
    def __init__(self, td, tmp):
        self.td = td
        self.sock = str(tmp / "docker.sock")
        self.config = tmp / "docker-config"  # the docker CLI's own (contexts, auth): not the machine's
        self.config.mkdir()
        self.log = tmp / "stderr"  # a file, not a pipe: nobody need read it while the service lives
        with open(self.log, "wb") as log:
            self.proc = subprocess.Popen(td.cmd + ["system", "service", "-t", "0", f"unix://{self.sock}"],
                                         stdin=subprocess.DEVNULL, stdout=log, stderr=log, env=td.env)

    def ready(self) -> bool:
        if self.proc.poll() is not None:
            raise AssertionError(f"the service exited {self.proc.returncode}: {self.log.read_text()}")
        try:
            return self.request("GET", "/_ping")[0] == 200
        except OSError:
            return False

    def request(self, method: str, path: str, body=None, headers=None) -> tuple[int, bytes]:
        conn = _UnixHTTP(self.sock)
        try:
            data = json.dumps(body).encode() if isinstance(body, (dict, list)) else body
            conn.request(method, path, body=data, headers={"Content-Type": "application/json", **(headers or {})})
            res = conn.getresponse()
            return res.status, res.read()
        finally:
            conn.close()

    def docker(self, *args, input=None, timeout=120) -> subprocess.CompletedProcess:
        env = {**self.td.env, "DOCKER_HOST": f"unix://{self.sock}", "DOCKER_CONFIG": str(self.config)}
        return subprocess.run([DOCKER, *args], input=input, capture_output=True, timeout=timeout, env=env)

    def out(self, *args, **kw) -> str:
        res = self.docker(*args, **kw)
        assert res.returncode == 0, f"docker {args} exited {res.returncode}: {res.stderr.decode()}"
        return res.stdout.decode()

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()


@pytest.fixture
def service(td, tmp_path):
    if DOCKER is None:
        pytest.skip("docker's CLI is not installed (Debian's docker.io, or docker-ce-cli)")
    td.out("image", "build", "busybox")
    svc = Service(td, tmp_path)
    try:
        wait_for(svc.ready, timeout=30, what="the service to answer")
        yield svc
    finally:
        svc.stop()
        # what the tests started goes, as docker rm -f would
        for name in td.out("ps", "-aq").split():
            td("rm", "-f", name)
    assert not os.path.exists(svc.sock), "the service left its socket behind"
