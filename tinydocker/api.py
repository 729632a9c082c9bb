"""The Python API: what the CLI calls and what scripts import.

    import tinydocker
    code = tinydocker.run("c1", ["/bin/echo", "hi"])
    done = tinydocker.run("c2", ["/bin/echo", "hi"], capture_output=True, remove=True)
    done.exit_code, done.stdout          # 0, b"hi\\n"
    [c.name for c in tinydocker.ps(all=True)]
    tinydocker.remove("c1")
    tinydocker.run("c3", ["/bin/sh"], memory="64m", cpus=0.5, pids_limit=50)
    tinydocker.stats(["c3"])             # [{"name": "c3", "cpu_percent": ..., "memory": ...}]

Every function takes `root=` (a data root directory); the default is resolved as the
CLI does (TINYDOCKER_ROOT, the source checkout, /var/lib/tinydocker). Errors are raised
as TinydockerError, whose `code` is the exit status the CLI uses.
"""

import os
import time
from collections.abc import Sequence

from . import paths
from .errors import ContainerRunning, TinydockerError
from .spec import DEFAULT_IMAGE, ContainerSpec


def run(name: str, command: Sequence[str] | None = None, *, image: str = DEFAULT_IMAGE,
        env: Sequence[str] = (), workdir: str = "/", hostname: str | None = None,
        interactive: bool = False, tty: bool = False, remove: bool = False,
        capture_output: bool = False, input: bytes | None = None,
        memory: str | int | None = None, memory_swap: str | int | None = None,
        cpus: str | float | None = None, cpu_shares: int | None = None,
        cpuset_cpus: str | None = None, cpuset_mems: str | None = None,
        pids_limit: int | None = None, root=None):
    """Run COMMAND in a new container NAME and wait for it.

    Returns the exit code; with capture_output=True a Completed(exit_code, stdout, stderr).
    `input` (bytes) is fed to the container's stdin. The limits take docker's values:
    memory="64m", memory_swap="128m" or -1, cpus=1.5, cpu_shares=512, cpuset_cpus="0-1",
    cpuset_mems="0", pids_limit=100.
    """
    from . import limits
    from .runtime import run as realise

    spec = ContainerSpec(name=name, argv=list(command or []), image=image, env=list(env),
                         workdir=workdir, hostname=hostname or "", interactive=interactive,
                         tty=tty, remove=remove,
                         limits=limits.build(memory=memory, memory_swap=memory_swap, cpus=cpus,
                                             cpu_shares=cpu_shares, cpuset_cpus=cpuset_cpus,
                                             cpuset_mems=cpuset_mems, pids_limit=pids_limit))
    return realise(spec, paths.resolve(root), capture_output=capture_output, input=input)


def ps(all: bool = False, root=None):
    """Containers as they truly stand (running ones only unless all=True), newest first."""
    from .state import RUNNING, Store

    store = Store(paths.resolve(root))
    records = [store.observe(r) for r in store.all()]
    records.sort(key=lambda r: r.created, reverse=True)
    return [r for r in records if all or r.status == RUNNING]


def inspect(ref: str, root=None):
    from .state import Store

    store = Store(paths.resolve(root))
    return store.observe(store.lookup(ref))


def remove(ref: str, force: bool = False, root=None) -> None:
    """Remove a container by name or id prefix; a running one only with force (it is killed)."""
    from .state import RUNNING, Store

    store = Store(paths.resolve(root))
    store.sweep()
    record = store.observe(store.lookup(ref))
    if record.status == RUNNING:
        if not force:
            raise ContainerRunning(
                f'cannot remove container "/{record.name}": container is running: '
                "stop the container before removing or force remove")
        _kill(record)
    _discard(store, record)


def _discard(store, record) -> None:
    """Cgroup first, record last: a removal killed midway leaves a record that `rm` can retry."""
    from .cgroups import open_cgroup

    open_cgroup(record.id).remove()
    store.remove(record)


def _kill(record) -> None:
    """SIGKILL the container's PID 1 (the kernel then ends the rest of its PID namespace)."""
    import signal

    if record.container_alive():
        try:
            os.kill(record.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
    deadline = time.monotonic() + 10
    while record.container_alive():
        if time.monotonic() > deadline:
            raise TinydockerError(f"container {record.name} (pid {record.pid}) did not die after SIGKILL")
        time.sleep(0.005)


def stats(refs: Sequence[str] = (), all: bool = False, interval: float = 0.5, root=None) -> list[dict]:
    """One reading of each container's cgroup, like `docker stats --no-stream`.

    CPU % is the CPU time the container used over `interval` seconds, per wall-clock time
    (100% is one CPU busy). Without refs: the running containers (all of them with all=True).
    Each dict: id, name, running, cpu_percent, memory, memory_limit, memory_percent, pids;
    a value is None where the container is not running or the controller is absent.
    """
    from .cgroups import layout, open_cgroup
    from .state import RUNNING, Store

    store = Store(paths.resolve(root))
    if refs:
        records = [store.observe(store.lookup(ref)) for ref in refs]
    else:
        records = ps(all=all, root=root)
    where = layout()
    groups = {r.id: open_cgroup(r.id, where) for r in records if r.status == RUNNING}
    before = {cid: g.usage() for cid, g in groups.items()}
    start = time.monotonic()
    if groups:
        time.sleep(interval)
    after = {cid: g.usage() for cid, g in groups.items()}
    elapsed_ns = (time.monotonic() - start) * 1e9
    host_memory = _host_memory()
    out = []
    for r in records:
        row = {"id": r.id, "name": r.name, "running": r.id in groups, "cpu_percent": None,
               "memory": None, "memory_limit": None, "memory_percent": None, "pids": None}
        if r.id in groups:
            now, then = after[r.id], before[r.id]
            if now.cpu_ns is not None and then.cpu_ns is not None and elapsed_ns > 0:
                row["cpu_percent"] = max(0.0, (now.cpu_ns - then.cpu_ns) / elapsed_ns * 100)
            limit = min(now.memory_limit or host_memory, host_memory)  # docker shows the host's when unlimited
            row.update(memory=now.memory, memory_limit=limit, pids=now.pids)
            if now.memory is not None:
                row["memory_percent"] = now.memory / limit * 100
        out.append(row)
    return out


def _host_memory() -> int:
    with open("/proc/meminfo") as f:
        for line in f:
            if line.startswith("MemTotal:"):
                return int(line.split()[1]) * 1024
    return 0


def inspect_all(refs: Sequence[str], root=None) -> tuple[list[dict], list[str]]:
    """docker inspect's documents for the containers found, and the refs not found."""
    from .display import inspect_doc
    from .errors import NoSuchContainer
    from .state import Store

    root = paths.resolve(root)
    store = Store(root)
    docs, missing = [], []
    for ref in refs:
        try:
            docs.append(inspect_doc(store.observe(store.lookup(ref)), store))
        except NoSuchContainer:
            missing.append(ref)
    return docs, missing


def prune(root=None) -> dict:
    """Remove every stopped container, then what killed tinydocker processes left behind:
    half-deleted containers and images, and empty container cgroups nobody owns any more.
    Returns {"containers": [ids], "cgroups": [ids], "reclaimed": bytes}."""
    from . import cgroups
    from .images import ImageStore
    from .state import CREATED, RUNNING, Store

    root = paths.resolve(root)
    store = Store(root)
    store.sweep()
    ImageStore(root).sweep()
    removed, reclaimed = [], 0
    for record in (store.observe(r) for r in store.all()):
        if record.status == RUNNING or (record.status == CREATED and record.monitor_alive()):
            continue  # running, or still being started by a live `run`
        size = _disk_usage(store.container_dir(record.name) / "upper")
        try:
            _discard(store, record)
        except TinydockerError:
            continue  # its cgroup will not go yet; the record stays for a later prune
        removed.append(record.id)
        reclaimed += size
    orphans = cgroups.orphans()
    for cid in orphans:
        try:
            cgroups.open_cgroup(cid).remove()
        except TinydockerError:
            pass
    return {"containers": removed, "cgroups": orphans, "reclaimed": reclaimed}


def _disk_usage(path) -> int:
    total = 0
    for dirpath, dirnames, filenames in os.walk(path):
        for name in dirnames + filenames:
            try:
                total += os.lstat(os.path.join(dirpath, name)).st_blocks * 512
            except OSError:
                pass
    return total


def images(root=None) -> list[dict]:
    from .images import ImageStore

    return ImageStore(paths.resolve(root)).all()


def build_image(name: str = DEFAULT_IMAGE, root=None) -> None:
    from .images import ImageStore

    ImageStore(paths.resolve(root)).build(name)


def import_image(tarball: str, name: str, root=None) -> None:
    from .images import ImageStore

    ImageStore(paths.resolve(root)).import_tar(tarball, name)


def remove_image(name: str, root=None) -> None:
    from .images import ImageStore
    from .state import Store

    root = paths.resolve(root)
    users = [r.name for r in Store(root).all() if r.image == name]
    ImageStore(root).remove(name, users)


def info(root=None) -> dict:
    from .features import probe

    return {"root": str(paths.resolve(root).root), **probe()}
