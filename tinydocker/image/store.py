"""The image store: content-addressed blobs, layers unpacked once, images pointing at them.

    images/index.toml          every image (by id) and its names; replaced whole, under the lock
    images/blobs/sha256/HEX    manifests, configs and layer tars, as pulled or loaded
    images/layers/HEX          a layer's tree, by the hex of its diff id; shared by every
                               image (and container) that has the layer
    images/.lock               held while anything above changes
    images/.tmp-PID-TICKS-*    work in progress (a pull, a load, a removal) of the process
                               PID that started at TICKS

An image's id is the digest of its config, as with docker. A pull, load or build works
in a private .tmp-PID-* directory and publishes under the lock: layers and blobs move in
by rename, then one index write makes the image visible. So a reader sees an image whole
or not at all; a process killed while working leaves only its .tmp directory; and one
killed while publishing leaves only layers and blobs no image names. Every change begins
by sweeping both away, so the next command finds the data root as it was.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timezone
import json
import os
from pathlib import Path
import tomllib

from ..errors import TinydockerError
from ..linux import proc
from ..linux.files import write_atomic
from ..state import stack
from ..state.root import DataRoot, file_lock
from . import reference

INDEX = "index.toml"


def private_name(what: str) -> str:
    """A name for this process's work in the store (proc.private_name's liveness rule)."""
    return proc.private_name(".tmp", what)


class NoSuchImage(TinydockerError):
    def __init__(self, ref: str):
        super().__init__(f"No such image: {ref}", code=1)


class NotHere(TinydockerError):
    """An image a new container wants is not in the store (a pull may bring it)."""

    def __init__(self, ref: str):
        super().__init__(f"Unable to find image '{ref}' locally: pull it, load it, or import a rootfs tarball")


def sha256_hex(digest: str) -> str:
    algorithm, _, hex_part = digest.partition(":")
    if algorithm != "sha256" or len(hex_part) != 64 or any(c not in "0123456789abcdef" for c in hex_part):
        raise TinydockerError(f"unsupported or malformed digest {digest!r}")
    return hex_part


def digest_of(data: bytes) -> str:
    import hashlib  # only what changes the store digests: kept off run's path

    return "sha256:" + hashlib.sha256(data).hexdigest()


def file_digest(path: Path) -> str:
    import hashlib

    h = hashlib.sha256()
    with open(path, "rb") as f:
        while chunk := f.read(1 << 20):
            h.update(chunk)
    return "sha256:" + h.hexdigest()


@dataclass
class Image:
    id: str                         # sha256:HEX of the config
    manifest: str                   # digest of the manifest blob
    layers: list[str]               # diff ids, bottom first
    blobs: list[str]                # every blob the image needs: manifest, config, layers
    names: list[str] = field(default_factory=list)     # registry/path:tag, normalised
    digests: list[str] = field(default_factory=list)   # registry/path@sha256:… of a pulled manifest
    added: datetime | None = None

    @property
    def hex(self) -> str:
        return self.id.split(":", 1)[1]

    def to_toml(self) -> dict:
        data = {k: v for k, v in self.__dict__.items() if k != "id" and v is not None}
        return data


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
            return existing
        self.images[image.id] = image
        return image


class ImageStore:
    def __init__(self, root: DataRoot):
        self.root = root
        self.dir = root.images
        self.blobs = self.dir / "blobs" / "sha256"
        self.layers = self.dir / "layers"

    # -- reading (no lock: every file is replaced whole) ---------------------------------

    def index(self) -> Index:
        return Index.read(self.dir / INDEX)

    def get(self, ref: str) -> Image:
        image = self.index().find(ref)
        if image is None:
            raise NoSuchImage(ref)
        return image

    def blob_path(self, digest: str) -> Path:
        return self.blobs / sha256_hex(digest)

    def read_blob(self, digest: str) -> bytes:
        try:
            return self.blob_path(digest).read_bytes()
        except FileNotFoundError:
            raise TinydockerError(f"image store {self.dir} has lost blob {digest}; pull or load the image again")

    def config(self, image: Image) -> dict:
        return json.loads(self.read_blob(image.id))

    def manifest(self, image: Image) -> dict:
        return json.loads(self.read_blob(image.manifest))

    def layer_dir(self, diff_id: str) -> Path:
        return self.layers / sha256_hex(diff_id)

    def layer_dirs(self, image: Image) -> list[Path]:
        """The image's layer directories to mount, top first: overlay's lowerdir order. A
        layer the image lists twice is mounted once, where it is topmost, and an empty one
        not at all (overlayfs refuses a directory twice: see state/stack.py); the image
        itself still lists them all, for save and push."""
        dirs = [self.layer_dir(d) for d in reversed(image.layers)]
        for d in dirs:
            if not d.is_dir():
                raise TinydockerError(f"image {image.hex[:12]} has lost layer {d.name[:12]} from {self.layers}; "
                                      "pull or load it again")
        return stack.overlay_stack(dirs)

    # -- changing ------------------------------------------------------------------------

    def lock(self):
        return file_lock(self.dir / ".lock")

    def staging(self) -> "Staging":
        return Staging(self)

    def sweep(self, index: Index) -> None:
        """Under the lock: delete what killed processes left, and layers and blobs that no
        image holds (a publish killed halfway)."""
        proc.remove_abandoned(self.dir, ".tmp")
        wanted_layers = {sha256_hex(d) for img in index.images.values() for d in img.layers}
        standing = self.container_layers()
        wanted_layers |= standing
        wanted_blobs = {sha256_hex(d) for img in index.images.values() for d in img.blobs}
        wanted_blobs |= standing  # a promoted layer's blob is its plain tar, by its diff id (commit.py)
        for directory, wanted in ((self.layers, wanted_layers), (self.blobs, wanted_blobs)):
            try:
                names = os.listdir(directory)
            except FileNotFoundError:
                continue
            for name in names:
                if name not in wanted:
                    self._trash(directory / name)

    def container_layers(self) -> set[str]:
        """Layers (by hex) that containers stand on: those of their images, and the layer a
        commit promoted a container's upper to, which outlives its image (`rmi` after
        `commit`, as docker allows) until the container goes."""
        return {os.path.basename(p) for p in stack.linked_layers(self.root.containers)}

    def release(self, layers: list[str]) -> None:
        """After a container's removal: delete the layers it stood on that no image holds
        (`layers`: where its stack linked to)."""
        index = self.index()
        held = {sha256_hex(d) for img in index.images.values() for d in img.layers}
        if any(os.path.basename(p) not in held for p in layers):
            self.clean()

    def _trash(self, path: Path) -> None:
        """Rename away, then delete: a half-deleted layer is never under its own name."""
        trash = self.dir / private_name("trash")
        try:
            os.rename(path, trash)
        except FileNotFoundError:
            return
        if trash.is_dir() and not trash.is_symlink():
            import shutil

            shutil.rmtree(trash, ignore_errors=True)
        else:
            trash.unlink(missing_ok=True)

    def clean(self) -> None:
        """Sweep what killed processes left (see sweep), changing nothing else."""
        with self.change():
            pass

    def change(self) -> "_Change":
        return _Change(self)

    def remove(self, ref: str, in_use, force: bool = False) -> list[tuple[str, str]]:
        """`rmi`: untag the name given, and delete the image once it has no name left and no
        container uses it. Returns docker's lines: ("Untagged", name) and ("Deleted", id).
        `in_use(image_id)` lists the containers using an image."""
        done = []
        with self.change() as index:
            image = index.find(ref)
            if image is None:
                raise NoSuchImage(ref)
            users = in_use(image.id)
            by_name = not reference.is_id_prefix(ref) or ref in (n.split("/")[-1] for n in image.names)
            if by_name and len(image.names) > 1:
                # one name of several: only that name goes, whoever uses the image
                name = str(reference.parse(ref))
                if name in image.names:
                    image.names.remove(name)
                    return [("Untagged", familiar_name(name))]
            if users and not force:
                raise TinydockerError(
                    f"conflict: unable to remove repository reference \"{ref}\" (must force) - container "
                    f"{users[0]} is using its referenced image {image.hex[:12]}", code=1)
            if not by_name and len(image.names) > 1 and not force:
                raise TinydockerError(
                    f"conflict: unable to delete {image.hex[:12]} (must be forced) - image is referenced in "
                    "multiple repositories", code=1)
            for name in image.names:
                done.append(("Untagged", familiar_name(name)))
            image.names = []
            if users:
                return done  # kept, nameless, while its containers exist (docker's dangling image)
            del index.images[image.id]
            done.append(("Deleted", image.id))
        return done

    def tag(self, source: str, target: str) -> None:
        name = str(reference.parse(target))
        with self.change() as index:
            image = index.find(source)
            if image is None:
                raise NoSuchImage(source)
            index.untag(name)
            image.names.append(name)

    def prune(self, in_use, all: bool = False) -> tuple[list[Image], int]:
        """Remove images without a name (all=True: every image) that no container uses;
        (the images, bytes of the layers that went with them)."""
        with self.change() as index:
            gone = [img for img in index.images.values()
                    if (all or not img.names) and not in_use(img.id)]
            before = {sha256_hex(d) for img in index.images.values() for d in img.layers}
            for img in gone:
                del index.images[img.id]
            after = {sha256_hex(d) for img in index.images.values() for d in img.layers}
            reclaimed = sum(index.layer_sizes.get(h, 0) for h in before - after)
        return gone, reclaimed


def familiar_name(name: str) -> str:
    ref = reference.parse(name)
    return f"{ref.familiar}:{ref.tag}" if ref.tag else f"{ref.familiar}@{ref.digest}"


class _Change:
    """`with store.change() as index:` — the lock held, leftovers swept, the index written
    back if the block succeeds, and layers and blobs it no longer needs deleted."""

    def __init__(self, store: ImageStore):
        self.store = store
        self.lock = store.lock()

    def __enter__(self) -> Index:
        self.lock.acquire()
        try:
            self.index = self.store.index()
            self.store.sweep(self.index)
        except BaseException:
            self.lock.release()
            raise
        return self.index

    def __exit__(self, kind, value, tb) -> None:
        try:
            if kind is None:
                self.store.dir.mkdir(parents=True, exist_ok=True)
                self.index.write(self.store.dir / INDEX)
                self.store.sweep(self.index)
        finally:
            self.lock.release()


class Staging:
    """A private directory where a pull, load or build puts blobs and layers before
    publishing them; deleted on the way out whatever happens."""

    def __init__(self, store: ImageStore):
        self.store = store
        store.dir.mkdir(parents=True, exist_ok=True)
        self.dir = store.dir / private_name("staging")
        (self.dir / "blobs").mkdir(parents=True)
        (self.dir / "layers").mkdir()
        self.sizes: dict[str, int] = {}

    def __enter__(self) -> "Staging":
        return self

    def __exit__(self, *exc) -> None:
        import shutil

        shutil.rmtree(self.dir, ignore_errors=True)

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
            import shutil

            shutil.rmtree(tree, ignore_errors=True)
        else:
            os.rename(tree, target)
        self.sizes[diff_id] = size

    def publish(self, manifest: bytes, config: bytes, layer_blobs: list[str], names=(), digests=()) -> Image:
        """Move everything in and add the image to the index, all under the lock."""
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
                                    added=datetime.now(timezone.utc)))
        return image
