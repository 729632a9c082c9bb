"""The service's HTTP side: where it listens, how a request reaches its handler, how an
answer goes back (JSON, a stream of chunks, or the raw connection after an upgrade).

One thread per connection (docker's clients keep connections alive and hold some open for
a whole stream); the handlers call tinydocker's API, which holds no state in this process,
so the CLI and the service see the same containers at the same moment.
"""

from __future__ import annotations

import http.server
import json
import os
import re
import select
import socket
import socketserver
import threading
import time
from urllib.parse import parse_qs, urlsplit

from ..errors import NoSuchContainer, NoSuchImage, NoSuchVolume, Refused, TinydockerError

MIN_API = "1.24"
MAX_API = "1.44"
DEFAULT_SOCKET = "/run/tinydocker/docker.sock"


def default_address() -> str:
    """root's socket, or an ordinary user's under $XDG_RUNTIME_DIR (as rootless podman's)."""
    if os.geteuid() == 0:
        return f"unix://{DEFAULT_SOCKET}"
    runtime_dir = os.environ.get("XDG_RUNTIME_DIR")
    if not runtime_dir:
        raise TinydockerError("XDG_RUNTIME_DIR is not set, so a user who is not root has no default socket: "
                              "give the service its address (unix:///PATH)")
    return f"unix://{runtime_dir}/tinydocker/docker.sock"
_VERSIONED = re.compile(r"^/v(\d+)\.(\d+)(/.*)$")


class HTTPError(Exception):
    """An answer other than success: docker's status and {"message": ...}."""

    def __init__(self, status: int, message: str):
        super().__init__(message)
        self.status = status
        self.message = message


def _api(text: str) -> tuple[int, int]:
    major, minor = text.split(".")
    return int(major), int(minor)


class Request:
    """What a handler gets: the method, the path without its version, the API version the
    client speaks, the query, the headers, the body; and the ways to answer."""

    def __init__(self, handler: "_Handler", method: str, path: str, version: tuple[int, int], query: dict):
        self.handler = handler
        self.method = method
        self.path = path
        self.version = version
        self.query = query
        self.headers = handler.headers
        self._body: bytes | None = None
        self.answered = False
        self.hijacked = False

    @property
    def root(self):
        """The data root the service serves (every handler's API calls take it)."""
        return self.handler.server.service.root

    # -- the query ------------------------------------------------------------------------

    def arg(self, name: str, default: str | None = None) -> str | None:
        values = self.query.get(name)
        return values[-1] if values else default

    def flag(self, name: str, default: bool = False) -> bool:
        value = self.arg(name)
        if value is None:
            return default
        return value.lower() not in ("0", "false", "")

    def number(self, name: str, default: int | None = None) -> int | None:
        value = self.arg(name)
        if value in (None, ""):
            return default
        try:
            return int(value)
        except ValueError:
            raise HTTPError(400, f"invalid value for {name}: {value!r} is not a number") from None

    def json_object(self, name: str, invalid: str) -> dict:
        """A query parameter holding a JSON object ({} if absent); 400 `invalid` if it is not one."""
        text = self.arg(name)
        if not text:
            return {}
        try:
            value = json.loads(text)
        except ValueError:
            value = None
        if not isinstance(value, dict):
            raise HTTPError(400, invalid)
        return value

    def filters(self) -> dict[str, list[str]]:
        """docker's ?filters={"key": ["value"]} (or the old {"key": {"value": true}})."""
        raw = self.json_object("filters", f"invalid filter '{self.arg('filters')}'")
        return {k: list(v) if isinstance(v, (list, dict)) else [str(v)] for k, v in raw.items()}

    # -- the body -------------------------------------------------------------------------

    def body(self) -> bytes:
        if self._body is None:
            self._body = b"".join(self.body_chunks())
        return self._body

    def body_chunks(self):
        """The body as it arrives: by Content-Length, or chunked."""
        rfile = self.handler.rfile
        if self.headers.get("Transfer-Encoding", "").lower() == "chunked":
            while True:
                line = rfile.readline(65537)
                try:
                    size = int(line.split(b";")[0].strip(), 16)
                except ValueError:
                    raise HTTPError(400, "malformed chunked body") from None
                if size == 0:
                    while rfile.readline(65537) not in (b"\r\n", b"\n", b""):
                        pass
                    return
                data = rfile.read(size)
                rfile.readline(3)
                if len(data) < size:
                    raise HTTPError(400, "the body ended early")
                yield data
        else:
            left = int(self.headers.get("Content-Length") or 0)
            while left > 0:
                data = rfile.read(min(left, 1 << 16))
                if not data:
                    raise HTTPError(400, "the body ended early")
                left -= len(data)
                yield data

    def json(self, required: bool = False):
        raw = self.body()
        if not raw.strip():
            if required:
                raise HTTPError(400, "a JSON body is required")
            return {}
        try:
            return json.loads(raw)
        except ValueError as e:
            raise HTTPError(400, f"invalid JSON: {e}") from None

    def client_gone(self) -> bool:
        """Whether the client has gone away: what a follower polls while it has nothing to
        send (a write would tell, but a silent container or a layer downloading writes
        nothing). Once hijacked the client may have ended only its input (docker's
        CloseWrite), so only a connection closed both ways counts (seen on unix sockets;
        over TCP the next write tells); before, an end of file counts (a client waiting
        for an answer sends nothing)."""
        conn = self.handler.connection
        poller = select.poll()
        poller.register(conn, select.POLLIN | select.POLLHUP | select.POLLERR)
        events = dict(poller.poll(0)).get(conn.fileno(), 0)
        if events & (select.POLLHUP | select.POLLERR):
            return True
        if self.hijacked or not events & select.POLLIN:
            return False
        try:
            return conn.recv(1, socket.MSG_PEEK | socket.MSG_DONTWAIT) == b""
        except BlockingIOError:
            return False
        except OSError:
            return True

    # -- answering ------------------------------------------------------------------------

    def send(self, status: int, body: bytes = b"", content_type: str = "application/json", headers=()) -> None:
        h = self.handler
        h.send_response(status)
        h.send_header("Content-Type", content_type)
        h.send_header("Content-Length", str(len(body)))
        for name, value in headers:
            h.send_header(name, value)
        h.end_headers()
        if self.method != "HEAD":
            h.wfile.write(body)
        h.wfile.flush()
        self.answered = True

    def send_json(self, value, status: int = 200) -> None:
        self.send(status, json.dumps(value).encode() + b"\n")

    def stream(self, chunks, content_type: str = "application/json", status: int = 200) -> None:
        """A chunked answer, each item of `chunks` (bytes) sent as it comes; a client that
        goes away ends it."""
        h = self.handler
        h.send_response(status)
        h.send_header("Content-Type", content_type)
        h.send_header("Transfer-Encoding", "chunked")
        h.end_headers()
        self.answered = True
        try:
            for chunk in chunks:
                if chunk:
                    h.wfile.write(b"%x\r\n%s\r\n" % (len(chunk), chunk))
                    h.wfile.flush()
            h.wfile.write(b"0\r\n\r\n")
            h.wfile.flush()
        except (BrokenPipeError, ConnectionResetError):
            h.close_connection = True
        finally:
            close = getattr(chunks, "close", None)
            if close:
                close()

    def hijack(self, content_type: str = "application/vnd.docker.raw-stream") -> socket.socket:
        """Answer 101 (or 200 to a client that asked for no upgrade) and hand over the raw
        connection: attach's and exec's streams. The connection closes when the handler
        returns."""
        h = self.handler
        upgrade = "upgrade" in self.headers.get("Connection", "").lower()
        h.send_response_only(101 if upgrade else 200, "UPGRADED" if upgrade else None)
        h.send_header("Content-Type", content_type)
        if upgrade:
            h.send_header("Connection", "Upgrade")
            h.send_header("Upgrade", "tcp")
        h.end_headers()
        h.wfile.flush()
        h.close_connection = True
        self.answered = self.hijacked = True
        _headers_read(h.connection)
        return h.connection

    def websocket(self):
        """Answer a WebSocket handshake (101) and hand over the connection as a WebSocket:
        binary frames, or text ones for clients of API < 1.42 (dockerd's change in 1.42)."""
        from .websocket import BINARY, TEXT, WebSocket, accept_key

        key = self.headers.get("Sec-WebSocket-Key")
        if "websocket" not in self.headers.get("Upgrade", "").lower() or not key:
            raise HTTPError(400, "a WebSocket handshake is required (Upgrade: websocket, Sec-WebSocket-Key)")
        h = self.handler
        h.send_response_only(101, "Switching Protocols")
        h.send_header("Upgrade", "websocket")
        h.send_header("Connection", "Upgrade")
        h.send_header("Sec-WebSocket-Accept", accept_key(key))
        h.end_headers()
        h.wfile.flush()
        h.close_connection = True
        self.answered = self.hijacked = True
        return WebSocket(h.connection, BINARY if self.version >= (1, 42) else TEXT)


def _headers_read(conn: socket.socket, patience: float = 1.0) -> None:
    """Wait (a moment at most) until the client has read the upgrade's headers. docker-py
    reads them through a buffered reader, then the stream from the socket itself: bytes that
    came with the headers (a replayed log sent at once) were in that buffer and lost. dockerd
    is slow enough to start a stream that they never come together; this makes sure."""
    import fcntl
    import struct
    import termios

    deadline = time.monotonic() + patience
    while time.monotonic() < deadline:
        try:
            # SIOCOUTQ: what the peer has not read yet (on TCP, not acknowledged yet)
            unread = struct.unpack("i", fcntl.ioctl(conn.fileno(), termios.TIOCOUTQ, b"\0\0\0\0"))[0]
        except OSError:
            return
        if unread == 0:
            return
        time.sleep(0.001)


# -- dispatch -----------------------------------------------------------------------------

def status_of(error: TinydockerError) -> int:
    if isinstance(error, (NoSuchContainer, NoSuchImage, NoSuchVolume)):
        return 404
    if isinstance(error, Refused):
        return 409
    return 400 if error.code in (125, 1) and "unexpected error" not in str(error) else 500


class _Handler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = "tinydocker"
    sys_version = ""

    def log_message(self, format, *args):  # noqa: A002 - the base class's name
        if os.environ.get("TINYDOCKER_DEBUG"):  # every request, as it is answered
            import sys

            print(format % args, file=sys.stderr, flush=True)

    def address_string(self) -> str:
        return "unix" if not isinstance(self.client_address, tuple) else self.client_address[0]

    def _dispatch(self):
        service: Service = self.server.service
        service.busy(+1)
        try:
            self._answer(service)
        finally:
            service.busy(-1)

    do_GET = do_POST = do_PUT = do_DELETE = do_HEAD = _dispatch

    def handle(self) -> None:
        # a client gone between requests (killed, or its connection reset) is no error
        try:
            super().handle()
        except (ConnectionResetError, BrokenPipeError, TimeoutError):
            self.close_connection = True

    def _answer(self, service: "Service") -> None:
        parts = urlsplit(self.path)
        path, version = parts.path, _api(MAX_API)
        request = None
        try:
            match = _VERSIONED.match(path)
            if match:
                version, path = (int(match.group(1)), int(match.group(2))), match.group(3)
                if version > _api(MAX_API):
                    raise HTTPError(400, f"client version {match.group(1)}.{match.group(2)} is too new. "
                                         f"Maximum supported API version is {MAX_API}")
                if version < _api(MIN_API):
                    raise HTTPError(400, f"client version {match.group(1)}.{match.group(2)} is too old. "
                                         f"Minimum supported API version is {MIN_API}, please upgrade your "
                                         "client to a newer version")
            request = Request(self, self.command, path, version, parse_qs(parts.query, keep_blank_values=True))
            handler, groups = service.route(self.command, path)
            handler(request, **groups)
            if not request.answered:
                request.send(204)
        except HTTPError as e:
            self._fail(request, e.status, e.message)
        except TinydockerError as e:
            self._fail(request, status_of(e), str(e))
        except (BrokenPipeError, ConnectionResetError):
            self.close_connection = True
        except Exception as e:  # noqa: BLE001 - a bug, said as one; the service keeps serving
            if os.environ.get("TINYDOCKER_DEBUG"):
                import traceback

                traceback.print_exc()
            self._fail(request, 500, f"unexpected error (a bug in tinydocker, please report it): "
                                     f"{type(e).__name__}: {e}")

    def _fail(self, request: Request | None, status: int, message: str) -> None:
        if request is not None and request.answered:
            self.close_connection = True  # halfway through an answer: nothing more can be said
            return
        body = json.dumps({"message": message}).encode() + b"\n"
        try:
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            if self.command != "HEAD":
                self.wfile.write(body)
            self.wfile.flush()
        except (BrokenPipeError, ConnectionResetError):
            self.close_connection = True

    def send_response(self, code, message=None):
        super().send_response(code, message)
        # what docker's daemon says on every answer: clients read the version from it
        self.send_header("Api-Version", MAX_API)
        self.send_header("Docker-Experimental", "false")
        self.send_header("Ostype", "linux")


class _Quiet:
    """What a connection's thread lets escape (a bug) is one line on stderr, not socketserver's
    traceback (TINYDOCKER_DEBUG=1 shows it)."""

    def handle_error(self, request, client_address) -> None:
        import sys

        if os.environ.get("TINYDOCKER_DEBUG"):
            super().handle_error(request, client_address)
            return
        error = sys.exc_info()[1]
        print(f"tinydocker: a connection to the service failed (a bug in tinydocker, please report it): "
              f"{type(error).__name__}: {error}", file=sys.stderr, flush=True)


class _UnixServer(_Quiet, socketserver.ThreadingMixIn, socketserver.UnixStreamServer):
    daemon_threads = True
    # socketserver's backlog of 5 refuses a burst of clients (a unix socket's connect fails
    # with EAGAIN, not a wait): the kernel's own limit, as Go's listener (dockerd) takes
    request_queue_size = socket.SOMAXCONN


class _TCPServer(_Quiet, socketserver.ThreadingMixIn, socketserver.TCPServer):
    daemon_threads = True
    allow_reuse_address = True
    request_queue_size = socket.SOMAXCONN


class Service:
    """The routes, and the count of requests under way (for --time's idle exit)."""

    def __init__(self, routes, root):
        self.routes = [(method, re.compile(f"^{pattern}$"), fn) for method, pattern, fn in routes]
        self.root = root
        self._lock = threading.Lock()
        self._busy = 0
        self.last = time.monotonic()

    def busy(self, delta: int) -> None:
        with self._lock:
            self._busy += delta
            self.last = time.monotonic()

    def idle_for(self) -> float:
        with self._lock:
            return 0.0 if self._busy else time.monotonic() - self.last

    def route(self, method: str, path: str):
        allowed = False
        for want, pattern, fn in self.routes:
            match = pattern.match(path)
            if match:
                if want == method or (method == "HEAD" and want == "GET"):
                    return fn, match.groupdict()
                allowed = True
        if allowed:
            raise HTTPError(405, f"method {method} not allowed for {path}")
        raise HTTPError(404, f"page not found: {method} {path}")


def listen(address: str, group: str | None = None):
    """The listening server for `address` (unix:///PATH or tcp://HOST:PORT), or the socket
    systemd passed (LISTEN_FDS) when address is None."""
    if address is None and os.environ.get("LISTEN_PID") == str(os.getpid()) and os.environ.get("LISTEN_FDS"):
        fd = 3  # SD_LISTEN_FDS_START
        sock = socket.socket(fileno=fd)
        cls = _UnixServer if sock.family == socket.AF_UNIX else _TCPServer
        server = cls(sock.getsockname(), _Handler, bind_and_activate=False)
        server.socket.close()
        server.socket = sock
        return server, f"fd://{fd}"
    address = address or default_address()
    if address.startswith("unix://"):
        path = address[len("unix://"):]
        _unlink_stale(path)
        try:
            os.makedirs(os.path.dirname(path) or ".", mode=0o755, exist_ok=True)
            old = os.umask(0o117)  # the socket is made 0660: root's, and its group's
            try:
                server = _UnixServer(path, _Handler)
            finally:
                os.umask(old)
        except OSError as e:
            raise TinydockerError(f"cannot listen on {path}: {e.strerror}") from None
        if group:
            import grp

            try:
                os.chown(path, 0, grp.getgrnam(group).gr_gid)
            except KeyError:
                server.server_close()
                os.unlink(path)
                raise TinydockerError(f"no group {group!r} for the socket (groupadd {group})") from None
        return server, address
    if address.startswith("tcp://"):
        host, _, port = address[len("tcp://"):].rpartition(":")
        if not port.isdigit():
            raise TinydockerError(f"invalid address {address}: tcp://HOST:PORT")
        try:
            return _TCPServer((host.strip("[]") or "127.0.0.1", int(port)), _Handler), address
        except OSError as e:
            raise TinydockerError(f"cannot listen on {address}: {e.strerror}") from None
    raise TinydockerError(f"invalid address {address}: unix:///PATH or tcp://HOST:PORT")


def _unlink_stale(path: str) -> None:
    """A socket file nobody answers on (a service that was killed) goes; a live one stays."""
    if not os.path.exists(path):
        return
    probe = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    try:
        probe.connect(path)
    except ConnectionRefusedError:
        os.unlink(path)
        return
    except OSError:
        return
    finally:
        probe.close()
    raise TinydockerError(f"{path} is in use: another service is listening there")


def serve(server, service: Service, idle: float | None) -> None:
    """Serve until SIGTERM/SIGINT or, with idle, that many seconds without a request."""
    server.service = service
    if idle:
        def watch():
            while True:
                time.sleep(min(idle, 1.0))
                if service.idle_for() >= idle:
                    server.shutdown()
                    return
        threading.Thread(target=watch, daemon=True).start()
    try:
        server.serve_forever(poll_interval=0.5)
    finally:
        server.server_close()
        if isinstance(server, _UnixServer) and isinstance(server.server_address, str):
            try:
                os.unlink(server.server_address)
            except OSError:
                pass
