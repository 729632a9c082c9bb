"""The service's /events: the journal replayed from `since` and followed until `until`, as
docker's event objects, one JSON line each; a client that goes away ends the following."""

from __future__ import annotations

import json

from .. import api
from .server import HTTPError


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
    found = api.events(since=since, until=until, filters=filters, root=req.root, stop=req.client_gone)
    req.stream(json.dumps(event).encode() + b"\n" for event in found)


ROUTES = [
    ("GET", r"/events", events),
]
