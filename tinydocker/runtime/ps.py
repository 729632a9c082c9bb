"""`ps [--format table|json] ID [PS-OPTIONS...]`: the processes of a container's cgroup, as
runc's. json is the list of their pids (host pids; `null` when there is none, as runc's
Go encoder prints an empty list); table runs the host's ps(1) with the options (default
-ef) and keeps its header and the lines whose PID column is one of them (podman's `top`
reads this)."""

import json
import os

from . import cgroups
from .state import RuntimeError_, Store


def pids(store: Store, container_id: str) -> list[int]:
    """The pids in the container's cgroups: none once it has stopped (its directory stays
    until delete, empty)."""
    with store.open(container_id) as locked:
        state = locked.read()
        if state is None:
            return []
        return cgroups.pids([leaf for leaf in state.leaves if os.path.isdir(leaf)])


def as_json(found: list[int]) -> str:
    return (json.dumps(found, separators=(",", ":")) if found else "null") + "\n"


def table(found: list[int], options: list[str]) -> str:
    import subprocess

    options = options or ["-ef"]
    try:
        done = subprocess.run(["ps", *options], stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                              stderr=subprocess.STDOUT)
    except OSError as e:
        raise RuntimeError_(f"cannot run ps: {e.strerror}") from None
    output = done.stdout.decode(errors="replace")
    if done.returncode:
        said = output.strip().splitlines()
        raise RuntimeError_(f"ps {' '.join(options)} failed (exit status {done.returncode})"
                            + (f": {said[0]}" if said else ""))
    lines = output.split("\n")
    titles = lines[0].split()
    if "PID" not in titles:
        raise RuntimeError_("couldn't find PID field in ps output")
    column = titles.index("PID")
    wanted = set(found)
    kept = [lines[0]]
    for line in lines[1:]:
        fields = line.split()
        if not fields:
            continue
        try:
            pid = int(fields[column])
        except (IndexError, ValueError):
            raise RuntimeError_(f"unable to parse pid in ps output: {line.strip()}") from None
        if pid in wanted:
            kept.append(line)
    return "".join(line + "\n" for line in kept)
