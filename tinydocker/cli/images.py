"""The commands for images: images, pull-free ones first (import, load, save, tag, rmi,
history, commit, export), and the `image` group with docker's names for them."""

from typing import List, Optional

import typer

from .. import api
from .app import FORMAT_HELP, INSPECT_FORMAT_HELP, app, check_format, each, fail, image_app, options, show_listing


@app.command()
def images(
    all: bool = typer.Option(False, "-a", "--all", help="The steps of builds too (kept as their cache)."),
    quiet: bool = typer.Option(False, "-q", "--quiet", help="Only image IDs."),
    digests: bool = typer.Option(False, "--digests", help="Show digests."),
    no_trunc: bool = typer.Option(False, "--no-trunc", help="Full image IDs."),
    format: Optional[str] = typer.Option(None, "--format", help=FORMAT_HELP),
    filter: Optional[List[str]] = typer.Option(
        None, "-f", "--filter", metavar="KEY=VALUE",
        help="dangling=true|false, reference=PATTERN (busy*, busybox:1.*), label=K[=V], before, since (repeatable)."),
):
    """List images: one line per name (REPOSITORY, TAG, IMAGE ID, CREATED, SIZE)."""
    from . import display

    check_format(format)
    rows = display.image_rows(api.images(filters=filter or [], all=all, root=options.root), no_trunc=no_trunc)
    ids = list(dict.fromkeys(row["ID"] for row in rows))  # one line per image, as docker -q
    show_listing(format, rows, lambda: display.images_table(rows, digests=digests),
                 ids if quiet else None, titles=display.IMAGE_TITLES)


@app.command("import")
def import_(
    tarball: str = typer.Argument(..., metavar="TARBALL", help="A root filesystem as a tar (.gz/.bz2/.xz/.zst too), or - for stdin."),
    name: Optional[str] = typer.Argument(None, metavar="[REPOSITORY[:TAG]]", help="Name of the new image."),
):
    """Turn a root-filesystem tarball into a one-layer image (unsafe members are refused);
    prints its id."""
    print(api.import_image(tarball, name, root=options.root))


@app.command()
def rmi(
    names: List[str] = typer.Argument(..., metavar="IMAGE...", help="Names, name@digest, ids or id prefixes."),
    force: bool = typer.Option(False, "-f", "--force", help="Remove even if containers use it (it stays, "
                               "nameless, until they are removed)."),
):
    """Remove images: untag, and delete what no other name or container uses."""
    def report(_ref, lines):
        for what, item in lines:
            print(f"{what}: {item}")

    each(names, lambda name: api.remove_image(name, force=force, root=options.root), report)


@app.command()
def tag(
    source: str = typer.Argument(..., metavar="SOURCE_IMAGE[:TAG]"),
    target: str = typer.Argument(..., metavar="TARGET_IMAGE[:TAG]"),
):
    """Give an image another name."""
    api.tag(source, target, root=options.root)


@app.command()
def history(
    image: str = typer.Argument(..., metavar="IMAGE"),
    quiet: bool = typer.Option(False, "-q", "--quiet", help="Only layer ids."),
    no_trunc: bool = typer.Option(False, "--no-trunc", help="Don't truncate the output."),
):
    """Show how an image was made, newest step first."""
    from datetime import datetime, timezone

    from . import display

    found = api.inspect_image(image, root=options.root)
    steps = api.history(image, root=options.root)
    if quiet:
        print(found["Id"][7:19] if not no_trunc else found["Id"])
        return
    now = datetime.now(timezone.utc)
    rows = []
    for i, step in enumerate(steps):
        ident = found["Id"][7:19] if i == 0 else "<missing>"
        created = display.since(step["created"], now)
        by = step["created_by"]
        if not no_trunc and len(by) > 45:
            by = by[:44] + "…"
        rows.append([ident, created, by, display.size_text(step["size"]), step["comment"]])
    print(display.table(["IMAGE", "CREATED", "CREATED BY", "SIZE", "COMMENT"], rows))


@image_app.command("inspect")
def image_inspect(images: List[str] = typer.Argument(..., metavar="IMAGE..."),
                  format: Optional[str] = typer.Option(None, "-f", "--format", help=INSPECT_FORMAT_HELP)):
    """docker's JSON document for each image."""
    from .app import print_documents

    if format:
        check_format(format)
    docs = []
    try:
        each(images, lambda ref: api.inspect_image(ref, root=options.root), lambda _ref, doc: docs.append(doc))
    finally:
        print_documents(docs, format)


@image_app.command("build")
def image_build(
    context: str = typer.Argument("busybox", metavar="CONTEXT|RECIPE",
                                  help="A build context (as for 'build'), or the name of a recipe in images/."),
    tag: Optional[List[str]] = typer.Option(None, "-t", "--tag", metavar="NAME[:TAG]", help="As for 'build'."),
    file: Optional[str] = typer.Option(None, "-f", "--file", metavar="FILE", help="As for 'build'."),
    build_arg: Optional[List[str]] = typer.Option(None, "--build-arg", metavar="K=V", help="As for 'build'."),
    target: Optional[str] = typer.Option(None, "--target", metavar="STAGE", help="As for 'build'."),
    no_cache: bool = typer.Option(False, "--no-cache", help="As for 'build'."),
    pull: str = typer.Option("missing", "--pull", metavar="missing|always|never", help="As for 'build'."),
    label: Optional[List[str]] = typer.Option(None, "--label", metavar="K=V", help="As for 'build'."),
    network: str = typer.Option("bridge", "--network", metavar="bridge|none|host", help="As for 'build'."),
    quiet: bool = typer.Option(False, "-q", "--quiet", help="As for 'build'."),
    iidfile: Optional[str] = typer.Option(None, "--iidfile", metavar="FILE", help="As for 'build'."),
    platform: Optional[str] = typer.Option(None, "--platform", metavar="linux/amd64", help="As for 'build'."),
):
    """Build an image: from a Dockerfile (as 'build'), or from its recipe in images/ (prints its id)."""
    import os

    from ..image.recipe import recipe_path
    from .build import build

    if context != "-" and not os.path.isdir(context) and recipe_path(context.split(":")[0]) is not None:
        print(api.build_image(context, root=options.root))
        return
    build(context, tag, file, build_arg, target, no_cache, pull, label, network, quiet, iidfile, platform)


@image_app.command("ls")
def image_ls(
    all: bool = typer.Option(False, "-a", "--all", help="As for 'images'."),
    quiet: bool = typer.Option(False, "-q", "--quiet", help="Only image IDs."),
    digests: bool = typer.Option(False, "--digests", help="Show digests."),
    no_trunc: bool = typer.Option(False, "--no-trunc", help="Full image IDs."),
    format: Optional[str] = typer.Option(None, "--format", help=FORMAT_HELP),
    filter: Optional[List[str]] = typer.Option(None, "-f", "--filter", metavar="KEY=VALUE",
                                               help="As for 'images'."),
):
    """List images."""
    images(all=all, quiet=quiet, digests=digests, no_trunc=no_trunc, format=format, filter=filter)


@image_app.command("rm")
def image_rm(
    names: List[str] = typer.Argument(..., metavar="IMAGE..."),
    force: bool = typer.Option(False, "-f", "--force", help="Remove even if containers use it."),
):
    """Remove images (as rmi)."""
    rmi(names, force=force)


@image_app.command("tag")
def image_tag(source: str = typer.Argument(..., metavar="SOURCE_IMAGE[:TAG]"),
              target: str = typer.Argument(..., metavar="TARGET_IMAGE[:TAG]")):
    """Give an image another name."""
    tag(source, target)


@image_app.command("history")
def image_history(image: str = typer.Argument(..., metavar="IMAGE"),
                  quiet: bool = typer.Option(False, "-q", "--quiet"),
                  no_trunc: bool = typer.Option(False, "--no-trunc")):
    """Show how an image was made."""
    history(image, quiet=quiet, no_trunc=no_trunc)


@image_app.command("prune")
def image_prune(
    all: bool = typer.Option(False, "-a", "--all", help="Every image no container uses, not only nameless ones."),
    force: bool = typer.Option(False, "-f", "--force", help="Do not ask."),
):
    """Remove images without a name (with -a: all unused images)."""
    from . import display
    from .app import confirm

    what = "all images without at least one container associated to them" if all else "all dangling images"
    if not force and not confirm(f"WARNING! This will remove {what}."):
        return
    done = api.prune_images(all=all, root=options.root)
    if done["images"]:
        print("Deleted Images:")
        for image_id in done["images"]:
            print(f"deleted: {image_id}")
        print()
    print("Total reclaimed space: " + display.size_text(done["reclaimed"]))


@app.command()
def load(
    input: str = typer.Option("-", "-i", "--input", metavar="FILE",
                              help="A docker archive, OCI archive or OCI layout directory (default: stdin)."),
    quiet: bool = typer.Option(False, "-q", "--quiet", help="Say nothing."),
    platform: Optional[str] = typer.Option(None, "--platform", metavar="OS/ARCH",
                                           help="Which image of a multi-platform index (default: this host's)."),
):
    """Load images from an archive, as docker save, podman save or skopeo wrote it."""
    import sys

    if input == "-" and sys.stdin.isatty():
        raise fail("requested load from stdin, but stdin is empty (a terminal): give -i FILE or pipe an archive")
    for item in api.load(input, platform=platform, root=options.root):
        if quiet:
            continue
        if item["names"]:
            for name in item["names"]:
                print(f"Loaded image: {name}")
        else:
            print(f"Loaded image ID: {item['id']}")


@app.command()
def save(
    images: List[str] = typer.Argument(..., metavar="IMAGE..."),
    output: Optional[str] = typer.Option(None, "-o", "--output", metavar="FILE", help="Write to FILE, not stdout."),
    format: str = typer.Option("docker-archive", "--format", help="docker-archive (default) or oci-archive."),
):
    """Save images to a tar archive that docker, podman and skopeo load."""
    import sys

    if output is None and sys.stdout.isatty():
        raise fail("cowardly refusing to save to a terminal. Use the -o flag or redirect")
    if format not in ("docker-archive", "oci-archive"):
        raise fail(f"unsupported format {format!r}: use docker-archive or oci-archive")
    api.save(images, output or "-", format=format, root=options.root)


@image_app.command("load")
def image_load(input: str = typer.Option("-", "-i", "--input", metavar="FILE"),
               quiet: bool = typer.Option(False, "-q", "--quiet"),
               platform: Optional[str] = typer.Option(None, "--platform", metavar="OS/ARCH")):
    """Load images from an archive (as load)."""
    load(input=input, quiet=quiet, platform=platform)


@image_app.command("save")
def image_save(images: List[str] = typer.Argument(..., metavar="IMAGE..."),
               output: Optional[str] = typer.Option(None, "-o", "--output", metavar="FILE"),
               format: str = typer.Option("docker-archive", "--format")):
    """Save images to an archive (as save)."""
    save(images, output=output, format=format)


@app.command()
def commit(
    container: str = typer.Argument(..., metavar="CONTAINER"),
    repository: Optional[str] = typer.Argument(None, metavar="[REPOSITORY[:TAG]]"),
    message: str = typer.Option("", "-m", "--message", help="Commit message (the history step's comment)."),
    author: str = typer.Option("", "-a", "--author", help="Author, e.g. 'Name <email>'."),
):
    """Make an image of a container's changes over its image; prints the new image's id."""
    print(api.commit(container, repository, message=message, author=author, root=options.root))


@app.command()
def export(
    container: str = typer.Argument(..., metavar="CONTAINER"),
    output: Optional[str] = typer.Option(None, "-o", "--output", metavar="FILE", help="Write to FILE, not stdout."),
):
    """Export a container's file tree as a tar archive."""
    import sys

    if output is None and sys.stdout.isatty():
        raise fail("cowardly refusing to save to a terminal. Use the -o flag or redirect")
    api.export(container, output or "-", root=options.root)
