"""Images: read-only root filesystems that containers use as their overlay's lower layer.

    images/NAME/rootfs        the filesystem; never written once the image exists
    images/NAME/image.toml    name, created, size, source
    images/.tmp-PID-NAME      an image being built or imported by process PID

An image appears by one rename of a finished directory, so a build or import that fails
or is killed leaves at most a .tmp-* directory, which the next image operation deletes.
"""

from __future__ import annotations

from datetime import datetime, timezone
import os
from pathlib import Path
import shutil
import tomllib

from ..errors import TinydockerError
from ..linux.proc import remove_abandoned
from ..spec import check_image_name
from ..state.root import DataRoot, file_lock, visible_entries
from .archive import UnsafeMember, refuse_escapes
from .recipe import build_rootfs, recipe_path

META = "image.toml"


class ImageStore:
    def __init__(self, root: DataRoot):
        self.root = root
        self.dir = root.images

    def lock(self):
        return file_lock(self.root.images_lock)

    def rootfs(self, name: str) -> Path:
        return self.dir / name / "rootfs"

    def exists(self, name: str) -> bool:
        return (self.dir / name / META).is_file()

    def ensure(self, name: str) -> Path:
        """The image's rootfs, building it from its recipe on first use."""
        check_image_name(name)
        if not self.exists(name):
            if recipe_path(name) is None:
                raise TinydockerError(
                    f"Unable to find image '{name}': import one with 'tinydocker import TARBALL {name}'")
            self.build(name)
        return self.rootfs(name)

    def all(self) -> list[dict]:
        """The images this store made, and nothing else: in a source checkout, images/ also
        holds the recipes and a README."""
        out = []
        for name in visible_entries(self.dir):
            try:
                with open(self.dir / name / META, "rb") as f:
                    out.append(tomllib.load(f))
            except (FileNotFoundError, NotADirectoryError, tomllib.TOMLDecodeError):
                continue
        return out

    # -- making images -------------------------------------------------------------------

    def build(self, name: str) -> None:
        check_image_name(name)
        recipe_file = recipe_path(name)
        if recipe_file is None:
            raise TinydockerError(f"no recipe for image '{name}' (images/{name}.toml)")
        with open(recipe_file, "rb") as f:
            recipe = tomllib.load(f)
        self._publish(name, f"recipe {recipe_file.name}", lambda rootfs: build_rootfs(recipe, rootfs))

    def import_tar(self, tarball: str, name: str) -> None:
        check_image_name(name)
        if self.exists(name):
            raise TinydockerError(f"image '{name}' already exists; remove it first with 'tinydocker image rm {name}'")
        import tarfile

        if tarball == "-":
            import sys

            opener = lambda: tarfile.open(fileobj=sys.stdin.buffer, mode="r|*")  # noqa: E731
        else:
            if not os.path.isfile(tarball):
                raise TinydockerError(f"cannot read tarball {tarball}: no such file")
            opener = lambda: tarfile.open(tarball, mode="r:*")  # noqa: E731

        def extract(rootfs: Path) -> None:
            try:
                with opener() as tar:
                    tar.extractall(rootfs, numeric_owner=True, filter=refuse_escapes)
            except tarfile.ReadError:
                raise TinydockerError(f"cannot read tarball {tarball}: not a tar archive (plain, gzip, bzip2 or xz)")
            except (tarfile.FilterError, UnsafeMember) as e:
                raise TinydockerError(f"refusing tarball {tarball}: {e}")
            except (OSError, EOFError) as e:
                raise TinydockerError(f"cannot import tarball {tarball}: {e}")

        self._publish(name, f"import {os.path.abspath(tarball) if tarball != '-' else 'stdin'}", extract)

    def remove(self, name: str, in_use: list[str]) -> None:
        if in_use:
            raise TinydockerError(f"image '{name}' is used by container(s): {', '.join(in_use)}")
        with self.lock():
            if not self.exists(name):
                raise TinydockerError(f"No such image: {name}", code=1)
            trash = self.dir / f".tmp-{os.getpid()}-rm-{name}"
            os.rename(self.dir / name, trash)
        shutil.rmtree(trash, ignore_errors=True)

    def sweep(self) -> None:
        """Delete what killed builds, imports and removals left in .tmp-PID-* directories."""
        remove_abandoned(self.dir, ".tmp")

    def _publish(self, name: str, source: str, fill) -> None:
        """Fill a temporary directory, then rename it into place under the lock."""
        with self.lock():
            self.sweep()
            if self.exists(name):
                return  # another process built it while we waited for the lock
            tmp = self.dir / f".tmp-{os.getpid()}-{name}"
            shutil.rmtree(tmp, ignore_errors=True)
            (tmp / "rootfs").mkdir(parents=True)
            try:
                fill(tmp / "rootfs")
                _write_meta(tmp, name, source)
                os.rename(tmp, self.dir / name)
            except BaseException:
                shutil.rmtree(tmp, ignore_errors=True)
                raise


def _write_meta(image_dir: Path, name: str, source: str) -> None:
    import tomli_w

    size = 0
    for dirpath, dirnames, filenames in os.walk(image_dir / "rootfs"):
        for fn in filenames:
            try:
                st = os.lstat(os.path.join(dirpath, fn))
            except OSError:
                continue
            size += st.st_size
    meta = {"name": name, "created": datetime.now(timezone.utc), "size": size, "source": source}
    (image_dir / META).write_text(tomli_w.dumps(meta))
