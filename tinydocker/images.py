"""Images: read-only root filesystems that containers use as their overlay's lower layer.

    images/NAME/rootfs        the filesystem; never written once the image exists
    images/NAME/image.toml    name, created, size, source
    images/.tmp-PID-NAME      an image being built or imported by process PID

An image appears by one rename of a finished directory, so a build or import that fails
or is killed leaves at most a .tmp-* directory, which the next image operation deletes.
"""

from __future__ import annotations

import os
import posixpath
import shutil
import struct
import tomllib
from datetime import datetime, timezone
from pathlib import Path

from .errors import TinydockerError
from .paths import DataRoot, file_lock, visible_entries
from .proc import remove_abandoned
from .spec import check_image_name

META = "image.toml"


def recipe_path(name: str) -> Path | None:
    """A recipe ships inside the package when installed, and lives in images/ in a checkout."""
    here = Path(__file__).resolve().parent
    for candidate in (here / "recipes" / f"{name}.toml", here.parent / "images" / f"{name}.toml"):
        if candidate.is_file():
            return candidate
    return None


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
        out = []
        for name in visible_entries(self.dir):
            try:
                with open(self.dir / name / META, "rb") as f:
                    out.append(tomllib.load(f))
            except (FileNotFoundError, tomllib.TOMLDecodeError):
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
        self._publish(name, f"recipe {recipe_file.name}", lambda rootfs: _build_from_recipe(recipe, rootfs))

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
                    tar.extractall(rootfs, numeric_owner=True, filter=_refuse_escapes)
            except tarfile.ReadError:
                raise TinydockerError(f"cannot read tarball {tarball}: not a tar archive (plain, gzip, bzip2 or xz)")
            except (tarfile.FilterError, _UnsafeMember) as e:
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


# -- the busybox recipe ---------------------------------------------------------------------

def _build_from_recipe(recipe: dict, rootfs: Path) -> None:
    source = recipe["source"]
    binary = source["binary"]
    if not os.path.isfile(binary):
        raise TinydockerError(f"{binary} is missing: install Debian's {source['package']} (apt-get install {source['package']})")
    if source.get("static") and _elf_interpreter(binary):
        raise TinydockerError(f"{binary} is dynamically linked: install Debian's {source['package']}")
    layout = recipe.get("layout", {})
    for d in layout.get("dirs", []):
        (rootfs / d).mkdir(parents=True, exist_ok=True)
    for d, mode in layout.get("modes", {}).items():
        os.chmod(rootfs / d, mode)
    target = rootfs / "bin" / "busybox"
    shutil.copy2(binary, target)
    os.chmod(target, 0o755)
    import subprocess

    # --list-full gives each applet's conventional path (usr/bin/env, sbin/ifconfig...)
    listing = subprocess.run([binary, "--list-full"], capture_output=True, text=True, check=True).stdout
    for rel in listing.split():
        if posixpath.basename(rel) == "busybox" or rel.startswith("/") or ".." in rel.split("/"):
            continue  # --list names busybox itself; linking it would replace the binary with a loop
        # each applet at its usual place, and in /bin too, as docker's busybox image has them
        for link in (rootfs / rel, rootfs / "bin" / posixpath.basename(rel)):
            link.parent.mkdir(parents=True, exist_ok=True)
            if not os.path.lexists(link):
                os.symlink("/bin/busybox", link)
    for rel, text in recipe.get("files", {}).items():
        path = rootfs / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
        os.chmod(path, 0o644)


def _elf_interpreter(path: str) -> bool:
    """True if the ELF file asks for a dynamic loader (has a PT_INTERP program header)."""
    with open(path, "rb") as f:
        head = f.read(64)
        if head[:4] != b"\x7fELF" or head[4] != 2:
            return True  # not a 64-bit ELF: certainly not the static busybox we expect
        phoff, = struct.unpack_from("<Q", head, 32)
        phentsize, phnum = struct.unpack_from("<HH", head, 54)
        f.seek(phoff)
        table = f.read(phentsize * phnum)
    return any(struct.unpack_from("<I", table, i * phentsize)[0] == 3 for i in range(phnum))


# -- safe extraction ------------------------------------------------------------------------

class _UnsafeMember(Exception):
    pass


def _escapes(path: str) -> bool:
    norm = posixpath.normpath(path)
    return norm == ".." or norm.startswith("../")


def _refuse_escapes(member, dest: str):
    """tarfile filter: refuse anything that would land, or point, outside the image.

    Absolute symlink targets are allowed: inside the container they resolve within its
    root, and rootfs tarballs are full of them. What is refused: absolute or ../ member
    names, hard links to such places, relative symlinks climbing out of the image, and a
    member whose path on disk would go through an already extracted symlink.
    """
    name = member.name
    if name.startswith("/"):
        raise _UnsafeMember(f"member {name!r} has an absolute path")
    if _escapes(name):
        raise _UnsafeMember(f"member {name!r} would land outside the image")
    if member.islnk():
        if member.linkname.startswith("/") or _escapes(member.linkname):
            raise _UnsafeMember(f"hard link {name!r} points outside the image ({member.linkname!r})")
    if member.issym() and not member.linkname.startswith("/"):
        if _escapes(posixpath.join(posixpath.dirname(posixpath.normpath(name)), member.linkname)):
            raise _UnsafeMember(f"symlink {name!r} points outside the image ({member.linkname!r})")
    real_dest = os.path.realpath(dest)
    parent = os.path.realpath(os.path.join(dest, posixpath.dirname(posixpath.normpath(name))))
    if parent != real_dest and not parent.startswith(real_dest + os.sep):
        raise _UnsafeMember(f"member {name!r} would be written through a symlink leading outside the image")
    if member.islnk():
        real_target = os.path.realpath(os.path.join(dest, member.linkname))
        if not real_target.startswith(real_dest + os.sep):
            raise _UnsafeMember(f"hard link {name!r} resolves outside the image")
    return member
