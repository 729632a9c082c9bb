"""The image index, images/index.toml: every image (by id), its names, its layers and their
sizes; the store's one mutable file, replaced whole under the store's lock."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
import tomllib

from ..errors import TinydockerError
from ..linux.files import write_atomic
from . import reference
from .digests import sha256_hex


@dataclass
class Image:
    id: str                         # sha256:HEX of the config
    manifest: str                   # digest of the manifest blob
    layers: list[str]               # diff ids, bottom first
    blobs: list[str]                # every blob the image needs: manifest, config, layers
    names: list[str] = field(default_factory=list)     # registry/path:tag, normalised
    digests: list[str] = field(default_factory=list)   # registry/path@sha256:… of a pulled manifest
    added: datetime | None = None
    # a build's step result: the cache keys that lead to it (build/cache.py), and whether
    # it is only a step (hidden from `images`, freed by `builder prune`) or a build's image
    cache: list[str] = field(default_factory=list)
    intermediate: bool = False

    @property
    def hex(self) -> str:
        return self.id.split(":", 1)[1]

    def to_toml(self) -> dict:
        return {k: v for k, v in self.__dict__.items()
                if k != "id" and v is not None and not (k in ("cache", "intermediate") and not v)}


class Index:
    """The images and their names: the store's one mutable file."""

    def __init__(self, images: dict[str, Image], layer_sizes: dict[str, int]):
        self.images = images
        self.layer_sizes = layer_sizes   # diff id hex -> bytes of file content

    @classmethod
    def read(cls, path: Path) -> "Index":
        try:
            with open(path, "rb") as f:
                data = tomllib.load(f)
        except FileNotFoundError:
            return cls({}, {})
        except tomllib.TOMLDecodeError as e:
            raise TinydockerError(f"image index {path} is damaged: {e}") from None
        images = {f"sha256:{hex_id}": Image(id=f"sha256:{hex_id}", **entry)
                  for hex_id, entry in data.get("images", {}).items()}
        return cls(images, {k: v["size"] for k, v in data.get("layers", {}).items()})

    def write(self, path: Path) -> None:
        import tomli_w

        used = {sha256_hex(d) for img in self.images.values() for d in img.layers}
        text = tomli_w.dumps({"images": {img.hex: img.to_toml() for img in self.images.values()},
                              "layers": {k: {"size": v} for k, v in sorted(self.layer_sizes.items()) if k in used}})
        write_atomic(path, text.encode())

    def size(self, image: Image) -> int:
        """Bytes of file content over the image's layers."""
        return sum(self.layer_sizes.get(sha256_hex(d), 0) for d in image.layers)

    def find(self, ref: str) -> Image | None:
        """By name (normalised, as docker does), name@digest, id, or id prefix."""
        if reference.is_id_prefix(ref):
            prefix = ref if ref.startswith("sha256:") else "sha256:" + ref
            hits = [img for img in self.images.values() if img.id.startswith(prefix)]
            if len(hits) == 1:
                return hits[0]
            if len(hits) > 1 and len(ref) < 71:
                raise TinydockerError(f"image id prefix {ref!r} is ambiguous", code=1)
        try:
            ref_obj = reference.parse(ref)
        except TinydockerError:
            return None
        for img in self.images.values():
            if ref_obj.digest:
                if any(d == f"{ref_obj.repository}@{ref_obj.digest}" for d in img.digests) or \
                        (img.manifest == ref_obj.digest and any(n.startswith(ref_obj.repository + ":") for n in img.names)):
                    return img
            elif str(ref_obj) in img.names:
                return img
        return None

    def untag(self, name: str) -> None:
        for img in self.images.values():
            if name in img.names:
                img.names.remove(name)

    def add(self, image: Image) -> Image:
        """Put an image in (merging with one of the same id) and move its names onto it."""
        for name in image.names:
            self.untag(name)
        existing = self.images.get(image.id)
        if existing is not None:
            existing.names += [n for n in image.names if n not in existing.names]
            existing.digests += [d for d in image.digests if d not in existing.digests]
            existing.cache += [k for k in image.cache if k not in existing.cache]
            existing.intermediate = existing.intermediate and image.intermediate
            return existing
        self.images[image.id] = image
        return image
