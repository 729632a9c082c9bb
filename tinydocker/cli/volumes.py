"""`tinydocker volume`: create, ls, inspect, rm, prune."""

from typing import List, Optional

import typer

from .. import api
from .app import FORMAT_HELP, INSPECT_FORMAT_HELP, app, check_format, confirm, each, fail, inspect_each, options, show_listing

volume_app = typer.Typer(help="Manage volumes.", no_args_is_help=True, suggest_commands=False)
app.add_typer(volume_app, name="volume")


@volume_app.command("create")
def create(
    name: Optional[str] = typer.Argument(None, metavar="[VOLUME]", help="Name (default: a random one)."),
    label: Optional[List[str]] = typer.Option(None, "--label", metavar="KEY=VALUE", help="Set metadata (repeatable)."),
    driver: str = typer.Option("local", "-d", "--driver", help="Only 'local': a directory under the data root."),
    opt: Optional[List[str]] = typer.Option(None, "-o", "--opt", metavar="KEY=VALUE",
                                            help="The local driver's: type, device, o (mount's words), e.g. "
                                            "-o type=tmpfs -o device=tmpfs -o o=size=64m (repeatable)."),
):
    """Create a volume (or do nothing if it exists); prints its name."""
    if driver != "local":
        raise fail(f"volume driver {driver!r} is not available: tinydocker has only 'local'")
    print(api.create_volume(name, labels=label or [], options=opt or [], root=options.root)["Name"])


@volume_app.command("ls")
def ls(
    quiet: bool = typer.Option(False, "-q", "--quiet", help="Only volume names."),
    format: Optional[str] = typer.Option(None, "--format", help=FORMAT_HELP),
    filter: Optional[List[str]] = typer.Option(None, "-f", "--filter", metavar="KEY=VALUE",
                                               help="dangling=true|false, label=KEY[=VALUE], name=PART, driver=local "
                                               "(repeatable)."),
):
    """List volumes (DRIVER, VOLUME NAME)."""
    from . import display

    check_format(format)
    docs = api.volumes(filters=filter or [], root=options.root)
    rows = [[d["Driver"], d["Name"]] for d in docs]
    show_listing(format, docs, lambda: display.table(["DRIVER", "VOLUME NAME"], rows),
                 [d["Name"] for d in docs] if quiet else None, titles={"Name": "VOLUME NAME"})


@volume_app.command("inspect")
def inspect(names: List[str] = typer.Argument(..., metavar="VOLUME..."),
            format: Optional[str] = typer.Option(None, "-f", "--format", help=INSPECT_FORMAT_HELP)):
    """Show volumes in detail, as a JSON array."""
    inspect_each(names, lambda name: api.inspect_volume(name, root=options.root), format)


@volume_app.command("rm")
def rm(
    names: List[str] = typer.Argument(..., metavar="VOLUME..."),
    force: bool = typer.Option(False, "-f", "--force", help="No error for a volume that does not exist."),
):
    """Remove volumes; one that a container uses (running or stopped) is refused."""
    each(names, lambda name: api.remove_volume(name, force=force, root=options.root))


@volume_app.command("prune")
def prune(
    force: bool = typer.Option(False, "-f", "--force", help="Do not ask for confirmation."),
    all: bool = typer.Option(False, "-a", "--all", help="Named volumes too, not only anonymous ones."),
):
    """Remove the volumes no container uses: anonymous ones (every one with -a)."""
    from . import display

    what = "all volumes" if all else "all anonymous volumes"
    if not force and not confirm(f"WARNING! This will remove {what} not used by at least one container."):
        raise typer.Exit(1)
    done = api.prune_volumes(all=all, root=options.root)
    if done["volumes"]:
        print("Deleted Volumes:\n" + "\n".join(done["volumes"]) + "\n")
    print(f"Total reclaimed space: {display.bytes_binary(done['reclaimed'])}")
