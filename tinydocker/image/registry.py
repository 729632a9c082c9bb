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

The wire, as a real network needs it: one TLS context a client (certs.d's CAs and client
certificates in it), keep-alive connections pooled per host, each request tried again with
jittered back-off on a dropped connection, a 5xx or a 429, and a layer broken off mid-way
taken up again with a Range request. Where a registry is (mirrors, insecure, blocked) is
registries.conf's; the credentials are credentials.py's.
"""

from __future__ import annotations

import base64
from dataclasses import dataclass
import hashlib
import http.client
import ipaddress
import json
import random
import re
import socket
import ssl
import threading
import time
import urllib.parse

from ..errors import TinydockerError
from . import certs, credentials, oci, registries_conf
from .digests import digest_of, sha256_hex
from .store import ImageStore

MANIFEST_ACCEPT = ", ".join((oci.OCI_INDEX, oci.OCI_MANIFEST, oci.DOCKER_LIST, oci.DOCKER_MANIFEST))
_SCHEMA1 = ("application/vnd.docker.distribution.manifest.v1+json",
            "application/vnd.docker.distribution.manifest.v1+prettyjws")
_MANIFEST_LIMIT = 4 << 20     # containerd's limit too: a manifest is small, a huge one is an attack
_CONFIG_LIMIT = 32 << 20
_CHUNK = 1 << 20
_TIMEOUT = 60                 # seconds a connection may stall before the pull gives up
_REDIRECTS = 5
_TRIES = 5                    # a request's (or a layer's) tries on dropped connections and 5xx
_BACKOFF = 0.2                # seconds before the second try, doubling
_BACKOFF_MAX = 5.0
_RETRY_STATUS = (429, 500, 502, 503, 504)
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
    pool: "_Pool | None" = None
    key: tuple = ()

    def close(self) -> None:
        """Done with a streamed answer: its connection goes back to the pool when the
        answer was read to its end, else it is closed (what is left unread would be
        taken for the next answer)."""
        if self.conn is None:
            return
        if self.pool is not None and self.stream is not None and self.stream.isclosed() \
                and not self.stream.will_close:
            self.pool.put(self.key, self.conn)
        else:
            self.conn.close()
        self.conn = None


class _Pool:
    """Idle keep-alive connections of one client, by (scheme, host, proxy): each thread
    of a pull takes one and gives it back, so a pull opens a few, not one a request."""

    _KEEP = 4                               # idle ones kept per host: a pull's threads and one more

    def __init__(self):
        self._idle: dict[tuple, list[http.client.HTTPConnection]] = {}
        self._lock = threading.Lock()

    def get(self, key: tuple) -> http.client.HTTPConnection | None:
        with self._lock:
            idle = self._idle.get(key)
            return idle.pop() if idle else None

    def put(self, key: tuple, conn: http.client.HTTPConnection) -> None:
        with self._lock:
            idle = self._idle.setdefault(key, [])
            if len(idle) < self._KEEP:
                idle.append(conn)
                return
        conn.close()

    def close(self) -> None:
        with self._lock:
            conns = [c for idle in self._idle.values() for c in idle]
            self._idle.clear()
        for conn in conns:
            conn.close()


def _backoff(attempt: int, retry_after: str | None = None) -> None:
    """Wait before try `attempt + 1`: 0.2 s doubling, jittered so a pull's threads do not
    come back at once; a registry's own small Retry-After is honoured."""
    delay = min(_BACKOFF * (2 ** attempt), _BACKOFF_MAX) * random.uniform(0.5, 1.5)
    if retry_after and retry_after.strip().isdigit():
        delay = max(delay, min(int(retry_after), _BACKOFF_MAX))
    time.sleep(delay)


def _transient(error: BaseException) -> bool:
    """A dropped or stalled connection, worth another try; not a refusal, a name that does
    not resolve, or TLS that will fail the same way again."""
    if isinstance(error, (ssl.SSLError, ssl.CertificateError, ConnectionRefusedError, socket.gaierror)):
        return False
    return isinstance(error, (OSError, http.client.HTTPException))


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
    """One registry, with what it takes to talk to it: the scheme, the credentials, the
    authorization header the last challenge earned, one TLS context and a pool of
    keep-alive connections (all shared by the threads of a pull)."""

    def __init__(self, registry: str, tls_verify: bool = True, creds=None, doing: str = "",
                 cert_dirs: list | None = None):
        self.registry = registry
        self.host = api_host(registry)
        self._creds = creds                  # (user, password), None, or a callable giving either
        self.doing = doing                   # "pull NAME": what every error message starts with
        self.tls_verify = tls_verify
        self.cert_dirs = list(cert_dirs or [])
        # a loopback registry is plain HTTP, as docker's built-in insecure range 127.0.0.0/8,
        # unless certs.d has certificates for it; any other speaks TLS, verified unless told
        # not to (then plain HTTP if TLS fails)
        self.scheme = "http" if is_loopback(self.host) and not self.cert_dirs else "https"
        self.base = f"{self.scheme}://{self.host}"
        self._auth: str | None = None
        self._scopes: list[str] = []
        self._lock = threading.Lock()
        self._setup_lock = threading.Lock()
        self._contexts: dict[bool, ssl.SSLContext] = {}  # made once: the registry's own, and other hosts'
        self.pool = _Pool()
        # mirrors (registries.conf): (client, this client's repository, theirs), tried in
        # order until one answers; the one that served the first answer serves the rest
        self.routes: list[tuple[Client, str, str]] = []
        self._pinned: tuple[Client, str, str] | None = None

    @property
    def creds(self) -> tuple[str, str] | None:
        # looked up when first needed: a credential helper runs only for a registry that asks
        if callable(self._creds):
            with self._setup_lock:
                if callable(self._creds):
                    self._creds = self._creds()
        return self._creds

    def close(self) -> None:
        self.pool.close()
        for route in self.routes:
            route[0].close()

    # -- the wire --

    def _fail(self, problem: str, code: int | None = None) -> TinydockerError:
        return TinydockerError(f"{self.doing}: {problem}" if self.doing else problem, code=code)

    def _tls(self, own: bool) -> ssl.SSLContext:
        """The registry's own context (its certs.d), or, for a redirect's host (a CDN, a
        token server), the system's CAs, verified unless the registry itself is not."""
        with self._setup_lock:
            if own not in self._contexts:
                self._contexts[own] = certs.context(self.host, self.cert_dirs if own else [], self.tls_verify)
            return self._contexts[own]

    def _connect(self, url: urllib.parse.SplitResult) -> tuple[http.client.HTTPConnection, str, tuple, bool]:
        """A connection for `url` (an idle one of the pool if there is one: reused says so),
        the request target to send on it, and its key in the pool. Through a proxy from
        the environment when one applies; never for loopback."""
        target = url.path or "/"
        if url.query:
            target += "?" + url.query
        proxy = None
        if not is_loopback(url.netloc):
            import urllib.request  # its proxy rules (and 2 ms of imports) only for a registry beyond loopback

            if not urllib.request.proxy_bypass(_hostname(url.netloc)):
                proxy = urllib.request.getproxies().get(url.scheme)
        key = (url.scheme, url.netloc, proxy)
        if proxy and url.scheme == "http":
            target = urllib.parse.urlunsplit(url)
        conn = self.pool.get(key)
        if conn is not None:
            return conn, target, key, True
        if url.scheme == "https":
            context = self._tls(own=url.netloc == self.host)
            if proxy:
                conn = http.client.HTTPSConnection(urllib.parse.urlsplit(proxy).netloc, timeout=_TIMEOUT,
                                                   context=context, blocksize=1 << 16)
                conn.set_tunnel(url.netloc)
            else:
                conn = http.client.HTTPSConnection(url.netloc, timeout=_TIMEOUT, context=context,
                                                   blocksize=1 << 16)
        elif proxy:
            conn = http.client.HTTPConnection(urllib.parse.urlsplit(proxy).netloc, timeout=_TIMEOUT,
                                              blocksize=1 << 16)
        else:
            conn = http.client.HTTPConnection(url.netloc, timeout=_TIMEOUT, blocksize=1 << 16)
        return conn, target, key, False

    def _exchange(self, method: str, url: urllib.parse.SplitResult, headers: dict, body
                  ) -> tuple[http.client.HTTPResponse, http.client.HTTPConnection, tuple]:
        """One request on one connection. A kept-alive connection the server has closed
        meanwhile fails at once: then the request goes again on a new one, no try lost."""
        while True:
            conn, target, key, reused = self._connect(url)
            try:
                if hasattr(body, "seek"):
                    body.seek(0)  # a second attempt (after a 401, or a drop) sends the whole body again
                conn.request(method, target, body=body, headers=headers)
                return conn.getresponse(), conn, key
            except (OSError, http.client.HTTPException) as e:
                conn.close()
                if reused and isinstance(e, (ConnectionError, http.client.RemoteDisconnected,
                                             http.client.BadStatusLine)):
                    continue
                raise

    def _finish(self, raw: http.client.HTTPResponse, conn, key: tuple, limit: int) -> bytes:
        """The whole of a small answer; its connection back to the pool."""
        try:
            data = raw.read(limit + 1)
        except BaseException:
            conn.close()
            raise
        if len(data) > limit or not raw.isclosed() or raw.will_close:
            conn.close()
        else:
            self.pool.put(key, conn)
        return data

    def _send(self, method: str, url: str, headers: dict, body=None, stream: bool = False,
              limit: int = _MANIFEST_LIMIT) -> Response:
        """One request, following redirects (a blob GET is often sent to a CDN, which must
        not see our credentials), tried again with back-off on a dropped connection and on
        a 5xx or 429."""
        for _ in range(_REDIRECTS + 1):
            parts = urllib.parse.urlsplit(url)
            for attempt in range(_TRIES):
                try:
                    raw, conn, key = self._exchange(method, parts, headers, body)
                except (OSError, http.client.HTTPException) as e:
                    if isinstance(e, ssl.SSLError) and not self.tls_verify and parts.scheme == "https":
                        raw = None  # an insecure registry may not speak TLS at all: docker falls back to HTTP too
                        break
                    if _transient(e) and attempt + 1 < _TRIES:
                        _backoff(attempt)
                        continue
                    raise self._fail(f"cannot reach registry {self.registry} ({method} {url}): {_said(e)}") from None
                if raw.status in _RETRY_STATUS and attempt + 1 < _TRIES:
                    try:
                        self._finish(raw, conn, key, _MANIFEST_LIMIT)
                    except (OSError, http.client.HTTPException):
                        pass
                    _backoff(attempt, raw.getheader("Retry-After"))
                    continue
                break
            if raw is None:
                self.scheme, self.base = "http", f"http://{self.host}"
                url = urllib.parse.urlunsplit(parts._replace(scheme="http"))
                continue
            if raw.status in (301, 302, 303, 307, 308) and method in ("GET", "HEAD"):
                location = raw.getheader("Location")
                try:
                    self._finish(raw, conn, key, _MANIFEST_LIMIT)
                except (OSError, http.client.HTTPException):
                    pass
                if not location:
                    raise self._fail(f"registry {self.registry} redirected nowhere ({url})")
                new = urllib.parse.urljoin(url, location)
                if urllib.parse.urlsplit(new).netloc != parts.netloc:
                    headers = {k: v for k, v in headers.items() if k.lower() != "authorization"}
                url = new
                continue
            response = Response(raw.status, raw.headers, url)
            if stream and raw.status in (200, 206):
                response.stream, response.conn, response.pool, response.key = raw, conn, self.pool, key
                return response
            try:
                response.body = self._finish(raw, conn, key, limit)
            except (OSError, http.client.HTTPException) as e:
                raise self._fail(f"registry {self.registry} broke off its answer to {method} {url}: "
                                 f"{_said(e)}") from None
            if len(response.body) > limit:
                raise self._fail(f"registry {self.registry} answered {method} {url} with more than "
                                 f"{limit} bytes")
            return response
        raise self._fail(f"registry {self.registry}: too many redirects ({url})")

    def request(self, method: str, path: str, headers: dict | None = None, body=None, stream: bool = False,
                limit: int = _MANIFEST_LIMIT) -> Response:
        """A request to the registry (`path` from /v2/, or an absolute URL it gave us),
        answering its authentication challenges; through its mirrors if it has some."""
        if self.routes and "://" not in path:
            return self._routed(method, path, headers, body, stream, limit)
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

    def _routed(self, method: str, path: str, headers, body, stream: bool, limit: int) -> Response:
        """`path` from the first route (mirror, then the registry itself) that has it: a
        mirror that fails or lacks it is passed over, as podman does."""
        def there(route) -> str:
            mine, theirs = route[1], route[2]
            prefix = f"/v2/{mine}/"
            return f"/v2/{theirs}/" + path[len(prefix):] if path.startswith(prefix) else path

        with self._setup_lock:
            pinned = self._pinned
        if pinned is not None:
            return pinned[0].request(method, there(pinned), headers, body, stream, limit)
        last_error = None
        for i, route in enumerate(self.routes):
            final = i == len(self.routes) - 1
            try:
                response = route[0].request(method, there(route), headers, body, stream, limit)
            except TinydockerError as e:
                if final:
                    raise
                last_error = e
                continue
            if response.status < 300 or final:
                if response.status < 300:
                    with self._setup_lock:
                        self._pinned = self._pinned or route
                return response
            response.close()
        raise last_error  # not reached: the last route returns or raises

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
        told how far along it is. A connection dropped mid-layer is taken up where it broke
        off (`Range: bytes=N-`), from the start again if the registry will not."""
        digest, size = descriptor["digest"], descriptor["size"]
        short = sha256_hex(digest)[:12]
        h, count, failures = hashlib.sha256(), 0, 0
        with open(dest, "wb") as out:
            while True:
                if abort.is_set():  # before a try again, too
                    return
                headers = {"Range": f"bytes={count}-"} if count else {}
                response = self.request("GET", f"/v2/{repo}/blobs/{digest}", headers, stream=True)
                if response.status == 206 and count:
                    if _range_start(response.headers.get("Content-Range")) != count:
                        response.close()
                        raise self._fail(f"registry {self.registry} resumed layer {short} at the wrong place "
                                         f"(asked from byte {count}, got {response.headers.get('Content-Range')})")
                elif response.status == 200:
                    if count:  # the whole again, not the rest: start over
                        out.seek(0)
                        out.truncate()
                        h, count = hashlib.sha256(), 0
                else:
                    response.close()
                    raise self._fail(f"cannot fetch layer {short}: {registry_said(response)}")
                try:
                    # never more than the descriptor says: a registry sending more is wrong anyway
                    while count <= size and (chunk := response.stream.read(min(_CHUNK, size + 1 - count))):
                        if abort.is_set():
                            return
                        h.update(chunk)
                        out.write(chunk)
                        count += len(chunk)
                        progress(count)
                    if count >= size:
                        break
                    # the answer ended early (the connection closed): as good as a drop
                    raise http.client.IncompleteRead(b"", size - count)
                except (OSError, http.client.HTTPException) as e:
                    if isinstance(e, OSError) and e.filename:
                        raise
                    if isinstance(e, http.client.IncompleteRead) and e.partial:
                        h.update(e.partial)  # what came before the break is good: keep it
                        out.write(e.partial)
                        count += len(e.partial)
                    failures += 1
                    if failures >= _TRIES:
                        if isinstance(e, http.client.IncompleteRead):
                            raise self._fail(f"layer {short} is truncated: {count} bytes, not {size}, "
                                             f"after {failures} tries") from None
                        raise self._fail(f"download of layer {short} broke off after {count} of {size} "
                                         f"bytes: {_said(e)}") from None
                    _backoff(failures - 1)
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


def _range_start(content_range: str | None) -> int | None:
    """Where a 206's `Content-Range: bytes START-END/TOTAL` starts."""
    match = re.fullmatch(r"\s*bytes\s+(\d+)-\d+/(?:\d+|\*)\s*", content_range or "")
    return int(match.group(1)) if match else None


def client_for(store: ImageStore, registry: str, tls_verify: bool, doing: str,
               repository: str | None = None, by_digest: bool = False, creds=None) -> Client:
    """A client for `registry`, as registries.conf and certs.d say to reach it, with the
    credentials users keep for it (or `creds`, (user, password), given for this one
    request: the service's X-Registry-Auth). With `repository` (HOST/PATH, for a pull),
    the client tries that repository's mirrors first."""
    config = registries_conf.load()

    def one(host: str, insecure: bool) -> Client:
        given = creds if creds is not None and host == registry else None
        return Client(host, tls_verify and not insecure,
                      given or (lambda: credentials.lookup(store.root, host)), doing,
                      cert_dirs=certs.host_dirs(host, store.root.root))

    if repository is None:
        return one(registry, config.insecure(registry))
    endpoints = config.endpoints(repository, by_digest)
    if endpoints == [(repository, False)]:
        return one(registry, False)
    top = Client(registry, tls_verify, None, doing)
    mine = repository.split("/", 1)[1]
    for location, insecure in endpoints:
        host, _, theirs = location.partition("/")
        top.routes.append((one(host, insecure or config.insecure(host)), mine, theirs or mine))
    return top


def login(store: ImageStore, server: str, username: str, password: str, tls_verify: bool = True,
          keep: bool = True) -> str:
    """Check the credentials against the registry, then keep them (unless not `keep`); the
    host they are for."""
    host = credentials.normalise(server)
    insecure = registries_conf.load().insecure(host)
    client = Client(host, tls_verify and not insecure, (username, password), f"login to {host}",
                    cert_dirs=certs.host_dirs(host, store.root.root))
    try:
        client.ping()
    finally:
        client.close()
    if keep:
        credentials.store(store.root, host, username, password)
    return host
