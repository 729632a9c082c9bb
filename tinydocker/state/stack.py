"""A container's overlay stack on disk: `layers/0..N-1`, links to its image's layer
directories (0 on top), and `upper`, its own changes over them.

A commit of a stopped container promotes its upper directory to a layer of the new image
(see image/commit.py): the layer is made of hard links to the upper's files, then the
container moves onto it. The move is two exchanges, each atomic, in an order in which
every state on the way shows the same tree:

    upper over L  →  upper over [layer]+L  →  empty upper over [layer]+L

(the layer was made from the upper, so an upper holding exactly it over it adds nothing).
Both steps may be repeated: recovery after a killed commit simply does them again.
"""

import os
from pathlib import Path
import shutil
import stat

from ..linux.syscalls import rename_exchange


def layer_links(cdir: Path) -> list[str]:
    """Where the container's layer links point, top first."""
    links = cdir / "layers"
    return [os.readlink(links / str(i)) for i in range(len(os.listdir(links)))]


def push_layer(cdir: Path, layer: str) -> None:
    """Put `layer` on top of the container's lower layers (nothing if it is there already)."""
    current = layer_links(cdir)
    if current and current[0] == layer:
        return
    staged = cdir / "layers.next"
    shutil.rmtree(staged, ignore_errors=True)  # what a killed earlier attempt left
    staged.mkdir()
    for i, target in enumerate([layer] + current):
        os.symlink(target, staged / str(i))
    rename_exchange(str(staged), str(cdir / "layers"))
    shutil.rmtree(staged)


def empty_upper(cdir: Path) -> None:
    """Give the container a new, empty upper directory with the old one's mode and owner."""
    upper, staged = cdir / "upper", cdir / "upper.next"
    shutil.rmtree(staged, ignore_errors=True)
    like = os.stat(upper)
    staged.mkdir()
    os.chown(staged, like.st_uid, like.st_gid)
    os.chmod(staged, stat.S_IMODE(like.st_mode))
    rename_exchange(str(staged), str(upper))
    shutil.rmtree(staged)  # the old upper's names; its files live on in the layer


def promote(cdir: Path, layer: str) -> None:
    push_layer(cdir, layer)
    empty_upper(cdir)
