"""The API for images: list, build from a recipe, import a rootfs tarball, remove."""

from ..spec import DEFAULT_IMAGE
from ..state import root as paths


def images(root=None) -> list[dict]:
    from ..image.store import ImageStore

    return ImageStore(paths.resolve(root)).all()


def build_image(name: str = DEFAULT_IMAGE, root=None) -> None:
    from ..image.store import ImageStore

    ImageStore(paths.resolve(root)).build(name)


def import_image(tarball: str, name: str, root=None) -> None:
    from ..image.store import ImageStore

    ImageStore(paths.resolve(root)).import_tar(tarball, name)


def remove_image(name: str, root=None) -> None:
    from ..image.store import ImageStore
    from ..state.store import Store

    root = paths.resolve(root)
    users = [r.name for r in Store(root).all() if r.image == name]
    ImageStore(root).remove(name, users)
