"""The `tinydocker` command: a thin typer layer over tinydocker.api.

Errors print one line and exit with docker's codes: 125 for tinydocker's own failures and
bad usage, the container's code for `run`, 1 for `rm` of an unknown container.
"""

import sys
from typing import List, Optional

import typer

from . import api
from .errors import EXIT_TINYDOCKER, TinydockerError

app = typer.Typer(
    name="tinydocker",
    help="Daemonless containers on overlayfs: named containers, each with its own writable "
         "layer over a shared read-only image, in fresh namespaces.",
    add_completion=False,
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    context_settings={"help_option_names": ["-h", "--help"]},
)
image_app = typer.Typer(help="Manage images.", no_args_is_help=True)
app.add_typer(image_app, name="image")
system_app = typer.Typer(help="Manage tinydocker's data.", no_args_is_help=True)
app.add_typer(system_app, name="system")
container_app = typer.Typer(help="Manage containers.", no_args_is_help=True)
app.add_typer(container_app, name="container")

_root: Optional[str] = None


def _say(message) -> None:
    """An error is one line, whatever the text it carries."""
    print("tinydocker: " + " ".join(str(message).split("\n")), file=sys.stderr)


def _fail(message: str, code: int = EXIT_TINYDOCKER) -> "typer.Exit":
    _say(message)
    return typer.Exit(code)


@app.callback()
def _main(root: Optional[str] = typer.Option(
        None, "--root", metavar="DIR", envvar="TINYDOCKER_ROOT",
        help="Data root holding state/ and images/ (default: the source checkout, else /var/lib/tinydocker).")):
    global _root
    _root = root


@app.command(context_settings={"allow_interspersed_args": False})
def run(
    name: str = typer.Argument(..., metavar="NAME", help="Container name: [a-zA-Z0-9][a-zA-Z0-9_.-]*."),
    command: Optional[List[str]] = typer.Argument(
        None, metavar="[CMD [ARG...]]", help="Command and its arguments, passed as they are (default /bin/sh)."),
    image: str = typer.Option("busybox", "--image", help="Image to run (built from images/ on first use)."),
    interactive: bool = typer.Option(False, "-i", "--interactive", help="Keep stdin attached."),
    tty: bool = typer.Option(False, "-t", "--tty", help="Give the container a pseudo-terminal."),
    remove: bool = typer.Option(False, "--rm", help="Remove the container when it exits."),
    detach: bool = typer.Option(False, "-d", "--detach",
                                help="Run in the background under a small supervisor; print the id. "
                                     "Output goes to the container's log (see 'logs')."),
    env: Optional[List[str]] = typer.Option(None, "-e", "--env", metavar="KEY=VAL",
                                            help="Set an environment variable (repeatable)."),
    workdir: str = typer.Option("/", "-w", "--workdir", help="Working directory inside the container."),
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
                                             help="Maximum number of processes (-1 for unlimited)."),
):
    """Run a command in a new container and wait for it; exits with the command's code.

    Everything after NAME is the container's command, options included. The container
    gets its own cgroup (tinydocker/<id>), limited by the options given.
    """
    import os

    if interactive and tty and not detach and not os.isatty(0):
        raise _fail("the input device is not a TTY")
    result = api.run(name, command, image=image, env=env or [], workdir=workdir, hostname=hostname,
                     interactive=interactive, tty=tty, remove=remove, memory=memory, memory_swap=memory_swap,
                     cpus=cpus, cpu_shares=cpu_shares, cpuset_cpus=cpuset_cpus, cpuset_mems=cpuset_mems,
                     pids_limit=pids_limit, detach=detach, root=_root)
    if detach:
        print(result)
        raise typer.Exit(0)
    raise typer.Exit(result)


def _each(refs: List[str], action) -> None:
    """Apply action to each container, printing the ref on success, as docker does;
    the exit status is 1 if any failed (125 for tinydocker's own failures)."""
    failed = 0
    for ref in refs:
        try:
            action(ref)
            print(ref, flush=True)
        except TinydockerError as e:
            _say(e)
            failed = max(failed, 1 if e.code == 1 else e.code)
    raise typer.Exit(failed)


@app.command()
def start(
    containers: List[str] = typer.Argument(..., metavar="CONTAINER...", help="Names or ID prefixes."),
    attach: bool = typer.Option(False, "-a", "--attach", help="Wait for the container and show its output; "
                                "exits with its code (one container only)."),
):
    """Start stopped containers again, with their files as they left them."""
    if attach:
        if len(containers) != 1:
            raise _fail("you cannot start and attach multiple containers at once")
        code = api.start(containers[0], attach=True, root=_root)
        raise typer.Exit(code or 0)
    _each(containers, lambda ref: api.start(ref, root=_root))


@app.command()
def stop(
    containers: List[str] = typer.Argument(..., metavar="CONTAINER...", help="Names or ID prefixes."),
    time: int = typer.Option(10, "-t", "--time", metavar="SECONDS", help="Seconds to wait before SIGKILL."),
):
    """Stop running containers: SIGTERM, then SIGKILL after the timeout."""
    if time < 0:
        raise _fail(f"invalid timeout {time}: seconds cannot be negative")
    _each(containers, lambda ref: api.stop(ref, timeout=time, root=_root))


@app.command()
def kill(
    containers: List[str] = typer.Argument(..., metavar="CONTAINER...", help="Names or ID prefixes."),
    signal: str = typer.Option("KILL", "-s", "--signal", help="Signal to send: name (TERM, SIGHUP) or number."),
):
    """Send a signal to the main process of running containers (default SIGKILL)."""
    api._parse_signal(signal)  # a bad signal is bad input: refuse it before touching any container
    _each(containers, lambda ref: api.kill(ref, signal=signal, root=_root))


@app.command()
def restart(
    containers: List[str] = typer.Argument(..., metavar="CONTAINER...", help="Names or ID prefixes."),
    time: int = typer.Option(10, "-t", "--time", metavar="SECONDS", help="Seconds to wait before SIGKILL."),
):
    """Stop (if running) and start containers again, detached."""
    _each(containers, lambda ref: api.restart(ref, timeout=time, root=_root))


@app.command()
def wait(containers: List[str] = typer.Argument(..., metavar="CONTAINER...", help="Names or ID prefixes.")):
    """Block until containers stop; print each one's exit code."""
    failed = 0
    for ref in containers:
        try:
            print(api.wait(ref, root=_root), flush=True)
        except TinydockerError as e:
            _say(e)
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
        raise _fail(f"invalid --tail {tail!r}: a number of lines, or 'all'")
    out, err = sys.stdout.buffer, sys.stderr.buffer
    try:
        for stream, line in api.logs(container, follow=follow, tail=None if tail == "all" else int(tail),
                                     timestamps=timestamps, root=_root):
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
):
    """Run a command in a running container: its namespaces (PID too), root and cgroup.

    Exits with the command's code (126 cannot execute, 127 not found); 1 if the
    container is not running.
    """
    import os

    if interactive and tty and not os.isatty(0):
        raise _fail("the input device is not a TTY")
    raise typer.Exit(api.exec(container, command, env=env or [], workdir=workdir, interactive=interactive,
                              tty=tty, root=_root))


@container_app.command("prune")
def container_prune(force: bool = typer.Option(False, "-f", "--force", help="Do not ask for confirmation.")):
    """Remove all stopped containers."""
    from . import display

    if not force and not _confirm("WARNING! This will remove all stopped containers."):
        raise typer.Exit(1)
    done = api.prune_containers(root=_root)
    if done["containers"]:
        print("Deleted Containers:\n" + "\n".join(done["containers"]) + "\n")
    print(f"Total reclaimed space: {display.bytes_binary(done['reclaimed'])}")


def _confirm(warning: str) -> bool:
    print(f"{warning}\nAre you sure you want to continue? [y/N] ", end="", flush=True)
    if sys.stdin.readline().strip().lower() in ("y", "yes"):
        return True
    print()
    return False


@app.command()
def ps(
    all: bool = typer.Option(False, "-a", "--all", help="Show all containers (default: running only)."),
    quiet: bool = typer.Option(False, "-q", "--quiet", help="Only display container IDs."),
    no_trunc: bool = typer.Option(False, "--no-trunc", help="Do not truncate IDs and commands."),
    format: Optional[str] = typer.Option(None, "--format", help="'table' (default) or 'json' (one object per line)."),
):
    """List containers."""
    from . import display

    if format not in (None, "table", "json"):
        raise _fail(f"unsupported format {format!r}: use 'table' or 'json'")
    rows = display.ps_rows(api.ps(all=all, root=_root), no_trunc=no_trunc)
    if quiet:
        out = "\n".join(r["ID"] for r in rows)
    elif format == "json":
        out = display.json_lines(rows)
    else:
        out = display.ps_table(rows)
    if out:
        print(out)


@app.command()
def rm(
    containers: List[str] = typer.Argument(..., metavar="CONTAINER...", help="Names or ID prefixes."),
    force: bool = typer.Option(False, "-f", "--force", help="Kill and remove a running container."),
):
    """Remove one or more containers and everything they wrote."""
    _each(containers, lambda ref: api.remove(ref, force=force, root=_root))


@app.command()
def inspect(containers: List[str] = typer.Argument(..., metavar="CONTAINER...", help="Names or ID prefixes.")):
    """Show containers in detail, as a JSON array (state, OOM kill, limits, overlay directories)."""
    import json

    docs, missing = api.inspect_all(containers, root=_root)
    print(json.dumps(docs, indent=4))
    for ref in missing:
        _say(f"No such container: {ref}")
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

    if format not in (None, "table", "json"):
        raise _fail(f"unsupported format {format!r}: use 'table' or 'json'")
    import time

    clear = not no_stream and format != "json" and sys.stdout.isatty()
    interval = 0.5 if no_stream else 1.0
    try:
        while True:
            began = time.monotonic()
            rows = display.stats_rows(api.stats(containers or (), all=all, interval=interval, root=_root),
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


@system_app.command("prune")
def system_prune(force: bool = typer.Option(False, "-f", "--force", help="Do not ask for confirmation.")):
    """Remove all stopped containers and what killed tinydocker processes left behind
    (half-removed containers and images, empty container cgroups)."""
    from . import display

    if not force and not _confirm("WARNING! This will remove:\n  - all stopped containers\n"
                                  "  - leftovers of interrupted removals and image builds\n"
                                  "  - container cgroups that no process uses any more"):
        raise typer.Exit(1)
    done = api.prune(root=_root)
    if done["containers"]:
        print("Deleted Containers:\n" + "\n".join(done["containers"]) + "\n")
    if done["cgroups"]:
        print("Deleted cgroups:\n" + "\n".join(f"tinydocker/{cid}" for cid in done["cgroups"]) + "\n")
    print(f"Total reclaimed space: {display.bytes_binary(done['reclaimed'])}")


@app.command()
def images():
    """List images."""
    from . import display

    print(display.images_table(api.images(root=_root)))


@app.command("import")
def import_(
    tarball: str = typer.Argument(..., metavar="TARBALL", help="A root filesystem as a tar (.gz/.bz2/.xz too), or - for stdin."),
    name: str = typer.Argument(..., metavar="NAME", help="Name of the new image."),
):
    """Turn a root-filesystem tarball into an image (unsafe members are refused)."""
    api.import_image(tarball, name, root=_root)
    print(name)


@image_app.command("build")
def image_build(name: str = typer.Argument("busybox", help="Image whose recipe is images/NAME.toml.")):
    """Build an image from its recipe in images/."""
    api.build_image(name, root=_root)
    print(name)


@image_app.command("ls")
def image_ls():
    """List images."""
    images()


@image_app.command("rm")
def image_rm(names: List[str] = typer.Argument(..., metavar="IMAGE...")):
    """Remove images no container uses."""
    for name in names:
        api.remove_image(name, root=_root)
        print(name)


@app.command()
def info():
    """Show the data root, the kernel features found and the cgroup version."""
    data = api.info(root=_root)
    print(f"Data root:      {data['root']}")
    print(f"Kernel:         {data['kernel']}")
    print(f"Namespaces:     {' '.join(data['namespaces'])}")
    print(f"Overlayfs:      {'yes' if data['overlayfs'] else 'no'}")
    print(f"Devpts:         {'yes' if data['devpts'] else 'no'}")
    print(f"Cgroup version: {data['cgroup_version']} (limits through the {data['cgroup_backend']} back-end)")
    print(f"Busybox static: {'yes' if data['busybox_static'] else 'no (apt-get install busybox-static)'}")


def main(argv: Optional[List[str]] = None) -> None:
    """Entry point: click's usage errors become one line and exit 125, like docker's."""
    from click.exceptions import NoArgsIsHelpError, UsageError

    try:
        rv = app(args=argv, prog_name="tinydocker", standalone_mode=False)
    except NoArgsIsHelpError:
        sys.exit(0)  # typer has printed the help already; bare `tinydocker` is not an error
    except UsageError as e:
        hint = f" (see '{e.ctx.command_path} --help')" if e.ctx else ""
        _say(f"{e.format_message().rstrip('.')}{hint}")
        sys.exit(EXIT_TINYDOCKER)
    except typer.Abort:
        sys.exit(130)
    except TinydockerError as e:
        _say(e)
        sys.exit(e.code)
    except Exception as e:  # a bug or an unforeseen failure: still one line, unless debugging
        import os

        if os.environ.get("TINYDOCKER_DEBUG"):
            raise
        _say(f"{type(e).__name__}: {e} (TINYDOCKER_DEBUG=1 shows where)")
        sys.exit(EXIT_TINYDOCKER)
    sys.exit(rv if isinstance(rv, int) else 0)
