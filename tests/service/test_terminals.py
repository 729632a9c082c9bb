"""docker's CLI on a real pseudo-terminal, through the service: `docker run -it` (attach's
terminal) and `docker exec -it`, what is typed reaching the shell, its answers coming back,
the window's size following the terminal's, the exit code."""

import fcntl
import json
import os
import select
import struct
import subprocess
import termios
import time

from service_fixtures import DOCKER, service  # noqa: F401 - the fixture


class Terminal:
    """docker's CLI with a pty of the test's own as its controlling terminal."""

    def __init__(self, service, *args, rows=24, cols=80):  # noqa: F811
        self.master, slave = os.openpty()
        self.resize(rows, cols)
        env = {**service.td.env, "DOCKER_HOST": f"unix://{service.sock}", "DOCKER_CONFIG": str(service.config),
               "TERM": "xterm"}

        def controlling():
            fcntl.ioctl(0, termios.TIOCSCTTY, 0)

        self.proc = subprocess.Popen([DOCKER, *args], stdin=slave, stdout=slave, stderr=slave, env=env,
                                     start_new_session=True, preexec_fn=controlling)
        os.close(slave)
        self.seen = b""

    def resize(self, rows: int, cols: int) -> None:
        # the kernel tells the terminal's foreground process (docker's CLI) with SIGWINCH
        fcntl.ioctl(self.master, termios.TIOCSWINSZ, struct.pack("HHHH", rows, cols, 0, 0))

    def type(self, text: str) -> None:
        os.write(self.master, text.encode())

    def read_until(self, wanted: bytes, timeout: float = 30) -> bytes:
        """What the terminal showed, read until `wanted` is among it (waiting on the pty)."""
        deadline = time.monotonic() + timeout
        while wanted not in self.seen:
            left = deadline - time.monotonic()
            if left <= 0 or not self._read(left):
                raise AssertionError(f"{wanted!r} never came; the terminal showed {self.seen!r}")
        return self.seen

    def _read(self, timeout: float) -> bool:
        if not select.select([self.master], [], [], timeout)[0]:
            return False
        try:
            data = os.read(self.master, 65536)
        except OSError:  # EIO: the CLI has gone, its side of the pty closed
            return False
        self.seen += data
        return bool(data)

    def size_reaches(self, rows: int, cols: int) -> None:
        """`stty size` in the container until it says rows and cols: the CLI's resize goes
        with the SIGWINCH it got, and may come after the shell's stty has looked."""
        import re

        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            start = len(self.seen)
            self.type("stty size\r")
            said = None
            while said is None:
                # its answer, or its complaint of a size not set yet (0 0)
                said = re.search(rb"\r\n(\d+) (\d+)\r\n|\r\nstty: [^\r]*\r\n", self.seen[start:])
                if said is None and not self._read(deadline - time.monotonic()):
                    raise AssertionError(f"stty size said nothing: {self.seen!r}")
            if said.groups() == (str(rows).encode(), str(cols).encode()):
                return
        raise AssertionError(f"the size never reached {rows} {cols}: {self.seen!r}")

    def exit_code(self) -> int:
        while self._read(30):  # the CLI's last words, to the end
            pass
        try:
            return self.proc.wait(timeout=60)
        finally:
            os.close(self.master)

    def close(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()
        try:
            os.close(self.master)
        except OSError:
            pass


def _session(term: Terminal) -> int:
    try:
        term.read_until(b"# ")  # the shell's prompt: the terminal is joined both ways
        term.size_reaches(24, 80)
        term.resize(30, 100)
        term.size_reaches(30, 100)
        term.type("echo $((6*7)); exit 5\r")
        term.read_until(b"\r\n42\r\n")
        return term.exit_code()
    finally:
        term.close()


def test_run_it_a_shell_on_a_real_terminal(service):  # noqa: F811
    term = Terminal(service, "run", "-it", "--name", "t1", "--network", "none", "busybox", "sh")
    assert _session(term) == 5
    assert service.out("inspect", "-f", "{{.State.ExitCode}}", "t1") == "5\n"


def test_exec_it_a_shell_on_a_real_terminal(service):  # noqa: F811
    service.out("run", "-d", "--name", "x1", "--network", "none", "busybox", "sleep", "600")
    term = Terminal(service, "exec", "-it", "x1", "sh")
    assert _session(term) == 5
    # the container goes on; the exec's instance is gone once its exit code was read
    assert service.out("inspect", "-f", "{{.State.Running}}", "x1") == "true\n"
    execs = service.td.root / "state" / "execs"
    assert not execs.exists() or os.listdir(execs) == []


def test_resize_reaches_a_detached_container_s_terminal(service):  # noqa: F811
    for name, flags in (("d1", "-dt"), ("d2", "-dit")):  # its PID 1's pty, or its monitor's copy of it
        service.out("run", flags, "--name", name, "--network", "none", "busybox", "sh")
        status, body = service.request("POST", f"/containers/{name}/resize?h=40&w=120")
        assert status == 200, body
        assert service.out("exec", name, "sh", "-c", "stty size < /proc/1/fd/1") == "40 120\n"
    service.out("run", "-d", "--name", "plain", "--network", "none", "busybox", "sleep", "600")
    status, body = service.request("POST", "/containers/plain/resize?h=40&w=120")
    assert status == 400 and b"no terminal" in body
    assert service.request("POST", "/containers/nosuch/resize?h=1&w=1")[0] == 404


def _ws(service, path: str):
    """A WebSocket client (websocket-client, as docker-py's attach_socket(ws=True) uses) on the
    service's unix socket."""
    import socket

    import websocket

    sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    sock.connect(service.sock)
    return websocket.create_connection(f"ws://localhost{path}", socket=sock, timeout=60)


def test_attach_over_a_websocket_carries_input_and_output(service):  # noqa: F811
    import websocket

    cid = service.out("run", "-d", "-i", "--network", "none", "busybox",
                      "sh", "-c", "read line; echo got $line; echo err >&2; read more; echo $more").strip()
    ws = _ws(service, f"/v1.43/containers/{cid}/attach/ws?stream=1&stdin=1&stdout=1&stderr=1")
    ws.send("hello\n")  # a text frame
    opcode, data = ws.recv_data()
    assert (opcode, data) == (websocket.ABNF.OPCODE_BINARY, b"got hello\n")  # 1.42 on: binary frames
    assert ws.recv_data() == (websocket.ABNF.OPCODE_BINARY, b"err\n")  # not multiplexed: the frames part them
    ws.ping(b"still there?")  # answered, and not taken for input
    ws.send_binary(b"bye\n")
    assert ws.recv_data() == (websocket.ABNF.OPCODE_BINARY, b"bye\n")
    # the container has ended: the service closes the WebSocket
    try:
        assert ws.recv_data() == (websocket.ABNF.OPCODE_CLOSE, b"\x03\xe8")
    except websocket.WebSocketConnectionClosedException:
        pass
    ws.close()
    assert service.out("wait", cid) == "0\n"
    service.out("rm", cid)


def test_attach_over_a_websocket_for_an_older_client_sends_text_and_follows_until_it_leaves(service):  # noqa: F811
    import websocket

    from conftest import has_open, wait_for

    cid = service.out("run", "-d", "--network", "none", "busybox",
                      "sh", "-c", "echo one; sleep 600").strip()
    ws = _ws(service, f"/v1.41/containers/{cid}/attach/ws?logs=1&stream=1&stdout=1")
    assert ws.recv_data() == (websocket.ABNF.OPCODE_TEXT, b"one\n")  # logs=1: what was written before
    log = service.td.containers / json.loads(service.out("inspect", cid))[0]["Name"].lstrip("/") / "container.log"
    assert has_open(service.proc.pid, log)
    ws.close()
    wait_for(lambda: not has_open(service.proc.pid, log), what="the service letting go of the log")
    assert service.out("inspect", "-f", "{{.State.Running}}", cid) == "true\n"
    service.out("rm", "-f", cid)
    status, body = service.request("GET", f"/containers/{cid}/attach/ws?stream=1")
    assert status == 404
