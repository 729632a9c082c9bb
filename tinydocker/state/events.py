"""The events journal: what happened to containers, images, networks and volumes, for `events`.

There is no daemon to broadcast events, so whoever does something appends a line to

    state/events.jsonl      one JSON object per line, oldest first
    state/events.jsonl.1    the previous journal, once the current one outgrew MAX_BYTES
    state/.events.lock      taken (flock) around each append and each rotation

Each append is one write(2) of a whole line made under the lock, so lines from parallel
writers never interleave and a reader never meets half a line except the one being written
(it waits for its newline). The journal is bounded: past MAX_BYTES the current file becomes
the `.1` file, replacing the one before, so at most twice MAX_BYTES are kept.

A line looks like docker's events API:
    {"Type": "container", "Action": "start", "Actor": {"ID": "…", "Attributes": {"name": "web", …}},
     "scope": "local", "time": 1763933514, "timeNano": 1763933514123456789}

The journal tells what happened; it is never consulted to decide anything, so a failure to
write it (a data root being deleted) costs the line, not the operation.
"""

import os
import time

from ..linux.rotated import open_or_none, replaced, same_file
from .lock import Flock

MAX_BYTES = 1 << 20
JOURNAL = "events.jsonl"
LOCK = ".events.lock"

# kept from docker's older event fields, which scripts still read ({{.Status}}, {{.ID}}, {{.From}})
_LEGACY = ("container", "image")


def emit(root, type: str, action: str, actor_id: str, attributes: dict | None = None) -> None:
    """Append one event for the data root `root` (a DataRoot)."""
    stamp = time.time_ns()
    attributes = {k: str(v) for k, v in (attributes or {}).items()}
    event = {"Type": type, "Action": action, "Actor": {"ID": actor_id, "Attributes": attributes},
             "scope": "local", "time": stamp // 1_000_000_000, "timeNano": stamp}
    if type in _LEGACY:
        event.update(status=action, id=actor_id)
        if "image" in attributes:
            event["from"] = attributes["image"]
    import json  # not at the top: most commands write no event, and a listing reads none

    line = (json.dumps(event, separators=(",", ":")) + "\n").encode()
    try:
        _append(root.state, line)
    except OSError:
        pass  # see the module's docstring: the journal never fails the operation


def _append(state, line: bytes) -> None:
    lock = Flock(state / LOCK)
    try:
        lock.acquire()
    except FileNotFoundError:
        try:
            os.mkdir(state)  # a data root's first event (its root must exist: a deleted one stays deleted)
        except FileExistsError:
            pass  # another process's first event
        lock.acquire()
    try:
        path = state / JOURNAL
        flags = os.O_WRONLY | os.O_APPEND | os.O_CREAT | os.O_NOFOLLOW | os.O_CLOEXEC
        fd = os.open(path, flags, 0o600)
        try:
            size = os.fstat(fd).st_size
            if size and size + len(line) > MAX_BYTES:
                os.close(fd)
                os.replace(path, state / (JOURNAL + ".1"))
                fd = os.open(path, flags, 0o600)
            os.write(fd, line)  # a line is far below any size a regular file splits a write at
        finally:
            os.close(fd)
    finally:
        lock.release()


def read(root, follow: bool = False, poll: float = 0.1, until_ns: int | None = None, stop=None):
    """Every event kept (oldest first) as dicts; with follow, then those appended later,
    until `until_ns` has passed or `stop()` says so (or for ever). Lines that do not parse
    are skipped."""
    state = root.state
    f, pending = open_or_none(state / JOURNAL), b""
    # the previous journal first; opened after the current one, so that a rotation in between
    # shows as the same file twice (read once, through f) rather than as a file never seen
    older = open_or_none(state / (JOURNAL + ".1"))
    if older is not None:
        with older:
            if f is None or not same_file(older, f):
                yield from _parse(older.read())
    try:
        while True:
            if f is not None:
                chunk = f.read()
                if chunk:
                    pending += chunk
                    whole = pending.rfind(b"\n") + 1
                    yield from _parse(pending[:whole])
                    pending = pending[whole:]
                    continue
            if not follow or (until_ns is not None and time.time_ns() > until_ns) or (stop and stop()):
                return
            if f is None or replaced(f, state / JOURNAL):
                # rotated (or first made): finish the old file, go on with the new one
                if f is not None:
                    yield from _parse(pending + f.read())
                    f.close()
                f, pending = open_or_none(state / JOURNAL), b""
                if f is not None:
                    continue
            time.sleep(poll)
    finally:
        if f is not None:
            f.close()


def _parse(data: bytes):
    import json

    for line in data.splitlines():
        try:
            event = json.loads(line)
        except ValueError:
            continue
        if isinstance(event, dict) and "timeNano" in event:
            yield event


def container(root, record, action: str, **extra) -> None:
    """A container's event, with docker's attributes: its labels, image and name."""
    attributes = dict(record.spec.get("labels") or {})
    attributes.update(image=record.image, name=record.name, **extra)
    emit(root, "container", action, record.id, attributes)
