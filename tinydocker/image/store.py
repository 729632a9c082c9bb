"""The image store: content-addressed blobs, layers unpacked once, images pointing at them.

    images/index.toml          every image (by id) and its names; replaced whole, under the lock
    images/blobs/sha256/HEX    manifests, configs and layer tars, as pulled or loaded
    images/layers/HEX          a layer's tree, by the hex of its diff id; shared by every
                               image (and container) that has the layer
    images/.lock               held while anything above changes
    images/.tmp-PID-TICKS-*    work in progress (a pull, a load, a removal) of the process
                               PID that started at TICKS

An image's id is the digest of its config, as with docker. A pull, load or build works
in a private .tmp-PID-* directory (staging.py) and publishes under the lock: layers and blobs move in
by rename, then one index write makes the image visible. So a reader sees an image whole
or not at all; a process killed while working leaves only its .tmp directory; and one
killed while publishing leaves only layers and blobs no image names. Every change begins
by sweeping both away, so the next command finds the data root as it was.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

from ..errors import InUse, NoSuchImage, TinydockerError
from ..linux import proc
from ..state.root import DataRoot, file_lock
from . import reference
from .digests import sha256_hex
from .index import Image, Index
from .reference import familiar_name

INDEX = "index.toml"


SUBIDS = "/etc/subuid, /etc/subgid"


def private_name(what: str) -> str:
    """A name for this process's work in the store (proc.private_name's liveness rule)."""
    return proc.private_name(".tmp", what)


class NotHere(TinydockerError):
    """An image a new container wants is not in the store (a pull may bring it)."""

    def __init__(self, ref: str):
        super().__init__(f"Unable to find image '{ref}' locally: pull it, load it, or import a rootfs tarball")


class ImageStore:
    def __init__(self, root: DataRoot):
        self.root = root
        self.dir = root.images
        self.blobs = self.dir / "blobs" / "sha256"
        self.layers = self.dir / "layers"

    def check_owners(self) -> None:
        """An ordinary user's layers keep owners shifted by the mapping they were unpacked
        under (image/layer.py), which a container under another mapping would see wrong. The
        mapping is recorded while the store has no layer, and a store with layers is refused
        under any other (the user's ranges changed), as podman asks for `system migrate`."""
        if os.geteuid() == 0:
            return
        from ..linux.files import write_atomic
        from ..linux.idmap import for_user

        mapping = for_user()
        text = "".join(f"{kind} {r.line()}\n" for kind, ranges in (("uid", mapping.uids), ("gid", mapping.gids))
                       for r in ranges)
        path = self.dir / "idmap"
        try:
            recorded = path.read_text()
        except FileNotFoundError:
            recorded = None
        if recorded == text:
            return
        if recorded is not None and self.layers.is_dir() and any(self.layers.iterdir()):
            raise TinydockerError(f"the user's subordinate ids ({SUBIDS}) changed since the images in {self.dir} were "
                                  "unpacked, and their files keep the old owners: `tinydocker system reset` removes "
                                  "them (then pull or load them again)")
        self.dir.mkdir(parents=True, exist_ok=True)
        write_atomic(path, text.encode(), 0o644)

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
        from ..state import stack  # with its system calls (ctypes): not for a listing

        dirs = [self.layer_dir(d) for d in reversed(image.layers)]
        for d in dirs:
            if not d.is_dir():
                raise TinydockerError(f"image {image.hex[:12]} has lost layer {d.name[:12]} from {self.layers}; "
                                      "pull or load it again")
        return stack.overlay_stack(dirs)

    # -- changing ------------------------------------------------------------------------

    def lock(self):
        return file_lock(self.dir / ".lock")

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
        from ..state import stack

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
            from ..linux.idmap import remove_tree

            remove_tree(trash)
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
                raise InUse(
                    f"conflict: unable to remove repository reference \"{ref}\" (must force) - container "
                    f"{users[0]} is using its referenced image {image.hex[:12]}")
            if not by_name and len(image.names) > 1 and not force:
                raise InUse(
                    f"conflict: unable to delete {image.hex[:12]} (must be forced) - image is referenced in "
                    "multiple repositories")
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
            # a build's steps are the build cache's, not dangling: `builder prune` frees them
            gone = [img for img in index.images.values()
                    if (all or (not img.names and not img.intermediate)) and not in_use(img.id)]
            before = {sha256_hex(d) for img in index.images.values() for d in img.layers}
            for img in gone:
                del index.images[img.id]
            after = {sha256_hex(d) for img in index.images.values() for d in img.layers}
            reclaimed = sum(index.layer_sizes.get(h, 0) for h in before - after)
        return gone, reclaimed


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
