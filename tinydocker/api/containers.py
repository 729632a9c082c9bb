"""The API for containers' lifecycle: start, stop, kill, restart, wait, pause, update,
rename, attach, exec, removal and prune (run and create: create.py; files: files.py;
ps, inspect, top, stats, logs: observe.py)."""

from collections.abc import Sequence
import time

from ..container import signals
from ..errors import NotRunning, Refused, TinydockerError
from ..state import events
from ..state import root as paths


def _store(root):
    from ..state.store import Store

    return Store(paths.resolve(root))


def _find(ref: str, root):
    """The store and the container's record as it truly stands (see Store.observe)."""
    store = _store(root)
    return store, store.observe(store.lookup(ref))


def _exec_target(ref: str, root):
    """The store and the record of a container an exec may enter: running, not paused."""
    from ..state.record import RUNNING

    store, record = _find(ref, root)
    if record.status != RUNNING:
        raise NotRunning(record.name)
    if record.paused:
        raise Refused(f"container {record.name} is paused, unpause the container before exec")
    return store, record


def start(ref: str, attach: bool = False, interactive: bool = False, root=None):
    """Start a stopped container again, with the files its upper layer kept.

    Detached (its output to its log) unless attach=True, which waits and returns its exit
    code; interactive=True (with attach) passes the caller's stdin on to a container made
    with -i, which otherwise reads nothing. Starting a running container does nothing, as
    with docker.
    """
    from ..container import runtime
    from ..state.record import RUNNING
    store, record = _find(ref, root)
    if record.status == RUNNING:
        return None
    return runtime.start(store, record, attach=attach, stdin=interactive)


def stop(ref: str, timeout: float | None = None, root=None):
    """SIGTERM (or the container's stop signal) to its PID 1, SIGKILL after `timeout`
    seconds (default: its --stop-timeout, else 10); returns the record once the exit is
    recorded. A PID 1 without a SIGTERM handler ignores SIGTERM (the kernel shields a
    namespace's init), so it is the SIGKILL that ends it. A paused container is thawed
    after the signal is sent, so that it acts on it (as docker does)."""
    import signal

    from ..state.record import RUNNING

    store, record = _find(ref, root)
    _stopped_by_user(store, record)
    record = _past_starting(store, record)
    if record.status != RUNNING:
        return record
    if timeout is None:
        timeout = record.spec.get("stop_timeout", -1)
        timeout = 10 if timeout < 0 else timeout
    sig = signals.stop_signal(record)
    signals.send(record, sig)
    events.container(store.root, record, "kill", signal=int(sig))
    if not signals.wait_gone(record, timeout):
        signals.kill(record)
        events.container(store.root, record, "kill", signal=int(signal.SIGKILL))
    ended = store.observe(record)  # once the end is recorded (its "die" is in the journal)
    events.container(store.root, record, "stop")
    return ended


def kill(ref: str, signal: str | int = "KILL", root=None) -> None:
    """Send a signal (name like KILL, SIGTERM, or number) to the container's PID 1."""
    import signal as signal_module

    from ..state.record import RUNNING

    sig = signals.parse_signal(signal)
    store, record = _find(ref, root)
    if record.status != RUNNING:
        raise NotRunning(record.name, doing=f"Cannot kill container: {ref}: ")
    if sig in (signal_module.SIGKILL, signals.stop_signal(record)):
        # docker's rule: only a fatal signal (KILL, or the container's stop signal) keeps its
        # policy from starting it again; a HUP or USR1 leaves the policy in place
        _stopped_by_user(store, record)
    signals.send(record, sig)
    events.container(store.root, record, "kill", signal=int(sig))


def _past_starting(store, record):
    """The record once a start under way (its policy's restart, or a `start` racing this
    stop) has settled: stopping it then stops what that start started, where returning at
    once would leave it running. Starts take milliseconds; a killed one lapses."""
    import time

    deadline = time.monotonic() + 30.0
    while record.starting and time.monotonic() < deadline:
        time.sleep(0.01)
        record = store.observe(store.current(record) or record)
    return record


def _stopped_by_user(store, record) -> None:
    """Before stop's or kill's signal: its restart policy must not start it again (nor
    start it at the end of the wait it may be in)."""
    if record.spec.get("restart", "no") != "no":
        store.update(record, stopped_by_user=True, restart_wait=None)


def update(ref: str, *, memory: str | int | None = None, memory_swap: str | int | None = None,
           cpus: str | float | None = None, cpu_shares: int | None = None, cpuset_cpus: str | None = None,
           cpuset_mems: str | None = None, pids_limit: int | None = None,
           memory_reservation: str | int | None = None, restart: str | None = None, root=None):
    """Change a container's limits (docker's values, as run takes them; 0 lifts a limit):
    at once in its cgroup if it runs, and in its record for every later start; restart
    (docker's --restart policy) for its next end."""
    import dataclasses

    from ..cgroups import limits
    from ..state.record import RUNNING

    given = {"memory": memory, "memory_swap": memory_swap, "cpus": cpus, "cpu_shares": cpu_shares,
             "cpuset_cpus": cpuset_cpus, "cpuset_mems": cpuset_mems, "pids_limit": pids_limit,
             "memory_reservation": memory_reservation}
    given = {k: v for k, v in given.items() if v is not None}
    if not given and restart is None:
        raise TinydockerError("you must provide one or more flags when using this command")
    fresh = limits.build(**given)
    fields = {"cpus": "cpu_quota"}
    store, record = _find(ref, root)
    if restart is not None:
        from ..spec import parse_restart

        if parse_restart(restart)[0] != "no" and record.spec.get("remove"):
            raise TinydockerError("Restart policy cannot be updated because AutoRemove is enabled for the container")
    current = limits.Limits(**record.spec.get("limits", {}))
    merged = dataclasses.replace(current, **{fields.get(k, k): getattr(fresh, fields.get(k, k)) for k in given})
    if "memory" in given and "memory_swap" not in given and current.memory_swap not in (None, -1):
        merged.memory_swap = None  # a new memory limit with the default swap beside it
    if merged.memory_swap is not None and merged.memory is None:
        raise TinydockerError("You should always set the Memory limit when using Memoryswap limit")
    if merged.memory_swap not in (None, -1) and merged.memory_swap < merged.memory:
        raise TinydockerError("Minimum memoryswap limit should be larger than memory limit")
    limits.check_reservation(merged)
    if record.status == RUNNING:
        store.cgroup(record).update(merged)
    spec = {**record.spec, "limits": {k: v for k, v in dataclasses.asdict(merged).items() if v is not None}}
    if restart is not None:
        spec["restart"] = restart
    updated = store.update(record, spec=spec)
    if updated is None:
        raise Refused(f"container {record.name} was removed or restarted meanwhile")
    events.container(store.root, updated, "update")


def pause(ref: str, root=None) -> None:
    """Freeze every process of a running container (cgroup v1 freezer, v2 cgroup.freeze)."""
    from ..state.record import RUNNING

    store, record = _find(ref, root)
    if record.status != RUNNING:
        raise NotRunning(record.name)
    if record.paused:
        raise Refused(f"container {record.name} is already paused")
    store.cgroup(record).freeze()
    events.container(store.root, record, "pause")


def unpause(ref: str, root=None) -> None:
    store, record = _find(ref, root)
    if not record.paused:
        raise Refused(f"container {record.name} is not paused")
    store.cgroup(record).thaw()
    events.container(store.root, record, "unpause")


def rename(ref: str, new_name: str, root=None) -> None:
    """Give a container a new name (running or not): under the state lock, with the name
    its network peers' /etc/hosts list."""
    from ..names import check_name

    check_name(new_name)
    store = _store(root)
    record = store.lookup(ref)
    if record.name == new_name:
        raise Refused("Renaming a container with the same name as its current name")
    from ..network import attach

    attach.rename(store, record, new_name)


def restart(ref: str, timeout: float | None = None, root=None) -> None:
    record = stop(ref, timeout=timeout, root=root)
    start(record.id, root=root)
    events.container(paths.resolve(root), record, "restart")


def wait(ref: str, root=None) -> int:
    """Block until the container stops; its exit code."""
    from ..state.record import RUNNING

    store, record = _find(ref, root)
    while record.status == RUNNING or record.starting:
        if record.status == RUNNING:
            signals.wait_gone(record, None)
        else:
            time.sleep(0.05)  # being started: it will be running (or have failed) in a moment
        record = store.observe(store.load(record.name) or record)
    return record.exit_code if record.exit_code is not None else 0


def attach(ref: str, stdin: bool = True, sig_proxy: bool = True, detach_keys: str = "ctrl-p,ctrl-q",
           root=None) -> int | None:
    """Join this process's stdin, stdout and stderr to a running (detached) container: its
    output from now on, and (if it was started with -i) its input; with sig_proxy the signals
    this process gets go to it. Returns its exit code once it ends, or None if the user
    typed the detach keys (docker's ctrl-p,ctrl-q), which leave it running."""
    from ..container import attach as joined
    from ..state.record import RUNNING

    keys = joined.detach_sequence(detach_keys) if detach_keys else b""
    store, record = _find(ref, root)
    if record.status != RUNNING:
        raise Refused("You cannot attach to a stopped container, start it first")
    if record.paused:
        raise Refused("You cannot attach to a paused container, unpause it first")
    if record.spec.get("log_driver") == "none":
        raise Refused(f"container {record.name} keeps no output (--log-driver none) to attach to")
    if not record.spec.get("tty"):
        keys = b""  # as docker's: the detach keys are read on a terminal only; a pipe's bytes are input
    events.container(store.root, record, "attach")
    return joined.attach(store, record, stdin=stdin, sig_proxy=sig_proxy, keys=keys)


def exec(ref: str, command: Sequence[str], *, env: Sequence[str] = (), workdir: str | None = None,
         user: str | None = None, interactive: bool = False, tty: bool = False, capture_output: bool = False,
         input: bytes | None = None, privileged: bool = False, streams=None, terminal=None, started=None,
         root=None):
    """Run COMMAND as a new process in a running container (its namespaces, root, cgroup,
    capabilities), as its user unless `user` is given, and wait for it; returns its exit
    code, or Completed with capture_output=True. privileged=True gives it every capability.
    For a user elsewhere than this process's stdio (the Engine API's exec): streams=(in,
    out, err) descriptors for its fds 0-2 (None: /dev/null in, ours out; the caller's to
    close, once started() is called), or with tty=True terminal(master) relaying its pty; started(pid)
    once it runs."""
    from ..container.exec import exec_in
    from ..spec import ContainerSpec

    if not command:
        raise TinydockerError("exec needs a command")
    store, record = _exec_target(ref, root)
    # the container's spec with exec's additions: its checks and its environment rules apply
    base = record.spec
    spec = ContainerSpec.from_dict({**base, "tty": tty, "env": base.get("env", []) + list(env),
                                    "workdir": workdir or base.get("workdir", "/")})
    return exec_in(store, record, list(command), spec.container_env(), spec.workdir,
                   spec.user if user is None else user, spec.confinement(privileged), spec.group_add,
                   interactive=interactive, tty=tty, capture_output=capture_output, input=input,
                   streams=streams, terminal=terminal, started=started)


def exec_detached(ref: str, command: Sequence[str], **options) -> int:
    """docker's `exec -d`: COMMAND started in the running container (exec()'s `options`), its
    input and output /dev/null; returns its pid once it runs. A waiter of its own, in a
    session of its own and no child of the caller's, reaps it, so the caller may leave."""
    import json
    import os

    said_r, said_w = os.pipe2(os.O_CLOEXEC)
    first = os.fork()
    if first == 0:  # pragma: no cover - the waiter's side, in a forked process
        try:
            os.close(said_r)
            if os.fork() == 0:
                os.setsid()
                null = os.open(os.devnull, os.O_RDWR)
                for fd in (0, 1, 2):
                    os.dup2(null, fd)
                begun = []

                def started(pid: int) -> None:
                    begun.append(pid)
                    os.write(said_w, json.dumps({"pid": pid}).encode() + b"\n")

                try:
                    code = exec(ref, command, streams=(None, null, null), started=started, **options)
                    if not begun:  # its own words went to /dev/null with its output: docker's
                        why = {127: "executable file not found in $PATH", 126: "permission denied"}.get(
                            code, f"ended with {code} before it ran")
                        raise TinydockerError(f'exec: "{command[0]}": {why}', code=code)
                except TinydockerError as e:
                    os.write(said_w, json.dumps({"error": str(e), "code": e.code}).encode() + b"\n")
        finally:
            os._exit(0)
    os.close(said_w)
    os.waitpid(first, 0)
    with os.fdopen(said_r, "rb") as said:
        line = said.readline()  # the first line only: the waiter holds the pipe while the command runs
    if not line:
        raise TinydockerError(f"exec in {ref}: the command did not start", code=126)
    told = json.loads(line)
    if "error" in told:
        raise TinydockerError(told["error"], code=told["code"])
    return told["pid"]


def remove(ref: str, force: bool = False, volumes: bool = False, root=None) -> None:
    """Remove a container by name or id prefix; a running one only with force (it is killed);
    volumes=True (docker's rm -v) removes its anonymous volumes too."""
    store = _store(root)
    store.sweep()
    record, alive = store.hold_for_removal(store.observe(store.lookup(ref)), force)
    if alive:
        signals.kill(record)
    from ..container.removal import discard

    discard(store, record)
    if volumes:
        from ..volume.store import VolumeStore

        VolumeStore(store.root, records=store.all).release_anonymous(record.spec.get("mounts", []))


def prune_containers(root=None) -> dict:
    """Remove every stopped container (and finish removals a killed `rm` left halfway).
    Returns {"containers": [ids], "reclaimed": bytes of their upper layers}."""
    from ..state.record import RUNNING

    from ..container.removal import discard

    store = _store(root)
    store.sweep()
    removed, reclaimed = [], 0
    for record in (store.observe(r) for r in store.all()):
        if record.status == RUNNING or record.starting:
            continue  # running, or still being started by a live `run`/`start`
        size = store.written(record)
        try:
            # checked again under the lock: a start may have taken it since
            if store.hold_for_removal(record, force=False, waits=False) is None:
                continue
            discard(store, record)
        except TinydockerError:
            continue  # started meanwhile, or its cgroup will not go yet: a later prune
        removed.append(record.id)
        reclaimed += size
    return {"containers": removed, "reclaimed": reclaimed}
