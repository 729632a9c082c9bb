"""linux/files.py: the one way a file is replaced."""

import os
import stat

import pytest

from tinydocker.linux.files import replacing, write_atomic


def test_a_file_is_replaced_whole_with_its_mode_and_nothing_beside_it(tmp_path):
    path = tmp_path / "record.toml"
    path.write_bytes(b"old")
    write_atomic(path, b"new" * 100000, mode=0o640)
    assert path.read_bytes() == b"new" * 100000
    assert stat.S_IMODE(path.stat().st_mode) == 0o640
    assert os.listdir(tmp_path) == ["record.toml"]


def test_a_symlink_at_the_target_is_replaced_not_followed(tmp_path):
    victim = tmp_path / "victim"
    victim.write_bytes(b"precious")
    (tmp_path / "out").symlink_to(victim)
    write_atomic(tmp_path / "out", b"data")
    assert victim.read_bytes() == b"precious"
    assert not (tmp_path / "out").is_symlink() and (tmp_path / "out").read_bytes() == b"data"


def test_a_failure_leaves_the_old_file_and_no_temporary(tmp_path):
    path = tmp_path / "archive.tar"
    path.write_bytes(b"old")
    with pytest.raises(RuntimeError):
        with replacing(path) as fd:
            os.write(fd, b"half")
            raise RuntimeError("killed midway")
    assert path.read_bytes() == b"old" and os.listdir(tmp_path) == ["archive.tar"]


def test_the_temporary_is_named_for_its_process_so_a_sweep_can_tell(tmp_path):
    seen = []
    with replacing(tmp_path / "records.cache") as fd:
        seen = [n for n in os.listdir(tmp_path)]
        os.write(fd, b"x")
    from tinydocker.linux.proc import start_ticks

    assert len(seen) == 1 and seen[0].startswith(f".records.cache-{os.getpid()}-{start_ticks(os.getpid())}-")
