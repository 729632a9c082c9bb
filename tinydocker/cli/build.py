"""The commands for building: build (`image build`, in images.py, is it too), and `builder prune`."""

from typing import List, Optional

import typer

from .. import api
from .app import app, confirm, options

builder_app = typer.Typer(help="Manage the build cache.", no_args_is_help=True, suggest_commands=False)
app.add_typer(builder_app, name="builder")


def build(
    context: str = typer.Argument(..., metavar="CONTEXT",
                                  help="The build context: a directory, or - for a tar (or a Dockerfile) on stdin."),
    tag: Optional[List[str]] = typer.Option(None, "-t", "--tag", metavar="NAME[:TAG]",
                                            help="Name the image (repeatable)."),
    file: Optional[str] = typer.Option(None, "-f", "--file", metavar="FILE",
                                       help="The Dockerfile (default: CONTEXT/Dockerfile, else Containerfile; - for stdin)."),
    build_arg: Optional[List[str]] = typer.Option(None, "--build-arg", metavar="K=V",
                                                  help="A value for an ARG (repeatable; a bare K takes it from the environment)."),
    target: Optional[str] = typer.Option(None, "--target", metavar="STAGE", help="Build up to this stage only."),
    no_cache: bool = typer.Option(False, "--no-cache", help="Run every step, taking nothing from the cache."),
    pull: str = typer.Option("missing", "--pull", metavar="missing|always|never",
                             help="When to pull the FROM images (true/false as always/missing too)."),
    label: Optional[List[str]] = typer.Option(None, "--label", metavar="K=V", help="Add a label to the image (repeatable)."),
    network: str = typer.Option("bridge", "--network", metavar="bridge|none|host",
                                help="The network of the RUN steps ('default' is bridge)."),
    quiet: bool = typer.Option(False, "-q", "--quiet", help="Print only the image's id."),
    iidfile: Optional[str] = typer.Option(None, "--iidfile", metavar="FILE", help="Write the image's id to FILE."),
    platform: Optional[str] = typer.Option(None, "--platform", metavar="linux/amd64",
                                           help="The platform to build for: only this machine's."),
):
    """Build an image from a Dockerfile, as docker's classic builder does: each step an
    image, RUN steps in containers, a cache of the steps (`builder prune` frees it)."""
    pull = {"true": "always", "false": "missing"}.get(pull.lower(), pull.lower())
    api.build(context, tag or [], file=file, build_args=build_arg or [], target=target, no_cache=no_cache,
              pull=pull, labels=label or [], network="bridge" if network == "default" else network, quiet=quiet,
              iidfile=iidfile, platform=platform, root=options.root)


app.command("build")(build)


@builder_app.command("prune")
def builder_prune(
    force: bool = typer.Option(False, "-f", "--force", help="Do not ask for confirmation."),
    all: bool = typer.Option(False, "-a", "--all", help="Forget the steps of named images too."),
):
    """Remove the build cache: the steps' images that no image or container needs."""
    if not force and not confirm("WARNING! This will remove all dangling build cache."):
        return
    from .display import size_text

    done = api.prune_builder(all=all, root=options.root)
    if done["images"]:
        print("Deleted build cache objects:")
        print("\n".join(done["images"]))
    print(f"Total reclaimed space: {size_text(done['reclaimed'])}")
