"""The one liveness rule (linux/proc.py): a process is its pid and its start time, so work
in progress named by private_name is swept only once its own process is gone."""

import os
import subprocess

from tinydocker.linux import proc


def test_work_in_progress_is_swept_only_when_its_process_is_gone(tmp_path):
    mine = proc.private_name(".trash", "c1")
    ticks = proc.start_ticks(os.getpid())
    assert mine.startswith(f".trash-{os.getpid()}-{ticks}-c1-")
    dead = subprocess.Popen(["true"])
    dead.wait()
    names = {
        mine: True,                                            # ours: kept while we live
        f".trash-{os.getpid()}-{ticks + 1}-x": False,          # our pid, another start: a reused pid
        f".trash-{dead.pid}-{ticks}-y": False,                 # a process gone
        f".trash-{dead.pid}-old": False,                       # an older tinydocker's name
        ".trashy-1-2-z": True,                                 # not ours to judge
    }
    for name in names:
        (tmp_path / name).mkdir()
        (tmp_path / name / "f").write_text("x")
    (tmp_path / f".trash-{dead.pid}-{ticks}-file").write_text("a file too")
    proc.remove_abandoned(tmp_path, ".trash")
    assert sorted(os.listdir(tmp_path)) == sorted(n for n, kept in names.items() if kept)
