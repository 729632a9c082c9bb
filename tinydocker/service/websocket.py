"""The WebSocket protocol (RFC 6455), as much of it as /containers/{id}/attach/ws needs: the
handshake's answer, and a connection that frames what is sent and unframes what is read, so
that attach's code uses it as it uses a hijacked socket (sendall, recv, shutdown)."""

from __future__ import annotations

import base64
import hashlib
import socket
import struct
import threading

_GUID = b"258EAFA5-E914-47DA-95CA-C5AB0DC85B11"  # the RFC's, fixed: proves the server read the key
CONTINUATION, TEXT, BINARY, CLOSE, PING, PONG = 0x0, 0x1, 0x2, 0x8, 0x9, 0xA
_MOST = 1 << 20  # a client's frame larger than this is refused (attach's input comes in small pieces)


def accept_key(key: str) -> str:
    return base64.b64encode(hashlib.sha1(key.strip().encode() + _GUID).digest()).decode()


class WebSocket:
    """A server's end of an upgraded connection. Output goes in frames of `opcode` (binary,
    or text for clients of API < 1.42, as dockerd); input is the payload of the client's
    data frames; a ping is answered, a close is answered and ends the input."""

    def __init__(self, sock: socket.socket, opcode: int = BINARY):
        self.sock, self.opcode = sock, opcode
        self._sending = threading.Lock()  # output and a pong may be sent from two threads
        self._pending = b""               # a data frame's payload not yet returned by recv
        self._closed = False

    def _send(self, opcode: int, payload: bytes) -> None:
        n = len(payload)
        if n < 126:
            head = struct.pack("!BB", 0x80 | opcode, n)
        elif n < 1 << 16:
            head = struct.pack("!BBH", 0x80 | opcode, 126, n)
        else:
            head = struct.pack("!BBQ", 0x80 | opcode, 127, n)
        with self._sending:
            self.sock.sendall(head + payload)

    def sendall(self, data: bytes) -> None:
        self._send(self.opcode, data)

    def _exactly(self, n: int) -> bytes | None:
        data = b""
        while len(data) < n:
            more = self.sock.recv(n - len(data))
            if not more:
                return None
            data += more
        return data

    def recv(self, limit: int) -> bytes:
        """Up to `limit` bytes of the client's data; b"" once it has closed (or broken the protocol)."""
        while not self._pending:
            if self._closed:
                return b""
            payload = self._frame()
            if payload is None:
                self._closed = True
                return b""
            self._pending = payload
        data, self._pending = self._pending[:limit], self._pending[limit:]
        return data

    def _frame(self) -> bytes | None:
        """The next data frame's payload (control frames dealt with on the way); None at the end."""
        while True:
            head = self._exactly(2)
            if head is None:
                return None
            opcode, masked, n = head[0] & 0x0F, head[1] & 0x80, head[1] & 0x7F
            if n == 126:
                n = struct.unpack("!H", self._exactly(2) or b"\0\0")[0]
            elif n == 127:
                n = struct.unpack("!Q", self._exactly(8) or b"\0" * 8)[0]
            if not masked or n > _MOST:  # the RFC: a client masks every frame
                self._close(1002 if not masked else 1009)
                return None
            mask = self._exactly(4)
            payload = self._exactly(n) if n else b""
            if mask is None or payload is None:
                return None
            if n:
                key = (mask * (n // 4 + 1))[:n]
                payload = (int.from_bytes(payload, "big") ^ int.from_bytes(key, "big")).to_bytes(n, "big")
            if opcode == CLOSE:
                self._close(1000)
                return None
            if opcode == PING:
                self._send(PONG, payload)
            elif opcode in (TEXT, BINARY, CONTINUATION) and payload:
                return payload

    def _close(self, code: int) -> None:
        try:
            self._send(CLOSE, struct.pack("!H", code))
        except OSError:
            pass

    def shutdown(self, how: int) -> None:
        """The closing handshake: our close frame, then the client's is awaited (a moment
        at most) before the connection goes; closed at once, the client's answering close
        frame met a closed socket."""
        import select
        import time

        self._close(1000)
        try:
            self.sock.shutdown(socket.SHUT_WR)
        except OSError:
            return
        deadline = time.monotonic() + 1.0
        while (left := deadline - time.monotonic()) > 0:
            if not select.select([self.sock], [], [], left)[0]:
                break
            try:
                if not self.sock.recv(4096, socket.MSG_DONTWAIT):
                    break  # the client has closed its end
            except BlockingIOError:
                continue  # the input's reader took it
            except OSError:
                break
