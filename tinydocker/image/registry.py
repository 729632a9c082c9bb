"""Talking to a registry: docker's Registry HTTP API v2 (the OCI distribution spec), with
the standard library's http.client only. pull.py and push.py move images with it.

    GET  /v2/                                  ping; where login checks its credentials
    GET  /v2/NAME/manifests/TAG|DIGEST         a manifest, or an index of them by platform
    GET  /v2/NAME/blobs/DIGEST                 a config or a layer (often a redirect)
    HEAD /v2/NAME/blobs/DIGEST                 does the registry have it already (push)
    POST /v2/NAME/blobs/uploads/               start an upload: 202 and a Location
    PUT  LOCATION?digest=DIGEST                the whole blob in one request
    PUT  /v2/NAME/manifests/TAG                the manifest, last: it makes the tag visible

Authentication is what the registry asks for in a 401's WWW-Authenticate: `Basic` (send
the stored credentials) or `Bearer realm=,service=,scope=` (get a token from the realm,
with the credentials if any, and send that).
"""

from __future__ import annotations

import base64
from dataclasses import dataclass
import hashlib
import http.client
import ipaddress
import json
import re
import ssl
import threading
import urllib.parse
import urllib.request

from ..errors import TinydockerError
from . import credentials, oci
from .store import ImageStore, digest_of, sha256_hex

MANIFEST_ACCEPT = ", ".join((oci.OCI_INDEX, oci.OCI_MANIFEST, oci.DOCKER_LIST, oci.DOCKER_MANIFEST))
_SCHEMA1 = ("application/vnd.docker.distribution.manifest.v1+json",
            "application/vnd.docker.distribution.manifest.v1+prettyjws")
_MANIFEST_LIMIT = 4 << 20     # containerd's limit too: a manifest is small, a huge one is an attack
_CONFIG_LIMIT = 32 << 20
_CHUNK = 1 << 20
_TIMEOUT = 60                 # seconds a connection may stall before the pull gives up
_REDIRECTS = 5
DOCKER_HUB_API = "registry-1.docker.io"


# -- HTTP --------------------------------------------------------------------------------

@dataclass
class Response:
    status: int
    headers: http.client.HTTPMessage
    url: str                                  # where it came from (after redirects)
    body: bytes = b""                         # read whole, unless streamed
    stream: http.client.HTTPResponse | None = None
    conn: http.client.HTTPConnection | None = None

    def close(self) -> None:
        if self.conn is not None:
            self.conn.close()


def api_host(registry: str) -> str:
    """Where a registry's API is: docker.io's is not docker.io itself."""
    return DOCKER_HUB_API if registry in ("docker.io", "index.docker.io") else registry


def _hostname(netloc: str) -> str:
    if netloc.startswith("["):
        return netloc[1:].split("]", 1)[0]
    return netloc.rsplit(":", 1)[0] if netloc.count(":") == 1 else netloc


def is_loopback(netloc: str) -> bool:
    host = _hostname(netloc)
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def _said(error: BaseException) -> str:
    """An OSError's words without errno's number: "connection refused"."""
    if isinstance(error, ssl.SSLError):
        return f"TLS: {error.reason or error}"
    if isinstance(error, TimeoutError) or isinstance(error, OSError) and "timed out" in str(error):
        return "timed out"
    text = getattr(error, "strerror", None) or str(error) or type(error).__name__
    return text[0].lower() + text[1:] if text else text


def registry_said(response: Response) -> str:
    """The registry's own words for a failure, as docker prints them: its error code in
    lower case ("manifest unknown"), then its message when that says more."""
    try:
        errors = json.loads(response.body)["errors"]
        first = errors[0]
        code = str(first.get("code", "")).lower().replace("_", " ")
        message = str(first.get("message", "")).strip()
        if code and message and message != code:
            return f"{code}: {message}"
        return code or message or f"HTTP {response.status}"
    except (ValueError, KeyError, IndexError, TypeError, AttributeError):
        return f"HTTP {response.status} {http.client.responses.get(response.status, '')}".strip()


_PARAM_RE = re.compile(r'([A-Za-z_][\w-]*)\s*=\s*(?:"((?:[^"\\]|\\.)*)"|([^,\s]*))')


def parse_challenge(header: str) -> tuple[str, dict[str, str]]:
    """`Bearer realm="…",service="…",scope="…"` -> ("bearer", {realm, service, scope})."""
    scheme, _, rest = header.strip().partition(" ")
    params = {m.group(1).lower(): (m.group(2) if m.group(2) is not None else m.group(3)).replace('\\"', '"')
              for m in _PARAM_RE.finditer(rest)}
    return scheme.lower(), params


class Client:
    """One registry, with what it takes to talk to it: the scheme, the credentials, and
    the authorization header the last challenge earned (shared by the threads of a pull)."""

    def __init__(self, registry: str, tls_verify: bool = True, creds: tuple[str, str] | None = None,
                 doing: str = ""):
        self.registry = registry
        self.host = api_host(registry)
        self.creds = creds
        self.doing = doing                   # "pull NAME": what every error message starts with
        self.tls_verify = tls_verify
        # a loopback registry is plain HTTP, as docker's built-in insecure range 127.0.0.0/8;
        # any other speaks TLS, verified unless told not to (then plain HTTP if TLS fails)
        self.scheme = "http" if is_loopback(self.host) else "https"
        self.base = f"{self.scheme}://{self.host}"
        self._auth: str | None = None
        self._scopes: list[str] = []
        self._lock = threading.Lock()

    # -- the wire --

    def _fail(self, problem: str, code: int | None = None) -> TinydockerError:
        return TinydockerError(f"{self.doing}: {problem}" if self.doing else problem, code=code)

    def _connect(self, url: urllib.parse.SplitResult) -> tuple[http.client.HTTPConnection, str]:
        """A connection for `url` and the request target to send on it (through a proxy
        from the environment when one applies; never for loopback)."""
        target = url.path or "/"
        if url.query:
            target += "?" + url.query
        proxy = None
        if not is_loopback(url.netloc) and not urllib.request.proxy_bypass(_hostname(url.netloc)):
            proxy = urllib.request.getproxies().get(url.scheme)
        if url.scheme == "https":
            context = ssl.create_default_context()
            if not self.tls_verify:
                context.check_hostname = False
                context.verify_mode = ssl.CERT_NONE
            if proxy:
                conn = http.client.HTTPSConnection(urllib.parse.urlsplit(proxy).netloc, timeout=_TIMEOUT,
                                                   context=context, blocksize=1 << 16)
                conn.set_tunnel(url.netloc)
            else:
                conn = http.client.HTTPSConnection(url.netloc, timeout=_TIMEOUT, context=context,
                                                   blocksize=1 << 16)
            return conn, target
        if proxy:
            return (http.client.HTTPConnection(urllib.parse.urlsplit(proxy).netloc, timeout=_TIMEOUT,
                                               blocksize=1 << 16), urllib.parse.urlunsplit(url))
        return http.client.HTTPConnection(url.netloc, timeout=_TIMEOUT, blocksize=1 << 16), target

    def _send(self, method: str, url: str, headers: dict, body=None, stream: bool = False,
              limit: int = _MANIFEST_LIMIT) -> Response:
        """One request, following redirects (a blob GET is often sent to a CDN, which must
        not see our credentials)."""
        for _ in range(_REDIRECTS + 1):
            parts = urllib.parse.urlsplit(url)
            conn, target = self._connect(parts)
            try:
                if hasattr(body, "seek"):
                    body.seek(0)  # a second attempt (after a 401) sends the whole body again
                conn.request(method, target, body=body, headers=headers)
                raw = conn.getresponse()
            except (OSError, http.client.HTTPException) as e:
                conn.close()
                if isinstance(e, ssl.SSLError) and not self.tls_verify and parts.scheme == "https":
                    # an insecure registry may not speak TLS at all: docker falls back to HTTP too
                    self.scheme, self.base = "http", f"http://{self.host}"
                    url = urllib.parse.urlunsplit(parts._replace(scheme="http"))
                    continue
                raise self._fail(f"cannot reach registry {self.registry} ({method} {url}): {_said(e)}") from None
            if raw.status in (301, 302, 303, 307, 308) and method in ("GET", "HEAD"):
                location = raw.getheader("Location")
                conn.close()
                if not location:
                    raise self._fail(f"registry {self.registry} redirected nowhere ({url})")
                new = urllib.parse.urljoin(url, location)
                if urllib.parse.urlsplit(new).netloc != parts.netloc:
                    headers = {k: v for k, v in headers.items() if k.lower() != "authorization"}
                url = new
                continue
            response = Response(raw.status, raw.headers, url)
            if stream and raw.status == 200:
                response.stream, response.conn = raw, conn
                return response
            try:
                response.body = raw.read(limit + 1)
            except (OSError, http.client.HTTPException) as e:
                raise self._fail(f"registry {self.registry} broke off its answer to {method} {url}: "
                                 f"{_said(e)}") from None
            finally:
                conn.close()
            if len(response.body) > limit:
                raise self._fail(f"registry {self.registry} answered {method} {url} with more than "
                                 f"{limit} bytes")
            return response
        raise self._fail(f"registry {self.registry}: too many redirects ({url})")

    def request(self, method: str, path: str, headers: dict | None = None, body=None, stream: bool = False,
                limit: int = _MANIFEST_LIMIT) -> Response:
        """A request to the registry (`path` from /v2/, or an absolute URL it gave us),
        answering its authentication challenges."""
        url = path if "://" in path else self.base + path
        headers = dict(headers or {})
        headers.setdefault("User-Agent", "tinydocker")
        for _attempt in range(3):
            sent = self._auth
            if sent:
                headers["Authorization"] = sent
            response = self._send(method, url, headers, body, stream, limit)
            if response.status != 401:
                break
            with self._lock:
                # another thread may have earned a new header meanwhile: try that first;
                # else answer this challenge, unless that would only send the same again
                if self._auth == sent and not self._authorize(response.headers.get("WWW-Authenticate", ""), sent):
                    break
            if "://" not in path:
                url = self.base + path  # the scheme may have changed (see _send)
        if response.status == 401:
            raise self.unauthorized(response)
        return response

    def unauthorized(self, response: Response) -> TinydockerError:
        words = registry_said(response) if response.body else "unauthorized: authentication required"
        if not words.startswith("unauthorized"):
            words = f"unauthorized: {words}"
        hint = "" if self.creds else f" (log in first: tinydocker login {self.registry})"
        return self._fail(f"{words}{hint}")

    # -- authentication --

    def _authorize(self, challenge: str, sent: str | None) -> bool:
        """Earn the Authorization header a 401's challenge asks for; False when there is
        nothing new to try (the answer would be refused again)."""
        scheme, params = parse_challenge(challenge)
        if scheme == "bearer" and params.get("realm"):
            for scope in (params.get("scope") or "").split():
                if scope not in self._scopes:
                    self._scopes.append(scope)  # a token for everything asked so far: push asks twice
            header = f"Bearer {self._token(params['realm'], params.get('service'))}"
        elif scheme == "basic" and self.creds:
            header = "Basic " + base64.b64encode(f"{self.creds[0]}:{self.creds[1]}".encode()).decode()
        else:
            return False
        if header == sent:
            return False
        self._auth = header
        return True

    def _token(self, realm: str, service: str | None) -> str:
        query = [("service", service)] if service else []
        query += [("scope", scope) for scope in self._scopes]
        url = realm + ("&" if "?" in realm else "?") + urllib.parse.urlencode(query) if query else realm
        headers = {"User-Agent": "tinydocker"}
        if self.creds:
            headers["Authorization"] = "Basic " + base64.b64encode(
                f"{self.creds[0]}:{self.creds[1]}".encode()).decode()
        response = self._send("GET", url, headers, limit=1 << 20)
        if response.status in (401, 403):
            words = "incorrect username or password" if self.creds else "authentication required"
            hint = "" if self.creds else f" (log in first: tinydocker login {self.registry})"
            raise self._fail(f"unauthorized: {words}{hint}")
        if response.status != 200:
            raise self._fail(f"token server {realm} answered HTTP {response.status}")
        try:
            answer = json.loads(response.body)
            token = answer.get("token") or answer.get("access_token")
        except (ValueError, AttributeError):
            token = None
        if not token or not isinstance(token, str):
            raise self._fail(f"token server {realm} gave no token")
        return token

    # -- the API --

    def ping(self) -> None:
        """GET /v2/, authenticating if asked: what `login` checks credentials with."""
        response = self.request("GET", "/v2/")
        if response.status != 200:
            raise self._fail(f"{self.registry} does not look like a registry: GET /v2/ answered "
                             f"{registry_said(response)}")

    def manifest(self, repo: str, ref: str, name: str) -> tuple[bytes, str, str]:
        """The manifest (or index) `ref` (a tag or a digest) of `repo`, verified:
        (its bytes, its media type, its digest). `name` is the image, for messages."""
        response = self.request("GET", f"/v2/{repo}/manifests/{ref}", {"Accept": MANIFEST_ACCEPT})
        if response.status == 404:
            raise TinydockerError(f"Error response from registry: manifest for {name} not found: "
                                  f"{registry_said(response)}")
        if response.status != 200:
            raise self._fail(f"registry {self.registry} refused the manifest {ref}: {registry_said(response)}")
        data = response.body
        digest = digest_of(data)
        expected = ref if ref.startswith("sha256:") else response.headers.get("Docker-Content-Digest")
        if expected and expected != digest:
            raise self._fail(f"manifest {ref} from {self.registry} does not match its digest {expected} "
                             f"(got {digest})")
        try:
            document = json.loads(data)
            if not isinstance(document, dict):
                raise ValueError("not an object")
        except ValueError as e:
            raise self._fail(f"manifest {ref} from {self.registry} is not JSON ({e})") from None
        declared = (response.headers.get("Content-Type") or "").split(";")[0].strip()
        if declared in _SCHEMA1 or document.get("schemaVersion") == 1:
            raise self._fail(f"{name} is in docker's schema 1 format, which tinydocker does not read")
        known = oci.MANIFESTS + oci.INDEXES
        kind = oci.media_type_of(document, declared if declared in known else None)
        if kind not in known:
            raise self._fail(f"manifest {ref} of {name} is of unsupported type {kind!r}")
        return data, kind, digest

    def blob(self, repo: str, descriptor: dict, what: str, limit: int = _CONFIG_LIMIT) -> bytes:
        """A small blob (a config), in memory, verified."""
        digest, size = descriptor["digest"], descriptor.get("size")
        if size is not None and size > limit:
            raise self._fail(f"the {what} {digest} is too large ({size} bytes)")
        response = self.request("GET", f"/v2/{repo}/blobs/{digest}", limit=limit)
        if response.status != 200:
            raise self._fail(f"cannot fetch the {what} {digest}: {registry_said(response)}")
        if digest_of(response.body) != digest or (size is not None and len(response.body) != size):
            raise self._fail(f"the {what} {digest} from {self.registry} does not match its digest")
        return response.body

    def download(self, repo: str, descriptor: dict, dest: str, progress, abort: threading.Event) -> None:
        """A layer into the file `dest`, hashed as it comes, verified; `progress(bytes)` is
        told how far along it is."""
        digest, size = descriptor["digest"], descriptor["size"]
        short = sha256_hex(digest)[:12]
        response = self.request("GET", f"/v2/{repo}/blobs/{digest}", stream=True)
        if response.status != 200:
            raise self._fail(f"cannot fetch layer {short}: {registry_said(response)}")
        h, count = hashlib.sha256(), 0
        try:
            with open(dest, "wb") as out:
                # never more than the descriptor says: a registry sending more is wrong anyway
                while count <= size and (chunk := response.stream.read(min(_CHUNK, size + 1 - count))):
                    if abort.is_set():
                        return
                    h.update(chunk)
                    out.write(chunk)
                    count += len(chunk)
                    progress(count)
        except (OSError, http.client.HTTPException) as e:
            if isinstance(e, OSError) and e.filename:
                raise
            raise self._fail(f"download of layer {short} broke off after {count} of {size} bytes: "
                             f"{_said(e)}") from None
        finally:
            response.close()
        if count != size:
            raise self._fail(f"layer {short} is {'truncated' if count < size else 'too long'}: "
                             f"{count if count < size else 'more than ' + str(size)} bytes, not {size}")
        if "sha256:" + h.hexdigest() != digest:
            raise self._fail(f"layer {short} does not match its digest {digest}")

    def has_blob(self, repo: str, digest: str) -> bool:
        response = self.request("HEAD", f"/v2/{repo}/blobs/{digest}")
        if response.status == 200:
            return True
        if response.status == 404:
            return False
        raise self._fail(f"registry {self.registry} refused HEAD of blob {digest}: {registry_said(response)}")

    def upload(self, repo: str, digest: str, path: str, size: int) -> None:
        """A blob in one PUT (the monolithic upload every registry takes)."""
        started = self.request("POST", f"/v2/{repo}/blobs/uploads/", {"Content-Length": "0"})
        location = started.headers.get("Location")
        if started.status != 202 or not location:
            raise self._fail(f"registry {self.registry} refused to start an upload: {registry_said(started)}")
        # the location may be relative, and may carry a query of its own (an upload state)
        url = urllib.parse.urljoin(started.url, location)
        url += ("&" if urllib.parse.urlsplit(url).query else "?") + urllib.parse.urlencode({"digest": digest})
        with open(path, "rb") as body:
            done = self.request("PUT", url, {"Content-Type": "application/octet-stream",
                                             "Content-Length": str(size)}, body=body)
        if done.status not in (201, 204):
            raise self._fail(f"registry {self.registry} refused blob {digest}: {registry_said(done)}")

    def put_manifest(self, repo: str, tag: str, data: bytes, media_type: str) -> str:
        response = self.request("PUT", f"/v2/{repo}/manifests/{tag}", {"Content-Type": media_type}, body=data)
        if response.status not in (200, 201, 202):
            raise self._fail(f"registry {self.registry} refused the manifest: {registry_said(response)}")
        digest = digest_of(data)
        said = response.headers.get("Docker-Content-Digest")
        if said and said != digest:
            raise self._fail(f"registry {self.registry} stored the manifest as {said}, not {digest}")
        return digest


def client_for(store: ImageStore, registry: str, tls_verify: bool, doing: str) -> Client:
    return Client(registry, tls_verify, credentials.lookup(store.root, registry), doing)


def login(store: ImageStore, server: str, username: str, password: str, tls_verify: bool = True) -> str:
    """Check the credentials against the registry, then keep them; the host they are for."""
    host = credentials.normalise(server)
    Client(host, tls_verify, (username, password), f"login to {host}").ping()
    credentials.store(store.root, host, username, password)
    return host
