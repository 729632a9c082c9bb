"""The data root's store lock (state/lock.py): never follows or truncates, re-entrant in a
thread, exclusive between threads and processes, and let go of by a fork's copy."""

import errno
import fcntl
import os
import threading

import pytest

from tinydocker.state.lock import Flock


def _held_elsewhere(path) -> bool:
    fd = os.open(path, os.O_RDONLY)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        return False
    except BlockingIOError:
        return True
    finally:
        os.close(fd)


def test_a_planted_symlink_is_neither_followed_nor_truncated(tmp_path):
    victim = tmp_path / "victim"
    victim.write_bytes(b"precious")
    (tmp_path / ".lock").symlink_to(victim)
    with pytest.raises(OSError) as e:
        Flock(tmp_path / ".lock").acquire()
    assert e.value.errno == errno.ELOOP
    assert victim.read_bytes() == b"precious"


def test_an_existing_lock_file_keeps_its_content(tmp_path):
    path = tmp_path / ".lock"
    path.write_bytes(b"kept")
    with Flock(path):
        assert _held_elsewhere(path)
    assert path.read_bytes() == b"kept" and not _held_elsewhere(path)


def test_re_entrant_in_a_thread_and_exclusive_between_threads(tmp_path):
    lock, order = Flock(tmp_path / ".lock"), []
    with lock:
        with lock:
            worker = threading.Thread(target=lambda: (lock.acquire(), order.append("worker"), lock.release()))
            worker.start()
            worker.join(0.2)
            assert worker.is_alive() and order == []
        assert _held_elsewhere(tmp_path / ".lock")  # still held: one level is left
        order.append("main")
    worker.join(10)
    assert order == ["main", "worker"]


def test_a_fork_made_while_it_was_held_does_not_keep_it(tmp_path):
    lock = Flock(tmp_path / ".lock")
    lock.acquire()
    r, w = os.pipe()
    child = os.fork()
    if child == 0:
        os.read(r, 1)  # holds a copy of the lock's descriptor until told to go
        os._exit(0)
    try:
        lock.release()
        assert not _held_elsewhere(tmp_path / ".lock")
    finally:
        os.write(w, b"x")
        os.waitpid(child, 0)
