"""Holds and marks on a container's record, each taken under the store's lock and each
naming the process that holds it (pid, start time, boot), so that a killed holder's mark
lapses by itself: a start claiming a stopped container, a commit holding it, an rm
marking it for removal, a restart policy's wait."""

import os
import time

from ..errors import ContainerRunning, NoSuchContainer
from ..linux import proc
from .record import CREATED, EXITED, RUNNING, Record


def _note_promoted(record: Record, diff_id: str) -> None:
    """Under the lock, with the commit's marker cleared in the same write: noted once."""
    record.promoted = list(record.promoted or []) + [diff_id]


class Holds:
    """The store's holds (a part of state.store.Store): what a start, a commit and an rm
    take on a record, and wait for."""

    def claim(self, record: Record, restarting: bool = False) -> Record | None:
        """Take a stopped container for a new start, as its monitor; refused while it runs
        or while another process is starting or stopping it. A start by hand resets the
        restart policy's count; a restart by the policy (restarting=True) counts one more,
        and is None if the user stopped the container meanwhile."""
        me = os.getpid()
        with self.lock():
            current = self.current(record)
            if current is None:
                raise NoSuchContainer(record.name)
            if current.status == RUNNING and (current.container_alive() or current.monitor_alive()):
                raise ContainerRunning(f"container {record.name} is running")
            if current.starting:
                raise ContainerRunning(f"container {record.name} is being started by another command")
            if current.being_removed:
                raise ContainerRunning(f"container {record.name} is marked for removal and cannot be started")
            if restarting and current.stopped_by_user:
                return None
            self._settle_commit(current)
            current.restart_count = current.restart_count + 1 if restarting else 0
            if not restarting:
                current.quick_ends = 0
            current.stopped_by_user = False
            current.status, current.boot_id = CREATED, proc.boot_id()
            current.monitor_pid, current.monitor_ticks = me, proc.start_ticks(me)
            current.pid = current.start_ticks = current.exit_code = current.finished = current.error = None
            current.network = None
            current.oom_killed = False
            current.removing = None  # a killed rm's lapsed mark
            current.restart_wait = None
            self._write(current)
        return current

    def hold_for_commit(self, record: Record) -> Record | None:
        """Hold a stopped container while a commit promotes its upper directory to a layer
        (`start` is refused meanwhile); None if it is running or being started, when the
        commit has to copy its upper instead."""
        me = os.getpid()
        with self.lock():
            current = self.current(record)
            if current is None:
                raise NoSuchContainer(record.name)
            self._settle_commit(current)
            if current.status == RUNNING or current.starting:
                return None
            current.committing = {"pid": me, "ticks": proc.start_ticks(me), "boot_id": proc.boot_id()}
            self._write(current)
        return current

    def note_commit(self, record: Record, **facts) -> Record | None:
        """Add to the commit's marker what recovery needs (the layer, the image, published)."""
        with self.lock():
            current = self.current(record)
            if current is None or not current.committing:
                return None
            current.committing = {**current.committing, **facts}
            self._write(current)
        return current

    def release_commit(self, record: Record, diff_id: str | None) -> None:
        """The promotion onto layer `diff_id` is done, or given up (None). The container
        keeps the image it was made from, as docker's does, and notes the layer: its link
        holds it in the image store (ImageStore.container_layers), so the committed image
        can be removed, and a later commit of the container lists it."""
        with self.lock():
            current = self.current(record)
            if current is None:
                return
            if diff_id:
                _note_promoted(current, diff_id)
            current.committing = None
            self._write(current)

    def _settle_commit(self, current: Record) -> None:
        """Under the lock: refuse while a live commit holds the container; finish what a
        killed one left (its layer may share the upper's files, so the container must not
        run on that upper again) and drop its marker."""
        c = current.committing
        if not c:
            return
        if current.being_committed:
            raise ContainerRunning(f"container {current.name} is being committed by another command")
        layer = c.get("layer")
        if layer and os.path.isdir(layer):
            from . import stack

            stack.promote(self.container_dir(current.name), layer)
            _note_promoted(current, "sha256:" + os.path.basename(layer))
        current.committing = None
        self._write(current)

    def await_restart(self, record: Record, quick_ends: int) -> Record | None:
        """Mark a container whose --restart policy will start it again after a back-off
        as restarting (docker's state), unless the user stopped it; None then."""
        me = os.getpid()
        with self.lock():
            current = self.current(record)
            if current is None or current.status != EXITED or current.stopped_by_user:
                return None
            current.restart_wait = {"pid": me, "ticks": proc.start_ticks(me), "boot_id": proc.boot_id()}
            current.quick_ends = quick_ends
            self._write(current)
        return current

    def hold_for_removal(self, record: Record, force: bool, waits: bool = True) -> tuple[Record, bool] | None:
        """Mark the container as being removed, so that no start takes it from here on
        (a start would make a cgroup that the removal then pulls from under it); and
        whether its PID 1 is alive, for force to kill. A start under way is waited for
        first (it takes milliseconds): rm -f then kills what it started. waits=False
        (prune): None for a container being started, left alone."""
        me = os.getpid()
        deadline = time.monotonic() + 30.0
        while True:
            with self.lock():
                current = self.current(record)
                if current is None:
                    raise NoSuchContainer(record.name)
                if current.starting and not waits:
                    return None
                if not current.starting or time.monotonic() > deadline:
                    alive = current.status == RUNNING and current.container_alive()
                    if current.state == "restarting" and not force:
                        raise ContainerRunning(
                            f"You cannot remove a restarting container {current.id}. "
                            "Stop the container before attempting removal or force remove")
                    if alive and not force:
                        raise ContainerRunning(
                            f'cannot remove container "/{current.name}": container is running: '
                            "stop the container before removing or force remove")
                    current.removing = {"pid": me, "ticks": proc.start_ticks(me), "boot_id": proc.boot_id()}
                    self._write(current)
                    if alive:  # a frozen PID 1 acts on no SIGKILL until thawed: the killer must know
                        current.paused = self.cgroup(current).frozen()
                    return current, alive
            time.sleep(0.01)
