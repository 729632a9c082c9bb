"""Staging: where a pull, load, build or commit puts its blobs and layers, privately, before
publishing them to the store in one step under its lock."""

from __future__ import annotations

from datetime import datetime, timezone
import json
import os
from pathlib import Path

from ..errors import TinydockerError
from .digests import digest_of, sha256_hex
from .index import Image
from .store import ImageStore, private_name


class Staging:
    """A private directory where a pull, load or build puts blobs and layers before
    publishing them; deleted on the way out whatever happens."""

    def __init__(self, store: ImageStore):
        self.store = store
        store.dir.mkdir(parents=True, exist_ok=True)
        store.check_owners()
        self.dir = store.dir / private_name("staging")
        (self.dir / "blobs").mkdir(parents=True)
        (self.dir / "layers").mkdir()
        self.sizes: dict[str, int] = {}

    def __enter__(self) -> "Staging":
        return self

    def __exit__(self, *exc) -> None:
        from ..linux.idmap import remove_tree

        remove_tree(self.dir)

    def blob_path(self, digest: str) -> Path:
        return self.dir / "blobs" / sha256_hex(digest)

    def put_blob(self, data: bytes) -> str:
        digest = digest_of(data)
        path = self.blob_path(digest)
        path.write_bytes(data)
        return digest

    def has_layer(self, diff_id: str) -> bool:
        return (self.dir / "layers" / sha256_hex(diff_id)).is_dir() or self.store.layer_dir(diff_id).is_dir()

    def new_tree(self) -> Path:
        path = self.dir / "layers" / f"unpacking-{os.urandom(4).hex()}"
        path.mkdir()
        return path

    def keep_layer(self, tree: Path, diff_id: str, size: int) -> None:
        """A fully unpacked, verified tree becomes the layer `diff_id` (if not already held)."""
        target = self.dir / "layers" / sha256_hex(diff_id)
        if target.exists() or self.store.layer_dir(diff_id).is_dir():
            from ..linux.idmap import remove_tree

            remove_tree(tree)
        else:
            os.rename(tree, target)
        self.sizes[diff_id] = size

    def publish(self, manifest: bytes, config: bytes, layer_blobs: list[str], names=(), digests=(),
                cache=(), intermediate: bool = False) -> Image:
        """Move everything in and add the image to the index, all under the lock (`cache`,
        `intermediate`: a build step's, see index.Image)."""
        config_json = json.loads(config)
        diff_ids = list(config_json.get("rootfs", {}).get("diff_ids", []))
        manifest_digest = self.put_blob(manifest)
        config_digest = self.put_blob(config)
        blobs = [manifest_digest, config_digest] + list(layer_blobs)
        with self.store.change() as index:
            for d in diff_ids:
                staged = self.dir / "layers" / sha256_hex(d)
                if staged.is_dir() and not self.store.layer_dir(d).is_dir():
                    self.store.layers.mkdir(parents=True, exist_ok=True)
                    os.rename(staged, self.store.layer_dir(d))
                elif not self.store.layer_dir(d).is_dir():
                    raise TinydockerError(f"layer {sha256_hex(d)[:12]} was removed while the image was being "
                                          "stored; try again")
            self.store.blobs.mkdir(parents=True, exist_ok=True)
            for b in blobs:
                staged = self.blob_path(b)
                if staged.exists():
                    os.rename(staged, self.store.blob_path(b))
                elif not self.store.blob_path(b).exists():
                    raise TinydockerError(f"blob {b} was removed while the image was being stored; try again")
            for d, size in self.sizes.items():
                index.layer_sizes.setdefault(sha256_hex(d), size)
            # the same image again (say, under another compression) keeps its first manifest
            image = index.add(Image(id=config_digest, manifest=manifest_digest, layers=diff_ids,
                                    blobs=list(dict.fromkeys(blobs)), names=list(names), digests=list(digests),
                                    added=datetime.now(timezone.utc), cache=list(cache),
                                    intermediate=intermediate))
        return image
