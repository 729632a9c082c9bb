"""Session-built OCI images and throwaway local registries for the image tests.

The images (see fixtures.py) are built on first use, once per test session, into one
directory that is deleted when the session ends. Each registry is Debian's
docker-registry (distribution 2.8) on 127.0.0.1 and a free port, started for one test
and stopped, by its pid, at that test's end, its storage deleted.

The tools are required, not optional: CI installs them (buildah, skopeo, docker-registry,
apache2-utils, busybox-static), and a missing one fails the test that needs it, saying
which package to install.
"""

import shutil
import subprocess
import time
import urllib.error
import urllib.request
from pathlib import Path

import pytest

import fixtures
from conftest import free_port

def _require(*tools: str) -> None:
    missing = [t for t in tools if shutil.which(t) is None]
    if missing:
        packages = " ".join(fixtures.PACKAGES[t] for t in missing)
        pytest.fail(f"{', '.join(missing)} not found: the image tests need `apt-get install {packages}`",
                    pytrace=False)


def _build(fn, *args):
    """Run a fixture builder; a tool's failure is reported as its output, not a traceback."""
    try:
        return fn(*args)
    except fixtures.ToolError as e:
        pytest.fail(f"building the {fn.__name__} image failed: {e}", pytrace=False)


@pytest.fixture(scope="session")
def oci_images_dir(tmp_path_factory):
    """Where the session's images are written; deleted at the end of the session."""
    _require("buildah", "skopeo", str(fixtures.BUSYBOX))
    where = tmp_path_factory.mktemp("oci-images")
    yield where
    shutil.rmtree(where, ignore_errors=True)


@pytest.fixture(scope="session")
def base_image(oci_images_dir) -> fixtures.Image:
    return _build(fixtures.base, oci_images_dir)


@pytest.fixture(scope="session")
def layered_image(oci_images_dir, base_image) -> fixtures.Image:
    return _build(fixtures.layered, oci_images_dir, base_image)


@pytest.fixture(scope="session")
def shared_images(oci_images_dir, base_image) -> tuple[fixtures.Image, fixtures.Image]:
    return _build(fixtures.shared, oci_images_dir, base_image)


@pytest.fixture(scope="session")
def compressed_images(oci_images_dir, layered_image) -> dict[str, fixtures.Image]:
    return _build(fixtures.compressed_variants, oci_images_dir, layered_image)


@pytest.fixture(scope="session")
def many_layers_image(oci_images_dir) -> fixtures.Image:
    return _build(fixtures.many_layers, oci_images_dir)


@pytest.fixture(scope="session")
def multiarch_image(oci_images_dir, base_image) -> fixtures.Image:
    return _build(fixtures.manifest_list, oci_images_dir, base_image)


@pytest.fixture(scope="session")
def repeated_image(oci_images_dir) -> fixtures.Image:
    return _build(fixtures.repeated_layers, oci_images_dir)


@pytest.fixture(scope="session")
def platformless_image(oci_images_dir, repeated_image) -> fixtures.Image:
    return _build(fixtures.platformless_indexes, oci_images_dir, repeated_image)


# -- registries -----------------------------------------------------------------------------


# urllib would send even a loopback request through an http_proxy from the environment
_direct = urllib.request.build_opener(urllib.request.ProxyHandler({}))


def _answers(addr: str) -> bool:
    try:
        _direct.open(f"http://{addr}/v2/", timeout=1).close()
        return True
    except urllib.error.HTTPError:
        return True  # a 401 from the auth registry: it is up
    except OSError:
        return False


def _registry_config(storage: Path, addr: str, htpasswd: Path | None) -> str:
    # Debian's own /etc/docker/registry/config.yml listens on :5000 on every interface and
    # sets htpasswd auth to a path that is a directory: nothing of it is reused here
    auth = f"auth:\n  htpasswd:\n    realm: tinydocker-test\n    path: {htpasswd}\n" if htpasswd else ""
    return (
        "version: 0.1\n"
        "log:\n  level: warn\n  accesslog:\n    disabled: true\n"
        f"storage:\n  filesystem:\n    rootdirectory: {storage}\n  delete:\n    enabled: true\n"
        # a fixed secret silences the warning that it would otherwise print at every start
        f"http:\n  addr: {addr}\n  secret: tinydocker-test-only\n"
        + auth
    )


def _serve(where: Path, htpasswd: Path | None = None):
    """Start a registry on a free loopback port; yields host:port, stops it and deletes `where`."""
    _require("docker-registry")
    log_path = where / "registry.log"
    proc = None
    try:
        # the port is free when asked for but may be taken before the registry binds it
        for _attempt in range(5):
            addr = f"127.0.0.1:{free_port()}"
            config = where / "config.yml"
            config.write_text(_registry_config(where / "storage", addr, htpasswd))
            with open(log_path, "ab") as log:
                proc = subprocess.Popen(["docker-registry", "serve", str(config)], stdout=log,
                                        stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)
            deadline = time.monotonic() + 15
            while proc.poll() is None and not _answers(addr) and time.monotonic() < deadline:
                time.sleep(0.05)
            if proc.poll() is None and _answers(addr):
                break
            _stop(proc)
            proc = None
        if proc is None:
            pytest.fail(f"docker-registry never answered; its log:\n{log_path.read_text()}", pytrace=False)
        yield addr
    finally:
        if proc is not None:
            _stop(proc)
        shutil.rmtree(where, ignore_errors=True)


def _stop(proc: subprocess.Popen) -> None:
    proc.terminate()
    try:
        proc.wait(timeout=10)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()


@pytest.fixture
def registry(tmp_path_factory):
    """An empty plain-HTTP registry, no auth, for this test: yields "127.0.0.1:PORT"."""
    yield from _serve(tmp_path_factory.mktemp("registry"))


@pytest.fixture
def auth_registry(tmp_path_factory):
    """An empty plain-HTTP registry with basic auth: fixtures.AUTH_USER, fixtures.AUTH_PASSWORD.

    Yields "127.0.0.1:PORT". The password file is bcrypt, the only hash distribution takes.
    """
    _require("htpasswd")
    where = tmp_path_factory.mktemp("auth-registry")
    entry = subprocess.run(["htpasswd", "-Bbn", fixtures.AUTH_USER, fixtures.AUTH_PASSWORD],
                           capture_output=True, text=True, check=True).stdout
    (where / "htpasswd").write_text(entry)
    yield from _serve(where, htpasswd=where / "htpasswd")


def forward_get(handler, upstream: str) -> bytes:
    """For a test's proxy in front of a real registry: the GET `handler` (an
    http.server handler) received, asked of `upstream`; the answer's status and headers sent
    on (a Content-Length of its own), its body returned for the proxy to send as it likes."""
    import http.client

    conn = http.client.HTTPConnection(upstream, timeout=30)
    headers = {k: handler.headers[k] for k in ("Accept", "Range", "Authorization") if handler.headers.get(k)}
    conn.request("GET", handler.path, headers=headers)
    answer = conn.getresponse()
    body = answer.read()
    conn.close()
    handler.send_response(answer.status)
    for k, v in answer.getheaders():
        if k.lower() not in ("connection", "content-length", "transfer-encoding", "date", "server"):
            handler.send_header(k, v)
    handler.send_header("Content-Length", str(len(body)))
    handler.end_headers()
    return body
