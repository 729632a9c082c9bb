"""The API for images: list, inspect, build from a recipe, import, load, save, tag, remove,
prune, history, and commit and export of containers."""

from __future__ import annotations

from ..state import root as paths


def _images(root):
    from ..image.store import ImageStore

    return ImageStore(paths.resolve(root))


def _users(root):
    """image id -> names of the containers made from it (they hold its layers)."""
    from ..state.store import Store

    users: dict[str, list[str]] = {}
    for record in Store(paths.resolve(root)).all():
        users.setdefault(record.image_id, []).append(record.name)
    return lambda image_id: users.get(image_id, [])


def images(filters=(), all: bool = False, root=None) -> list[dict]:
    """One dict per image and name, newest first, as `docker images` lists them: repository,
    tag, id, digest, created (datetime), size (bytes), labels; an image without a name has
    repository and tag None. filters as docker's --filter: "dangling=true", "reference=busy*",
    "label=k[=v]", "before=IMAGE", "since=IMAGE". all=True: a build's steps too (kept as
    its cache, without names), as docker's images -a lists intermediate images."""
    from ..image.describe import listing
    from .filters import image_filter

    store = _images(root)
    rows = listing(store, all)
    wanted = image_filter(filters, store.index(), rows)
    return [row for row in rows if wanted(row)]


def inspect_image(ref: str, root=None) -> dict:
    """docker's `image inspect` document: Id, RepoTags, RepoDigests, Created, Config,
    Architecture, Os, Size, RootFS."""
    from ..image.describe import inspect_doc

    store = _images(root)
    return inspect_doc(store, store.get(ref))


def history(ref: str, root=None) -> list[dict]:
    """The image's history, newest first: created, created_by, comment, size, empty_layer."""
    from ..image.describe import history as history_of

    store = _images(root)
    return history_of(store, store.get(ref))


def build_image(name: str | None = None, root=None) -> str:
    """Build the image whose recipe is images/NAME.toml (by default the default image's,
    busybox); its id."""
    from ..errors import TinydockerError
    from ..image.build import build
    from ..image.recipe import recipe_for
    from ..spec import DEFAULT_IMAGE  # here, not at the top: spec is not for `images`

    name = name or DEFAULT_IMAGE
    recipe = recipe_for(name)
    if recipe is None:
        raise TinydockerError(f"no recipe for image '{name}' (images/{name.split(':')[0]}.toml)")
    return build(_images(root), name, recipe).id


def import_image(tarball, name: str | None = None, root=None, changes: dict | None = None) -> str:
    """A rootfs tarball (a path, - for stdin, or a binary file object) as a one-layer image;
    its id. `changes`
    sets config fields (Cmd, Entrypoint, Env, WorkingDir, User...)."""
    from ..image.build import import_tarball

    image = import_tarball(_images(root), tarball, name, changes)
    _event(root, "import", image.id, name or image.id)
    return image.id


def remove_image(ref: str, force: bool = False, root=None) -> list[tuple[str, str]]:
    """`rmi`: untag, and delete once no name and no container is left; refused while a
    container uses the image unless force. Returns [("Untagged"|"Deleted", what)]."""
    store = _images(root)
    image = store.index().find(ref)
    done = store.remove(ref, _users(root), force=force)
    for what, which in done:
        _event(root, "untag" if what == "Untagged" else "delete", image.id, which)
    return done


def tag(source: str, target: str, root=None) -> None:
    store = _images(root)
    store.tag(source, target)
    _event(root, "tag", store.get(target).id, target)


def prune_images(all: bool = False, root=None) -> dict:
    """Remove images without a name (all=True: every image no container uses).
    Returns {"images": [ids], "reclaimed": bytes}."""
    gone, reclaimed = _images(root).prune(_users(root), all=all)
    for img in gone:
        _event(root, "delete", img.id, img.id)
    return {"images": [img.id for img in gone], "reclaimed": reclaimed}


def load(path="-", platform: str | None = None, root=None) -> list[dict]:
    """Load the images of a docker archive or an OCI layout (directory or tar; "-" is
    stdin; or a binary file object). Returns [{"id": ..., "names": [...]}]; nothing is stored if any part is bad."""
    from ..image.archive import load as load_archive

    loaded = [{"id": image.id, "names": names} for image, names in load_archive(_images(root), path, platform)]
    for image in loaded:
        _event(root, "load", image["id"], (image["names"] or [image["id"]])[0])
    return loaded


def save(refs, path, format: str = "docker-archive", root=None) -> None:
    """Write images to `path` ("-": stdout; or a binary file object, the service's answer)
    as a docker archive, or format="oci-archive"."""
    import sys

    from ..errors import TinydockerError
    from ..image.archive import save as save_archive
    from ..linux.files import replacing

    if isinstance(refs, str):
        refs = [refs]
    store = _images(root)
    if not isinstance(path, str) or path == "-":
        save_archive(store, list(refs), sys.stdout.buffer if path == "-" else path, format)
        _saved(root, store, refs)
        return
    for ref in refs:
        store.get(ref)  # an unknown image is said before any file is made
    try:
        with replacing(path, 0o644) as fd, open(fd, "wb", closefd=False) as out:
            save_archive(store, list(refs), out, format)  # no half-written archive under the name asked for
        _saved(root, store, refs)
    except OSError as e:
        raise TinydockerError(f"cannot write {path}: {e.strerror}") from None


def _saved(root, store, refs) -> None:
    for ref in refs:
        _event(root, "save", store.get(ref).id, ref)


def _event(root, action: str, image_id: str, name: str) -> None:
    """An image's event: Actor.ID its id (a pull's and push's: the reference), name= what was named."""
    from ..state import events

    events.emit(paths.resolve(root), "image", action, image_id, {"name": name})


def commit(container: str, repository: str | None = None, message: str = "", author: str = "",
           root=None) -> str:
    """A new image from a container: its upper directory as a layer over its image, with
    its settings (Cmd, Entrypoint, Env, WorkingDir, User...); the new image's id."""
    from ..errors import TinydockerError
    from ..image.commit import commit as commit_layer, container_settings
    from ..spec import check_image_ref
    from ..state.store import Store

    if repository:
        check_image_ref(repository)
    data_root = paths.resolve(root)
    containers = Store(data_root)
    record = containers.observe(containers.lookup(container))
    store = _images(data_root)
    base = store.index().images.get(record.image_id)
    if base is None:
        raise TinydockerError(f"container {record.name}'s image {record.image_id[7:19]} is gone")
    settings = container_settings(record.spec)
    cdir = containers.container_dir(record.name)
    steps = dict(comment=message, author=author, created_by=f"tinydocker commit {record.name}")
    # a stopped container's upper is promoted, not copied: hard links need one filesystem
    held = containers.hold_for_commit(record) if _same_filesystem(cdir, store.dir) else None
    # the layers earlier commits promoted its upper to are the container's own, over its image
    steps["promoted"] = list((held or record).promoted or [])
    if held is None:
        image_id = commit_layer(store, cdir / "upper", base, settings, repository, **steps).id
    else:
        image_id = _promote(containers, held, store, base, settings, repository, steps)
    from ..state import events

    events.container(data_root, record, "commit", comment=message, imageID=image_id)
    return image_id


def _promote(containers, held, store, base, settings, repository, steps) -> str:
    """Commit a held (stopped) container by promoting its upper directory; see state/stack.py."""
    from ..image.commit import commit as commit_layer
    from ..state import stack

    def link(layer_dir, image_id):
        containers.note_commit(held, layer=str(layer_dir), image=image_id)

    cdir = containers.container_dir(held.name)
    try:
        image = commit_layer(store, cdir / "upper", base, settings, repository, link=link, **steps)
    except BaseException:
        # not published: no layer shares the upper's files, the container is as it was
        containers.release_commit(held, None)
        raise
    # from here on a failure leaves the marker, and the container's next start finishes the move
    if containers.note_commit(held, published=True) is not None:
        try:
            stack.promote(cdir, str(store.layer_dir(image.layers[-1])))
        except FileNotFoundError:
            if containers.holds(held):
                raise
            return image.id  # the container was removed meanwhile: the image stands alone
        containers.release_commit(held, image.layers[-1])
    return image.id


def _same_filesystem(a, b) -> bool:
    import os

    try:
        return os.stat(a).st_dev == os.stat(b).st_dev
    except FileNotFoundError:
        return False


def export(container: str, path: str | int = "-", root=None) -> None:
    """Write the container's file tree (its image under its changes) as a tar to `path`
    ("-": stdout; a number: that open descriptor)."""
    import sys

    from ..container.export import export as export_tree
    from ..errors import TinydockerError
    from ..linux.files import replacing
    from ..state.store import Store

    containers = Store(paths.resolve(root))
    record = containers.lookup(container)
    lower = containers.lower_dirs(record.name)
    cdir = str(containers.container_dir(record.name))
    if path == "-":
        sys.stdout.flush()
        export_tree(cdir, lower, sys.stdout.fileno())
        return
    if isinstance(path, int):
        export_tree(cdir, lower, path)
        return
    try:
        with replacing(path, 0o644) as fd:
            export_tree(cdir, lower, fd)
    except OSError as e:
        raise TinydockerError(f"cannot write {path}: {e.strerror}") from None
