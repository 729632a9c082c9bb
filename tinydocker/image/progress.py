"""Progress of a pull or push, as docker shows it: a line per layer on a terminal."""

from __future__ import annotations

import sys
import threading
import time

def human(n: float) -> str:
    """Bytes as docker shows them: decimal units, one decimal place."""
    for unit in ("B", "kB", "MB", "GB"):
        if n < 1000 or unit == "GB":
            return f"{n:.0f}{unit}" if unit == "B" else f"{n:.1f}{unit}"
        n /= 1000
    return f"{n:.1f}GB"


class Progress:
    """One line per layer on a terminal, rewritten in place as it changes. Off a terminal
    only a layer's last word ("Pushed") is written, and only to `log` if given."""

    def __init__(self, tty=None, log=None):
        self.tty, self.log = tty, log
        self.rows: list[str] = []
        self.last: dict[str, float] = {}
        self.lock = threading.Lock()

    def line(self, key: str, text: str, throttle: bool = False, final: bool = False) -> None:
        if self.tty is None:
            if final and self.log is not None:
                with self.lock:
                    print(text, file=self.log, flush=True)
            return
        now = time.monotonic()
        if throttle and now - self.last.get(key, 0) < 0.1:
            return
        with self.lock:
            self.last[key] = now
            if key not in self.rows:
                self.rows.append(key)
                self.tty.write(text + "\n")
            else:
                up = len(self.rows) - self.rows.index(key)
                # up to the layer's line, clear it, write, and back down below the last one
                self.tty.write(f"\x1b[{up}A\r\x1b[2K{text}\x1b[{up}B\r")
            self.tty.flush()


def progress_for(out, log_final: bool) -> Progress:
    """Progress on stderr if it is a terminal (and the command is not quiet)."""
    if out is None:
        return Progress()
    if out is not sys.stdout and out is not sys.stderr:
        # a caller's own stream (the service's, relaying to a client): each layer's last word
        # goes there, as docker's lines off a terminal, never to this process's terminal
        return Progress(None, out)
    return Progress(sys.stderr if sys.stderr.isatty() else None, out if log_final else None)
