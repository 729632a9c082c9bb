"""The runtime's log, as runc keeps it: `--log FILE` (stderr without it), `--log-format text`
(logrus' `time=… level=… msg=…`) or `json` (one `{"level","msg","time"}` object a line: what
containerd's shim and conmon read back, the last error line being the failure they report).

An error also goes to stderr as one plain line when the log is a file, so that whoever ran
the command sees it; with no --log the log itself is stderr, and a human at a terminal (text
format) reads `tinydocker-runtime: message`.
"""

import os
import sys
import time

PROGRAM = "tinydocker-runtime"


class Log:
    def __init__(self, path: str | None = None, form: str = "text", debug: bool = False):
        self.path, self.form, self.debugging = path, form, debug
        self._fd: int | None = None

    def error(self, message: str) -> None:
        self._write("error", message)
        if self.path:
            print(f"{PROGRAM}: {message}", file=sys.stderr, flush=True)

    def warning(self, message: str) -> None:
        self._write("warning", message)

    def debug(self, message: str) -> None:
        if self.debugging:
            self._write("debug", message)

    def _line(self, level: str, message: str) -> str:
        stamp = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
        if self.form == "json":
            import json

            return json.dumps({"level": level, "msg": message, "time": stamp}, separators=(",", ":")) + "\n"
        if not self.path:  # a terminal's reader
            return f"{PROGRAM}: {message}\n" if level == "error" else f"{PROGRAM}: {level}: {message}\n"
        quoted = message.replace("\\", "\\\\").replace('"', '\\"')
        return f'time="{stamp}" level={level} msg="{quoted}"\n'

    def _write(self, level: str, message: str) -> None:
        line = self._line(level, message).encode()
        if not self.path:
            sys.stderr.flush()
            os.write(2, line)
            return
        try:
            if self._fd is None:
                # opened on first use: a verb that logs nothing never touches the file. The caller
                # names it (containerd makes it beforehand), so it is appended to, not replaced.
                self._fd = os.open(self.path, os.O_WRONLY | os.O_APPEND | os.O_CREAT | os.O_CLOEXEC, 0o600)
            os.write(self._fd, line)
        except OSError as e:  # the failure must still be told somewhere
            os.write(2, f"{PROGRAM}: cannot write the log {self.path}: {e.strerror}\n".encode())
            os.write(2, line)
