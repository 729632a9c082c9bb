"""Many clients at once through the service's socket, and clients that go away halfway: every
request is answered as docker's daemon would, the service keeps serving, nothing leaks."""

import http.server
import io
import json
import os
import socket
import socketserver
import tarfile
import threading
import time
import urllib.request

from conftest import has_open, wait_for
from image_fixtures import forward_get, registry  # noqa: F401 - the fixture
from service_fixtures import service  # noqa: F401 - the fixture

CLIENTS = 50


def test_fifty_clients_create_start_wait_and_remove_at_once(service):  # noqa: F811
    failures, codes = [], {}
    go = threading.Barrier(CLIENTS)

    def client(i: int) -> None:
        try:
            go.wait()
            status, body = service.request("POST", f"/v1.43/containers/create?name=load{i}",
                                           body={"Image": "busybox", "Cmd": ["sh", "-c", f"echo {i}; exit {i % 7}"],
                                                 "HostConfig": {"NetworkMode": "none"}})
            assert status == 201, (status, body)
            cid = json.loads(body)["Id"]
            status, body = service.request("POST", f"/v1.43/containers/{cid}/start")
            assert status == 204, (status, body)
            status, body = service.request("POST", f"/v1.43/containers/{cid}/wait")
            assert status == 200, (status, body)
            codes[i] = json.loads(body)["StatusCode"]
            status, body = service.request("GET", f"/v1.43/containers/{cid}/logs?stdout=1")
            assert status == 200 and body[8:] == f"{i}\n".encode(), \
                (status, body, json.loads(service.request("GET", f"/containers/{cid}/json")[1])["State"])
            status, body = service.request("DELETE", f"/v1.43/containers/{cid}")
            assert status == 204, (status, body)
        except BaseException as e:  # noqa: BLE001 - collected, reported below with the client's number
            failures.append(f"client {i}: {e!r}")

    threads = [threading.Thread(target=client, args=(i,)) for i in range(CLIENTS)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=600)
    assert not failures, "\n".join(failures)
    assert codes == {i: i % 7 for i in range(CLIENTS)}
    assert service.request("GET", "/containers/json?all=1") == (200, b"[]\n")
    assert service.td.out("ps", "-aq") == ""


# -- clients that go away halfway -------------------------------------------------------------

def _raw(service, request: bytes) -> socket.socket:
    """A connection with `request` sent and the answer's headers read (what follows is left)."""
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    sock.settimeout(60)
    sock.connect(service.sock)
    sock.sendall(request)
    head = b""
    while b"\r\n\r\n" not in head:
        data = sock.recv(1)
        assert data, head
        head += data
    assert head.split(b" ", 2)[1] in (b"101", b"200"), head
    return sock


def test_a_client_leaving_an_attach_or_a_followed_log_lets_go_of_the_container(service):  # noqa: F811
    # a container that writes nothing: only the client's going can end the following
    cid = service.out("run", "-d", "--network", "none", "busybox", "sleep", "600").strip()
    log = service.td.containers / json.loads(service.out("inspect", cid))[0]["Name"].lstrip("/") / "container.log"
    for request in (f"POST /v1.43/containers/{cid}/attach?stream=1&stdout=1&stderr=1 HTTP/1.1\r\n"
                    "Host: x\r\nConnection: Upgrade\r\nUpgrade: tcp\r\n\r\n",
                    f"GET /v1.43/containers/{cid}/logs?follow=1&stdout=1 HTTP/1.1\r\nHost: x\r\n\r\n"):
        sock = _raw(service, request.encode())
        wait_for(lambda: has_open(service.proc.pid, log), what="the service following the log")
        sock.close()
        wait_for(lambda: not has_open(service.proc.pid, log), what="the service letting go of the log")
    # docker's way: the container runs on, and the service serves on
    assert service.out("inspect", "-f", "{{.State.Running}}", cid) == "true\n"
    service.out("rm", "-f", cid)


class SlowProxy:
    """In front of a real registry: every answer forwarded, a layer's at a slow network's pace
    (64 KiB a tenth of a second); says how much of the layer it sent and whether the puller
    hung up before the end."""

    def __init__(self, upstream: str, blob: str):
        self.upstream, self.blob = upstream, blob
        self.sent = 0
        self.hung_up = threading.Event()
        proxy = self

        class Handler(http.server.BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args):
                pass

            def do_GET(self):
                body = forward_get(self, proxy.upstream)
                if not self.path.endswith("/blobs/" + proxy.blob):
                    self.wfile.write(body)
                    return
                try:
                    for at in range(0, len(body), 1 << 16):
                        self.wfile.write(body[at:at + (1 << 16)])
                        self.wfile.flush()
                        proxy.sent = at + (1 << 16)
                        time.sleep(0.1)  # the slow network this proxy stands for, not a wait for a condition
                except OSError:
                    proxy.hung_up.set()
                    self.close_connection = True

        self.server = socketserver.ThreadingTCPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.addr = f"127.0.0.1:{self.server.server_address[1]}"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


def test_a_client_leaving_a_pull_cancels_it_and_nothing_is_kept(service, registry, tmp_path):  # noqa: F811
    # an image with one big layer (8 MiB that do not compress), in a real registry
    tarball = tmp_path / "big.tar"
    with tarfile.open(tarball, "w") as tar:
        info = tarfile.TarInfo("big")
        info.size = 8 << 20
        tar.addfile(info, io.BytesIO(os.urandom(info.size)))
    td = service.td
    td.out("import", str(tarball), f"{registry}/big:1")
    td.out("push", f"{registry}/big:1")
    td.out("rmi", f"{registry}/big:1")
    [blob] = _registry_layers(registry, "big", "1")
    proxy = SlowProxy(registry, blob)
    try:
        sock = _raw(service, f"POST /v1.43/images/create?fromImage={proxy.addr}/big&tag=1 HTTP/1.1\r\n"
                             "Host: x\r\nContent-Length: 0\r\n\r\n".encode())
        wait_for(lambda: proxy.sent > 0, what="the layer's download under way")
        sock.close()
        # dockerd's way: the pull is given up, not run to its end for nobody
        wait_for(proxy.hung_up.is_set, what="the service giving up the layer's download")
        assert proxy.sent < 8 << 20
    finally:
        proxy.close()
    status, _ = service.request("GET", f"/images/{proxy.addr}/big:1/json")
    assert status == 404
    images = td.root / "images"
    wait_for(lambda: not [e for e in os.listdir(images) if e.startswith(".tmp")], what="the staging removed")
    # the service serves on: the same image pulled to its end straight from the registry
    assert f"{registry}/big:1" in service.out("pull", f"{registry}/big:1")


def _registry_layers(registry: str, repo: str, tag: str) -> list[str]:
    """The layers' digests in REPO:TAG's manifest in the registry."""
    req = urllib.request.Request(f"http://{registry}/v2/{repo}/manifests/{tag}", headers={"Accept": ", ".join((
        "application/vnd.oci.image.manifest.v1+json", "application/vnd.docker.distribution.manifest.v2+json"))})
    with urllib.request.urlopen(req, timeout=30) as answer:
        manifest = json.load(answer)
    return [layer["digest"] for layer in manifest["layers"]]


def test_clients_killed_between_requests_leave_no_trace_in_the_service_s_log(service):  # noqa: F811
    # a client gone with its answer unread: the service, waiting for its next request on
    # the kept-alive connection, finds it reset
    import select

    for _ in range(10):
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        sock.connect(service.sock)
        sock.sendall(b"GET /_ping HTTP/1.1\r\nHost: x\r\n\r\n")
        assert select.select([sock], [], [], 60)[0]
        sock.close()
    assert service.request("GET", "/_ping") == (200, b"OK")
    said = service.log.read_text()
    assert "Traceback" not in said and "Error" not in said, said


def test_names_the_service_chooses_never_collide_between_creates_at_once(service):  # noqa: F811
    # docker's generated names: one taken meanwhile by a create beside this one is chosen again
    failures, ids = [], []

    def create():
        status, body = service.request("POST", "/containers/create",
                                       body={"Image": "busybox", "Cmd": ["true"], "HostConfig": {"NetworkMode": "none"}})
        (ids if status == 201 else failures).append(body)

    threads = [threading.Thread(target=create) for _ in range(60)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=300)
    assert failures == [] and len(ids) == 60, failures[:3]
    names = service.td.out("ps", "-a", "--format", "{{.Names}}").split()
    assert len(set(names)) == 60
