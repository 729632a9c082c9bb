"""The API for containers: run, the lifecycle verbs, ps, inspect, stats, removal."""

from collections.abc import Sequence
import os
import time

from ..errors import NotRunning, Refused, TinydockerError
from ..spec import DEFAULT_IMAGE, ContainerSpec
from ..state import events
from ..state import root as paths


def _store(root):
    from ..state.store import Store

    return Store(paths.resolve(root))


def _find(ref: str, root):
    """The store and the container's record as it truly stands (see Store.observe)."""
    store = _store(root)
    return store, store.observe(store.lookup(ref))


def run(name: str, command: Sequence[str] | None = None, *, capture_output: bool = False,
        input: bytes | None = None, detach: bool = False, root=None, **options):
    """Run COMMAND in a new container NAME and wait for it.

    Returns the exit code; with capture_output=True a Completed(exit_code, stdout, stderr);
    with detach=True the container's id, as soon as it has started (its output then goes
    to its log, see logs()). `input` (bytes) is fed to the container's stdin. `options`
    are those of create() (image, env, limits, confinement, storage, network...).
    """
    from ..container.runtime import run as realise

    spec, data_root, layers = _prepare(name, command, root, **options)
    return realise(spec, data_root, layers, capture_output=capture_output, input=input, detach=detach)


def create(name: str, command: Sequence[str] | None = None, *, root=None, **options) -> str:
    """Make container NAME without starting it (status "created"); start() runs it.
    Takes create()'s options, as run() does; returns the container's id."""
    from ..state.store import Store

    spec, data_root, layers = _prepare(name, command, root, **options)
    from ..volume.store import VolumeStore

    return Store(data_root).create(spec, layers, launching=False,
                                   also=lambda: VolumeStore(data_root).ensure_for(spec.mounts)).id


def _prepare(name: str, command: Sequence[str] | None, root, *, image: str = DEFAULT_IMAGE,
             entrypoint: Sequence[str] | str | None = None, user: str | None = None,
             env: Sequence[str] = (), env_files: Sequence[str] = (), labels: Sequence[str] | dict = (),
             workdir: str | None = None, hostname: str | None = None,
             interactive: bool = False, tty: bool = False, remove: bool = False,
             stop_signal: str | None = None, stop_timeout: int | None = None,
             memory: str | int | None = None, memory_swap: str | int | None = None,
             memory_reservation: str | int | None = None,
             cpus: str | float | None = None, cpu_shares: int | None = None,
             cpuset_cpus: str | None = None, cpuset_mems: str | None = None,
             pids_limit: int | None = None, cap_add: Sequence[str] = (), cap_drop: Sequence[str] = (),
             privileged: bool = False, security_opt: Sequence[str] = (), devices: Sequence[str] = (),
             device_cgroup_rules: Sequence[str] = (),
             read_only: bool = False, tmpfs: Sequence[str] = (), group_add: Sequence[str] = (),
             sysctls: Sequence[str] | dict = (), volumes: Sequence[str] = (), mounts: Sequence[str] = (),
             network: str = "bridge", ip: str | None = None, pid: str | None = None,
             mac_address: str | None = None, publish: Sequence[str] = (),
             publish_all: bool = False, dns: Sequence[str] = (), dns_search: Sequence[str] = (),
             dns_options: Sequence[str] = (), add_hosts: Sequence[str] = (),
             restart: str = "no", init: bool = False, log_driver: str = "json-file",
             log_opts: Sequence[str] | dict = (), pull: str = "missing", quiet: bool = True):
    """The spec of a new container from the image's config and the options (docker's meanings):

    The image's config applies as in docker: COMMAND replaces its Cmd, `entrypoint` (a
    list, or a string for one word; "" clears it) its Entrypoint; its Env comes first, then
    the lines of `env_files` (docker's --env-file), then `env`; `workdir` and `user`
    ("name", "uid", "uid:gid") replace WorkingDir and User; `labels` (["k=v"] or a dict)
    add to the image's; `stop_signal` ("SIGINT") and `stop_timeout` (seconds) are what stop() uses.
    The limits take docker's values: memory="64m", memory_swap="128m" or -1, memory_reservation="32m", cpus=1.5,
    cpu_shares=512, cpuset_cpus="0-1", cpuset_mems="0", pids_limit=100 (default 2048; -1 unlimited).
    Confinement as docker's flags: cap_add=["NET_ADMIN"], cap_drop=["ALL"], privileged=True,
    security_opt=["no-new-privileges"], devices=["/dev/fuse"], device_cgroup_rules=["c 10:229 rwm"], read_only=True,
    tmpfs=["/run:size=64m"], group_add=["audio"], sysctls=["net.ipv4.ip_forward=1"].
    Storage as docker's -v and --mount: volumes=["/srv/data:/data:ro", "cache:/cache", "/scratch"],
    mounts=["type=bind,source=/etc/hosts,target=/etc/hosts,readonly", "type=tmpfs,target=/run"].
    Network as docker's flags: network="bridge" (default) | "none" | "host" | "container:NAME" | a
    network's name, pid="host" | "container:NAME", ip="10.77.0.9", mac_address="02:42:0a:4d:00:09",
    publish=["8080:80", "127.0.0.1:5353:53/udp", "80"], publish_all=True,
    dns=["10.0.0.53"], dns_search=["example.com"], dns_options=["ndots:2"], add_hosts=["db:10.0.0.5"].
    Lifetime and output as docker's flags: restart="on-failure:3" (detached containers; the
    supervisor restarts them), init=True, log_driver="none", log_opts=["max-size=1m", "max-file=3"],
    pull="missing"|"always"|"never" (docker's --pull; quiet=False prints the pull's lines on stderr).
    """
    from ..cgroups import limits
    from ..image.config import process
    from ..image.store import ImageStore
    from ..spec import check_name, env_file_lines, parse_labels

    check_name(name)
    data_root = paths.resolve(root)
    from_files = [line for path in env_files for line in env_file_lines(path)]
    user_labels = dict(labels) if isinstance(labels, dict) else parse_labels(labels)
    if stop_signal:
        parse_signal(stop_signal)
    images = ImageStore(data_root)
    found = _image_for(images, image, pull, quiet)
    if isinstance(entrypoint, str):
        entrypoint = [entrypoint] if entrypoint else []
    settings = process(images.config(found), list(command or []), entrypoint, from_files + list(env), workdir, user)
    storage, tmpfs = _storage(volumes, mounts, list(tmpfs), settings.pop("volumes"))
    settings["labels"].update(user_labels)
    if stop_signal:
        settings["stop_signal"] = stop_signal
    spec = ContainerSpec(name=name, image=image, image_id=found.id, hostname=hostname or "",
                         interactive=interactive, tty=tty, remove=remove, **settings,
                         stop_timeout=-1 if stop_timeout is None else stop_timeout,
                         cap_add=list(cap_add), cap_drop=list(cap_drop), privileged=privileged,
                         security_opt=list(security_opt), seccomp_profile=_seccomp_profile(security_opt),
                         devices=list(devices), device_cgroup_rules=list(device_cgroup_rules),
                         read_only=read_only,
                         tmpfs=tmpfs, mounts=storage, group_add=list(group_add),
                         network=network, ip=ip or "", pid=pid or "", mac_address=mac_address or "",
                         ports=list(publish), publish_all=publish_all,
                         dns=list(dns), dns_search=list(dns_search), dns_options=list(dns_options),
                         add_hosts=list(add_hosts), restart=restart, init=init,
                         log_driver=log_driver, log_opts=_key_values(log_opts, "--log-opt"),
                         sysctls=dict(sysctls) if isinstance(sysctls, dict) else _sysctls(sysctls),
                         limits=limits.build(memory=memory, memory_swap=memory_swap,
                                             memory_reservation=memory_reservation, cpus=cpus,
                                             cpu_shares=cpu_shares, cpuset_cpus=cpuset_cpus,
                                             cpuset_mems=cpuset_mems, pids_limit=pids_limit))
    return spec, data_root, images.layer_dirs(found)


PULL_POLICIES = ("always", "missing", "never")


def _image_for(images, ref: str, pull: str, quiet: bool):
    """The image a new container starts from, by docker's --pull policy: "missing" pulls
    what is not here, "always" pulls (an image built from a recipe here is built instead),
    "never" takes only what is here. The pull's lines go to stderr, as docker's run writes
    them, keeping stdout the container's."""
    import sys

    from ..image import recipe, reference
    from ..image.build import ensure
    from ..image.reference import familiar_name
    from ..image.store import NotHere

    if pull not in PULL_POLICIES:
        raise TinydockerError(f"invalid pull option {pull!r}: must be one of always, missing, never")
    local = reference.is_id_prefix(ref) or recipe.recipe_for(ref) is not None
    if pull != "always" or local:
        try:
            return ensure(images, ref)
        except NotHere:
            if pull == "never" or local:
                raise
    from .registry import pulled

    out = None if quiet else sys.stderr
    if out is not None and pull == "missing":
        print(f"Unable to find image '{familiar_name(str(reference.parse(ref)))}' locally", file=out, flush=True)
    return pulled(images, ref, out)


def _storage(volumes, mounts, tmpfs: list[str], image_volumes: list[str]) -> tuple[list[dict], list[str]]:
    """-v and --mount as the spec keeps them, and --tmpfs with --mount type=tmpfs added;
    the image's VOLUMEs not mounted over become anonymous volumes, as docker makes them."""
    from ..volume import mounts as parse

    storage = [parse.parse_volume(flag) for flag in volumes]
    for flag in mounts:
        entry = parse.parse_mount(flag)
        if isinstance(entry, str):
            tmpfs.append(entry)
        else:
            storage.append(entry)
    taken = {m["target"] for m in storage} | {os.path.normpath(t.partition(":")[0]) for t in tmpfs}
    for path in map(os.path.normpath, image_volumes):
        if path not in taken and path.startswith("/") and path != "/":
            storage.append(parse.parse_volume(path))
    return storage, tmpfs


def _seccomp_profile(security_opt) -> str:
    """The text of a seccomp=PROFILE.json option's file, read now as docker does ("" if none)."""
    from ..security import seccomp

    from ..spec import security_option

    for key, value in map(security_option, security_opt):
        if key == "seccomp" and value and value != "unconfined":
            try:
                with open(value) as f:
                    text = f.read()
            except OSError as e:
                raise TinydockerError(f"opening seccomp profile ({value}) failed: {e.strerror.lower()}") from None
            seccomp.check_profile(text, value)
            return text
    return ""


def _key_values(items, flag: str) -> dict:
    if isinstance(items, dict):
        return dict(items)
    pairs = [item.partition("=") for item in items]
    for key, eq, _ in pairs:
        if not eq or not key:
            raise TinydockerError(f"invalid {flag} {key!r}: want KEY=VALUE")
    return {key: value for key, _, value in pairs}


def _sysctls(items) -> dict:
    from ..security import sysctls

    return sysctls.parse(items)


def start(ref: str, attach: bool = False, root=None):
    """Start a stopped container again, with the files its upper layer kept.

    Detached (its output to its log) unless attach=True, which waits and returns its exit
    code. Starting a running container does nothing, as with docker.
    """
    from ..container import runtime
    from ..state.store import RUNNING

    store, record = _find(ref, root)
    if record.status == RUNNING:
        return None
    return runtime.start(store, record, attach=attach)


def stop(ref: str, timeout: float | None = None, root=None):
    """SIGTERM (or the container's stop signal) to its PID 1, SIGKILL after `timeout`
    seconds (default: its --stop-timeout, else 10); returns the record once the exit is
    recorded. A PID 1 without a SIGTERM handler ignores SIGTERM (the kernel shields a
    namespace's init), so it is the SIGKILL that ends it. A paused container is thawed
    after the signal is sent, so that it acts on it (as docker does)."""
    import signal

    from ..state.store import RUNNING

    store, record = _find(ref, root)
    _stopped_by_user(store, record)
    record = _past_starting(store, record)
    if record.status != RUNNING:
        return record
    if timeout is None:
        timeout = record.spec.get("stop_timeout", -1)
        timeout = 10 if timeout < 0 else timeout
    sig = _stop_signal(record)
    _signal(record, sig)
    events.container(store.root, record, "kill", signal=int(sig))
    if not _wait_gone(record, timeout):
        _kill(record)
        events.container(store.root, record, "kill", signal=int(signal.SIGKILL))
    ended = store.observe(record)  # once the end is recorded (its "die" is in the journal)
    events.container(store.root, record, "stop")
    return ended


def kill(ref: str, signal: str | int = "KILL", root=None) -> None:
    """Send a signal (name like KILL, SIGTERM, or number) to the container's PID 1."""
    import signal as signal_module

    from ..state.store import RUNNING

    sig = parse_signal(signal)
    store, record = _find(ref, root)
    if record.status != RUNNING:
        raise NotRunning(record.name, doing=f"Cannot kill container: {ref}: ")
    if sig in (signal_module.SIGKILL, _stop_signal(record)):
        # docker's rule: only a fatal signal (KILL, or the container's stop signal) keeps its
        # policy from starting it again; a HUP or USR1 leaves the policy in place
        _stopped_by_user(store, record)
    _signal(record, sig)
    events.container(store.root, record, "kill", signal=int(sig))


def _stop_signal(record) -> int:
    """What `stop` sends first: the container's --stop-signal, else SIGTERM."""
    import signal

    stop_signal = record.spec.get("stop_signal")
    return parse_signal(stop_signal) if stop_signal else signal.SIGTERM


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
           memory_reservation: str | int | None = None, root=None):
    """Change a container's limits (docker's values, as run takes them; 0 lifts a limit):
    at once in its cgroup if it runs, and in its record for every later start."""
    import dataclasses

    from ..cgroups import limits
    from ..state.store import RUNNING

    given = {"memory": memory, "memory_swap": memory_swap, "cpus": cpus, "cpu_shares": cpu_shares,
             "cpuset_cpus": cpuset_cpus, "cpuset_mems": cpuset_mems, "pids_limit": pids_limit,
             "memory_reservation": memory_reservation}
    given = {k: v for k, v in given.items() if v is not None}
    if not given:
        raise TinydockerError("you must provide one or more flags when using this command")
    fresh = limits.build(**given)
    fields = {"cpus": "cpu_quota"}
    store, record = _find(ref, root)
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
    updated = store.update(record, spec=spec)
    if updated is None:
        raise Refused(f"container {record.name} was removed or restarted meanwhile")
    events.container(store.root, updated, "update")


def pause(ref: str, root=None) -> None:
    """Freeze every process of a running container (cgroup v1 freezer, v2 cgroup.freeze)."""
    from ..state.store import RUNNING

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
    from ..spec import check_name

    check_name(new_name)
    store = _store(root)
    record = store.lookup(ref)
    if record.name == new_name:
        raise Refused("Renaming a container with the same name as its current name")
    from ..network import attach

    attach.rename(store, record, new_name)


def cp(source: str, dest: str, archive: bool = False, follow_link: bool = False, root=None) -> None:
    """Copy files between a container and the host, as docker cp: one of source and dest is
    CONTAINER:PATH, the other a host path, or "-" (a tar on stdin / stdout). Running or
    stopped containers; paths inside resolve within the container's root. archive=True
    keeps owners (otherwise root in the container, the caller on the host); follow_link=True
    copies what a source symlink points to."""
    from ..container import copy

    src_ref, src_path = _cp_side(source)
    dst_ref, dst_path = _cp_side(dest)
    if (src_ref is None) == (dst_ref is None):
        raise TinydockerError("copying between containers is not supported" if src_ref else
                              "must specify at least one container source", code=1)
    if (source == "-" and dst_ref is None) or (dest == "-" and src_ref is None):
        raise TinydockerError("'-' stands for the tar stream on the host's side of a copy", code=1)
    ref, path = (src_ref, src_path) if src_ref else (dst_ref, dst_path)
    if not path.startswith("/"):
        path = "/" + path  # relative to the container's root, as docker takes it
    store, record = _find(ref, root)
    where = f"container {record.name}"
    enter, root_fd = _cp_enter(store, record, writable=dst_ref is not None)
    try:
        if src_ref:
            copy.copy_out(enter, path, dest, archive, follow_link, where)
        else:
            copy.copy_in(enter, source, path, archive, follow_link, where)
    finally:
        if root_fd is not None:
            os.close(root_fd)


def _cp_side(arg: str) -> tuple[str | None, str]:
    """(container reference, path) of a cp argument; (None, arg) for the host's side.
    A host path with a colon is written ./a:b or /a:b, as docker asks."""
    if arg == "-" or arg.startswith(("/", ".")) or ":" not in arg:
        return None, arg
    ref, _, path = arg.partition(":")
    return ref, path


def _cp_enter(store, record, writable: bool):
    """How to enter the container's root: a running one's own (its volumes with it), else its
    overlay in a mount namespace of the copier's own; and a descriptor to close after."""
    from ..container import copy
    from ..state.store import RUNNING

    if record.status == RUNNING:
        try:
            fd = os.open(f"/proc/{record.pid}/root", os.O_PATH | os.O_DIRECTORY)
        except OSError:
            fd = None
        if fd is not None and record.container_alive():  # that pid is still this container
            return copy.enter_running(fd), fd
        if fd is not None:
            os.close(fd)
        record = store.observe(store.lookup(record.id))
    if record.status == RUNNING:
        raise Refused(f"container {record.name} is changing state: try again")
    from ..volume.store import VolumeStore

    cdir = store.container_dir(record.name)
    mounts = VolumeStore(store.root).sources(record.spec.get("mounts", []))
    return copy.enter_stopped(str(cdir), store.lower_dirs(record.name), writable, mounts), None


def diff(ref: str, root=None) -> list[tuple[str, str]]:
    """What the container changed in its filesystem: (kind, path) pairs, kind A (added),
    C (changed) or D (deleted), read from its overlay's upper directory (running or not)."""
    from ..container.changes import changes

    store, record = _find(ref, root)
    cdir = store.container_dir(record.name)
    layers = [str(cdir / d) for d in store.lower_dirs(record.name)]
    return changes(str(cdir / "upper"), layers)


def top(ref: str, ps_args: Sequence[str] = (), root=None) -> tuple[list[str], list[list[str]]]:
    """The container's processes as the host's `ps ps_args` (default -ef) shows them:
    (column titles, rows), as docker's top."""
    import subprocess

    from ..state.store import RUNNING

    store, record = _find(ref, root)
    if record.status != RUNNING:
        raise NotRunning(record.name)
    pids = set(store.cgroup(record).pids())
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


def restart(ref: str, timeout: float | None = None, root=None) -> None:
    record = stop(ref, timeout=timeout, root=root)
    start(record.id, root=root)
    events.container(paths.resolve(root), record, "restart")


def wait(ref: str, root=None) -> int:
    """Block until the container stops; its exit code."""
    from ..state.store import RUNNING

    store, record = _find(ref, root)
    while record.status == RUNNING or record.starting:
        if record.status == RUNNING:
            _wait_gone(record, None)
        else:
            time.sleep(0.05)  # being started: it will be running (or have failed) in a moment
        record = store.observe(store.load(record.name) or record)
    return record.exit_code if record.exit_code is not None else 0


def logs(ref: str, follow: bool = False, tail: int | None = None, timestamps: bool = False,
         since: str | None = None, until: str | None = None, details: bool = False, root=None):
    """The container's output as (stream, bytes) pairs, stream being 'stdout' or 'stderr',
    whether it ran attached or detached; follow=True goes on until the container stops.
    since/until as docker's (a Unix time, an RFC 3339 date, or a duration ago: "10m");
    details=True puts the --log-opt labels=/env= values before each line, as docker does."""
    from ..container.logs import read
    from .times import moment

    store = _store(root)
    record = store.lookup(ref)
    spec = ContainerSpec.from_dict(record.spec)
    if spec.log_driver == "none":
        raise Refused("configured logging driver does not support reading")
    now = time.time_ns()
    yield from read(store, record, follow=follow, tail=tail, timestamps=timestamps,
                    since=moment(since, "--since", now) if since else None,
                    until=moment(until, "--until", now) if until else None,
                    details=spec.log_details() if details else None)


def attach(ref: str, stdin: bool = True, sig_proxy: bool = True, detach_keys: str = "ctrl-p,ctrl-q",
           root=None) -> int | None:
    """Join this process's stdin, stdout and stderr to a running (detached) container: its
    output from now on, and (if it was started with -i) its input; with sig_proxy the signals
    this process gets go to it. Returns its exit code once it ends, or None if the user
    typed the detach keys (docker's ctrl-p,ctrl-q), which leave it running."""
    from ..container import attach as joined
    from ..state.store import RUNNING

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
         input: bytes | None = None, privileged: bool = False, root=None):
    """Run COMMAND as a new process in a running container (its namespaces, root, cgroup,
    capabilities), as its user unless `user` is given, and wait for it; returns its exit
    code, or Completed with capture_output=True. privileged=True gives it every capability."""
    from ..container.exec import exec_in
    from ..security import seccomp
    from ..state.store import RUNNING

    if not command:
        raise TinydockerError("exec needs a command")
    store, record = _find(ref, root)
    if record.status != RUNNING:
        raise NotRunning(record.name)
    if record.paused:
        raise Refused(f"container {record.name} is paused, unpause the container before exec")
    # the container's spec with exec's additions: its checks and its environment rules apply
    base = record.spec
    spec = ContainerSpec.from_dict({**base, "tty": tty, "env": base.get("env", []) + list(env),
                                    "workdir": workdir or base.get("workdir", "/")})
    return exec_in(record, list(command), spec.container_env(), spec.workdir,
                   spec.user if user is None else user,
                   seccomp.armed(spec.confinement(privileged), store.root.seccomp_cache), spec.group_add,
                   interactive=interactive,
                   tty=tty, capture_output=capture_output, input=input)


def ps(all: bool = False, filters: Sequence[str] = (), last: int = -1, root=None):
    """Containers as they truly stand, newest first: the running ones, or all with all=True
    or a status or exited filter (as docker: a name filter alone finds running ones);
    filters as docker's --filter ("status=exited", "label=k=v", "name=web",
    "id=", "exited=0", "ancestor=IMAGE", "before=C", "since=C", "network=N", "volume=V");
    last=N the N newest (of every state, as docker's --last)."""
    from ..state.store import RUNNING
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


def inspect(ref: str, root=None):
    return _find(ref, root)[1]


def remove(ref: str, force: bool = False, volumes: bool = False, root=None) -> None:
    """Remove a container by name or id prefix; a running one only with force (it is killed);
    volumes=True (docker's rm -v) removes its anonymous volumes too."""
    store = _store(root)
    store.sweep()
    record, alive = store.hold_for_removal(store.observe(store.lookup(ref)), force)
    if alive:
        _kill(record)
    _discard(store, record)
    if volumes:
        from ..volume.store import VolumeStore

        VolumeStore(store.root, records=store.all).release_anonymous(record.spec.get("mounts", []))


def _discard(store, record) -> None:
    """Network and cgroup first, record last: a removal killed midway leaves a record that
    `rm` can retry."""
    from ..cgroups import open_cgroup
    from ..network.attach import release_all

    # what a killed monitor could not give back, or a start killed before it recorded it
    release_all(store, record.id)
    open_cgroup(record.id).remove()
    try:
        from ..state.stack import layer_links

        links = layer_links(store.container_dir(record.name))
    except OSError:
        links = []
    store.remove(record)
    if links:
        from ..image.store import ImageStore

        # a layer a commit promoted its upper to, whose image has gone: it goes with it
        ImageStore(store.root).release(links)


def _kill(record) -> None:
    """SIGKILL the container's PID 1 (the kernel then ends the rest of its PID namespace)."""
    import signal

    _signal(record, signal.SIGKILL)
    if not _wait_gone(record, 10):
        raise TinydockerError(f"container {record.name} (pid {record.pid}) did not die after SIGKILL")


def _pidfd(record) -> int | None:
    """A pidfd of the container's PID 1, or None if it has ended. Checked after opening:
    the descriptor then stays on this process even if the pid number is reused."""
    try:
        fd = os.pidfd_open(record.pid)
    except ProcessLookupError:
        return None
    if record.container_alive():
        return fd
    os.close(fd)
    return None


def _signal(record, sig: int) -> None:
    import signal

    fd = _pidfd(record)
    if fd is None:
        return
    try:
        signal.pidfd_send_signal(fd, sig)
    except ProcessLookupError:
        pass  # it ended meanwhile
    finally:
        os.close(fd)
    if record.paused:
        # a frozen process acts on no signal: thaw it, and it does (docker's kill and stop)
        from ..cgroups import open_cgroup

        try:
            open_cgroup(record.id).thaw()
        except (FileNotFoundError, TinydockerError):
            pass  # gone meanwhile


def _wait_gone(record, timeout: float | None) -> bool:
    """Wait up to `timeout` seconds (None: for ever) for PID 1 to end; whether it has."""
    import select

    fd = _pidfd(record)
    if fd is None:
        return True
    try:
        return bool(select.select([fd], [], [], timeout)[0])
    finally:
        os.close(fd)


def parse_signal(value) -> int:
    import signal

    text = str(value).strip().upper()
    try:
        return signal.Signals(int(text)) if text.isdigit() else signal.Signals[
            text if text.startswith("SIG") else "SIG" + text]
    except (KeyError, ValueError):
        raise TinydockerError(f"invalid signal: {value}") from None


def stats(refs: Sequence[str] = (), all: bool = False, interval: float = 0.5, root=None) -> list[dict]:
    """One reading of each container's cgroup, like `docker stats --no-stream`.

    CPU % is the CPU time the container used over `interval` seconds, per wall-clock time
    (100% is one CPU busy). Without refs: the running containers (all of them with all=True).
    Each dict: id, name, running, cpu_percent, memory, memory_limit, memory_percent, pids;
    a value is None where the container is not running or the controller is absent.
    """
    from ..cgroups import layout, open_cgroup
    from ..state.store import RUNNING

    store = _store(root)
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


def prune_containers(root=None) -> dict:
    """Remove every stopped container (and finish removals a killed `rm` left halfway).
    Returns {"containers": [ids], "reclaimed": bytes of their upper layers}."""
    from ..state.store import RUNNING

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
            _discard(store, record)
        except TinydockerError:
            continue  # started meanwhile, or its cgroup will not go yet: a later prune
        removed.append(record.id)
        reclaimed += size
    return {"containers": removed, "reclaimed": reclaimed}
