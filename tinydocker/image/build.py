"""One-layer images made here: from a recipe (the built-in busybox) or a rootfs tarball.

Either way the tree becomes an ordinary layer: its tar is the layer blob (uncompressed,
so its digest is its diff id), and an OCI config and manifest point at it, exactly as a
pulled image's would.
"""

from __future__ import annotations

from datetime import datetime, timezone
import os
from pathlib import Path

from ..errors import TinydockerError
from ..state.root import file_lock
from . import reference
from .digests import digest_of, file_digest
from .index import Image
from .staging import Staging
from .store import ImageStore, NotHere

DEFAULT_ENV = ["PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"]


def ensure(store: ImageStore, ref: str) -> Image:
    """The image `ref`; one with a recipe in images/ (the built-in busybox) is built on
    first use. (On run's path: the layer and OCI modules load only for a build.)"""
    if not reference.is_id_prefix(ref):
        reference.parse(ref)  # a malformed reference is refused saying why, not "not found"
    image = store.index().find(ref)
    if image is not None:
        return image
    from .recipe import recipe_for

    recipe = recipe_for(ref)
    if recipe is None:
        raise NotHere(ref)
    # one build at a time, so that runs started together share one image (a separate
    # lock: publishing takes the store's own)
    with file_lock(store.dir / ".build.lock"):
        image = store.index().find(ref)
        if image is None:
            image = build(store, ref, recipe)
    return image


def build(store: ImageStore, ref: str, recipe: dict) -> Image:
    from . import layer
    from .recipe import build_rootfs

    name = str(reference.parse(ref))
    with Staging(store) as stage:
        tree = stage.new_tree()
        build_rootfs(recipe, tree)
        diff_id, size = _tar_of(stage, tree)
        stage.keep_layer(tree, diff_id, layer.tree_size(str(tree)))
        settings = dict(recipe.get("config", {}))
        settings.setdefault("Env", DEFAULT_ENV)
        comment = f"tinydocker recipe {recipe.get('image', {}).get('name', name)}"
        return _publish(stage, [(diff_id, size)], settings, comment, [name])


def import_tarball(store: ImageStore, tarball, ref: str | None, changes: dict | None = None) -> Image:
    """`import`: a flat rootfs tar (plain, gzip, bzip2, xz or zstd; - for stdin, or a binary
    file object read as stdin is: the service's request body) as a one-layer image."""
    import contextlib
    import sys

    from . import layer

    names = [str(reference.parse(ref))] if ref else []
    given = not isinstance(tarball, str)
    if given or tarball == "-":
        # the caller's stream, left open for the caller: the service answers on its connection
        source, tarball = contextlib.nullcontext(tarball if given else sys.stdin.buffer), "-"
    with Staging(store) as stage:
        blob_file = stage.dir / "blobs" / "incoming"
        try:
            if tarball != "-":
                source = open(tarball, "rb")
        except OSError as e:
            raise TinydockerError(f"cannot read tarball {tarball}: {e.strerror}") from None
        try:
            with source as stream, open(blob_file, "wb") as out:
                _decompress_into(stream, out, tarball)
        except (OSError, EOFError) as e:
            raise TinydockerError(f"cannot read tarball {tarball}: {getattr(e, 'strerror', None) or e}") from None
        tree = stage.new_tree()
        try:
            with open(blob_file, "rb") as f:
                applied = layer.apply(f, str(tree))
        except layer.UnsafeMember as e:
            raise TinydockerError(f"refusing tarball {tarball}: {e}") from None
        except layer.LayerError as e:
            raise TinydockerError(f"cannot import tarball {tarball}: {e}") from None
        os.rename(blob_file, stage.blob_path(applied.diff_id))
        stage.keep_layer(tree, applied.diff_id, applied.size)
        settings = {"Env": list(DEFAULT_ENV), **(changes or {})}
        source_text = "stdin" if tarball == "-" else os.path.abspath(tarball)
        return _publish(stage, [(applied.diff_id, stage.blob_path(applied.diff_id).stat().st_size)], settings,
                        f"imported from {source_text}", names)


def _decompress_into(source, out, what: str) -> None:
    """Copy a tarball's plain tar bytes into `out` (layer blobs are plain, gzip or zstd
    only; bzip2 and xz are decompressed on the way in)."""
    import io

    from . import layer

    buffered = io.BufferedReader(source, 1 << 16) if not hasattr(source, "peek") else source
    head = buffered.peek(6)[:6]
    if head.startswith(b"BZh"):
        import bz2

        reader = bz2.BZ2File(buffered)
    elif head.startswith(b"\xfd7zXZ\x00"):
        import lzma

        reader = lzma.LZMAFile(buffered)
    else:
        reader = layer.decompressing(buffered, layer.sniff(head))
    while chunk := reader.read(1 << 20):
        out.write(chunk)


def _tar_of(stage: Staging, tree: Path) -> tuple[str, int]:
    """Write the tree's tar as a blob: (its digest, which is also its diff id; its size)."""
    from . import layer

    tmp = stage.dir / "blobs" / "writing"
    with open(tmp, "wb") as out:
        layer.write(str(tree), out, whiteouts=False)
    digest = file_digest(tmp)
    os.rename(tmp, stage.blob_path(digest))
    return digest, stage.blob_path(digest).stat().st_size


def _publish(stage: Staging, layers: list[tuple[str, int]], settings: dict, comment: str,
             names: list[str]) -> Image:
    from . import oci

    now = datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.%fZ")
    config = oci.canonical({
        **oci.host_platform(),
        "created": now,
        "config": settings,
        "rootfs": {"type": "layers", "diff_ids": [d for d, _ in layers]},
        "history": [{"created": now, "created_by": comment}],
    })
    manifest = oci.manifest((digest_of(config), len(config)),
                            [(oci.OCI_LAYER, d, size) for d, size in layers])
    return stage.publish(manifest, config, [d for d, _ in layers], names=names)
