"""`tinydocker run` and the commands for containers: lifecycle, ps, rm, inspect, stats, logs, exec."""

import sys
from typing import List, Optional

import typer

from .. import api
from ..errors import TinydockerError
from .app import app, check_format, confirm, container_app, each, fail, options, say, show_listing


@app.command(context_settings={"allow_interspersed_args": False})
def run(
    name: str = typer.Argument(..., metavar="NAME", help="Container name: [a-zA-Z0-9][a-zA-Z0-9_.-]*."),
    command: Optional[List[str]] = typer.Argument(
        None, metavar="[CMD [ARG...]]",
        help="Command and its arguments, passed as they are (default: the image's Cmd)."),
    image: str = typer.Option("busybox", "--image", help="Image to run: name[:tag], name@digest or id "
                              "(busybox is built from images/ on first use)."),
    entrypoint: Optional[str] = typer.Option(None, "--entrypoint", metavar="CMD",
                                             help="Replace the image's Entrypoint (and its Cmd); '' clears it."),
    user: Optional[str] = typer.Option(None, "-u", "--user", metavar="USER[:GROUP]",
                                       help="User to run as: name or uid, with group name or gid."),
    interactive: bool = typer.Option(False, "-i", "--interactive", help="Keep stdin attached."),
    tty: bool = typer.Option(False, "-t", "--tty", help="Give the container a pseudo-terminal."),
    remove: bool = typer.Option(False, "--rm", help="Remove the container when it exits."),
    detach: bool = typer.Option(False, "-d", "--detach",
                                help="Run in the background under a small supervisor; print the id. "
                                     "Output goes to the container's log (see 'logs')."),
    env: Optional[List[str]] = typer.Option(None, "-e", "--env", metavar="KEY=VAL",
                                            help="Set an environment variable (repeatable)."),
    workdir: Optional[str] = typer.Option(None, "-w", "--workdir",
                                          help="Working directory inside the container (default: the image's)."),
    hostname: Optional[str] = typer.Option(None, "--hostname", help="Hostname (default: the container name)."),
    memory: Optional[str] = typer.Option(None, "-m", "--memory", metavar="BYTES",
                                         help="Memory limit: bytes or with a unit, 512k, 64m, 1g (at least 6m)."),
    memory_swap: Optional[str] = typer.Option(
        None, "--memory-swap", metavar="BYTES",
        help="Memory plus swap limit (needs -m; -1 for unlimited swap; default: twice -m)."),
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
                                    help="Every capability, /proc and /sys unmasked and /sys writable."),
    security_opt: Optional[List[str]] = typer.Option(
        None, "--security-opt", metavar="OPT",
        help="no-new-privileges[=true|false] (no setuid gains), or seccomp=unconfined."),
    device: Optional[List[str]] = typer.Option(
        None, "--device", metavar="HOST[:CTR[:rwm]]", help="Give the container a host device node (repeatable)."),
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
                                     "host (the host's network), or a network made with 'network create'."),
    ip: Optional[str] = typer.Option(None, "--ip", metavar="IPv4", help="The container's address on its network."),
    publish: Optional[List[str]] = typer.Option(
        None, "-p", "--publish", metavar="[IP:][HOST:]CTR[/udp]",
        help="Publish a container port on the host (a free host port if HOST is left out; repeatable)."),
    publish_all: bool = typer.Option(False, "-P", "--publish-all", help="Publish the image's exposed ports on free host ports."),
    dns: Optional[List[str]] = typer.Option(None, "--dns", metavar="IP", help="Nameserver for /etc/resolv.conf (repeatable)."),
    add_host: Optional[List[str]] = typer.Option(None, "--add-host", metavar="NAME:IP",
                                                 help="Add a line to /etc/hosts (repeatable)."),
    sysctl: Optional[List[str]] = typer.Option(
        None, "--sysctl", metavar="KEY=VALUE", help="Set a namespaced kernel setting: net.*, kernel.shm*, "
        "kernel.msg*, kernel.sem, fs.mqueue.* (repeatable)."),
):
    """Run a command in a new container and wait for it; exits with the command's code.

    Everything after NAME is the container's command, options included. The container
    gets its own cgroup (tinydocker/<id>), limited by the options given.
    """
    import os

    if interactive and tty and not detach and not os.isatty(0):
        raise fail("the input device is not a TTY")
    result = api.run(name, command, image=image, entrypoint=entrypoint, user=user, env=env or [],
                     workdir=workdir, hostname=hostname,
                     interactive=interactive, tty=tty, remove=remove, memory=memory, memory_swap=memory_swap,
                     cpus=cpus, cpu_shares=cpu_shares, cpuset_cpus=cpuset_cpus, cpuset_mems=cpuset_mems,
                     pids_limit=pids_limit, cap_add=cap_add or [], cap_drop=cap_drop or [],
                     privileged=privileged, security_opt=security_opt or [], devices=device or [],
                     read_only=read_only, tmpfs=tmpfs or [], group_add=group_add or [], sysctls=sysctl or [],
                     volumes=volume or [], mounts=mount or [], network=network, ip=ip, publish=publish or [],
                     publish_all=publish_all, dns=dns or [], add_hosts=add_host or [], detach=detach, root=options.root)
    if detach:
        print(result)
        raise typer.Exit(0)
    raise typer.Exit(result)


@app.command()
def start(
    containers: List[str] = typer.Argument(..., metavar="CONTAINER...", help="Names or ID prefixes."),
    attach: bool = typer.Option(False, "-a", "--attach", help="Wait for the container and show its output; "
                                "exits with its code (one container only)."),
):
    """Start stopped containers again, with their files as they left them."""
    if attach:
        if len(containers) != 1:
            raise fail("you cannot start and attach multiple containers at once")
        code = api.start(containers[0], attach=True, root=options.root)
        raise typer.Exit(code or 0)
    each(containers, lambda ref: api.start(ref, root=options.root))


@app.command()
def stop(
    containers: List[str] = typer.Argument(..., metavar="CONTAINER...", help="Names or ID prefixes."),
    time: int = typer.Option(10, "-t", "--time", metavar="SECONDS", help="Seconds to wait before SIGKILL."),
):
    """Stop running containers: SIGTERM, then SIGKILL after the timeout."""
    if time < 0:
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
    time: int = typer.Option(10, "-t", "--time", metavar="SECONDS", help="Seconds to wait before SIGKILL."),
):
    """Stop (if running) and start containers again, detached."""
    each(containers, lambda ref: api.restart(ref, timeout=time, root=options.root))


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
):
    """Show a detached container's output (stdout to stdout, stderr to stderr)."""
    if tail != "all" and not tail.isdigit():
        raise fail(f"invalid --tail {tail!r}: a number of lines, or 'all'")
    out, err = sys.stdout.buffer, sys.stderr.buffer
    try:
        for stream, line in api.logs(container, follow=follow, tail=None if tail == "all" else int(tail),
                                     timestamps=timestamps, root=options.root):
            target = err if stream == "stderr" else out
            target.write(line)
            target.flush()
    except KeyboardInterrupt:
        pass
    except BrokenPipeError:
        sys.stderr.close()  # `logs | head`: the reader has all it wanted


@app.command("exec", context_settings={"allow_interspersed_args": False})
def exec_(
    container: str = typer.Argument(..., metavar="CONTAINER", help="Name or ID prefix of a running container."),
    command: List[str] = typer.Argument(..., metavar="CMD [ARG...]", help="Command and its arguments."),
    interactive: bool = typer.Option(False, "-i", "--interactive", help="Keep stdin attached."),
    tty: bool = typer.Option(False, "-t", "--tty", help="Allocate a pseudo-terminal."),
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
    container is not running.
    """
    import os

    if interactive and tty and not os.isatty(0):
        raise fail("the input device is not a TTY")
    raise typer.Exit(api.exec(container, command, env=env or [], workdir=workdir, user=user, interactive=interactive,
                              tty=tty, privileged=privileged, root=options.root))


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
    format: Optional[str] = typer.Option(None, "--format", help="'table' (default) or 'json' (one object per line)."),
):
    """List containers."""
    from . import display

    check_format(format)
    rows = display.ps_rows(api.ps(all=all, root=options.root), no_trunc=no_trunc)
    show_listing(format, rows, lambda: display.ps_table(rows), [r["ID"] for r in rows] if quiet else None)


@app.command()
def rm(
    containers: List[str] = typer.Argument(..., metavar="CONTAINER...", help="Names or ID prefixes."),
    force: bool = typer.Option(False, "-f", "--force", help="Kill and remove a running container."),
    volumes: bool = typer.Option(False, "-v", "--volumes", help="Remove the container's anonymous volumes too."),
):
    """Remove one or more containers and everything they wrote."""
    each(containers, lambda ref: api.remove(ref, force=force, volumes=volumes, root=options.root))


@app.command()
def inspect(containers: List[str] = typer.Argument(..., metavar="CONTAINER...", help="Names or ID prefixes.")):
    """Show containers in detail, as a JSON array (state, OOM kill, limits, overlay directories)."""
    import json

    docs, missing = api.inspect_all(containers, root=options.root)
    print(json.dumps(docs, indent=4))
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
    format: Optional[str] = typer.Option(None, "--format", help="'table' (default) or 'json' (one object per line)."),
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
            out = display.json_lines(rows) if format == "json" else display.stats_table(rows)
            if clear:
                sys.stdout.write("\x1b[H\x1b[2J")  # home and clear, as docker's live view does
            print(out, flush=True)
            if no_stream:
                return
            # with nothing running there was nothing to sample: still refresh once a second
            time.sleep(max(0.0, interval - (time.monotonic() - began)))
    except KeyboardInterrupt:
        return  # the way a live view is meant to end
