"""The commands for images: images, import, image build|ls|rm."""

from typing import List

import typer

from .. import api
from .app import app, image_app, options


@app.command()
def images():
    """List images."""
    from . import display

    print(display.images_table(api.images(root=options.root)))


@app.command("import")
def import_(
    tarball: str = typer.Argument(..., metavar="TARBALL", help="A root filesystem as a tar (.gz/.bz2/.xz too), or - for stdin."),
    name: str = typer.Argument(..., metavar="NAME", help="Name of the new image."),
):
    """Turn a root-filesystem tarball into an image (unsafe members are refused)."""
    api.import_image(tarball, name, root=options.root)
    print(name)


@image_app.command("build")
def image_build(name: str = typer.Argument("busybox", help="Image whose recipe is images/NAME.toml.")):
    """Build an image from its recipe in images/."""
    api.build_image(name, root=options.root)
    print(name)


@image_app.command("ls")
def image_ls():
    """List images."""
    images()


@image_app.command("rm")
def image_rm(names: List[str] = typer.Argument(..., metavar="IMAGE...")):
    """Remove images no container uses."""
    for name in names:
        api.remove_image(name, root=options.root)
        print(name)
