"""Realising a container spec: the engine's side of `run` and `start`.

    record (name taken, links to the image's layers) → cgroup with its limits → network
    taken → the OCI bundle (bundle.py) → the runtime's create (oci.py; in-process by
    default), its init our child → the network wired into its namespace → start → record
    running → relay I/O, forward signals → collect the exit status → record it (and whether
    the OOM killer struck) → the runtime's delete → reap → remove the cgroup → (--rm) remove.

The record says running only once the program runs, and the exit code is recorded before
the init's zombie is reaped, so whoever reads the store finds the pid still taken until
the record says how the container ended.
"""

import os
import signal
import sys

from .. import cgroups
from ..errors import EXIT_CANNOT_EXEC, EXIT_NOT_FOUND, EXIT_TINYDOCKER, TinydockerError, describe
from ..linux import proc
from ..linux import syscalls as sc
from ..spec import ContainerSpec
from ..state import events
from ..state.root import DataRoot
from ..state.record import EXITED, RUNNING, Record, now
from ..state.store import Store
from ..network import attach as network
from ..volume.store import VolumeStore
from .process import SignalForwarder, exit_status, open_namespaces, outcome_of
from .logfile import LogWriter
from .stdio import CapturePipes, LogPipes, TeePipes


def run(spec: ContainerSpec, root: DataRoot, layers: list, capture_output: bool = False,
        input: bytes | None = None, detach: bool = False, shown=(b"stdout", b"stderr"),
        killed_by_signals: bool = False):
    """Run a container on the image layer directories `layers` (top first): to its end (the
    exit code, or Completed when capturing), or, with detach, until it has started under
    the data root's monitor (its id). `shown`: the output streams passed on to the caller (run -a);
    killed_by_signals: a signal the caller gets (^C) kills the container instead of being passed on."""
    if spec.tty and capture_output:
        raise TinydockerError("a terminal (-t) and captured output cannot be combined")
    if input is not None:
        spec.interactive = True
    store = Store(root)
    record = store.create(spec.to_dict(), layers, also=lambda: VolumeStore(root).ensure_for(spec.mounts))
    if detach:
        return _detached(store, record, spec, fresh=True)
    return _attached(store, record, spec, capture_output, input, fresh=True, shown=shown,
                     killed_by_signals=killed_by_signals)


def start(store: Store, record: Record, attach: bool = False, restarting: bool = False, stdin: bool = False):
    """Start an exited container again, on its own upper layer; like run for the rest.
    restarting=True: a start by its restart policy, None if the user stopped it meanwhile;
    stdin=True: attached, a -i container reads the caller's input (docker's start -i)."""
    record = store.claim(record, restarting)
    if record is None:
        return None
    # what a start whose monitor was killed took on its network (its address, its ports),
    # recorded or not
    network.release_all(store, record.id)
    spec = ContainerSpec.from_dict(record.spec)
    if attach:
        return _attached(store, record, spec, False, None, fresh=False, stdin=stdin)
    return _detached(store, record, spec, fresh=False)


class _Launch:
    """A container's start: everything resolved, then created, wired, started and recorded
    through its runtime (self.pid: its init, our child; self.master: its terminal)."""

    def __init__(self, store: Store, record: Record, spec: ContainerSpec, stdio, fresh: bool,
                 forwarder: "SignalForwarder | None" = None, monitor: int | None = None):
        self.store = store
        self.monitor = monitor or os.getpid()  # who waits for its end and records it
        self.record_at_start = record
        self.network = None
        self.holder = None  # the write end of the network helper's exit pipe (slirp4netns), if any
        self.joined: dict[int, int] = {}  # CLONE_NEW*: an open namespace of another container's (or the host's)
        try:
            # the links to the image's layers: gone if an `rm -f` took the container meanwhile
            lower = store.lower_dirs(spec.name)
            # what can still fail on the user's input (a profile, a device) before anything is made
            confinement = spec.confinement()
            devices, tmpfs_mounts = spec.host_devices(), spec.tmpfs_mounts()
            binds = VolumeStore(store.root).sources(spec.mounts)
            self.cgroup = cgroups.open_cgroup(record.id)
            if not fresh:
                # a monitor that was killed (a SIGKILLed monitor or `run`) could not remove
                # the cgroup of the last start: empty and remove it, as `rm` would, then afresh
                if record.cgroup is not None:  # made from elsewhere in the user's cgroups
                    cgroups.open_cgroup(record.id, subtree=record.cgroup).remove()
                self.cgroup.remove()
            subtree = cgroups.subtree_of(self.cgroup)
            if subtree != record.cgroup:
                # recorded before the cgroup is made: `rm` from outside the user's subtree
                # finds the cgroup of a start killed from here on
                record = store.update(record, cgroup=subtree) or record
                self.record_at_start = record
            self.joined = _joined_namespaces(store, spec)
            self.cgroup.create(spec.limits, spec.device_rules(devices))
            try:
                # after the cgroup: a port's claim is judged stale once its container has none
                net_orders, etc_binds, self.network = network.connect(store, record, spec)
            except BaseException:
                _release_cgroup(self.cgroup)
                raise
        except BaseException as e:
            self._close_joined()
            if fresh and store.remove(record):  # nothing ran: leave nothing behind, not even the name
                VolumeStore(store.root, records=store.all).release_anonymous(spec.mounts)
            elif not store.holds(record):
                raise _removed_while_starting(spec.name) from None
            else:
                _failed(store, record, e)
            raise
        cdir = store.container_dir(spec.name)
        orders = {
            "argv": spec.argv, "env": spec.container_env(), "hostname": net_orders.get("hostname", spec.hostname),
            "workdir": spec.workdir, "tty": spec.tty, "interactive": spec.interactive,
            "user": spec.user, "lower": ":".join(lower), "lower_base": str(cdir),
            "upper": str(cdir / "upper"), "work": str(cdir / "work"),
            "merged": str(cdir / "merged"),
            "confinement": confinement,
            "devices": devices, "sysctls": spec.sysctls, "tmpfs": tmpfs_mounts,
            "read_only": spec.read_only, "group_add": spec.group_add,
            # shallow targets first: a mount inside another's target lands on top of it
            "binds": sorted(binds + etc_binds, key=lambda b: b["target"].count("/")),
            "network": net_orders, "init": spec.init,
        }
        self._start(spec, orders, stdio, forwarder, str(cdir), fresh)

    def _record_running(self, spec: ContainerSpec, pid: int) -> None:
        """The record says running, with the pid; whoever launches is the monitor: the one
        that will wait and record the exit."""
        me = self.monitor
        started = self.store.update(self.record_at_start, status=RUNNING, pid=pid, start_ticks=proc.start_ticks(pid),
                                    started=now(), monitor_pid=me, monitor_ticks=proc.start_ticks(me),
                                    network=self.network)
        if started is None:
            raise _removed_while_starting(spec.name)
        self.record = started
        events.container(self.store.root, started, "start")

    def _start(self, spec: ContainerSpec, orders: dict, stdio, forwarder, cdir: str, fresh: bool) -> None:
        """The start through the OCI runtime (tinydocker's own in this process, or --runtime's):
        the bundle from the orders, `create`, the network wired into the namespace it made,
        `start`, the record."""
        from . import bundle, oci
        from ..network import endpoint

        store, record = self.store, self.record_at_start
        runtime, console, pid = None, None, 0
        me = os.getpid()
        self.master = None
        try:
            runtime = oci.for_container(store.root, {"runtime": spec.runtime})
            if runtime.holds(record.id):
                runtime.delete(record.id, cdir)  # the last start's, whose monitor was killed
            if orders["network"].get("usernet"):  # on an ordinary user's network: in its user namespace
                self._join_user_networks(spec, orders["network"]["usernet"])
            kinds = {sc.CLONE_NEWNET: "network", sc.CLONE_NEWPID: "pid", sc.CLONE_NEWUSER: "user"}
            # our descriptors, by path: the runtime opens the very namespaces we checked
            joined = {kinds[flag]: f"/proc/{me}/fd/{fd}" for flag, fd in self.joined.items()}
            config = bundle.config(orders, spec, record.id, store.layer_stack(spec.name), joined)
            bundle.populate(orders)
            oci.write_bundle(cdir, config)
            if spec.tty:
                console = oci.Console()
            pid = runtime.create(record.id, cdir, stdio, spec.interactive, console and console.path, config)
            if forwarder:
                forwarder.target(pid)
            self.pid = pid
            self.holder = endpoint.wire(pid, orders["network"])
            if console:
                self.master = console.master()
            # started before it is recorded as running: whoever sees "running" (and its pid)
            # sees the program's process, never an init a stopped or killed monitor holds
            # waiting (a killed monitor's leftover goes with the next start's or rm's delete)
            runtime.start(record.id, cdir)
            self._record_running(spec, pid)
        except BaseException as e:
            # an `rm -f` took it meanwhile: gone, or marked for removal
            current = store.current(record)
            taken = current is None or bool(current.removing)
            if pid:
                os.kill(pid, signal.SIGKILL)
                try:
                    os.waitpid(pid, 0)
                except ChildProcessError:  # reaped already: the start's own error is the one to say
                    pass
            if runtime is not None:
                runtime.delete(record.id, cdir)
            if self.master is not None:
                os.close(self.master)
            self.close_holder()
            if taken:
                self._give_back()
                raise _removed_while_starting(spec.name) from None
            if fresh and spec.remove:
                # a --rm container whose start failed goes, as docker's does (a command that
                # cannot run, found out at create, runc's way; or the runtime's own failure)
                self._give_back()
                if store.remove(self.record_at_start):
                    VolumeStore(store.root, records=store.all).release_anonymous(spec.mounts)
            else:
                self._undo(e)
            raise
        finally:
            self._close_joined()
            if console:
                console.close()
            if stdio:
                stdio.in_parent()

    def _join_user_networks(self, spec: ContainerSpec, state: str) -> None:
        """The user namespace of the user's networks' holder, joined; one joined already (of
        --pid container:NAME) must be that one: a process is in one user namespace only."""
        from ..network import usernet

        _join_once(self.joined, sc.CLONE_NEWUSER, usernet.user_namespace(state),
                   f"cannot join the PID namespace of {spec.joined_pid()} from network {spec.network}: for a "
                   f"user who is not root, {spec.joined_pid()} must be on a network of the user's too")

    def close_holder(self) -> None:
        """Let the network helper go: it leaves when nobody holds its exit pipe."""
        if self.holder is not None:
            os.close(self.holder)
            self.holder = None

    def _close_joined(self) -> None:
        while self.joined:
            os.close(self.joined.popitem()[1])

    def _undo(self, error: BaseException) -> None:
        """A start that failed after its cgroup and network were taken: record why, give back."""
        _failed(self.store, self.record_at_start, error)
        self._give_back()

    def _give_back(self) -> None:
        network.disconnect(self.store, self.record_at_start.id, self.network)
        _release_cgroup(self.cgroup)

    def finish(self, code: int, remove: bool) -> None:
        try:
            _finish(self.store, self.record, self.cgroup, self.pid, code, remove)
        finally:
            self.close_holder()


def _joined_namespaces(store: Store, spec: ContainerSpec) -> dict[int, int]:
    """The namespaces of other containers that --network container:NAME and --pid
    container:NAME join, opened (checked after opening: a pid reused meanwhile would be
    refused, not joined); docker's words when the other container is not running."""
    joined: dict[int, int] = {}
    try:
        for flag, kind, ref, what in ((sc.CLONE_NEWNET, "net", spec.joined_network(), "network"),
                                      (sc.CLONE_NEWPID, "pid", spec.joined_pid(), "PID")):
            if not ref:
                continue
            try:
                other = store.lookup(ref)
            except TinydockerError as e:
                raise TinydockerError(str(e)) from None  # run's own failure: 125
            not_running = TinydockerError(f"cannot join {what} of a non running container: {ref}")
            if other.status != RUNNING:
                raise not_running
            kinds = {flag: kind}
            if os.geteuid() != 0:  # an ordinary user's namespaces are its container's user namespace's
                kinds[sc.CLONE_NEWUSER] = "user"
            for got, fd in open_namespaces(other, kinds, not_running).items():
                _join_once(joined, got, fd, f"cannot join the namespaces of {spec.joined_network()} and of "
                                            f"{ref}: a user who is not root can join only one container's")
    except BaseException:
        for fd in joined.values():
            os.close(fd)
        raise
    return joined


def _join_once(joined: dict[int, int], flag: int, fd: int, refusal: str) -> None:
    """`fd` joined as the namespace of `flag`; one joined already must be that very one (a
    process is in one user namespace: --network and --pid of two containers, or a user
    network's), else `refusal`. The descriptor is joined's, or closed."""
    if flag not in joined:
        joined[flag] = fd
        return
    same = proc.same_namespace(fd, joined[flag])
    os.close(fd)
    if not same:
        raise TinydockerError(refusal)


def _failed(store: Store, record: Record, error: BaseException) -> None:
    """Record a start that failed in tinydocker itself (docker's 125), and why."""
    message, code = describe(error, "start", str(store.root.root))
    # 126/127: a command the runtime found it cannot run, as docker says it
    code = code if code in (EXIT_CANNOT_EXEC, EXIT_NOT_FOUND) else EXIT_TINYDOCKER
    store.update(record, status=EXITED, exit_code=code, finished=now(), error=message)


def _removed_while_starting(name: str) -> TinydockerError:
    return TinydockerError(f"container {name} was removed while it was starting", code=1)


def _log_path(store, spec) -> str:
    """Where the container's output is kept ("" with --log-driver none)."""
    return "" if spec.log_driver == "none" else str(store.log_path(spec.name))


def _attached(store, record, spec, capture_output, input, fresh, shown=(b"stdout", b"stderr"), stdin=True,
              killed_by_signals=False):
    """Run the container to its end, its output relayed to the caller (or captured) and
    kept in its log as docker keeps a foreground container's. stdin=False: a -i container's
    input stays open but is not the caller's (docker's start -a without -i)."""
    log = LogWriter(_log_path(store, spec) or None, *spec.log_limits())
    held = spec.interactive and not stdin
    pipes = None if spec.tty else CapturePipes(input, log) if capture_output else TeePipes(log, shown, held)
    forwarder = SignalForwarder(kill=killed_by_signals)
    forwarder.install()
    if os.geteuid() != 0:
        # in a user namespace the init is the runtime's grandchild (forked into the namespace's
        # own PID namespace): this process adopts it when the first stage leaves, to wait for it
        sc.prctl(sc.PR_SET_CHILD_SUBREAPER, 1)
    try:
        try:
            launch = _Launch(store, record, spec, pipes, fresh, forwarder)
        except TinydockerError as e:
            if e.code not in (EXIT_CANNOT_EXEC, EXIT_NOT_FOUND):
                raise
            # the runtime's create found the program cannot run: said and returned as docker
            # returns it (the container ran nothing, its record says so)
            if pipes:
                pipes.discard()
            return outcome_of({"error": str(e), "code": e.code}, e.code, (b"", b"") if capture_output else None)
        if launch.master is not None:
            from .terminal import relay

            relay(launch.master, spec.interactive and stdin, log)
        out = pipes.pump(launch.pid) if pipes else None
        code = exit_status(launch.pid)
    finally:
        forwarder.restore()
        log.close()
    launch.finish(code, spec.remove)
    # as docker's client: the attached run ends with the container's first end, and its
    # policy starts it again in the background (under the monitor, as a detached start)
    _restart_if_due(store, launch.record)
    return outcome_of(None, code, out)


def _detached(store, record, spec, fresh) -> str:
    """Start the container in the background and return once it has started: the data
    root's monitor (monitor.py) launches it, keeps its log and records its end."""
    from .monitor_client import ask

    answer, _ = ask(store.root, {"op": "start", "name": record.name, "id": record.id, "fresh": fresh})
    if answer is None:
        raise TinydockerError(f"the monitor of container {spec.name} died while starting it")
    if "error" in answer:
        raise TinydockerError(answer["error"], code=answer["code"])
    return record.id


def launch_detached(root: DataRoot, name: str, container_id: str, fresh: bool, monitor: int):
    """In a launcher the monitor forked: launch the container as `monitor`'s. Returns the
    answer for the one who asked; and, once it runs, what the monitor watches it by (its
    init, where its output is kept, whether --rm) with the descriptors of its output and
    (with -i) of its input."""
    store = Store(root)
    try:
        record = store.located(name, container_id)
        if record is None:
            raise _removed_while_starting(name)
        spec = ContainerSpec.from_dict(record.spec)
        stdio = LogPipes(spec.interactive, spec.tty)
        # this launcher is the start's monitor until the container runs: were it killed
        # now, what the start takes (an address, ports) must count as held by a live one
        me = os.getpid()
        record = store.update(record, monitor_pid=me, monitor_ticks=proc.start_ticks(me)) or record
        launch = _Launch(store, record, spec, stdio, fresh, monitor=monitor)
    except BaseException as e:  # noqa: BLE001 - whatever it is, the asker must hear of it
        message, code = describe(e, "run -d" if fresh else "start", str(root.root))
        return {"error": message, "code": code}, None, []
    outputs = [(launch.master, "stdout")] if launch.master is not None else stdio.outputs()
    held = []
    if spec.interactive:
        # the container's input, held by the monitor (a pipe's open end keeps `sh` waiting
        # for input rather than reading EOF); `attach` asks the monitor for a copy
        held = [launch.master if launch.master is not None else stdio.held()[0]]
    if launch.holder is not None:
        # the network helper's exit pipe: the monitor holds it while the container runs
        held.append(launch.holder)
    facts = {"id": record.id, "name": launch.record.name, "pid": launch.pid, "remove": spec.remove,
             "log": _log_path(store, spec), "limits": list(spec.log_limits()),
             "error_path": str(store.monitor_error_path(spec.name)),
             "streams": [stream for _, stream in outputs], "input": spec.interactive,
             "holder": launch.holder is not None}
    if spec.healthcheck:
        from .health import effective

        facts["health"] = effective(spec.healthcheck)  # the monitor runs it
    return {"id": record.id}, facts, [fd for fd, _ in outputs] + held


def finish_detached(root: str, name: str, container_id: str, pid: int, code: int, remove: bool) -> None:
    """In a finisher the monitor forked: the container has ended with `code`; record it as
    an attached run would (the monitor, its init's parent, reaps it afterwards)."""
    from ..state.root import resolve

    store = Store(resolve(root))
    record = store.located(name, container_id)  # None if removed meanwhile (rm -f); renamed, found by id
    cgroup = store.cgroup(record) if record is not None else cgroups.open_cgroup(container_id)
    _finish(store, record, cgroup, pid, code, remove, reap=False)
    if record is not None:
        _restart_if_due(store, record)


def _restart_if_due(store: Store, record: Record) -> None:
    """The finisher's last duty: start the container again if its --restart policy says so.

    As docker: not after `stop` or `kill`; on-failure only after a non-zero exit and at
    most N times; a container that ends within 10 s of starting waits 0.1 s, then twice as
    long at each quick end in a row (up to a minute; a longer run starts again from 0.1 s)
    before it starts again. The new start is the monitor's, as any detached start; this finisher ends."""
    import time

    from ..spec import parse_restart

    record = store.current(record)
    if record is None or record.status != EXITED or record.stopped_by_user:
        return
    policy, most = parse_restart(record.spec.get("restart", "no"))
    if policy == "no" or (policy == "on-failure" and (record.exit_code == 0 or 0 < most <= record.restart_count)):
        return
    quick = record.started and record.finished and (record.finished - record.started).total_seconds() < 10
    streak = record.quick_ends + 1 if quick else 0
    if store.await_restart(record, streak) is None:
        return
    time.sleep(min(0.1 * 2 ** (streak - 1), 60) if quick else 0.1)
    try:
        start(store, record, restarting=True)
    except TinydockerError:
        pass  # removed or started by hand meanwhile, or the start failed: its record says why


def _finish(store: Store, record: Record | None, cgroup, pid: int, code: int, remove: bool,
            reap: bool = True) -> None:
    """Drop the cgroup, record the exit (unless the container was removed meanwhile), reap
    (reap=False: the caller is not the init's parent, which reaps it afterwards).

    The cgroup goes first so that a command that sees the record say "exited" never
    finds the container's cgroup still there; the pid is reaped last, so that until
    the record is written the pid cannot be reused.
    """
    try:
        if record is not None:
            network.disconnect(store, record.id, record.network)
        # read before the cgroup goes: its counter is the only witness of an OOM kill
        oom = cgroup.oom_kills() > 0
        if record is not None:
            from . import oci

            oci.forget(store.root, record.spec, record.id, str(store.container_dir(record.name)))
        released = _release_cgroup(cgroup)
        if record is not None:
            # in the journal before the record says so: a `stop` that has waited for the
            # record then writes its "stop" after the "die", in docker's order
            named = store.current(record) or record  # as it is named now: renamed while it ran
            if oom:
                events.container(store.root, named, "oom")
            events.container(store.root, named, "die", exitCode=code)
            # the network is given back: a later start must not release what others took since
            store.update(record, status=EXITED, exit_code=code, oom_killed=oom, finished=now(), network=None)
    finally:
        if reap:
            os.waitpid(pid, 0)
    if released and remove and record is not None and store.remove(record):
        # --rm takes the container's anonymous volumes with it, as docker's does
        VolumeStore(store.root, records=store.all).release_anonymous(record.spec.get("mounts", []))


def _release_cgroup(cgroup) -> bool:
    """Remove the container's cgroup; if it will not go, say so and keep the record for `rm`."""
    try:
        cgroup.remove()
        return True
    except TinydockerError as e:
        sys.stderr.write(f"tinydocker: warning: {e}\n")
        return False
