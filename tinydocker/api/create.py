"""The API's making of containers: run and create, each building a spec from the image's
config and docker's options (storage, seccomp, sysctls, the pull policy) for the runtime."""

from collections.abc import Sequence
import os

from ..errors import TinydockerError
from ..spec import DEFAULT_IMAGE, ContainerSpec
from ..state import root as paths
from ..container.signals import parse_signal


STREAMS = ("stdin", "stdout", "stderr")


def run(name: str, command: Sequence[str] | None = None, *, capture_output: bool = False,
        input: bytes | None = None, detach: bool = False, attach: Sequence[str] = (), root=None, **options):
    """Run COMMAND in a new container NAME and wait for it.

    Returns the exit code; with capture_output=True a Completed(exit_code, stdout, stderr);
    with detach=True a Container (api/handles.py: the id, a str, with stream(), wait(timeout,
    kill), exec(), copy_in/copy_out and `with`), as soon as it has started (its output
    then goes to its log, see logs()). `input` (bytes) is fed to the container's stdin. attach=
    ["stdout"] (docker's -a STREAM) passes only those streams on, "stdin" too opening the
    container's input; the others go to its log. `options` are those of create() (image,
    env, limits, confinement, storage, network...).
    """
    from ..container.runtime import run as realise
    streams = {s.lower() for s in attach}
    if streams - set(STREAMS):
        bad = sorted(streams - set(STREAMS))[0]
        raise TinydockerError(f'invalid argument "{bad}" for "-a, --attach" flag: valid streams are STDIN, '
                              "STDOUT and STDERR")
    if streams and detach:
        raise TinydockerError("Conflicting options: -a and -d")
    if "stdin" in streams:
        options["interactive"] = True
    spec, data_root, layers = _prepare(name, command, root, **options)
    shown = tuple(s.encode() for s in ("stdout", "stderr") if s in streams) if streams else (b"stdout", b"stderr")
    done = realise(spec, data_root, layers, capture_output=capture_output, input=input, detach=detach, shown=shown)
    if detach:
        from .handles import Container

        return Container(done, name, root)
    return done


def create(name: str, command: Sequence[str] | None = None, *, root=None, **options) -> str:
    """Make container NAME without starting it (status "created"); start() runs it.
    Takes create()'s options, as run() does; returns the container's id."""
    from ..state.store import Store
    spec, data_root, layers = _prepare(name, command, root, **options)
    from ..volume.store import VolumeStore

    return Store(data_root).create(spec.to_dict(), layers, launching=False,
                                   also=lambda: VolumeStore(data_root).ensure_for(spec.mounts)).id


def _prepare(name: str, command: Sequence[str] | None, root, *, image: str = DEFAULT_IMAGE,
             entrypoint: Sequence[str] | str | None = None, user: str | None = None,
             env: Sequence[str] = (), env_files: Sequence[str] = (), labels: Sequence[str] | dict = (),
             workdir: str | None = None, hostname: str | None = None,
             interactive: bool = False, stdin_once: bool = False, tty: bool = False, remove: bool = False,
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
             network: str = "bridge", ip: str | None = None, network_aliases: Sequence[str] = (),
             pid: str | None = None,
             mac_address: str | None = None, publish: Sequence[str] = (),
             publish_all: bool = False, dns: Sequence[str] = (), dns_search: Sequence[str] = (),
             dns_options: Sequence[str] = (), add_hosts: Sequence[str] = (),
             restart: str = "no", init: bool = False, log_driver: str = "json-file",
             log_opts: Sequence[str] | dict = (), pull: str = "missing", quiet: bool = True,
             runtime: str | None = None, healthcheck: dict | None = None):
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
    network's name, network_aliases=["db"] (more names its peers there know it by), pid="host" |
    "container:NAME", ip="10.77.0.9", mac_address="02:42:0a:4d:00:09",
    publish=["8080:80", "127.0.0.1:5353:53/udp", "80"], publish_all=True,
    dns=["10.0.0.53"], dns_search=["example.com"], dns_options=["ndots:2"], add_hosts=["db:10.0.0.5"].
    Lifetime and output as docker's flags: restart="on-failure:3" (detached containers; the
    monitor restarts them), init=True, log_driver="none", log_opts=["max-size=1m", "max-file=3"],
    pull="missing"|"always"|"never" (docker's --pull; quiet=False prints the pull's lines on stderr).
    healthcheck={"test": ["CMD", "wget", "-q", "http://127.0.0.1/"], "interval": "1s", "retries": 3}
    (docker's HEALTHCHECK: "test" ["CMD", ...], ["CMD-SHELL", "cmd"] or ["NONE"]; "interval", "timeout",
    "start_period" as Go durations or ns; over the image's, field by field): run by the monitor in
    a detached container, its result in inspect()'s State.Health.
    runtime="runc" (or "tinydocker-runtime", "crun", a path): start the container through that OCI
    runtime binary, instead of tinydocker's own runtime code in this process ("builtin"; the
    default unless the data root's config.toml says `runtime = "..."`).
    """
    from ..cgroups import limits
    from ..image.config import process
    from ..image.store import ImageStore
    from ..names import check_name
    from ..spec import env_file_lines, parse_labels

    check_name(name)
    data_root = paths.resolve(root)
    from_files = [line for path in env_files for line in env_file_lines(path)]
    user_labels = dict(labels) if isinstance(labels, dict) else parse_labels(labels)
    if stop_signal:
        parse_signal(stop_signal)
    network = _network_named(data_root, network)
    images = ImageStore(data_root)
    found = _image_for(images, image, pull, quiet)
    images.check_owners()
    if isinstance(entrypoint, str):
        entrypoint = [entrypoint] if entrypoint else []
    config = images.config(found)
    settings = process(config, list(command or []), entrypoint, from_files + list(env), workdir, user)
    storage, tmpfs = _storage(volumes, mounts, list(tmpfs), settings.pop("volumes"))
    settings["labels"].update(user_labels)
    if stop_signal:
        settings["stop_signal"] = stop_signal
    image_check = (config.get("config") or {}).get("Healthcheck")
    if image_check or healthcheck:
        from ..container.health import merged

        settings["healthcheck"] = merged(image_check, _healthcheck(healthcheck or {}))
    spec = ContainerSpec(name=name, image=image, image_id=found.id, hostname=hostname or "",
                         interactive=interactive, stdin_once=stdin_once, tty=tty, remove=remove, **settings,
                         stop_timeout=-1 if stop_timeout is None else stop_timeout,
                         cap_add=list(cap_add), cap_drop=list(cap_drop), privileged=privileged,
                         security_opt=list(security_opt), seccomp_profile=_seccomp_profile(security_opt),
                         devices=list(devices), device_cgroup_rules=list(device_cgroup_rules),
                         read_only=read_only,
                         tmpfs=tmpfs, mounts=storage, group_add=list(group_add),
                         network=network, ip=ip or "", aliases=list(network_aliases), pid=pid or "", mac_address=mac_address or "",
                         ports=list(publish), publish_all=publish_all,
                         dns=list(dns), dns_search=list(dns_search), dns_options=list(dns_options),
                         add_hosts=list(add_hosts), restart=restart, init=init, runtime=_runtime(runtime, data_root),
                         log_driver=log_driver, log_opts=_key_values(log_opts, "--log-opt"),
                         sysctls=dict(sysctls) if isinstance(sysctls, dict) else _sysctls(sysctls),
                         limits=limits.build(memory=memory, memory_swap=memory_swap,
                                             memory_reservation=memory_reservation, cpus=cpus,
                                             cpu_shares=cpu_shares, cpuset_cpus=cpuset_cpus,
                                             cpuset_mems=cpuset_mems, pids_limit=pids_limit))
    return spec, data_root, images.layer_dirs(found)


PULL_POLICIES = ("always", "missing", "never")


def _healthcheck(given: dict) -> dict:
    """The check's durations as nanoseconds (docker's own unit for them)."""
    from .times import duration

    check = dict(given)
    for key in ("interval", "timeout", "start_period"):
        if check.get(key) is not None:
            check[key] = duration(check[key], f"--health-{key.replace('_', '-')}")
            if check[key] < 0:
                raise TinydockerError(f"--health-{key.replace('_', '-')} cannot be negative")
    return check


def _runtime(name: str | None, data_root) -> str:
    from ..container.oci import chosen

    return chosen(name, data_root)


def _network_named(data_root, network: str) -> str:
    """A user network as the spec keeps it, by name, though given by id or id prefix (docker's
    run --network ID); one that does not exist is refused at create, as docker's."""
    if network in ("bridge", "none", "host") or network.startswith("container:"):
        return network
    from ..network.store import NetworkStore, NoSuchNetwork

    try:
        return NetworkStore(data_root).find(network)["name"]
    except NoSuchNetwork as e:
        raise TinydockerError(str(e)) from None  # run's own failure: 125


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
    # an id cannot be pulled, and a recipe's image is built here: "always" looks for the
    # recipe only then, so that an ordinary run reads no recipe (ensure does, when needed)
    if pull != "always" or reference.is_id_prefix(ref) or recipe.recipe_for(ref) is not None:
        try:
            return ensure(images, ref)
        except NotHere:  # neither here nor a recipe's
            if pull == "never" or reference.is_id_prefix(ref):
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
