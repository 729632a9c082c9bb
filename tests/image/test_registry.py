"""pull, push, login and logout, against Debian's docker-registry (see image_fixtures) and,
for what it cannot be made to do (Bearer tokens, plain-tar layers, broken blobs), a small
registry written here that serves one image from a fixture's OCI layout."""

import base64
import gzip
import hashlib
import http.server
import io
import json
import os
import pty
import stat
import subprocess
import tarfile
import threading
from urllib.parse import parse_qs, urlsplit

import pytest

import fixtures
from fixtures import push_to_registry, skopeo
from image_fixtures import forward_get

USER, PASSWORD = fixtures.AUTH_USER, fixtures.AUTH_PASSWORD


# -- helpers ----------------------------------------------------------------------------------

def one_line_error(res, code: int = 125) -> str:
    """The failure is `code` and one line on stderr, no traceback; that line."""
    err = res.stderr.decode()
    assert res.returncode == code, f"exit {res.returncode}, stderr {err!r}"
    assert err.count("\n") == 1 and err.startswith("tinydocker: "), err
    assert "Traceback" not in err
    return err


def layer_dirs(td) -> list[str]:
    try:
        return sorted(os.listdir(td.root / "images" / "layers"))
    except FileNotFoundError:
        return []


def assert_nothing_stored(td) -> None:
    """No image, no layer, no blob, no work in progress left behind."""
    images = td.root / "images"
    if images.exists():
        assert not [n for n in os.listdir(images) if n.startswith(".tmp-")]
        assert layer_dirs(td) == []
        blobs = images / "blobs" / "sha256"
        assert not blobs.exists() or os.listdir(blobs) == []
    assert td.out("images", "-q") == ""


def inspect(td, ref: str) -> dict:
    return json.loads(td.out("image", "inspect", ref))[0]


def registry_digest(ref: str) -> str:
    return json.loads(skopeo("inspect", "--tls-verify=false", f"docker://{ref}"))["Digest"]


# -- a registry written here --------------------------------------------------------------------

class _Server(http.server.ThreadingHTTPServer):
    daemon_threads = True


def _serve(handler) -> tuple[_Server, int]:
    server = _Server(("127.0.0.1", 0), handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server, server.server_address[1]


class FakeRegistry:
    """Serves one image as repository `x`, tag `latest`: its manifest, config and layers
    as in `image`'s layout, or altered (`layers` replaces layer blobs by index, and the
    manifest is rewritten to match unless `honest` is False; `truncate` breaks a blob off
    halfway). With `token`, everything wants `Authorization: Bearer TOKEN`, which the
    token server hands out (to anyone, or with `creds` only to those credentials)."""

    def __init__(self, image: fixtures.Image, token: str | None = None, creds: tuple[str, str] | None = None,
                 layers: dict[int, bytes] | None = None, honest: bool = True, truncate: str | None = None):
        self.token, self.creds, self.truncate = token, creds, truncate
        self.token_requests: list[dict] = []
        self.blobs: dict[str, bytes] = {}
        self.blob_gets: list[str] = []
        manifest = image.manifest()
        config = image.blob(manifest["config"]["digest"]).read_bytes()
        self.blobs[manifest["config"]["digest"]] = config
        for i, desc in enumerate(manifest["layers"]):
            data = image.blob(desc["digest"]).read_bytes()
            if layers and i in layers:
                data = layers[i]
                if honest:
                    desc["digest"] = "sha256:" + hashlib.sha256(data).hexdigest()
                    desc["size"] = len(data)
            self.blobs[desc["digest"]] = data
        self.manifest = json.dumps(manifest).encode()
        self.media_type = manifest.get("mediaType", fixtures.OCI_MANIFEST)
        self.digest = "sha256:" + hashlib.sha256(self.manifest).hexdigest()
        self.token_server, token_port = _serve(self._token_handler())
        self.realm = f"http://127.0.0.1:{token_port}/token"
        self.server, port = _serve(self._registry_handler())
        self.addr = f"127.0.0.1:{port}"

    def close(self) -> None:
        for server in (self.server, self.token_server):
            server.shutdown()
            server.server_close()

    def _token_handler(self):
        fake = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def log_message(self, *args):
                pass

            def do_GET(self):
                query = parse_qs(urlsplit(self.path).query)
                basic = self.headers.get("Authorization")
                fake.token_requests.append({"query": query, "authorization": basic})
                if fake.creds:
                    wanted = "Basic " + base64.b64encode(":".join(fake.creds).encode()).decode()
                    if basic != wanted:
                        self.send_response(401)
                        self.send_header("Content-Length", "0")
                        self.end_headers()
                        return
                body = json.dumps({"token": fake.token, "expires_in": 300}).encode()
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

        return Handler

    def _registry_handler(self):
        fake = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def log_message(self, *args):
                pass

            def _send(self, status: int, body: bytes = b"", headers: dict | None = None, length=None):
                self.send_response(status)
                for k, v in (headers or {}).items():
                    self.send_header(k, v)
                self.send_header("Content-Length", str(len(body) if length is None else length))
                self.end_headers()
                if self.command != "HEAD":
                    self.wfile.write(body)

            def _error(self, status: int, code: str, message: str):
                body = json.dumps({"errors": [{"code": code, "message": message}]}).encode()
                self._send(status, body, {"Content-Type": "application/json"})

            def _authorized(self) -> bool:
                if fake.token is None or self.headers.get("Authorization") == f"Bearer {fake.token}":
                    return True
                path = urlsplit(self.path).path
                scope = "" if path == "/v2/" else ',scope="repository:x:pull"'
                body = json.dumps({"errors": [{"code": "UNAUTHORIZED", "message": "authentication required"}]})
                self._send(401, body.encode(), {
                    "WWW-Authenticate": f'Bearer realm="{fake.realm}",service="test"{scope}',
                    "Content-Type": "application/json"})
                return False

            def do_GET(self):
                if not self._authorized():
                    return
                path = urlsplit(self.path).path
                if path == "/v2/":
                    return self._send(200, b"{}")
                if path in ("/v2/x/manifests/latest", f"/v2/x/manifests/{fake.digest}"):
                    return self._send(200, fake.manifest, {"Content-Type": fake.media_type,
                                                           "Docker-Content-Digest": fake.digest})
                if path.startswith("/v2/x/manifests/"):
                    return self._error(404, "MANIFEST_UNKNOWN", "manifest unknown")
                if path.startswith("/v2/x/blobs/"):
                    digest = path.rsplit("/", 1)[1]
                    fake.blob_gets.append(digest)
                    data = fake.blobs.get(digest)
                    if data is None:
                        return self._error(404, "BLOB_UNKNOWN", "blob unknown to registry")
                    if digest == fake.truncate:
                        # promise it all, send half, hang up
                        self.send_response(200)
                        self.send_header("Content-Length", str(len(data)))
                        self.end_headers()
                        self.wfile.write(data[:len(data) // 2])
                        self.wfile.flush()
                        self.close_connection = True
                        return
                    return self._send(200, data, {"Content-Type": "application/octet-stream"})
                return self._error(404, "NAME_UNKNOWN", "repository name not known to registry")

        return Handler


@pytest.fixture
def fake_registry():
    made = []

    def make(*args, **kw) -> FakeRegistry:
        made.append(FakeRegistry(*args, **kw))
        return made[-1]

    yield make
    for fake in made:
        fake.close()


# -- pull ---------------------------------------------------------------------------------------

def test_pull_by_tag_then_run(td, registry, layered_image):
    ref = push_to_registry(registry, layered_image, "layered:latest")
    out = td.out("pull", ref).splitlines()
    digest = registry_digest(ref)
    assert out == ["latest: Pulling from layered", f"Digest: {digest}",
                   f"Status: Downloaded newer image for {ref}", ref]
    assert len(layer_dirs(td)) == 3
    assert "hello from cmd" in td.out("run", "--image", ref, "c1")
    doc = inspect(td, ref)
    assert doc["RepoTags"] == [ref] and doc["RepoDigests"] == [f"{registry}/layered@{digest}"]
    assert doc["RootFS"]["Layers"] == layered_image.config()["rootfs"]["diff_ids"]
    # again: nothing to fetch, docker's words for it, and -q says only the name
    assert f"Status: Image is up to date for {ref}" in td.out("pull", ref)
    assert td.out("pull", "-q", "--tls-verify=false", ref) == ref + "\n"


def test_run_and_create_pull_what_is_missing_always_or_never(td, registry, layered_image):
    ref = push_to_registry(registry, layered_image, "layered:latest")
    res = td("run", "--rm", "--pull", "never", "--image", ref, "c1")
    assert "Unable to find image" in one_line_error(res)
    # missing, the default: docker's lines on stderr, stdout the container's alone
    res = td("run", "--rm", "--image", ref, "c1", check=True)
    assert b"hello from cmd" in res.stdout and b"Pulling from" not in res.stdout
    err = res.stderr.decode().splitlines()
    assert err[:2] == [f"Unable to find image '{ref}' locally", "latest: Pulling from layered"], err
    assert f"Status: Downloaded newer image for {ref}" in err
    assert len(layer_dirs(td)) == 3
    # here now: nothing pulled, nothing said
    res = td("run", "--rm", "--image", ref, "c1", check=True)
    assert res.stderr == b""
    # always: the registry is asked again (up to date), and -q says nothing of it
    res = td("create", "--pull", "always", "--image", ref, "c2", check=True)
    assert f"Status: Image is up to date for {ref}" in res.stderr.decode()
    res = td("create", "-q", "--pull", "always", "--image", ref, "c3", check=True)
    assert res.stderr == b"" and len(res.stdout.split()) == 1
    assert "pull" in td.out("events", "--since", "1h", "--until", "0s", "--format", "{{.Action}}").split()
    # by the API, in a new root: missing pulls there too, silently
    import shutil

    import tinydocker

    other = td.root.parent / (td.root.name + "-api")
    try:
        done = tinydocker.run("c1", None, image=ref, remove=True, capture_output=True, network="none", root=other)
        assert done.exit_code == 0 and b"hello from cmd" in done.stdout
    finally:
        shutil.rmtree(other, ignore_errors=True)


def test_pull_by_digest(td, registry, layered_image):
    ref = push_to_registry(registry, layered_image, "layered:v1")
    digest = registry_digest(ref)
    by_digest = f"{registry}/layered@{digest}"
    assert td.out("pull", "-q", by_digest) == by_digest + "\n"
    doc = inspect(td, by_digest)
    assert doc["RepoTags"] == [] and doc["RepoDigests"] == [by_digest]
    assert "hello from cmd" in td.out("run", "--image", by_digest, "c1")
    unknown = f"{registry}/layered@sha256:{'0' * 64}"
    err = one_line_error(td("pull", unknown))
    assert f"manifest for {unknown} not found: manifest unknown" in err


def test_manifest_list_picks_this_platform_or_the_one_asked(td, registry, multiarch_image):
    ref = push_to_registry(registry, multiarch_image, "multi:latest", all_platforms=True)
    host = fixtures.host_arch()
    other = "arm64" if host == "amd64" else "amd64"
    td.out("pull", "-q", ref)
    assert inspect(td, ref)["Architecture"] == host
    assert td.out("run", "--image", ref, "c1", "cat", "/arch") == f"{host}\n"
    td.out("pull", "-q", "--platform", f"linux/{other}", ref)
    assert inspect(td, ref)["Architecture"] == other
    err = one_line_error(td("pull", "--platform", "linux/s390x", ref))
    assert "no matching manifest for linux/s390x" in err


@pytest.mark.parametrize("kind", ["gzip", "zstd"])
def test_pull_compressed_layers(td, registry, compressed_images, kind):
    image = compressed_images[kind]
    ref = push_to_registry(registry, image, f"layered-{kind}:latest")
    raw = json.loads(skopeo("inspect", "--raw", "--tls-verify=false", f"docker://{ref}"))
    # skopeo kept the compression: these are the layers tinydocker has to read
    assert {layer["mediaType"] for layer in raw["layers"]} == {f"application/vnd.oci.image.layer.v1.tar+{kind}"}
    td.out("pull", "-q", ref)
    assert inspect(td, ref)["RootFS"]["Layers"] == image.config()["rootfs"]["diff_ids"]
    assert "hello from cmd" in td.out("run", "--image", ref, "c1")


def test_pull_plain_tar_layers(td, compressed_images, fake_registry):
    # skopeo compresses whatever it pushes to a registry: plain layers come from the fake
    image = compressed_images["none"]
    fake = fake_registry(image)
    ref = f"{fake.addr}/x:latest"
    td.out("pull", "-q", ref)
    assert inspect(td, ref)["RootFS"]["Layers"] == image.config()["rootfs"]["diff_ids"]
    assert "hello from cmd" in td.out("run", "--image", ref, "c1")


def test_progress_on_a_terminal(td, registry, base_image):
    ref = push_to_registry(registry, base_image, "base:latest")
    short = base_image.layer_digests()[0].split(":")[1][:12]
    leader, follower = pty.openpty()
    try:
        # stderr a terminal (what the progress display asks), stdout a pipe
        res = subprocess.run(td.cmd + ["pull", ref], stdout=subprocess.PIPE, stderr=follower, env=td.env,
                             timeout=60)
    finally:
        os.close(follower)
    progress = b""
    while True:
        try:
            chunk = os.read(leader, 65536)
        except OSError:
            break
        if not chunk:
            break
        progress += chunk
    os.close(leader)
    assert res.returncode == 0
    assert f"{short}: Pull complete".encode() in progress
    assert res.stdout.decode().splitlines()[-1] == ref


def test_concurrent_pulls_share_layers(td, registry, layered_image, shared_images):
    refs = [push_to_registry(registry, layered_image, "layered:latest"),
            push_to_registry(registry, shared_images[0], "shared-one:latest"),
            push_to_registry(registry, shared_images[1], "shared-two:latest")]
    procs = [td.popen("pull", "-q", ref) for ref in refs]
    for proc, ref in zip(procs, refs):
        out, err = proc.communicate(timeout=60)
        assert proc.returncode == 0, err.decode()
        assert out.decode() == ref + "\n"
    # one base layer under all three, then two of layered's and one each of the others
    assert len(layer_dirs(td)) == 5
    assert len(td.out("images", "-q").split()) == 3
    assert not [n for n in os.listdir(td.root / "images") if n.startswith(".tmp-")]
    assert td.out("run", "--image", refs[2], "c1", "cat", "/two") == "two\n"


def test_unknown_image_fails_and_stores_nothing(td, registry):
    err = one_line_error(td("pull", f"{registry}/nothere:latest"))
    assert f"manifest for {registry}/nothere:latest not found" in err
    one_line_error(td("pull", "127.0.0.1:1/nothere:latest"))  # nobody listening
    assert_nothing_stored(td)


def _other_layer() -> bytes:
    raw = io.BytesIO()
    with tarfile.open(fileobj=raw, mode="w") as tar:
        info = tarfile.TarInfo("evil")
        info.size = 4
        tar.addfile(info, io.BytesIO(b"evil"))
    return gzip.compress(raw.getvalue(), mtime=0)


@pytest.mark.parametrize("damage", ["flipped byte", "truncated", "not gzip", "wrong diff id"])
def test_damaged_layer_fails_and_stores_nothing(td, layered_image, fake_registry, damage):
    real = layered_image.blob(layered_image.layer_digests()[1]).read_bytes()
    if damage == "flipped byte":
        # the manifest still names the real digest: the bytes do not match it
        middle = len(real) // 2
        fake = fake_registry(layered_image, layers={1: real[:middle] + bytes([real[middle] ^ 1]) + real[middle + 1:]},
                             honest=False)
        said = "does not match its digest"
    elif damage == "truncated":
        fake = fake_registry(layered_image, truncate=layered_image.layer_digests()[1])
        said = "is truncated"
    elif damage == "not gzip":
        # a manifest naming the damaged bytes' own digest: only unpacking finds it out
        fake = fake_registry(layered_image, layers={1: real[: len(real) - 20]})
        said = "unusable"
    else:
        fake = fake_registry(layered_image, layers={1: _other_layer()})
        said = "does not match its diff id"
    err = one_line_error(td("pull", f"{fake.addr}/x:latest"))
    assert said in err, err
    assert_nothing_stored(td)


# -- authentication ----------------------------------------------------------------------------

def test_bearer_token_flow(td, base_image, fake_registry):
    fake = fake_registry(base_image, token="tok-123")
    ref = f"{fake.addr}/x:latest"
    assert td.out("pull", "-q", ref) == ref + "\n"
    assert fake.token_requests[0]["query"] == {"service": ["test"], "scope": ["repository:x:pull"]}
    assert fake.token_requests[0]["authorization"] is None
    assert td.out("run", "--image", ref, "c1", "echo", "ok") == "ok\n"


def test_bearer_token_with_credentials(td, base_image, fake_registry):
    fake = fake_registry(base_image, token="tok-456", creds=(USER, PASSWORD))
    ref = f"{fake.addr}/x:latest"
    err = one_line_error(td("pull", ref))
    assert "unauthorized" in err
    one_line_error(td("login", "-u", USER, "--password-stdin", fake.addr, input=b"wrong\n"))
    assert td.out("login", "-u", USER, "--password-stdin", fake.addr, input=PASSWORD.encode() + b"\n") \
        == "Login Succeeded\n"
    td.out("pull", "-q", ref)
    wanted = "Basic " + base64.b64encode(f"{USER}:{PASSWORD}".encode()).decode()
    assert fake.token_requests[-1]["authorization"] == wanted
    assert fake.token_requests[-1]["query"]["scope"] == ["repository:x:pull"]
    assert len(layer_dirs(td)) == 1


def test_basic_auth_registry(td, auth_registry, base_image, tmp_path):
    ref = push_to_registry(auth_registry, base_image, "base:latest", creds=f"{USER}:{PASSWORD}")
    err = one_line_error(td("pull", ref))
    assert "unauthorized: authentication required" in err
    assert_nothing_stored(td)
    auth_file = td.root / "auth.json"
    res = td("login", "-u", USER, "-p", "wrong", auth_registry)
    warning, failure = res.stderr.decode().splitlines()
    assert res.returncode == 125 and "Use --password-stdin" in warning
    assert failure == f"tinydocker: login to {auth_registry}: unauthorized: authentication required"
    assert not auth_file.exists()
    out = td.out("login", "-u", USER, "--password-stdin", auth_registry, input=f"{PASSWORD}\n".encode())
    assert out == "Login Succeeded\n"
    assert stat.S_IMODE(auth_file.stat().st_mode) == 0o600
    entry = json.loads(auth_file.read_text())["auths"][auth_registry]["auth"]
    assert base64.b64decode(entry).decode() == f"{USER}:{PASSWORD}"
    assert td.out("pull", "-q", ref) == ref + "\n"
    # push what was pulled under another name, with the same credentials
    td.out("tag", ref, f"{auth_registry}/copy:v1")
    assert "v1: digest: sha256:" in td.out("push", f"{auth_registry}/copy:v1")
    assert td.out("logout", auth_registry) == f"Removing login credentials for {auth_registry}\n"
    assert json.loads(auth_file.read_text())["auths"] == {}
    err = one_line_error(td("logout", auth_registry), code=1)
    assert f"Not logged in to {auth_registry}" in err
    one_line_error(td("pull", f"{auth_registry}/copy:v1"))
    # REGISTRY_AUTH_FILE moves the credentials elsewhere
    other = tmp_path / "elsewhere" / "auth.json"
    env = dict(td.env, REGISTRY_AUTH_FILE=str(other))
    td.out("login", "-u", USER, "--password-stdin", auth_registry, input=PASSWORD.encode(), env=env)
    assert stat.S_IMODE(other.stat().st_mode) == 0o600 and auth_registry in other.read_text()
    td.out("pull", "-q", f"{auth_registry}/copy:v1", env=env)


# -- push ---------------------------------------------------------------------------------------

def test_push_what_was_loaded_and_read_it_back(td, registry, layered_image, tmp_path):
    td.out("load", "-q", "-i", str(layered_image.docker_archive))
    ref = f"{registry}/mine/layered:v1"
    td.out("tag", "layered:latest", ref)
    out = td.out("push", ref).splitlines()
    assert out[0] == f"The push refers to repository [{registry}/mine/layered]"
    assert sum(line.endswith(": Pushed") for line in out) == 4  # three layers and the config
    tag, _, digest, _, size = out[-1].split()
    assert (tag, size) == ("v1:", str(len(td.root.joinpath("images", "blobs", "sha256",
                                                             digest.split(":")[1]).read_bytes())))
    stored = json.loads((td.root / "images" / "blobs" / "sha256" / digest.split(":")[1]).read_text())
    seen = json.loads(skopeo("inspect", "--tls-verify=false", f"docker://{ref}"))
    assert seen["Digest"] == digest
    assert seen["Layers"] == [layer["digest"] for layer in stored["layers"]]
    # again: the registry has every blob
    again = td.out("push", ref).splitlines()
    assert sum(line.endswith(": Layer already exists") for line in again) == 4
    # skopeo copies it back out, and what it wrote is the same image
    fixtures.skopeo_copy(f"docker://{ref}", f"oci:{tmp_path / 'back'}:v1", "--src-tls-verify=false")
    back = fixtures.Image(tmp_path / "back", "v1")
    assert back.config()["rootfs"]["diff_ids"] == layered_image.config()["rootfs"]["diff_ids"]
    # and tinydocker pulls it back under that name
    td.out("rmi", ref)
    assert td.out("pull", "-q", ref) == ref + "\n"
    assert "hello from cmd" in td.out("run", "--image", ref, "c1")


def test_push_errors(td, registry):
    err = one_line_error(td("push", f"{registry}/nothere:v1"), code=1)
    assert "An image does not exist locally with the tag" in err
    one_line_error(td("push", f"{registry}/x@sha256:{'0' * 64}"))
    one_line_error(td("logout", registry), code=1)


# -- registries.conf: mirrors, aliases, blocked ------------------------------------------------

@pytest.fixture
def mirror_registry(tmp_path_factory):
    """A second plain registry, the mirror of the tests that need two."""
    from image_fixtures import _serve as serve_registry
    gen = serve_registry(tmp_path_factory.mktemp("mirror-registry"))
    yield next(gen)
    gen.close()


def test_mirrors_aliases_and_blocks_from_registries_conf(td, registry, mirror_registry, base_image, layered_image,
                                                          tmp_path):
    # the mirror has base:latest under another path; the registry itself has only-here
    push_to_registry(mirror_registry, base_image, "mirrored/base:latest")
    push_to_registry(registry, layered_image, "base:only-here")
    conf = tmp_path / "registries.conf"
    conf.write_text(
        f'[[registry]]\nprefix = "{registry}/base"\nlocation = "{registry}/base"\n'
        f'[[registry.mirror]]\nlocation = "{mirror_registry}/mirrored/base"\n'
        f'[[registry]]\nprefix = "{registry}/blocked"\nblocked = true\n'
        f'[aliases]\n"tdbase" = "{registry}/base"\n')
    env = dict(td.env, CONTAINERS_REGISTRIES_CONF=str(conf))
    ref = f"{registry}/base:latest"
    assert td.out("pull", "-q", ref, env=env) == ref + "\n"          # from the mirror
    assert inspect(td, ref)["RootFS"]["Layers"] == base_image.config()["rootfs"]["diff_ids"]
    only = f"{registry}/base:only-here"
    assert td.out("pull", "-q", only, env=env) == only + "\n"        # the mirror lacks it: the registry
    assert inspect(td, only)["RootFS"]["Layers"] == layered_image.config()["rootfs"]["diff_ids"]
    td.out("rmi", ref, env=env)
    assert td.out("pull", "-q", "tdbase", env=env) == ref + "\n"     # a short name's alias
    err = one_line_error(td("pull", f"{registry}/blocked/x:1", env=env))
    assert "blocked in registries.conf" in err


# -- a real network: retries, resumed layers, kept-alive connections ---------------------------

class FlakyProxy:
    """In front of a real registry, forwarding every request with keep-alive, counting the
    connections it accepts: the first GET of `blob` is answered 503, the second is broken
    off halfway (the connection dropped), the later ones forwarded with their Range."""

    def __init__(self, upstream: str, blob: str):
        self.upstream, self.blob = upstream, blob
        self.connections = 0
        self.requests: list[str] = []
        self.blob_ranges: list[str | None] = []   # the Range header of each GET of the blob
        self.dropped_after: int | None = None
        self._lock = threading.Lock()
        self.server, port = _serve(self._handler())
        self.addr = f"127.0.0.1:{port}"

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()

    def _handler(self):
        proxy = self

        class Handler(http.server.BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args):
                pass

            def setup(self):
                super().setup()
                with proxy._lock:
                    proxy.connections += 1

            def do_GET(self):
                proxy.requests.append(self.path)
                nth = None
                if self.path.endswith("/blobs/" + proxy.blob):
                    nth = len(proxy.blob_ranges)
                    proxy.blob_ranges.append(self.headers.get("Range"))
                    if nth == 0:
                        body = b'{"errors":[{"code":"UNAVAILABLE","message":"try again"}]}'
                        self.send_response(503)
                        self.send_header("Content-Length", str(len(body)))
                        self.end_headers()
                        self.wfile.write(body)
                        return
                body = forward_get(self, proxy.upstream)
                if nth == 1:  # promise it all, send half, hang up
                    proxy.dropped_after = len(body) // 2
                    self.wfile.write(body[:proxy.dropped_after])
                    self.wfile.flush()
                    self.close_connection = True
                    return
                self.wfile.write(body)

        return Handler


def test_pull_survives_a_503_and_a_dropped_layer(td, registry, base_image):
    push_to_registry(registry, base_image, "base:latest")
    blob = base_image.layer_digests()[0]
    proxy = FlakyProxy(registry, blob)
    try:
        ref = f"{proxy.addr}/base:latest"
        assert td.out("pull", "-q", ref) == ref + "\n"
    finally:
        proxy.close()
    # tried again after the 503, then taken up where the connection dropped
    assert proxy.blob_ranges == [None, None, f"bytes={proxy.dropped_after}-"], proxy.blob_ranges
    assert inspect(td, ref)["RootFS"]["Layers"] == base_image.config()["rootfs"]["diff_ids"]
    assert td.out("run", "--image", ref, "c1", "echo", "ok") == "ok\n"
    # kept alive: the manifest, the config, the 503 and the dropped GET on one connection,
    # the resumed GET on a second
    assert proxy.connections == 2, (proxy.connections, proxy.requests)
