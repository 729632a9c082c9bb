"""Credentials and TLS trust where users keep them: docker's config.json (auths, credHelpers,
credsStore through a docker-credential-HELPER), podman's auth.json, certs.d's CAs and
client certificates; and the safety of tinydocker's own credentials file."""

import base64
import json
import os
import socket
import subprocess
import time
from pathlib import Path

import pytest

import fixtures
from conftest import free_port
from fixtures import push_to_registry
from image_fixtures import _require, _stop

from tinydocker.image import credentials
from tinydocker.state.root import DataRoot

USER, PASSWORD = fixtures.AUTH_USER, fixtures.AUTH_PASSWORD


def _b64(user: str, password: str) -> str:
    return base64.b64encode(f"{user}:{password}".encode()).decode()


def _one_line_error(res, code: int = 125) -> str:
    err = res.stderr.decode()
    assert res.returncode == code, f"exit {res.returncode}, stderr {err!r}"
    assert err.count("\n") == 1 and err.startswith("tinydocker: ") and "Traceback" not in err, err
    return err


@pytest.fixture
def user_env(td, tmp_path):
    """td's environment with the user's credential places in a temp dir, none of them the
    machine's: DOCKER_CONFIG, XDG_RUNTIME_DIR, XDG_CONFIG_HOME; bin/ first on PATH."""
    home = tmp_path / "home"
    for d in ("docker", "run/containers", "config/containers", "bin"):
        (home / d).mkdir(parents=True)
    env = dict(td.env, DOCKER_CONFIG=str(home / "docker"), XDG_RUNTIME_DIR=str(home / "run"),
               XDG_CONFIG_HOME=str(home / "config"), PATH=f"{home / 'bin'}:{td.env['PATH']}")
    env.pop("REGISTRY_AUTH_FILE", None)
    return home, env


@pytest.fixture
def auth_image(auth_registry, base_image) -> str:
    return push_to_registry(auth_registry, base_image, "base:latest", creds=f"{USER}:{PASSWORD}")


def test_docker_config_auths(td, auth_registry, auth_image, user_env):
    home, env = user_env
    _one_line_error(td("pull", "-q", auth_image, env=env))
    # docker's own key may be a URL; the entry is found all the same
    (home / "docker" / "config.json").write_text(json.dumps(
        {"auths": {f"https://{auth_registry}": {"auth": _b64(USER, PASSWORD)}}}))
    assert td.out("pull", "-q", auth_image, env=env) == auth_image + "\n"


def test_podman_auth_json_comes_before_docker_config(td, auth_registry, auth_image, user_env):
    home, env = user_env
    (home / "docker" / "config.json").write_text(json.dumps(
        {"auths": {auth_registry: {"auth": _b64(USER, "wrong")}}}))
    assert "unauthorized" in _one_line_error(td("pull", "-q", auth_image, env=env))
    (home / "run" / "containers" / "auth.json").write_text(json.dumps(
        {"auths": {auth_registry: {"auth": _b64(USER, PASSWORD)}}}))
    assert td.out("pull", "-q", auth_image, env=env) == auth_image + "\n"
    # and tinydocker's own file (where login writes) before both
    (home / "run" / "containers" / "auth.json").write_text(json.dumps(
        {"auths": {auth_registry: {"auth": _b64(USER, "wrong")}}}))
    td.out("rmi", auth_image, env=env)
    (td.root / "auth.json").write_text(json.dumps({"auths": {auth_registry: {"auth": _b64(USER, PASSWORD)}}}))
    assert td.out("pull", "-q", auth_image, env=env) == auth_image + "\n"


def _helper(home: Path, name: str, server: str, user: str, secret: str) -> Path:
    """docker-credential-NAME on PATH: knows `server` only; logs what it is asked."""
    log = home / f"{name}.log"
    script = home / "bin" / f"docker-credential-{name}"
    script.write_text(
        "#!/bin/sh\n"
        "read -r server\n"
        f'echo "$1 $server" >> {log}\n'
        f'if [ "$1" = get ] && [ "$server" = "{server}" ]; then\n'
        f"  printf '{{\"ServerURL\":\"%s\",\"Username\":\"{user}\",\"Secret\":\"{secret}\"}}\\n' \"$server\"\n"
        "else\n"
        "  echo 'credentials not found in native keychain'; exit 1\n"
        "fi\n")
    script.chmod(0o755)
    return log


@pytest.mark.parametrize("how", ["credHelpers", "credsStore"])
def test_credential_helper(td, auth_registry, auth_image, user_env, how):
    home, env = user_env
    log = _helper(home, "tdtest", auth_registry, USER, PASSWORD)
    config = {"credHelpers": {auth_registry: "tdtest"}} if how == "credHelpers" else {"credsStore": "tdtest"}
    (home / "docker" / "config.json").write_text(json.dumps(config))
    assert td.out("pull", "-q", auth_image, env=env) == auth_image + "\n"
    assert log.read_text().splitlines() == [f"get {auth_registry}"]
    # a helper that has nothing for the registry: not logged in, the usual one line
    (home / "docker" / "config.json").write_text(json.dumps({"credsStore": "tdtest"}))
    _helper(home, "tdtest", "elsewhere:5000", USER, PASSWORD)
    td.out("rmi", auth_image, env=env)
    err = _one_line_error(td("pull", "-q", auth_image, env=env))
    assert "unauthorized" in err
    # one that is not installed: said in one line
    (home / "docker" / "config.json").write_text(json.dumps({"credsStore": "not-there"}))
    err = _one_line_error(td("pull", "-q", auth_image, env=env))
    assert "docker-credential-not-there" in err


def test_login_does_not_follow_a_planted_lock_symlink(td, auth_registry, tmp_path):
    # REGISTRY_AUTH_FILE in a directory anyone may write: a symbolic link planted at the
    # lock's name must not truncate what it points at
    shared = tmp_path / "shared"
    shared.mkdir()
    victim = tmp_path / "victim"
    victim.write_text("precious\n")
    (shared / ".auth.json.lock").symlink_to(victim)
    env = dict(td.env, REGISTRY_AUTH_FILE=str(shared / "auth.json"))
    err = _one_line_error(td("login", "-u", USER, "--password-stdin", auth_registry, input=PASSWORD.encode(),
                             env=env))
    assert "symbolic link" in err
    assert victim.read_text() == "precious\n"
    assert not (shared / "auth.json").exists()


def test_store_does_not_follow_a_planted_temp_symlink(tmp_path):
    # the old temporary name was .auth.json.tmp-PID: guessable, and opened O_TRUNC
    root = tmp_path / "root"
    root.mkdir()
    victim = tmp_path / "victim"
    victim.write_text("precious\n")
    (root / f".auth.json.tmp-{os.getpid()}").symlink_to(victim)
    os.environ.pop("REGISTRY_AUTH_FILE", None)
    credentials.store(DataRoot(root), "127.0.0.1:5000", USER, PASSWORD)
    assert victim.read_text() == "precious\n"
    assert (root / "auth.json").stat().st_mode & 0o777 == 0o600
    assert json.loads((root / "auth.json").read_text())["auths"]["127.0.0.1:5000"]["auth"] == _b64(USER, PASSWORD)


# -- TLS: certs.d --------------------------------------------------------------------------------

def _openssl(*args: str, cwd: Path) -> None:
    subprocess.run(["openssl", *args], cwd=cwd, check=True, capture_output=True)


def _pki(where: Path) -> Path:
    """A CA, a server certificate for 127.0.0.1 and a client certificate, signed by it."""
    _openssl("req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2", "-subj", "/CN=tinydocker test CA",
             "-keyout", "ca.key", "-out", "ca.crt", cwd=where)
    for name, ext in (("server", "subjectAltName=IP:127.0.0.1\nextendedKeyUsage=serverAuth\n"),
                      ("client", "extendedKeyUsage=clientAuth\n")):
        (where / f"{name}.ext").write_text(ext)
        _openssl("req", "-newkey", "rsa:2048", "-nodes", "-subj", f"/CN={name}", "-keyout", f"{name}.key",
                 "-out", f"{name}.csr", cwd=where)
        _openssl("x509", "-req", "-in", f"{name}.csr", "-CA", "ca.crt", "-CAkey", "ca.key", "-CAcreateserial",
                 "-days", "2", "-extfile", f"{name}.ext", "-out", f"{name}.crt", cwd=where)
    return where


@pytest.fixture
def tls_registry(tmp_path_factory):
    """A registry on 127.0.0.1 speaking TLS with a certificate of a CA made here, and asking
    for a client certificate of that CA: yields (host:port, the PKI directory)."""
    _require("docker-registry", "openssl")
    where = tmp_path_factory.mktemp("tls-registry")
    pki = _pki(where)
    addr = f"127.0.0.1:{free_port()}"
    (where / "config.yml").write_text(
        "version: 0.1\nlog:\n  level: warn\n  accesslog:\n    disabled: true\n"
        f"storage:\n  filesystem:\n    rootdirectory: {where / 'storage'}\n"
        f"http:\n  addr: {addr}\n  secret: tinydocker-test-only\n"
        f"  tls:\n    certificate: {pki / 'server.crt'}\n    key: {pki / 'server.key'}\n"
        f"    clientcas:\n      - {pki / 'ca.crt'}\n")
    with open(where / "registry.log", "ab") as log:
        proc = subprocess.Popen(["docker-registry", "serve", str(where / "config.yml")], stdout=log,
                                stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)
    try:
        # up when it takes a TCP connection: a plain-HTTP probe is answered too (with a 400)
        deadline = time.monotonic() + 15
        while proc.poll() is None and time.monotonic() < deadline:
            try:
                socket.create_connection(("127.0.0.1", int(addr.split(":")[1])), timeout=1).close()
                break
            except OSError:
                time.sleep(0.05)
        assert proc.poll() is None, (where / "registry.log").read_text()
        yield addr, pki
    finally:
        _stop(proc)


def _cert_dir(base: Path, host: str, pki: Path, client: bool = True) -> Path:
    d = base / host
    d.mkdir(parents=True)
    (d / "ca.crt").write_bytes((pki / "ca.crt").read_bytes())
    if client:
        (d / "client.cert").write_bytes((pki / "client.crt").read_bytes())
        (d / "client.key").write_bytes((pki / "client.key").read_bytes())
    return d


def test_tls_registry_trusted_through_certs_d(td, tls_registry, base_image, tmp_path):
    addr, pki = tls_registry
    skopeo_certs = _cert_dir(tmp_path / "skopeo", addr, pki)
    fixtures.skopeo_copy(base_image.oci, f"docker://{addr}/base:latest", "--dest-cert-dir", str(skopeo_certs))
    ref = f"{addr}/base:latest"
    # without certs.d: plain HTTP to a loopback registry, which speaks TLS
    env = dict(td.env, TINYDOCKER_CERTS_D=str(tmp_path / "certs.d"))
    _one_line_error(td("pull", "-q", ref, env=env))
    # the CA but no client certificate: the registry refuses the handshake
    _cert_dir(tmp_path / "certs.d", addr, pki, client=False)
    _one_line_error(td("pull", "-q", ref, env=env))
    (tmp_path / "certs.d" / addr / "client.cert").write_bytes((pki / "client.crt").read_bytes())
    err = _one_line_error(td("pull", "-q", ref, env=env))
    assert "has no key client.key" in err
    (tmp_path / "certs.d" / addr / "client.key").write_bytes((pki / "client.key").read_bytes())
    assert td.out("pull", "-q", ref, env=env) == ref + "\n"
    # DATA_ROOT/certs.d is searched too, whatever TINYDOCKER_CERTS_D says
    td.out("rmi", ref)
    _cert_dir(td.root / "certs.d", addr, pki)
    assert td.out("pull", "-q", ref, env=dict(td.env, TINYDOCKER_CERTS_D="")) == ref + "\n"


def test_one_tls_context_for_a_whole_pull(tls_registry, layered_image, tmp_path, monkeypatch):
    # building a context costs ~20 ms of CPU: once a pull, not once a connection (in-process,
    # to count them; the pull itself is the real one, three layers on three threads)
    import ssl

    from tinydocker.image import pull
    from tinydocker.image.store import ImageStore

    addr, pki = tls_registry
    certs_d = tmp_path / "certs.d"
    _cert_dir(certs_d, addr, pki)
    fixtures.skopeo_copy(layered_image.oci, f"docker://{addr}/layered:latest", "--dest-cert-dir",
                         str(certs_d / addr))
    monkeypatch.setenv("TINYDOCKER_CERTS_D", str(certs_d))
    monkeypatch.setenv("CONTAINERS_REGISTRIES_CONF", str(tmp_path / "no-registries.conf"))
    made = []
    real = ssl.create_default_context
    monkeypatch.setattr(ssl, "create_default_context", lambda *a, **kw: made.append(1) or real(*a, **kw))
    root = tmp_path / "root"
    root.mkdir()
    image = pull.pull(ImageStore(DataRoot(root)), f"{addr}/layered:latest")
    assert image.layers == layered_image.config()["rootfs"]["diff_ids"]
    assert len(made) == 1, f"{len(made)} TLS contexts"


def test_insecure_registry_from_registries_conf(td, tls_registry, base_image, tmp_path):
    # certs.d has the client certificate but not the CA: verification fails, unless
    # registries.conf says the registry is insecure (TLS, unverified)
    addr, pki = tls_registry
    fixtures.skopeo_copy(base_image.oci, f"docker://{addr}/base:latest", "--dest-cert-dir",
                         str(_cert_dir(tmp_path / "skopeo", addr, pki)))
    d = _cert_dir(tmp_path / "certs.d", addr, pki)
    (d / "ca.crt").unlink()
    conf = tmp_path / "registries.conf"
    conf.write_text(f'[[registry]]\nlocation = "{addr}"\n')
    env = dict(td.env, TINYDOCKER_CERTS_D=str(tmp_path / "certs.d"), CONTAINERS_REGISTRIES_CONF=str(conf))
    ref = f"{addr}/base:latest"
    assert "CERTIFICATE_VERIFY_FAILED" in _one_line_error(td("pull", "-q", ref, env=env))
    conf.write_text(f'[[registry]]\nlocation = "{addr}"\ninsecure = true\n')
    assert td.out("pull", "-q", ref, env=env) == ref + "\n"
