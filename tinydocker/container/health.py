"""Health checks, as docker's HEALTHCHECK: a command run in a detached container every
interval; its exit code says healthy (0) or not, and `retries` failures in a row (not
counted during the start period, before a first success) make it unhealthy.

There is no daemon to run them: the data root's monitor, which watches every detached
container anyway, forks a prober when one is due (monitor.py). The prober runs the command
as `exec` does and writes the result beside the record (`health.json`, replaced whole);
`inspect` reads it as docker's State.Health. The file names the run it is about, so a
new start begins again from "starting" without anyone clearing it.

A check is kept in the spec as {"test": [...], "interval", "timeout", "start_period" (ns),
"retries"}, docker's Healthcheck with Go's zero meaning "the default".
"""

import json
import os

SECOND = 1_000_000_000
# docker's defaults (moby daemon/health.go)
DEFAULTS = {"interval": 30 * SECOND, "timeout": 30 * SECOND, "start_period": 0, "retries": 3}
STATE = "health.json"
KEEP = 5            # results kept in the log, as docker keeps them
MAX_OUTPUT = 4096   # bytes of a result's output kept, as docker keeps them
KEYS = {"Test": "test", "Interval": "interval", "Timeout": "timeout", "StartPeriod": "start_period",
        "Retries": "retries"}


def from_docker(config: dict | None) -> dict:
    """docker's Healthcheck object ({"Test": [...], "Interval": ns...}) in the spec's form."""
    return {ours: config[theirs] for theirs, ours in KEYS.items() if (config or {}).get(theirs)}


def to_docker(check: dict) -> dict:
    return {theirs: check[ours] for theirs, ours in KEYS.items() if check.get(ours)}


def merged(image: dict | None, given: dict | None) -> dict:
    """The container's check: what was given over the image's, field by field (docker's
    merge: an empty test or a zero value takes the image's)."""
    return {**from_docker(image), **{k: v for k, v in (given or {}).items() if v}}


def effective(check: dict | None) -> dict | None:
    """The check with docker's defaults filled in; None if there is none or it is ["NONE"]."""
    test = (check or {}).get("test") or []
    if not test or test[0] == "NONE":
        return None
    return {**DEFAULTS, **{k: v for k, v in check.items() if v}}


def argv(test: list[str]) -> list[str]:
    return test[1:] if test[0] == "CMD" else ["/bin/sh", "-c", test[1]]


def run_of(record) -> str:
    """This run of the container: its PID 1, by pid and start time."""
    return f"{record.pid} {record.start_ticks}"


def state(store, record) -> dict | None:
    """docker's State.Health of a container that has a check and has been started: what
    its prober last wrote for this run, or "starting" before its first result."""
    if effective(record.spec.get("healthcheck")) is None or record.started is None:
        return None
    try:
        with open(store.container_dir(record.name) / STATE) as f:
            kept = json.load(f)
    except (OSError, ValueError):
        kept = {}
    if kept.get("run") != run_of(record):
        kept = {}
    return {"Status": kept.get("Status", "starting"), "FailingStreak": kept.get("FailingStreak", 0),
            "Log": kept.get("Log", [])}


def probe(root: str, container_id: str, pid: int, check: dict) -> None:
    """In a prober the monitor forked: run the check once in the container whose PID 1 is
    `pid`, and record the result (nothing, if the container has ended meanwhile)."""
    import select
    import signal
    import threading
    from datetime import datetime, timezone

    from ..errors import NoSuchContainer, TinydockerError
    from ..linux import proc
    from ..spec import ContainerSpec
    from ..state.record import RUNNING
    from ..state.root import resolve
    from ..state.store import Store
    from .exec import exec_in

    store = Store(resolve(root))
    try:
        record = store.observe(store.lookup(container_id))
    except NoSuchContainer:
        return
    if record.status != RUNNING or record.pid != pid:
        return  # ended, or another run
    paused = f"Container {record.id} is paused, unpause the container before exec"
    if record.paused:
        # docker's exec refuses a paused container, and its check fails so (an exec into a
        # frozen cgroup would wait for the thaw)
        now = datetime.now(timezone.utc)
        _record(store, record, check, now, now, -1, paused)
        return
    spec = ContainerSpec.from_dict(record.spec)
    timeout = check["timeout"] / SECOND
    expired = f"Health check exceeded timeout ({_seconds(check['timeout'])})"
    # the deadline runs from before the exec: a pause that lands while the command starts
    # freezes it before it is known, and only the thaw would end the wait for it
    decided = threading.Lock()
    timed_out = threading.Event()
    over = threading.Event()  # the main thread has its result, or has given up: the timer is late
    pidfd = None  # the command's, once it runs

    def started(pid_: int) -> None:
        nonlocal pidfd
        with decided:
            pidfd = os.pidfd_open(pid_)  # signalled through it: never another process

    def expire() -> None:
        with decided:
            if over.is_set():
                return
            timed_out.set()
            running = pidfd
            if running is not None:
                try:
                    signal.pidfd_send_signal(running, signal.SIGKILL)
                except OSError:
                    pass
        if running is not None and select.select([running], [], [], 1.0)[0]:
            return  # it ended: the main thread records it
        # still starting, or frozen (cgroup v1 holds a SIGKILL until the thaw): it is said, what
        # this prober started is killed, and the prober ends, for the next check to run
        with decided:
            if over.is_set():
                return
            _record(store, record, check, begun, datetime.now(timezone.utc), -1, expired)
            proc.kill_below(os.getpid())
            os._exit(0)

    begun = datetime.now(timezone.utc)
    timer = threading.Timer(timeout, expire)
    timer.daemon = True
    timer.start()
    result = None
    try:
        try:
            done = exec_in(store, record, argv(check["test"]), spec.container_env(), spec.workdir, spec.user,
                           spec.confinement(False), spec.group_add, capture_output=True, started=started)
            result = done.exit_code, (done.stdout + done.stderr).decode(errors="replace")
        except TinydockerError as e:
            try:
                now = store.observe(store.lookup(container_id))
            except NoSuchContainer:
                now = None
            # nothing to say of a run that ended (its end says it) or was followed by another
            if now is not None and now.container_alive() and (now.pid, now.start_ticks) == (pid, record.start_ticks):
                # paused since the look above: the runtime's refusal, in docker's words
                result = -1, paused if now.paused else str(e)
    finally:
        timer.cancel()
        with decided:
            over.set()
            if result is not None:
                code, output = (-1, expired) if timed_out.is_set() else result
                _record(store, record, check, begun, datetime.now(timezone.utc), code, output[:MAX_OUTPUT])


def _record(store, record, check: dict, begun, ended, code: int, output: str) -> None:
    """The result into the container's health.json, by docker's rules (moby's
    handleProbeResult); a change of status is an event, `health_status: healthy`."""
    import tempfile

    cdir = store.container_dir(record.name)
    try:
        with open(cdir / STATE) as f:
            kept = json.load(f)
    except (OSError, ValueError):
        kept = {}
    if kept.get("run") != run_of(record):
        kept = {"run": run_of(record), "Status": "starting", "FailingStreak": 0, "Log": []}
    before = kept["Status"]
    if code == 0:
        kept.update(Status="healthy", FailingStreak=0)
    elif not (before == "starting" and record.started
              and (begun - record.started).total_seconds() * SECOND < check["start_period"]):
        kept["FailingStreak"] += 1
        if kept["FailingStreak"] >= check["retries"]:
            kept["Status"] = "unhealthy"
    kept["Log"] = (kept["Log"] + [{"Start": _stamp(begun), "End": _stamp(ended), "ExitCode": code,
                                   "Output": output}])[-KEEP:]
    try:
        fd, temp = tempfile.mkstemp(dir=cdir, prefix=".health-")
    except OSError:
        return  # removed meanwhile
    try:
        with os.fdopen(fd, "w") as f:
            json.dump(kept, f)
        os.replace(temp, cdir / STATE)
    except OSError:
        try:
            os.unlink(temp)
        except OSError:
            pass
        return
    if kept["Status"] != before:
        from ..state import events

        events.emit(store.root, "container", f"health_status: {kept['Status']}", record.id,
                    {"name": record.name, "image": record.image})


def _seconds(ns: int) -> str:
    """A duration as Go prints one: 30s, 1.5s, 500ms."""
    if ns % SECOND == 0:
        return f"{ns // SECOND}s"
    if ns >= SECOND:
        return f"{ns / SECOND:g}s"
    return f"{ns / 1_000_000:g}ms"


def _stamp(moment) -> str:
    return moment.isoformat().replace("+00:00", "Z")  # RFC 3339, as docker's
