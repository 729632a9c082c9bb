"""The service's /events: the journal replayed from `since` and followed until `until`, as
docker's event objects, one JSON line each; a client that goes away ends the following."""

from __future__ import annotations

import json
import select
import socket

from .. import api
from .server import HTTPError


def _gone(sock) -> bool:
    """The client has closed its end (a reader of events sends nothing: anything readable
    is its end of file)."""
    try:
        readable, _, _ = select.select([sock], [], [], 0)
        return bool(readable) and sock.recv(1, socket.MSG_PEEK) == b""
    except OSError:
        return True


def events(req) -> None:
    filters = []
    for key, values in req.filters().items():
        for value in values:
            if not isinstance(value, str):
                raise HTTPError(400, f"invalid filter '{key}'")
            filters.append(f"{key}={value}")
    since, until = req.arg("since") or None, req.arg("until") or None
    # what is wrong with the query is said before the answer's headers, which go at once
    from ..api.events import parse_filters
    from ..api.times import moment

    parse_filters(filters)
    for value, flag in ((since, "since"), (until, "until")):
        if value:
            moment(value, flag)
    sock = req.handler.connection
    found = api.events(since=since, until=until, filters=filters, root=req.root,
                       stop=lambda: _gone(sock))
    req.stream(json.dumps(event).encode() + b"\n" for event in found)


ROUTES = [
    ("GET", r"/events", events),
]
