"""Container handles: what `run(..., detach=True)` returns to a script.

A Container is the container's id (a str, as run returned before, so old callers keep
working) with the calls a script makes on it:

    with tinydocker.run("job", ["sh", "-c", "echo out; echo err >&2"], detach=True) as c:
        for stream, data in c.stream():      # ("stdout", b"out\\n"), ("stderr", b"err\\n")
            ...
        code = c.wait(timeout=30, kill=True)
    # leaving the block drains its output, and removes it

The handle holds nothing but the id, the name and the data root: every call reads the
container's record, so a handle is good in any thread, and after a fork.
"""

from __future__ import annotations

import time

from ..errors import TinydockerError


class WaitTimeout(TinydockerError):
    """wait(timeout=...) ran out while the container still ran (and kill was not asked)."""

    code = 1


class Container(str):
    def __new__(cls, container_id: str, name: str, root=None):
        self = super().__new__(cls, container_id)
        self.id, self.name, self.root = container_id, name, root
        return self

    def __repr__(self) -> str:
        return f"Container({self.name!r}, id={self.id[:12]!r})"

    # -- reading ------------------------------------------------------------------------

    def record(self):
        """The container's record as it truly stands (status, exit_code, pid…)."""
        from .containers import _find

        return _find(self.id, self.root)[1]

    @property
    def status(self) -> str:
        return self.record().state

    def stream(self, stdout: bool = True, stderr: bool = True, follow: bool = True):
        """Its output as (stream, bytes) pairs, in the order it came, from its start, while
        it runs (follow=False: what there is now)."""
        from .observe import logs

        for stream, data in logs(self.id, follow=follow, root=self.root):
            if (stream == "stdout" and stdout) or (stream == "stderr" and stderr):
                yield stream, data

    def output(self) -> tuple[bytes, bytes]:
        """Its whole output once it has ended: (stdout, stderr)."""
        out: dict[str, list[bytes]] = {"stdout": [], "stderr": []}
        for stream, data in self.stream():
            out[stream].append(data)
        return b"".join(out["stdout"]), b"".join(out["stderr"])

    # -- its end ------------------------------------------------------------------------

    def wait(self, timeout: float | None = None, kill: bool = False) -> int:
        """Its exit code once it has ended. With `timeout` (seconds): WaitTimeout if it still
        runs by then, or with kill=True it is killed and its code (137) returned."""
        from ..state.record import RUNNING
        from .containers import kill as kill_it

        deadline = None if timeout is None else time.monotonic() + timeout
        pause = 0.01
        while True:
            record = self.record()
            if record.status != RUNNING and not record.starting:
                return record.exit_code if record.exit_code is not None else 0
            if deadline is not None and time.monotonic() >= deadline:
                if not kill:
                    raise WaitTimeout(f"container {self.name} still runs after {timeout} s")
                kill_it(self.id, root=self.root)
                deadline = None  # now wait for the kill to be recorded
            time.sleep(pause)
            pause = min(pause * 1.5, 0.1)

    def stop(self, timeout: float | None = None) -> None:
        from .containers import stop

        stop(self.id, timeout=timeout, root=self.root)

    def kill(self, signal: str | int = "KILL") -> None:
        from .containers import kill

        kill(self.id, signal=signal, root=self.root)

    def remove(self, force: bool = False) -> None:
        from .containers import remove

        remove(self.id, force=force, root=self.root)

    # -- in it --------------------------------------------------------------------------

    def exec(self, command, **options):
        """exec() in it: a Completed (exit_code, stdout, stderr) unless capture_output=False."""
        from .containers import exec as exec_in

        options.setdefault("capture_output", True)
        return exec_in(self.id, command, root=self.root, **options)

    def copy_in(self, source: str, dest: str) -> None:
        """The host's `source` (a file or directory) to `dest` in the container."""
        from .files import cp

        cp(source, f"{self.id}:{dest}", root=self.root)

    def copy_out(self, source: str, dest: str) -> None:
        """The container's `source` to the host's `dest`."""
        from .files import cp

        cp(f"{self.id}:{source}", dest, root=self.root)

    # -- with ---------------------------------------------------------------------------

    def __enter__(self) -> "Container":
        return self

    def __exit__(self, kind, value, tb) -> None:
        """Its output drained (it has ended), then it goes; on an error in the block it is
        killed first."""
        try:
            if kind is not None:
                self.remove(force=True)
                return
            self.wait()
            self.remove(force=True)
        except TinydockerError:
            if kind is None:
                raise
