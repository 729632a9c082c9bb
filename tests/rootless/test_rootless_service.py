"""The Engine API service of an ordinary user (issue 23): `tinydocker system service` run by
the user on $XDG_RUNTIME_DIR/tinydocker/docker.sock, and docker's own CLI, as the user,
running, listing, exec'ing into and removing the user's containers through it."""

import os
import shutil
import signal
import subprocess

import pytest

from conftest import wait_for

from rootless_fixtures import tun_for_everyone, user, user_python  # noqa: F401 - the fixtures

DOCKER = shutil.which("docker")


@pytest.mark.skipif(DOCKER is None, reason="docker's CLI is not installed (Debian's docker.io, or docker-ce-cli)")
def test_docker_s_cli_drives_an_ordinary_user_s_containers_through_its_service(user, tun_for_everyone):  # noqa: F811
    u = user
    runtime_dir = u.home / "run"
    runtime_dir.mkdir(mode=0o700)
    os.chown(runtime_dir, u.uid, u.gid)
    assert u.td("image", "build", "busybox").returncode == 0
    env = u.env(XDG_RUNTIME_DIR=str(runtime_dir))
    log = open(u.home / "service.log", "wb")
    service = subprocess.Popen(
        ["setpriv", f"--reuid={u.uid}", f"--regid={u.gid}", "--init-groups", "env", "-i",
         *(f"{k}={v}" for k, v in env.items()), u.python[0], "-m", "tinydocker", "system", "service", "-t", "0"],
        stdout=log, stderr=subprocess.STDOUT, cwd=u.home)
    sock = runtime_dir / "tinydocker" / "docker.sock"

    def docker(*args):
        return u(DOCKER, *args, env={"DOCKER_HOST": f"unix://{sock}", "DOCKER_CONFIG": str(u.home / ".docker")})

    try:
        wait_for(sock.exists, timeout=30, what="the user's service to listen")
        assert os.stat(sock).st_uid == u.uid
        res = docker("run", "--rm", "--network", "none", "busybox", "sh", "-c", "id -u; cat /proc/self/uid_map")
        assert res.returncode == 0, res.stderr
        lines = res.stdout.decode().split("\n")
        assert lines[0] == "0" and lines[1].split()[:2] == ["0", str(u.uid)]

        res = docker("run", "-d", "--network", "none", "--name", "web", "busybox", "sh", "-c",
                     "echo up; exec sleep 600")
        assert res.returncode == 0, res.stderr
        assert docker("ps", "--format", "{{.Names}}").stdout == b"web\n"
        assert docker("exec", "web", "id", "-u").stdout == b"0\n"
        wait_for(lambda: docker("logs", "web").stdout == b"up\n", timeout=10, what="the container's log")
        pid = int(docker("inspect", "-f", "{{.State.Pid}}", "web").stdout)
        assert os.stat(f"/proc/{pid}").st_uid == u.uid  # the user's process on the host, not root's
        # the same container, seen by the user's own CLI
        assert u.td("ps", "--format", "{{.Names}}").stdout == b"web\n"
        # a network of the user's own: containers on it reach each other by name
        assert docker("network", "create", "mine").returncode == 0
        res = docker("run", "-d", "--network", "mine", "--name", "db", "busybox", "sh", "-c",
                     "mkdir /www && echo from-db > /www/index.html && exec httpd -f -p 80 -h /www")
        assert res.returncode == 0, res.stderr

        def asked():
            res = docker("run", "--rm", "--network", "mine", "busybox", "sh", "-c",
                         "printf 'GET / HTTP/1.0\\r\\n\\r\\n' | nc db 80")
            return res.stdout.endswith(b"from-db\n") or None

        wait_for(asked, timeout=30, what="db by name on the user's network")
        assert docker("rm", "-f", "web", "db").returncode == 0
        assert docker("network", "rm", "mine").returncode == 0
        assert docker("ps", "-aq").stdout == b""
    finally:
        service.send_signal(signal.SIGTERM)
        try:
            service.wait(timeout=20)
        except subprocess.TimeoutExpired:
            service.kill()
            service.wait()
        log.close()
    said = (u.home / "service.log").read_text()
    assert "Traceback" not in said, said
