"""Shell completion of container, image, network and volume names.

typer's completion scripts (`tinydocker --show-completion`) run `tinydocker` with
_TINYDOCKER_COMPLETE=complete_bash (or _zsh, _fish) and the words typed so far; cli.main
then hands over to complete() below. Only then is this module imported and are the
parameters given their completions, so no ordinary command pays for either.

Which parameter completes what is one table, by command path and parameter name, rather
than a shell_complete= on each declaration: commands and options can be added anywhere
and a parameter not in the table simply gets no suggestions (click's default).
"""

import os
import sys
from typing import Callable, Dict, List, Tuple

import click

from ..errors import TinydockerError
from ..state.root import DataRoot, resolve, visible_entries


def container_names(root: DataRoot, incomplete: str) -> List[str]:
    return visible_entries(root.containers)


def volume_names(root: DataRoot, incomplete: str) -> List[str]:
    from ..volume.store import VolumeStore

    return visible_entries(VolumeStore(root).dir)


def network_names(root: DataRoot, incomplete: str) -> List[str]:
    from ..network.store import NetworkStore

    return ["bridge", "host", "none"] + [n["name"] for n in NetworkStore(root).all()]


def image_names(root: DataRoot, incomplete: str) -> List[str]:
    """Names as docker users type them (busybox, busybox:latest, ghcr.io/x/y:1); the full
    docker.io/library/… form once a '/' is typed; short ids once a hex prefix is."""
    from ..image import reference
    from ..image.store import ImageStore

    found = []
    for image in ImageStore(root).index().images.values():
        for name in image.names:
            try:
                ref = reference.parse(name)
            except TinydockerError:  # a name this version cannot read: skip it, offer the rest
                continue
            found.append(f"{ref.familiar}:{ref.tag}")
            if ref.tag == "latest":
                found.append(ref.familiar)
            if "/" in incomplete:
                found.append(name)
        if incomplete and reference.is_id_prefix(incomplete):
            found.append(image.hex[:12])
    return found


Lister = Callable[[DataRoot, str], List[str]]

# (command path, parameter name) -> what it names. "*" matches any command; `container VERB`
# is looked up as VERB. `cp`'s CONTAINER:PATH is left out: typer's bash script cannot stop
# after the ':' (no `-o nospace`), and bash splits words at ':'.
COMPLETERS: Dict[Tuple[str, str], Lister] = {
    ("*", "container"): container_names,   # logs, exec, rename, top, port, export, commit, diff
    ("*", "containers"): container_names,  # start, stop, rm, kill, inspect, wait, stats, update, ...
    ("*", "image"): image_names,           # run/create --image, history
    ("*", "network"): network_names,       # run/create --network
    ("rmi", "names"): image_names,
    ("image rm", "names"): image_names,
    ("image inspect", "images"): image_names,
    ("save", "images"): image_names,
    ("image save", "images"): image_names,
    ("tag", "source"): image_names,
    ("image tag", "source"): image_names,
    ("push", "name"): image_names,
    ("network rm", "refs"): network_names,
    ("network inspect", "refs"): network_names,
    ("volume rm", "names"): volume_names,
    ("volume inspect", "names"): volume_names,
}


def _suggest(lister: Lister):
    def shell_complete(ctx: click.Context, param: click.Parameter, incomplete: str) -> List[str]:
        try:
            # the --root of the line being completed (click has parsed it, or TINYDOCKER_ROOT)
            root = resolve(ctx.find_root().params.get("root"))
            # names already typed for a parameter taking many are not offered again
            many = param.nargs == -1 or getattr(param, "multiple", False)
            given = (ctx.params.get(param.name) or ()) if many else ()
            names = dict.fromkeys(lister(root, incomplete))  # in order, once each
            return [n for n in names if n.startswith(incomplete) and n not in given]
        except Exception:  # a damaged or unreadable data root: no suggestions, never a traceback
            if os.environ.get("TINYDOCKER_DEBUG"):
                raise
            return []

    return shell_complete


def attach(command: click.Command, path: Tuple[str, ...] = ()) -> None:
    """Give every parameter in the table its completion, through the whole command tree."""
    key = " ".join(path[1:] if path[:1] == ("container",) else path)
    for param in command.params:
        lister = COMPLETERS.get((key, param.name or "")) or COMPLETERS.get(("*", param.name or ""))
        if lister is not None:
            param._custom_shell_complete = _suggest(lister)  # what click's shell_complete= sets
    for name, sub in getattr(command, "commands", {}).items():
        attach(sub, path + (name,))


def complete(app, argv) -> None:
    """Answer the shell's completion request (typer's protocol, read from the environment)
    and exit; a failure prints nothing, so the shell just offers no suggestions."""
    import typer.main

    command = typer.main.get_command(app)
    attach(command)
    try:
        command.main(args=argv, prog_name="tinydocker")  # click prints the suggestions and exits
    except Exception:
        if os.environ.get("TINYDOCKER_DEBUG"):
            raise
    sys.exit(0)
