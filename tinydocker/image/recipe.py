"""Images built from a recipe: images/NAME.toml names a static binary from a Debian package
and the layout around it (the busybox image: a link for every applet)."""

import os
from pathlib import Path
import posixpath
import shutil
import struct

from ..errors import TinydockerError


def recipe_path(name: str) -> Path | None:
    """A recipe ships inside the package when installed, and lives in images/ in a checkout."""
    package = Path(__file__).resolve().parent.parent
    for candidate in (package / "recipes" / f"{name}.toml", package.parent / "images" / f"{name}.toml"):
        if candidate.is_file():
            return candidate
    return None


def recipe_for(ref: str) -> dict | None:
    """The recipe for a reference like `busybox` or `busybox:latest` (docker.io/library/ as
    docker would normalise it), if images/ has one."""
    import tomllib

    from .reference import DOCKER_HUB, parse

    try:
        parsed = parse(ref)
    except TinydockerError:
        return None
    if parsed.registry != DOCKER_HUB or not parsed.path.startswith("library/") or parsed.tag != "latest":
        return None
    path = recipe_path(parsed.path[len("library/"):])
    if path is None:
        return None
    with open(path, "rb") as f:
        return tomllib.load(f)


def build_rootfs(recipe: dict, rootfs: Path) -> None:
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
