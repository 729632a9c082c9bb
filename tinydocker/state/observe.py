"""A record against the truth: a 'running' container whose PID 1 is gone is settled as
exited, by its live monitor (which knows the code) or, failing that, as docker does (255)."""

import time

from . import events
from ..linux import proc
from .record import EXIT_UNKNOWN, EXITED, RUNNING, Record, now


class Observing:
    """The store's observation (a part of state.store.Store)."""

    def observe(self, record: Record) -> Record:
        """The record as it truly stands: a 'running' container whose process is gone is exited.

        If its monitor (the `run` that waits on it) still lives, the monitor is about to
        write the real exit code, so give it a moment; if the monitor is dead too, nobody
        will, and the record is settled here as docker does (exit code 255).
        """
        if record.status != RUNNING:
            return record
        if record.container_alive():
            record.paused = self.cgroup(record).frozen()
            return record
        # A live monitor records the exit as soon as it can, and only it knows the code: on a
        # loaded machine (a hundred containers stopped at once, each finisher queueing
        # for the lock) that took over ten seconds, and settling it as 255
        # meanwhile was a lie. So trust a live monitor for up to two minutes, polling ever
        # more gently so that a hundred waiters do not slow the monitors they wait for; a
        # stopped one (a foreground run suspended with Ctrl-Z) records nothing until resumed.
        # A monitor that failed to record it says so beside the record, and lives on for
        # its other containers: that end is nobody's to record any more.
        deadline, pause = time.monotonic() + 120.0, 0.005
        while (record.monitor_alive() and not proc.is_stopped(record.monitor_pid)
               and time.monotonic() < deadline and self._monitor_error(record) is None):
            time.sleep(pause)
            pause = min(pause * 1.5, 0.1)
            fresh = self.current(record)
            if fresh is None:
                return record
            if fresh.status != RUNNING:
                return fresh
        with self.lock():
            fresh = self.current(record)
            if fresh is None:
                return record
            if fresh.status == RUNNING and fresh.pid == record.pid:
                fresh.status, fresh.exit_code, fresh.finished = EXITED, EXIT_UNKNOWN, now()
                fresh.error = self._monitor_error(fresh)
                self._write(fresh)
                settled = True
            else:
                settled = False
        if settled:  # its monitor died before it could say so
            events.container(self.root, fresh, "die", exitCode=EXIT_UNKNOWN)
        return fresh

    def _monitor_error(self, record: Record) -> str | None:
        """What a monitor that failed to record this start's end left behind, if anything."""
        try:
            pid, _, message = self.monitor_error_path(record.name).read_text().partition("\n")
        except OSError:
            return None
        return message if pid == str(record.pid) else None
