"""The API for looking at containers: ps, inspect, top, stats, logs and sizes."""

from collections.abc import Sequence
import os
import time

from ..errors import NotRunning, Refused, TinydockerError
from .containers import _find, _store


def ps(all: bool = False, filters: Sequence[str] = (), last: int = -1, root=None):
    """Containers as they truly stand, newest first: the running ones, or all with all=True
    or a status or exited filter (as docker: a name filter alone finds running ones);
    filters as docker's --filter ("status=exited", "label=k=v", "name=web",
    "id=", "exited=0", "ancestor=IMAGE", "before=C", "since=C", "network=N", "volume=V");
    last=N the N newest (of every state, as docker's --last)."""
    from ..state.record import RUNNING
    from .filters import ContainerFilter

    store = _store(root)
    wanted = ContainerFilter(filters, store)
    records = sorted(store.all(), key=lambda r: r.created, reverse=True)
    if last >= 0:
        records, all = records[:last], True
    records = [store.observe(r) for r in records]
    every = all or wanted.asks("status") or wanted.asks("exited")
    # a container in its restart policy's back-off counts as running, as docker lists it
    return [r for r in records if (every or r.status == RUNNING or r.state == "restarting") and wanted.matches(r)]


def sizes(records, root=None) -> dict[str, tuple[int, int]]:
    """docker ps --size: each container's (bytes its upper layer holds, plus its image's)."""
    from ..image.store import ImageStore

    store = _store(root)
    index = ImageStore(store.root).index()
    found = {}
    for r in records:
        own = store.written(r)
        image = index.find(r.image_id) if r.image_id else None
        found[r.id] = (own, own + (index.size(image) if image else 0))
    return found


def health_states(records, root=None) -> dict[str, str]:
    """docker ps's health of the running containers among `records` that have a check:
    {id: "starting" | "healthy" | "unhealthy"} (inspect()'s State.Health has the rest)."""
    checked = [r for r in records if r.status == "running" and r.spec.get("healthcheck")]
    if not checked:
        return {}  # without importing the module
    from ..container.health import state

    store = _store(root)
    return {r.id: found["Status"] for r in checked if (found := state(store, r))}


def inspect(ref: str, root=None):
    return _find(ref, root)[1]


def inspect_all(refs: Sequence[str], root=None) -> tuple[list[dict], list[str]]:
    """docker inspect's documents for the containers found, and the refs not found."""
    from ..errors import NoSuchContainer
    from .inspect import inspect_doc

    store = _store(root)
    docs, missing = [], []
    for ref in refs:
        try:
            docs.append(inspect_doc(store.observe(store.lookup(ref)), store))
        except NoSuchContainer:
            missing.append(ref)
    return docs, missing


def top(ref: str, ps_args: Sequence[str] = (), root=None) -> tuple[list[str], list[list[str]]]:
    """The container's processes as the host's `ps ps_args` (default -ef) shows them:
    (column titles, rows), as docker's top."""
    import subprocess

    from ..state.record import RUNNING

    store, record = _find(ref, root)
    if record.status != RUNNING:
        raise NotRunning(record.name)
    cgroup = store.cgroup(record)
    if cgroup.version == "none":
        # no cgroup of its own (an ordinary user's, undelegated): its init and what is below it
        from ..linux.proc import descendants

        pids = set(descendants(record.pid))
    else:
        pids = set(cgroup.pids())
    try:
        done = subprocess.run(["ps", *(ps_args or ["-ef"])], capture_output=True, text=True)
    except FileNotFoundError:
        raise TinydockerError("top needs the host's ps (Debian's procps)") from None
    if done.returncode != 0:
        raise TinydockerError(f"ps {' '.join(ps_args)} failed: {' '.join(done.stderr.split())}", code=1)
    lines = done.stdout.splitlines()
    titles = lines[0].split() if lines else []
    if "PID" not in titles:
        raise TinydockerError(f"ps {' '.join(ps_args)}: no PID column in its output", code=1)
    at, last = titles.index("PID"), len(titles) - 1
    rows = []
    for line in lines[1:]:
        fields = line.split(None, last)  # the last column (the command) keeps its spaces
        if len(fields) > at and fields[at].isdigit() and int(fields[at]) in pids:
            rows.append(fields)
    return titles, rows


def stats(refs: Sequence[str] = (), all: bool = False, interval: float = 0.5, root=None) -> list[dict]:
    """One reading of each container's cgroup, like `docker stats --no-stream`.

    CPU % is the CPU time the container used over `interval` seconds, per wall-clock time
    (100% is one CPU busy). Without refs: the running containers (all of them with all=True).
    Each dict: id, name, running, cpu_percent, memory, memory_limit, memory_percent, pids;
    a value is None where the container is not running or the controller is absent. The
    readings themselves too, for docker's stats document: cpu_ns and precpu_ns (the
    container's CPU time at the end and the start of the interval), system_ns and
    presystem_ns (the host's, all CPUs, from /proc/stat), online_cpus; networks, each of
    the container's interfaces but lo with its rx_/tx_ bytes, packets, errors, dropped.
    """
    from ..state.record import RUNNING

    store = _store(root)
    if refs:
        records = [store.observe(store.lookup(ref)) for ref in refs]
    else:
        records = ps(all=all, root=root)
    groups = {r.id: store.cgroup(r) for r in records if r.status == RUNNING}
    before = {cid: g.usage() for cid, g in groups.items()}
    presystem = _host_cpu_ns()
    start = time.monotonic()
    if groups:
        time.sleep(interval)
    after = {cid: g.usage() for cid, g in groups.items()}
    system = _host_cpu_ns()
    elapsed_ns = (time.monotonic() - start) * 1e9
    host_memory = _host_memory()
    out = []
    for r in records:
        row = {"id": r.id, "name": r.name, "running": r.id in groups, "cpu_percent": None,
               "memory": None, "memory_limit": None, "memory_percent": None, "pids": None,
               "cpu_ns": None, "precpu_ns": None, "system_ns": system, "presystem_ns": presystem,
               "online_cpus": os.cpu_count() or 1, "networks": {}}
        if r.id in groups:
            now, then = after[r.id], before[r.id]
            row.update(cpu_ns=now.cpu_ns, precpu_ns=then.cpu_ns, networks=_networks(r.pid))
            if now.cpu_ns is not None and then.cpu_ns is not None and elapsed_ns > 0:
                row["cpu_percent"] = max(0.0, (now.cpu_ns - then.cpu_ns) / elapsed_ns * 100)
            limit = min(now.memory_limit or host_memory, host_memory)  # docker shows the host's when unlimited
            row.update(memory=now.memory, memory_limit=limit, pids=now.pids)
            if now.memory is not None:
                row["memory_percent"] = now.memory / limit * 100
        out.append(row)
    return out


def _networks(pid) -> dict:
    """/proc/PID/net/dev of the container's PID 1 (its network namespace's), lo left out."""
    names = ("bytes", "packets", "errors", "dropped")
    found = {}
    try:
        with open(f"/proc/{pid}/net/dev") as f:
            lines = f.read().splitlines()[2:]
    except (OSError, TypeError):
        return found
    for line in lines:
        name, _, counts = line.partition(":")
        values = [int(v) for v in counts.split()]
        if name.strip() == "lo" or len(values) < 12:
            continue
        found[name.strip()] = {**{f"rx_{n}": values[i] for i, n in enumerate(names)},
                               **{f"tx_{n}": values[8 + i] for i, n in enumerate(names)}}
    return found


def _host_cpu_ns() -> int:
    """The host's CPU time so far, every CPU's (/proc/stat's first line, in ns), as docker's
    system_cpu_usage."""
    with open("/proc/stat") as f:
        fields = f.readline().split()[1:8]  # user nice system idle iowait irq softirq
    return sum(int(v) for v in fields) * (1_000_000_000 // os.sysconf("SC_CLK_TCK"))


def _host_memory() -> int:
    with open("/proc/meminfo") as f:
        for line in f:
            if line.startswith("MemTotal:"):
                return int(line.split()[1]) * 1024
    return 0


def logs(ref: str, follow: bool = False, tail: int | None = None, timestamps: bool = False,
         since: str | None = None, until: str | None = None, details: bool = False, root=None, stop=None):
    """The container's output as (stream, bytes) pairs, stream being 'stdout' or 'stderr',
    whether it ran attached or detached; follow=True goes on until the container stops.
    since/until as docker's (a Unix time, an RFC 3339 date, or a duration ago: "10m");
    details=True puts the --log-opt labels=/env= values before each line, as docker does;
    stop(), polled while following, ends the follow when true (a reader that has gone)."""
    from ..container.logs import read
    from .times import moment

    store = _store(root)
    record = store.lookup(ref)
    # the recorded spec's field, not a ContainerSpec: that checks every flag again (and
    # imports what checks them), which only --details needs
    if record.spec.get("log_driver") == "none":
        raise Refused("configured logging driver does not support reading")
    now = time.time_ns()
    yield from read(store, record, follow=follow, tail=tail, timestamps=timestamps,
                    since=moment(since, "--since", now) if since else None,
                    until=moment(until, "--until", now) if until else None,
                    details=_log_details(record) if details else None, stop=stop)


def _log_details(record) -> bytes:
    from ..spec import ContainerSpec

    return ContainerSpec.from_dict(record.spec).log_details()
