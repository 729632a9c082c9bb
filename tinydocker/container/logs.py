"""Reading a container's log: the CRI-format file its supervisor writes (see supervisor.py).

Each line of the file is `TIMESTAMP STREAM P|F CONTENT`; P records are pieces of a line
that the following records of the same stream complete, up to an F.
"""

import time

POLL = 0.1  # seconds between looks at a followed log


def _parse(chunk: bytes, partial: dict):
    """Whole output lines in `chunk` (complete log records only) as (stamp, stream, line)."""
    for raw in chunk.split(b"\n")[:-1]:  # not splitlines(): a pty's \r belongs to the content
        parts = raw.split(b" ", 3)
        if len(parts) < 3:
            continue
        stamp, stream, tag = parts[:3]
        content = parts[3] if len(parts) == 4 else b""
        pieces = partial.setdefault(stream, [])
        pieces.append(content)
        if tag == b"F":
            yield stamp, stream.decode(), b"".join(pieces) + b"\n"
            pieces.clear()


def read(store, record, follow: bool = False, tail: int | None = None, timestamps: bool = False):
    """(stream, bytes) for each output line; with follow, until the container stops."""
    try:
        f = open(store.log_path(record.name), "rb")
    except FileNotFoundError:
        return
    with f:
        partial = {}
        chunk, offset = _complete(f, 0)
        lines = list(_parse(chunk, partial))
        if tail is not None:
            lines = lines[-tail:] if tail > 0 else []
        yield from _shown(lines, timestamps)
        while follow:
            chunk, offset = _complete(f, offset)
            if chunk:
                yield from _shown(_parse(chunk, partial), timestamps)
            elif _still_running(store, record):
                time.sleep(POLL)
            else:
                chunk, offset = _complete(f, offset)  # what came while we looked at the record
                yield from _shown(_parse(chunk, partial), timestamps)
                break
        # a last line without its newline (the output ended, or is still being written)
        for stream, pieces in partial.items():
            if pieces:
                yield stream.decode(), b"".join(pieces)


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
    # the supervisor drains the output before it records the exit: wait for that, unless
    # it is gone too (then nothing more will be written)
    return current.container_alive() or current.monitor_alive()


def _shown(lines, timestamps: bool):
    for stamp, stream, line in lines:
        yield stream, (stamp + b" " + line) if timestamps else line
