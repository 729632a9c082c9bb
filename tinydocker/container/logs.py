"""Reading a container's log: the CRI-format files logfile.py writes.

Each line of the file is `TIMESTAMP STREAM P|F CONTENT`; P records are pieces of a line
that the following records of the same stream complete, up to an F.
"""

import time

from ..linux.rotated import open_or_none, replaced, same_file

POLL = 0.1  # seconds between looks at a followed log


def _parse(chunk: bytes, partial: dict, as_written: bool = False):
    """Whole output lines in `chunk` (complete log records only) as (stamp, stream, line);
    as_written: each record's piece as it is (a prompt is shown before its line ends)."""
    for raw in chunk.split(b"\n")[:-1]:  # not splitlines(): a pty's \r belongs to the content
        parts = raw.split(b" ", 3)
        if len(parts) < 3:
            continue
        stamp, stream, tag = parts[:3]
        content = parts[3] if len(parts) == 4 else b""
        if as_written:
            yield stamp, stream.decode(), content + (b"\n" if tag == b"F" else b"")
            continue
        pieces = partial.setdefault(stream, [])
        pieces.append((stamp, content))
        if tag == b"F":
            # a line's time is when its first piece came
            yield pieces[0][0], stream.decode(), b"".join(p for _, p in pieces) + b"\n"
            pieces.clear()


def read(store, record, follow: bool = False, tail: int | None = None, timestamps: bool = False,
         since: int | None = None, until: int | None = None, details: bytes | None = None, ready=None,
         opened=None, running=None, pieces: bool = False, stop=None):
    """(stream, bytes) for each output line, the rotated files' first; with follow, until
    the container stops (or `until` passes). since/until: nanoseconds since the epoch;
    details: the --details prefix (docker puts a space after it, even when empty).
    ready(), if given, is called once what is already in the log has been read (attach
    waits for it before passing input on, so that no answer to it falls before the follow).
    opened: the log, already open (a follower that must not miss a quick --rm container's
    output opens it before the start); running(): whether to go on following (default:
    while the container runs); pieces: what was written as it was written, a line's pieces
    not waiting for its end (a terminal's prompt, for attach); stop(): whether the reader
    has gone (a client of the service), which ends a follow at once."""
    from .logfile import stamp

    path = store.log_path(record.name)
    low = stamp(since) if since is not None else None
    high = stamp(until) if until is not None else None

    def shown(lines):
        for when, stream, line in lines:
            if (low is None or when >= low) and (high is None or when <= high):
                if details is not None:
                    line = details + b" " + line
                yield stream, (when + b" " + line) if timestamps else line

    f = opened or open_or_none(path)
    partial = {}
    # the rotated files, oldest first; opened after the current one, so that a rotation in
    # between shows as the current file twice (read once) rather than as a file never seen
    chunk = b"".join(_complete(old, 0)[0] for old in _rotated(path, f))
    lines = list(_parse(chunk, partial, pieces))
    offset = 0
    if f is not None:
        chunk, offset = _complete(f, 0)
        lines += _parse(chunk, partial, pieces)
    if tail is not None:
        lines = _tail(lines, partial, tail)
    if ready is not None:
        ready()
    yield from shown(lines)
    try:
        while follow and (until is None or time.time_ns() <= until):
            if f is not None:
                chunk, offset = _complete(f, offset)
                if chunk:
                    yield from shown(_parse(chunk, partial, pieces))
                    continue
            if f is None or replaced(f, path, offset):
                # rotated (a new file), or truncated (one file kept): finish the old one, go on anew
                if f is not None:
                    yield from shown(_parse(_complete(f, offset)[0], partial, pieces))
                    f.close()
                f, offset = open_or_none(path), 0
                if f is not None:
                    continue
            if stop is not None and stop():
                break
            if running() if running is not None else _still_running(store, record):
                time.sleep(POLL)
            else:
                if f is not None:
                    chunk, offset = _complete(f, offset)  # what came while we looked at the record
                    yield from shown(_parse(chunk, partial, pieces))
                break
    finally:
        if f is not None:
            f.close()
    # a last line without its newline (the output ended, or is still being written)
    for stream, pieces in partial.items():
        if pieces:
            yield from shown([(pieces[0][0], stream.decode(), b"".join(p for _, p in pieces))])


def _tail(lines: list, partial: dict, tail: int) -> list:
    """The last `tail` entries, counting a line still without its newline (shown at the end)
    where its first piece came, as docker's log counts the piece it kept: what falls
    outside is dropped, from `partial` too."""
    entries = list(lines)
    for stream, pieces in partial.items():
        if pieces:
            when = pieces[0][0]
            at = next((i for i in range(len(entries), 0, -1) if entries[i - 1][0] <= when), 0)
            entries.insert(at, (when, stream, None))
    kept = entries[-tail:] if tail > 0 else []
    for when, stream, line in entries[:len(entries) - len(kept)]:
        if line is None:
            partial[stream].clear()
    return [entry for entry in kept if entry[2] is not None]


def _rotated(path, current):
    """The rotated files' contents holders (LOG.N ... LOG.1), opened, skipping `current`."""
    found = []
    n = 1
    while True:
        older = open_or_none(f"{path}.{n}")
        if older is None:
            break
        found.append(older)
        n += 1
    for older in reversed(found):
        with older:
            if current is None or not same_file(older, current):
                yield older


def _complete(f, offset: int) -> tuple[bytes, int]:
    """The whole log records from `offset` on; a record still being written waits for next time."""
    f.seek(offset)
    data = f.read()
    end = data.rfind(b"\n") + 1
    return data[:end], offset + end


def _still_running(store, record) -> bool:
    current = store.current(record)
    if current is None or current.status != "running":
        return False
    # the monitor drains the output before it records the exit: wait for that, unless
    # it is gone too (then nothing more will be written)
    return current.container_alive() or current.monitor_alive()

