"""`tinydocker run` and the commands for containers: lifecycle, ps, rm, inspect, stats, logs, exec."""

import sys
from typing import List, Optional

import typer
from typer.core import TyperCommand

from .. import api
from ..errors import NoSuchContainer, TinydockerError
from .app import (FORMAT_HELP, INSPECT_FORMAT_HELP, app, check_format, confirm, container_app, each, fail,
                  listing_text, options, say, show_listing)


class _WithoutDetach(TyperCommand):
    """`create`: run's options, one table of them, but -d and -a (which only a run has here)."""

    def __init__(self, *args, params=None, **kwargs):
        super().__init__(*args, params=[p for p in params or [] if p.name not in ("detach", "attach")], **kwargs)


_CREATE_HELP = """Create a new container without starting it (status Created); 'start' runs it.

    Takes run's options; prints the container's id.
    """


@app.command(context_settings={"allow_interspersed_args": False})
@app.command("create", cls=_WithoutDetach, help=_CREATE_HELP, context_settings={"allow_interspersed_args": False})
def run(
    ctx: typer.Context,
    name: str = typer.Argument(..., metavar="NAME", help="Container name: [a-zA-Z0-9][a-zA-Z0-9_.-]*."),
    command: Optional[List[str]] = typer.Argument(
        None, metavar="[CMD [ARG...]]",
        help="Command and its arguments, passed as they are (default: the image's Cmd)."),
    image: str = typer.Option("busybox", "--image", help="Image to run: name[:tag], name@digest or id "
                              "(busybox is built from images/ on first use)."),
    pull: str = typer.Option("missing", "--pull", metavar="missing|always|never",
                             help="Pull the image first: if it is not here (missing), always, or never."),
    quiet: bool = typer.Option(False, "-q", "--quiet", help="Say nothing of a pull (its lines go to stderr)."),
    entrypoint: Optional[str] = typer.Option(None, "--entrypoint", metavar="CMD",
                                             help="Replace the image's Entrypoint (and its Cmd); '' clears it."),
    user: Optional[str] = typer.Option(None, "-u", "--user", metavar="USER[:GROUP]",
                                       help="User to run as: name or uid, with group name or gid."),
    interactive: bool = typer.Option(False, "-i", "--interactive", help="Keep stdin attached."),
    tty: bool = typer.Option(False, "-t", "--tty", help="Give the container a pseudo-terminal."),
    remove: bool = typer.Option(False, "--rm", help="Remove the container when it exits."),
    detach: bool = typer.Option(False, "-d", "--detach",
                                help="Run in the background, watched by the data root's monitor; print the id. "
                                     "Output goes to the container's log (see 'logs')."),
    attach: Optional[List[str]] = typer.Option(None, "-a", "--attach", metavar="STREAM",
                                               help="Attach only STDIN, STDOUT or STDERR (repeatable); the "
                                               "others go to the log."),
    env: Optional[List[str]] = typer.Option(None, "-e", "--env", metavar="KEY=VAL",
                                            help="Set an environment variable (repeatable)."),
    env_file: Optional[List[str]] = typer.Option(
        None, "--env-file", metavar="FILE", help="Read environment variables from a file: KEY=VAL or KEY per "
        "line, # comments (repeatable; -e wins)."),
    label: Optional[List[str]] = typer.Option(None, "-l", "--label", metavar="KEY=VAL",
                                              help="Set a label on the container (repeatable)."),
    stop_signal: Optional[str] = typer.Option(None, "--stop-signal", metavar="SIGNAL",
                                              help="Signal that 'stop' sends (default: the image's, else SIGTERM)."),
    stop_timeout: Optional[int] = typer.Option(None, "--stop-timeout", metavar="SECONDS",
                                               help="Seconds 'stop' waits before SIGKILL (default 10)."),
    restart: str = typer.Option("no", "--restart", metavar="POLICY",
                                help="Start a detached container again when it ends: no (default), always, "
                                     "unless-stopped (not after 'stop'), on-failure[:N] (a non-zero exit, N times at most)."),
    init: bool = typer.Option(False, "--init", help="Run a small init as PID 1 that forwards signals to the "
                                                    "command and reaps orphaned processes."),
    runtime: Optional[str] = typer.Option(
        None, "--runtime", metavar="RUNTIME",
        help="An OCI runtime to run the container on: tinydocker-runtime, runc, crun, or a path; "
             "builtin is tinydocker's own, run in-process (the default, unless the data root's config.toml "
             "sets runtime = \"...\")."),
    log_driver: str = typer.Option("json-file", "--log-driver", metavar="DRIVER",
                                   help="json-file (default: the output kept for 'logs') or none."),
    log_opt: Optional[List[str]] = typer.Option(
        None, "--log-opt", metavar="KEY=VALUE",
        help="max-size=10m (rotate past it), max-file=3 (files kept), labels=a,b and env=A,B (shown by "
             "'logs --details'); repeatable."),
    workdir: Optional[str] = typer.Option(None, "-w", "--workdir",
                                          help="Working directory inside the container (default: the image's)."),
    hostname: Optional[str] = typer.Option(None, "--hostname", help="Hostname (default: the container name)."),
    memory: Optional[str] = typer.Option(None, "-m", "--memory", metavar="BYTES",
                                         help="Memory limit: bytes or with a unit, 512k, 64m, 1g (at least 6m)."),
    memory_swap: Optional[str] = typer.Option(
        None, "--memory-swap", metavar="BYTES",
        help="Memory plus swap limit (needs -m; -1 for unlimited swap; default: twice -m)."),
    memory_reservation: Optional[str] = typer.Option(
        None, "--memory-reservation", metavar="BYTES",
        help="Soft limit the kernel reclaims the container's memory down to when the host runs short (at most -m)."),
    cpus: Optional[str] = typer.Option(None, "--cpus", metavar="N", help="CPUs the container may use, e.g. 1.5."),
    cpu_shares: Optional[int] = typer.Option(None, "-c", "--cpu-shares", metavar="N",
                                             help="Relative CPU weight (default 1024; weight on cgroup v2)."),
    cpuset_cpus: Optional[str] = typer.Option(None, "--cpuset-cpus", metavar="LIST",
                                              help="CPUs to run on: 0, 0-1 or 0,1."),
    cpuset_mems: Optional[str] = typer.Option(None, "--cpuset-mems", metavar="LIST",
                                              help="Memory nodes to allocate from: 0, 0-1 or 0,1."),
    pids_limit: Optional[int] = typer.Option(None, "--pids-limit", metavar="N",
                                             help="Maximum number of processes (default 2048; -1 for unlimited)."),
    cap_add: Optional[List[str]] = typer.Option(
        None, "--cap-add", metavar="CAP", help="Add a capability (NET_ADMIN, CAP_SYS_TIME..., or ALL; repeatable)."),
    cap_drop: Optional[List[str]] = typer.Option(
        None, "--cap-drop", metavar="CAP", help="Drop a capability of the default set, or ALL (repeatable)."),
    privileged: bool = typer.Option(False, "--privileged",
                                    help="docker's: every capability and host device, no seccomp filter, "
                                         "/proc and /sys unmasked, /sys, /proc/sys and the cgroups writable."),
    security_opt: Optional[List[str]] = typer.Option(
        None, "--security-opt", metavar="OPT",
        help="no-new-privileges[=true|false] (no setuid gains), or seccomp=unconfined."),
    device: Optional[List[str]] = typer.Option(
        None, "--device", metavar="HOST[:CTR[:rwm]]", help="Give the container a host device node (repeatable)."),
    device_cgroup_rule: Optional[List[str]] = typer.Option(
        None, "--device-cgroup-rule", metavar="'c|b|a MAJOR:MINOR rwm'",
        help="Let the container make and open these devices, as 'c 1:3 rwm' (* for any number; repeatable)."),
    read_only: bool = typer.Option(False, "--read-only", help="Mount the container's root filesystem read-only."),
    tmpfs: Optional[List[str]] = typer.Option(
        None, "--tmpfs", metavar="PATH[:OPTS]", help="Mount an empty tmpfs at PATH (default rw,noexec,nosuid,nodev; "
        "OPTS such as size=64m,mode=1777,exec)."),
    group_add: Optional[List[str]] = typer.Option(None, "--group-add", metavar="GROUP",
                                                  help="Add a supplementary group, by name or id (repeatable)."),
    volume: Optional[List[str]] = typer.Option(
        None, "-v", "--volume", metavar="[SRC:]DST[:ro]", help="Mount a host directory (absolute SRC, made if "
        "missing) or a named volume (SRC a name, made on first use and filled from the image), or an anonymous "
        "volume (DST alone); :ro for read-only (repeatable)."),
    mount: Optional[List[str]] = typer.Option(
        None, "--mount", metavar="type=…,source=…,target=…", help="docker's long form: type=bind|volume|tmpfs, "
        "source, target, readonly, volume-nocopy, tmpfs-size, tmpfs-mode (a bind's source must exist)."),
    network: str = typer.Option("bridge", "--network", "--net", metavar="NETWORK",
                                help="bridge (default: an address on tinydocker's bridge), none (loopback only), "
                                     "host (the host's network), container:NAME (another container's), or a "
                                     "network made with 'network create'."),
    ip: Optional[str] = typer.Option(None, "--ip", metavar="IPv4", help="The container's address on its network."),
    network_alias: Optional[List[str]] = typer.Option(
        None, "--network-alias", metavar="NAME",
        help="Another name its peers on its (user) network know it by (repeatable)."),
    mac_address: Optional[str] = typer.Option(None, "--mac-address", metavar="MAC",
                                              help="eth0's MAC address (default: 02:42 and its IPv4 address)."),
    pid: Optional[str] = typer.Option(None, "--pid", metavar="MODE",
                                      help="PID namespace: host (the host's processes), or container:NAME (another's)."),
    publish: Optional[List[str]] = typer.Option(
        None, "-p", "--publish", metavar="[IP:][HOST:]CTR[/udp]",
        help="Publish a container port on the host (a free host port if HOST is left out; ranges such as "
             "8000-8002:80-82, or 8000-8010:80 for the first free one; repeatable)."),
    publish_all: bool = typer.Option(False, "-P", "--publish-all", help="Publish the image's exposed ports on free host ports."),
    dns: Optional[List[str]] = typer.Option(None, "--dns", metavar="IP", help="Nameserver for /etc/resolv.conf (repeatable)."),
    dns_search: Optional[List[str]] = typer.Option(None, "--dns-search", metavar="DOMAIN",
                                                   help="Search domain for /etc/resolv.conf ('.' for none; repeatable)."),
    dns_option: Optional[List[str]] = typer.Option(None, "--dns-option", metavar="OPT",
                                                   help="Resolver option for /etc/resolv.conf, e.g. ndots:2 (repeatable)."),
    add_host: Optional[List[str]] = typer.Option(None, "--add-host", metavar="NAME:IP",
                                                 help="Add a line to /etc/hosts (repeatable)."),
    sysctl: Optional[List[str]] = typer.Option(
        None, "--sysctl", metavar="KEY=VALUE", help="Set a namespaced kernel setting: net.*, kernel.shm*, "
        "kernel.msg*, kernel.sem, fs.mqueue.* (repeatable)."),
    health_cmd: Optional[str] = typer.Option(
        None, "--health-cmd", metavar="CMD",
        help="A shell command checking the container's health (0: healthy); run by the monitor in a detached "
             "container, its result in inspect's State.Health."),
    health_interval: Optional[str] = typer.Option(None, "--health-interval", metavar="DURATION",
                                                  help="Time between checks (default 30s; 500ms, 1m30s...)."),
    health_timeout: Optional[str] = typer.Option(None, "--health-timeout", metavar="DURATION",
                                                 help="A check running longer fails (default 30s)."),
    health_retries: Optional[int] = typer.Option(None, "--health-retries", metavar="N",
                                                 help="Failures in a row that make it unhealthy (default 3)."),
    health_start_period: Optional[str] = typer.Option(
        None, "--health-start-period", metavar="DURATION",
        help="Failures before the first success do not count for this long after the start (default 0s)."),
    no_healthcheck: bool = typer.Option(False, "--no-healthcheck", help="Disable the image's HEALTHCHECK."),
):
    """Run a command in a new container and wait for it; exits with the command's code.

    Everything after NAME is the container's command, options included. The container
    gets its own cgroup (tinydocker/<id>), limited by the options given.
    """
    import os

    if ctx.info_name == "create":
        print(api.create(name, command, root=options.root, **_container_options(locals())))
        raise typer.Exit(0)
    if interactive and tty and not detach and not os.isatty(0):
        raise fail("the input device is not a TTY")
    result = api.run(name, command, detach=detach, attach=attach or [], root=options.root,
                     **_container_options(locals()))
    if detach:
        print(result)
        raise typer.Exit(0)
    raise typer.Exit(result)


# the flags run takes, under the API's names (see api.create._prepare); the lists typer
# leaves as None when a flag is not given
_API_NAMES = {"env_file": "env_files", "label": "labels", "device": "devices", "volume": "volumes",
              "device_cgroup_rule": "device_cgroup_rules",
              "mount": "mounts", "sysctl": "sysctls", "add_host": "add_hosts", "log_opt": "log_opts",
              "dns_option": "dns_options", "network_alias": "network_aliases"}
_NOT_OPTIONS = {"ctx", "name", "command", "detach", "attach", "os"}


def _container_options(values: dict) -> dict:
    if values.get("network") == "host" and (values.get("publish") or values.get("publish_all")):
        sys.stderr.write("WARNING: Published ports are discarded when using host network mode\n")  # docker's words
    lists = {"env", "env_file", "label", "cap_add", "cap_drop", "security_opt", "device", "tmpfs", "group_add",
             "device_cgroup_rule",
             "volume", "mount", "publish", "dns", "dns_search", "dns_option", "add_host", "sysctl", "log_opt",
             "network_alias"}
    chosen = {_API_NAMES.get(k, k): (v or [] if k in lists else v)
              for k, v in values.items() if k not in _NOT_OPTIONS}
    chosen["healthcheck"] = _healthcheck(chosen)
    return chosen


def _healthcheck(chosen: dict) -> dict | None:
    """docker's --health-* flags (taken out of `chosen`) as the API's healthcheck."""
    command, disabled = chosen.pop("health_cmd"), chosen.pop("no_healthcheck")
    check = {key: chosen.pop(f"health_{key}") for key in ("interval", "timeout", "start_period", "retries")}
    check = {k: v for k, v in check.items() if v is not None}
    if disabled:
        if command or check:
            raise fail("--no-healthcheck conflicts with --health-* options")  # docker's words
        return {"test": ["NONE"]}
    if command:
        check["test"] = ["CMD-SHELL", command]
    return check or None


@app.command()
def start(
    containers: List[str] = typer.Argument(..., metavar="CONTAINER...", help="Names or ID prefixes."),
    attach: bool = typer.Option(False, "-a", "--attach", help="Wait for the container and show its output; "
                                "exits with its code (one container only)."),
    interactive: bool = typer.Option(False, "-i", "--interactive", help="Attach, and pass this stdin on to a "
                                     "container made with -i (docker's start -i)."),
):
    """Start stopped containers again, with their files as they left them."""
    if attach or interactive:  # only -i passes this stdin on, as docker's start
        if len(containers) != 1:
            raise fail("you cannot start and attach multiple containers at once")
        code = api.start(containers[0], attach=True, interactive=interactive, root=options.root)
        raise typer.Exit(code or 0)
    each(containers, lambda ref: api.start(ref, root=options.root))


@app.command()
def stop(
    containers: List[str] = typer.Argument(..., metavar="CONTAINER...", help="Names or ID prefixes."),
    time: Optional[int] = typer.Option(None, "-t", "--time", metavar="SECONDS",
                                       help="Seconds to wait before SIGKILL (default: the container's "
                                            "--stop-timeout, else 10)."),
):
    """Stop running containers: SIGTERM, then SIGKILL after the timeout."""
    if time is not None and time < 0:
        raise fail(f"invalid timeout {time}: seconds cannot be negative")
    each(containers, lambda ref: api.stop(ref, timeout=time, root=options.root))


@app.command()
def kill(
    containers: List[str] = typer.Argument(..., metavar="CONTAINER...", help="Names or ID prefixes."),
    signal: str = typer.Option("KILL", "-s", "--signal", help="Signal to send: name (TERM, SIGHUP) or number."),
):
    """Send a signal to the main process of running containers (default SIGKILL)."""
    api.parse_signal(signal)  # a bad signal is bad input: refuse it before touching any container
    each(containers, lambda ref: api.kill(ref, signal=signal, root=options.root))


@app.command()
def restart(
    containers: List[str] = typer.Argument(..., metavar="CONTAINER...", help="Names or ID prefixes."),
    time: Optional[int] = typer.Option(None, "-t", "--time", metavar="SECONDS",
                                       help="Seconds to wait before SIGKILL (default: the container's "
                                            "--stop-timeout, else 10)."),
):
    """Stop (if running) and start containers again, detached."""
    each(containers, lambda ref: api.restart(ref, timeout=time, root=options.root))


@app.command()
def update(
    containers: List[str] = typer.Argument(..., metavar="CONTAINER...", help="Names or ID prefixes."),
    memory: Optional[str] = typer.Option(None, "-m", "--memory", metavar="BYTES", help="Memory limit (0: none)."),
    memory_swap: Optional[str] = typer.Option(None, "--memory-swap", metavar="BYTES",
                                              help="Memory plus swap limit (-1 for unlimited swap)."),
    cpus: Optional[str] = typer.Option(None, "--cpus", metavar="N", help="CPUs the container may use (0: no limit)."),
    cpu_shares: Optional[int] = typer.Option(None, "-c", "--cpu-shares", metavar="N", help="Relative CPU weight."),
    cpuset_cpus: Optional[str] = typer.Option(None, "--cpuset-cpus", metavar="LIST", help="CPUs to run on."),
    cpuset_mems: Optional[str] = typer.Option(None, "--cpuset-mems", metavar="LIST", help="Memory nodes."),
    pids_limit: Optional[int] = typer.Option(None, "--pids-limit", metavar="N", help="Maximum processes (-1: none)."),
    memory_reservation: Optional[str] = typer.Option(None, "--memory-reservation", metavar="BYTES",
                                                     help="Memory soft limit (0: none)."),
):
    """Change the limits of containers: at once if they run, and for every later start."""
    each(containers, lambda ref: api.update(ref, memory=memory, memory_swap=memory_swap, cpus=cpus,
                                            cpu_shares=cpu_shares, cpuset_cpus=cpuset_cpus, cpuset_mems=cpuset_mems,
                                            pids_limit=pids_limit, memory_reservation=memory_reservation,
                                            root=options.root))


@app.command()
def pause(containers: List[str] = typer.Argument(..., metavar="CONTAINER...", help="Names or ID prefixes.")):
    """Freeze all processes of running containers (the cgroup freezer)."""
    each(containers, lambda ref: api.pause(ref, root=options.root))


@app.command()
def unpause(containers: List[str] = typer.Argument(..., metavar="CONTAINER...", help="Names or ID prefixes.")):
    """Thaw all processes of paused containers."""
    each(containers, lambda ref: api.unpause(ref, root=options.root))


@app.command()
def rename(
    container: str = typer.Argument(..., metavar="CONTAINER", help="Name or ID prefix."),
    new_name: str = typer.Argument(..., metavar="NEW_NAME"),
):
    """Rename a container, running or not."""
    each([container], lambda ref: api.rename(ref, new_name, root=options.root), report=lambda *_: None)


@app.command(context_settings={"allow_interspersed_args": False, "ignore_unknown_options": True})
def top(
    container: str = typer.Argument(..., metavar="CONTAINER", help="Name or ID prefix of a running container."),
    ps_options: Optional[List[str]] = typer.Argument(None, metavar="[ps OPTIONS]",
                                                     help="Options for the host's ps (default -ef)."),
):
    """Show the running processes of a container, as the host's ps sees them."""
    from . import display

    titles, rows = api.top(container, ps_options or [], root=options.root)
    print(display.table(titles, [r + [""] * (len(titles) - len(r)) for r in rows]))


@app.command()
def cp(
    source: str = typer.Argument(..., metavar="SRC", help="CONTAINER:PATH, a host path, or - (a tar on stdin)."),
    dest: str = typer.Argument(..., metavar="DEST", help="CONTAINER:PATH, a host path, or - (a tar on stdout)."),
    archive: bool = typer.Option(False, "-a", "--archive", help="Keep owners (uid and gid) as they are."),
    follow_link: bool = typer.Option(False, "-L", "--follow-link", help="Copy what a source symlink points to."),
):
    """Copy files or directories between a container (running or not) and the host.

    Paths in the container resolve inside its root, symlinks included. A directory SRC
    lands in DEST/SRC if DEST exists, else as DEST; SRC/. copies its contents. Host paths
    with a colon are written ./a:b. Without -a, copies are owned by root in the container
    and by you on the host.
    """
    api.cp(source, dest, archive=archive, follow_link=follow_link, root=options.root)


@app.command()
def diff(container: str = typer.Argument(..., metavar="CONTAINER", help="Name or ID prefix.")):
    """Show what a container changed in its files: A added, C changed, D deleted."""
    for kind, path in api.diff(container, root=options.root):
        print(kind, path)


@app.command()
def wait(containers: List[str] = typer.Argument(..., metavar="CONTAINER...", help="Names or ID prefixes.")):
    """Block until containers stop; print each one's exit code."""
    failed = 0
    for ref in containers:
        try:
            print(api.wait(ref, root=options.root), flush=True)
        except TinydockerError as e:
            say(e)
            failed = 1
    raise typer.Exit(failed)


@app.command()
def logs(
    container: str = typer.Argument(..., metavar="CONTAINER", help="Name or ID prefix."),
    follow: bool = typer.Option(False, "-f", "--follow", help="Keep following until the container stops."),
    tail: str = typer.Option("all", "-n", "--tail", metavar="N", help="Only the last N lines ('all' by default)."),
    timestamps: bool = typer.Option(False, "-t", "--timestamps", help="Prefix each line with its time."),
    since: Optional[str] = typer.Option(None, "--since", metavar="TIME", help="Only lines from this time on: a Unix "
                                        "time, an RFC 3339 date (2026-11-23T21:00:00Z), or a duration ago (10m)."),
    until: Optional[str] = typer.Option(None, "--until", metavar="TIME", help="Only lines up to this time (as --since)."),
    details: bool = typer.Option(False, "--details", help="Put the values --log-opt labels= and env= chose before each line."),
):
    """Show a container's output (stdout to stdout, stderr to stderr), whether it ran in the
    foreground or detached; with -f, follow it until the container stops."""
    if tail != "all" and not tail.isdigit():
        raise fail(f"invalid --tail {tail!r}: a number of lines, or 'all'")
    out, err = sys.stdout.buffer, sys.stderr.buffer
    try:
        for stream, line in api.logs(container, follow=follow, tail=None if tail == "all" else int(tail),
                                     timestamps=timestamps, since=since, until=until, details=details,
                                     root=options.root):
            target = err if stream == "stderr" else out
            target.write(line)
            target.flush()
    except KeyboardInterrupt:
        pass
    except BrokenPipeError:
        sys.stderr.close()  # `logs | head`: the reader has all it wanted


@app.command()
def attach(
    container: str = typer.Argument(..., metavar="CONTAINER", help="Name or ID prefix of a running container."),
    no_stdin: bool = typer.Option(False, "--no-stdin", help="Do not pass this terminal's input on."),
    sig_proxy: bool = typer.Option(True, "--sig-proxy/--no-sig-proxy",
                                   help="Pass the signals this command gets on to the container (without -t)."),
    detach_keys: str = typer.Option("ctrl-p,ctrl-q", "--detach-keys", metavar="KEYS",
                                    help="Keys that leave the container running: ctrl-<letter> or a character, "
                                         "comma-separated."),
):
    """Attach this terminal to a detached container: its output from now on and, if it was
    started with -i, its input. Ends with the container's exit code; the detach keys leave
    it running."""
    code = api.attach(container, stdin=not no_stdin, sig_proxy=sig_proxy, detach_keys=detach_keys,
                      root=options.root)
    raise typer.Exit(0 if code is None else code)


@app.command("exec", context_settings={"allow_interspersed_args": False})
def exec_(
    container: str = typer.Argument(..., metavar="CONTAINER", help="Name or ID prefix of a running container."),
    command: List[str] = typer.Argument(..., metavar="CMD [ARG...]", help="Command and its arguments."),
    interactive: bool = typer.Option(False, "-i", "--interactive", help="Keep stdin attached."),
    tty: bool = typer.Option(False, "-t", "--tty", help="Allocate a pseudo-terminal."),
    detach: bool = typer.Option(False, "-d", "--detach", help="Start the command and leave it running, its "
                                "output discarded (exits 0 once it runs)."),
    env: Optional[List[str]] = typer.Option(None, "-e", "--env", metavar="KEY=VAL",
                                            help="Set an environment variable (repeatable)."),
    workdir: Optional[str] = typer.Option(None, "-w", "--workdir", help="Working directory (default: the container's)."),
    user: Optional[str] = typer.Option(None, "-u", "--user", metavar="USER[:GROUP]",
                                       help="User to run as (default: the container's)."),
    privileged: bool = typer.Option(False, "--privileged", help="Give the command every capability."),
):
    """Run a command in a running container: its namespaces (PID too), root, cgroup and
    capabilities.

    Exits with the command's code (126 cannot execute, 127 not found); 1 if the
    container is not running. With -d, 0 once the command runs.
    """
    import os

    settings = dict(env=env or [], workdir=workdir, user=user, privileged=privileged, root=options.root)
    if detach:
        api.exec_detached(container, command, **settings)
        raise typer.Exit(0)
    if interactive and tty and not os.isatty(0):
        raise fail("the input device is not a TTY")
    raise typer.Exit(api.exec(container, command, interactive=interactive, tty=tty, **settings))


@container_app.command("prune")
def container_prune(force: bool = typer.Option(False, "-f", "--force", help="Do not ask for confirmation.")):
    """Remove all stopped containers."""
    from . import display

    if not force and not confirm("WARNING! This will remove all stopped containers."):
        raise typer.Exit(1)
    done = api.prune_containers(root=options.root)
    if done["containers"]:
        print("Deleted Containers:\n" + "\n".join(done["containers"]) + "\n")
    print(f"Total reclaimed space: {display.bytes_binary(done['reclaimed'])}")


@app.command()
def ps(
    all: bool = typer.Option(False, "-a", "--all", help="Show all containers (default: running only)."),
    quiet: bool = typer.Option(False, "-q", "--quiet", help="Only display container IDs."),
    no_trunc: bool = typer.Option(False, "--no-trunc", help="Do not truncate IDs and commands."),
    filter: Optional[List[str]] = typer.Option(
        None, "-f", "--filter", metavar="KEY=VALUE", help="name, id, label, status (created, running, paused, "
        "exited), exited (code), ancestor (image), before, since (container), network, volume (repeatable)."),
    last: int = typer.Option(-1, "-n", "--last", metavar="N", help="Show the N last created containers (all states)."),
    latest: bool = typer.Option(False, "-l", "--latest", help="Show the latest created container (all states)."),
    size: bool = typer.Option(False, "-s", "--size", help="Add a SIZE column: the writable layer (and the image)."),
    format: Optional[str] = typer.Option(None, "--format", help=FORMAT_HELP),
):
    """List containers."""
    from . import display

    check_format(format)
    records = api.ps(all=all, filters=filter or [], last=1 if latest else last, root=options.root)
    sizes = api.sizes(records, root=options.root) if size else None
    rows = display.ps_rows(records, no_trunc=no_trunc, sizes=sizes,
                           health=api.health_states(records, root=options.root))
    show_listing(format, rows, lambda: display.ps_table(rows, size), [r["ID"] for r in rows] if quiet else None,
                 titles=display.PS_TITLES)


@app.command()
def rm(
    containers: List[str] = typer.Argument(..., metavar="CONTAINER...", help="Names or ID prefixes."),
    force: bool = typer.Option(False, "-f", "--force", help="Kill and remove a running container."),
    volumes: bool = typer.Option(False, "-v", "--volumes", help="Remove the container's anonymous volumes too."),
):
    """Remove one or more containers and everything they wrote.

    With --force a missing container is said but is no failure (exit 0), as docker's CLI
    has it: `rm -f NAME` in a script means "NAME is gone afterwards"."""
    def remove(ref: str) -> bool:
        try:
            api.remove(ref, force=force, volumes=volumes, root=options.root)
        except NoSuchContainer as e:
            if not force:
                raise
            say(e)
            return False
        return True

    each(containers, remove, lambda ref, removed: removed and print(ref, flush=True))


@app.command()
def inspect(
    containers: List[str] = typer.Argument(..., metavar="CONTAINER...", help="Names or ID prefixes."),
    format: Optional[str] = typer.Option(None, "-f", "--format", help=INSPECT_FORMAT_HELP),
):
    """Show containers in detail, as a JSON array (state, OOM kill, limits, overlay directories)."""
    from .app import print_documents

    if format:
        check_format(format)
    docs, missing = api.inspect_all(containers, root=options.root)
    print_documents(docs, format)
    for ref in missing:
        say(f"No such container: {ref}")
    raise typer.Exit(1 if missing else 0)


@app.command()
def stats(
    containers: Optional[List[str]] = typer.Argument(None, metavar="[CONTAINER...]",
                                                     help="Names or ID prefixes (default: all running)."),
    all: bool = typer.Option(False, "-a", "--all", help="Show all containers (default: running only)."),
    no_stream: bool = typer.Option(False, "--no-stream", help="Print one reading and exit."),
    no_trunc: bool = typer.Option(False, "--no-trunc", help="Do not truncate IDs."),
    format: Optional[str] = typer.Option(None, "--format", help=FORMAT_HELP),
):
    """Live CPU %, memory use / limit and process count of containers, from their cgroups.

    Refreshes every second until interrupted (Ctrl-C), or once with --no-stream.
    CPU % counts one busy CPU as 100%.
    """
    from . import display

    check_format(format)
    import time

    clear = not no_stream and format != "json" and sys.stdout.isatty()
    interval = 0.5 if no_stream else 1.0
    try:
        while True:
            began = time.monotonic()
            rows = display.stats_rows(api.stats(containers or (), all=all, interval=interval, root=options.root),
                                      no_trunc=no_trunc)
            out = listing_text(format, rows, lambda: display.stats_table(rows), display.STATS_TITLES)
            if clear:
                sys.stdout.write("\x1b[H\x1b[2J")  # home and clear, as docker's live view does
            print(out, flush=True)
            if no_stream:
                return
            # with nothing running there was nothing to sample: still refresh once a second
            time.sleep(max(0.0, interval - (time.monotonic() - began)))
    except KeyboardInterrupt:
        return  # the way a live view is meant to end
