"""The service's exec endpoints: an exec made (POST /containers/{id}/exec), started
(attached through the hijacked connection, multiplexed unless it has a terminal, or
detached), resized and inspected; each a call of the API's exec instances (api/execs.py),
whose state is the data root's, not this process's."""

from __future__ import annotations

import os
import select
import socket
import threading

from .. import api
from ..errors import TinydockerError
from .containers import _record, frame
from .server import HTTPError
from .translate import _strings, _typed


def _no_such(e: TinydockerError):
    if str(e).startswith("No such exec instance"):
        return HTTPError(404, str(e))
    return e


def create(req, ref: str) -> None:
    body = req.json(required=True)
    if not isinstance(body, dict):
        raise HTTPError(400, "the body must be a JSON object")
    command = _strings(body, "Cmd")
    if not command:
        raise HTTPError(400, "No exec command specified")
    record = _record(req, ref)
    # a bare KEY is the client's to resolve (see translate.create_options): not the service's value
    exec_id = api.create_exec(record.id, command, env=[e for e in _strings(body, "Env") if "=" in e],
                              workdir=_typed(body, "WorkingDir", str) or None, user=_typed(body, "User", str) or None,
                              tty=bool(_typed(body, "Tty", bool)), stdin=bool(_typed(body, "AttachStdin", bool)),
                              stdout=bool(_typed(body, "AttachStdout", bool, True)),
                              stderr=bool(_typed(body, "AttachStderr", bool, True)),
                              privileged=bool(_typed(body, "Privileged", bool)),
                              console_size=_typed(body, "ConsoleSize", list), root=req.root)
    req.send_json({"Id": exec_id}, status=201)


def inspect(req, exec_id: str) -> None:
    try:
        req.send_json(api.inspect_exec(exec_id, root=req.root))
    except TinydockerError as e:
        raise _no_such(e) from None


def resize(req, exec_id: str) -> None:
    try:
        api.resize_exec(exec_id, req.number("h", 0), req.number("w", 0), root=req.root)
    except TinydockerError as e:
        raise _no_such(e) from None
    req.send(200, b"", "text/plain; charset=utf-8")


def start(req, exec_id: str) -> None:
    """The connection is taken over (hijacked) before the process runs, as dockerd does:
    docker-py reads what follows the headers from the raw socket, so output sent with them
    would be lost in its HTTP reader's buffer. A start refused as seen beforehand (the
    instance started already) is still an HTTP answer; one refused in a race is said on
    the connection, as dockerd says it."""
    body = req.json()
    if not isinstance(body, dict):
        raise HTTPError(400, "the body must be a JSON object")
    try:
        doc = api.inspect_exec(exec_id, root=req.root)  # not ended: nothing is forgotten
    except TinydockerError as e:
        raise _no_such(e) from None
    if doc["Pid"] or doc["Running"] or doc["ExitCode"] is not None:
        raise HTTPError(409, f"exec {exec_id} has already been started")
    try:
        if _typed(body, "Detach", bool):
            _detached(req, exec_id)
        # framed as docker's stdout/stderr unless the *start* asks for a terminal, as dockerd
        # decides it: docker-py's exec_start() of a tty instance gets its terminal as stdout
        # frames, a start with Tty of one without gets the raw output
        elif doc["ProcessConfig"]["tty"]:
            _with_terminal(req, exec_id, doc["OpenStdin"], framed=not _typed(body, "Tty", bool))
        else:
            _with_streams(req, exec_id, doc, framed=not _typed(body, "Tty", bool))
    except TinydockerError as e:
        if req.answered:
            raise
        if "has already been started" in str(e):
            raise HTTPError(409, str(e)) from None
        raise


def _hijacked(req, tty: bool):
    return req.hijack("application/vnd.docker.raw-stream" if tty else "application/vnd.docker.multiplexed-stream")


def _detached(req, exec_id: str) -> None:
    """docker's detached start: 200 once the process runs, its output nowhere; a thread of
    this process waits for it so that its exit code reaches the instance."""
    null = os.open(os.devnull, os.O_RDWR | os.O_CLOEXEC)
    root = req.root
    begun = threading.Event()
    failed = []

    def run():
        try:
            api.start_exec(exec_id, streams=(None, null, null), started=lambda _pid: begun.set(), root=root)
        except TinydockerError as e:
            failed.append(e)
        finally:
            os.close(null)
            begun.set()  # a program that could not run: its exit code says it

    threading.Thread(target=run, daemon=True).start()
    begun.wait()
    if failed:
        raise failed[0]
    req.send(200, b"", "text/plain; charset=utf-8")


def _with_streams(req, exec_id: str, doc, framed: bool = True) -> None:
    """The process's stdout and stderr as docker's frames on the connection, what the client
    sends to its stdin (its half-close: the input's end)."""
    send_lock = threading.Lock()
    taken = threading.Event()
    held = {}
    theirs = []  # the process's ends of the pipes, closed here once it has them
    null = os.open(os.devnull, os.O_RDWR | os.O_CLOEXEC)
    theirs.append(null)
    fds = [None, null, null]
    pumps = []
    for n, stream, wanted in ((1, "stdout", doc["OpenStdout"]), (2, "stderr", doc["OpenStderr"])):
        if wanted:
            r, w = os.pipe()
            theirs.append(w)
            fds[n] = w
            pumps.append(threading.Thread(target=_pump, args=(r, stream, held, taken, send_lock, framed),
                                          daemon=True))
    stdin_w = None
    if doc["OpenStdin"]:
        r, stdin_w = os.pipe()
        theirs.append(r)
        fds[0] = r

    def take() -> None:
        if "sock" not in held:
            held["sock"] = _hijacked(req, tty=False)
            taken.set()
            if stdin_w is not None:
                threading.Thread(target=_feed, args=(held["sock"], stdin_w), daemon=True).start()

    def started(_pid):
        _close(theirs)

    for t in pumps:
        t.start()
    try:
        take()  # before the process: see start()
        api.start_exec(exec_id, streams=tuple(fds), started=started, root=req.root)
    except TinydockerError as e:
        if "sock" not in held:
            raise  # refused before it ran: an HTTP answer
        with send_lock:
            said = f"{e}\n".encode()
            held["sock"].sendall(frame("stderr", said) if framed else said)
    finally:
        _close(theirs)
        if stdin_w is not None and "sock" not in held:
            os.close(stdin_w)
        taken.set()  # the pumps drain what there is, to the connection if it was taken
        for t in pumps:
            t.join()
        if "sock" in held:
            try:
                held["sock"].shutdown(2)
            except OSError:
                pass


def _close(fds: list) -> None:
    while fds:
        try:
            os.close(fds.pop())
        except OSError:
            pass


def _pump(fd: int, stream: str, held: dict, taken, lock, framed: bool = True) -> None:
    taken.wait()
    sock = held.get("sock")
    try:
        while data := os.read(fd, 65536):
            if sock is not None:
                with lock:
                    sock.sendall(frame(stream, data) if framed else data)
    except OSError:
        pass  # the client went: the process's next write fails, as into a closed pipe
    finally:
        os.close(fd)


def _feed(sock, target: int) -> None:
    from ..container.stdio import write_all

    try:
        while data := sock.recv(65536):
            write_all(target, data)
    except OSError:
        pass
    finally:
        os.close(target)


def _with_terminal(req, exec_id: str, stdin: bool, framed: bool = False) -> None:
    """The pty's output to the connection as it comes, the client's bytes to the pty."""
    held = {}

    def relay(master: int) -> None:
        import errno
        import termios

        from ..container.stdio import write_all

        sock = held["sock"]
        reading = [master] + ([sock] if stdin else [])
        while True:
            ready, _, _ = select.select(reading, [], [])
            if master in ready:
                try:
                    data = os.read(master, 65536)
                except OSError as e:
                    if e.errno != errno.EIO:  # EIO: the process and all it started are gone
                        raise
                    data = b""
                if not data:
                    return
                try:
                    sock.sendall(frame("stdout", data) if framed else data)
                except OSError:
                    return  # the client went; the pty's hangup ends the process's reads
            if sock in ready:
                try:
                    data = sock.recv(65536)
                except OSError:
                    data = b""
                if data:
                    write_all(master, data)
                else:  # the client's input ended: the terminal's end-of-file, as a user's ^D
                    reading.remove(sock)
                    write_all(master, bytes([termios.tcgetattr(master)[6][termios.VEOF]]))

    try:
        held["sock"] = _hijacked(req, tty=True)  # before the process: see start()
        api.start_exec(exec_id, terminal=relay, root=req.root)
    except TinydockerError as e:
        if "sock" not in held:
            raise
        said = f"{e}\r\n".encode()
        held["sock"].sendall(frame("stdout", said) if framed else said)
    finally:
        if "sock" in held:
            _close_gently(held["sock"])


def _close_gently(sock) -> None:
    """The output's end (FIN), then what the client still sends read and dropped until it
    closes: a socket closed with unread input is reset, and a reset can overtake the last
    output (docker's CLI then says "connection reset by peer" and exits 1, not the
    process's code)."""
    import time

    try:
        sock.shutdown(socket.SHUT_WR)
        deadline = time.monotonic() + 5  # a client that never closes is not waited for longer
        while (left := deadline - time.monotonic()) > 0:
            sock.settimeout(left)
            if not sock.recv(65536):
                break
    except OSError:
        pass


ROUTES = [
    ("POST", r"/containers/(?P<ref>[^/]+)/exec", create),
    ("POST", r"/exec/(?P<exec_id>[^/]+)/start", start),
    ("POST", r"/exec/(?P<exec_id>[^/]+)/resize", resize),
    ("GET", r"/exec/(?P<exec_id>[^/]+)/json", inspect),
]
