"""The service's /containers/{id}/archive: what a path is (HEAD), a tar of it (GET), a tar
extracted at it (PUT): docker cp's both ways, through tinydocker's own cp."""

from __future__ import annotations

import base64
import json
import os
import stat
import threading
from datetime import datetime, timezone

from .. import api
from ..errors import TinydockerError
from .containers import _record
from .server import HTTPError

# Go's os.FileMode bits, which docker's clients read the path's kind from
_GO_KINDS = ((stat.S_ISDIR, 1 << 31), (stat.S_ISLNK, 1 << 27), (stat.S_ISBLK, 1 << 26),
             (stat.S_ISCHR, 1 << 26 | 1 << 21), (stat.S_ISFIFO, 1 << 25), (stat.S_ISSOCK, 1 << 24))


def go_mode(mode: int) -> int:
    bits = stat.S_IMODE(mode) & 0o777
    for test, bit in _GO_KINDS:
        if test(mode):
            bits |= bit
            break
    for flag, bit in ((stat.S_ISUID, 1 << 23), (stat.S_ISGID, 1 << 22), (stat.S_ISVTX, 1 << 20)):
        if mode & flag:
            bits |= bit
    return bits


def _path(req) -> str:
    path = req.arg("path")
    if not path:
        raise HTTPError(400, "path is required (?path=)")
    return path


def _stat_header(req, ref: str, path: str) -> tuple[str, str]:
    try:
        found = api.stat_path(ref, path, root=req.root)
    except TinydockerError as e:
        if "Could not find the file" in str(e):
            raise HTTPError(404, str(e)) from None
        raise
    seconds, ns = divmod(found["mtime"], 1_000_000_000)
    mtime = datetime.fromtimestamp(seconds, timezone.utc).strftime("%Y-%m-%dT%H:%M:%S") + \
        (f".{ns:09d}".rstrip("0") if ns else "") + "Z"
    doc = {"name": found["name"], "size": found["size"], "mode": go_mode(found["mode"]), "mtime": mtime,
           "linkTarget": found["link_target"]}
    return "X-Docker-Container-Path-Stat", base64.b64encode(json.dumps(doc).encode()).decode()


def head(req, ref: str) -> None:
    record = _record(req, ref)
    req.send(200, b"", headers=[_stat_header(req, record.id, _path(req))])


def get(req, ref: str) -> None:
    """The tar, as the copy writes it: its top entry named as the path's last component."""
    record = _record(req, ref)
    path = _path(req)
    header = _stat_header(req, record.id, path)  # a missing path is a 404 before any tar
    r, w = os.pipe()

    def write():
        try:
            api.cp(f"{record.id}:{path}", "-", root=req.root, stream=w)
        except TinydockerError:
            pass  # the tar breaks off: after the headers, that is all a client can be told
        finally:
            os.close(w)

    threading.Thread(target=write, daemon=True).start()
    # the stat header beside the tar: a body that ends with the connection (HTTP/1.1's
    # third way), since a chunked answer's headers are the server's own
    h = req.handler
    h.send_response(200)
    h.send_header("Content-Type", "application/x-tar")
    h.send_header(*header)
    h.send_header("Connection", "close")
    h.end_headers()
    h.close_connection = True
    req.answered = True
    with os.fdopen(r, "rb") as source:
        try:
            while data := source.read1(1 << 16):
                h.wfile.write(data)
        except (BrokenPipeError, ConnectionResetError):
            pass  # the client went: the copy's writes fail, and it ends


def put(req, ref: str) -> None:
    """A tar extracted in the directory at path; owners kept with copyUIDGID (docker cp -a),
    else root's, as docker cp makes them; a directory and a non-directory never replace
    each other (docker's noOverwriteDirNonDir, which its CLI always asks for)."""
    record = _record(req, ref)
    path = _path(req)
    _stat_header(req, record.id, path)  # a missing directory: docker's 404
    try:
        api.cp("-", f"{record.id}:{path}", archive=req.flag("copyUIDGID"), root=req.root,
               stream=req.body_chunks())
    except TinydockerError as e:
        if "must be an existing directory" in str(e):
            raise HTTPError(400, f"extraction point is not a directory: {path}") from None
        raise
    req.send(200, b"", "text/plain; charset=utf-8")


ROUTES = [
    ("HEAD", r"/containers/(?P<ref>[^/]+)/archive", head),
    ("GET", r"/containers/(?P<ref>[^/]+)/archive", get),
    ("PUT", r"/containers/(?P<ref>[^/]+)/archive", put),
]
