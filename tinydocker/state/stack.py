"""A container's overlay stack on disk: `layers/0..N-1`, links to its image's layer
directories (0 on top), and `upper`, its own changes over them.

A commit of a stopped container promotes its upper directory to a layer of the new image
(see image/commit.py): the layer is made of hard links to the upper's files, then the
container moves onto it. The move is two exchanges, each atomic, in an order in which
every state on the way shows the same tree:

    upper over L  →  upper over [layer]+L  →  empty upper over [layer]+L

(the layer was made from the upper, so an upper holding exactly it over it adds nothing).
Both steps may be repeated: recovery after a killed commit simply does them again.

An image may list one layer more than once (builders repeat docker's empty layer for
every step that changes no file), and overlayfs refuses one directory twice in a stack
(ELOOP). overlay_stack keeps only the topmost copy of each: that shows the same tree.
For any path p that layer L holds, the upper copy of L answers p (a file, a whiteout, an
opaque directory end the lookup there, as they would at the lower copy); a directory p
of L lists, from the lower copy, only names the upper copy lists too; and where L holds
no p, neither copy has anything to say. What lies between the copies shows through or
not exactly as before, since the upper copy hides the same names. A layer with no entry
at all (and no opaque root) adds nothing and is left out too.
"""

import os
from pathlib import Path
import shutil
import stat

from ..linux.overlay import is_opaque
from ..linux.syscalls import rename_exchange


def linked_layers(containers: Path) -> set[str]:
    """Every layer directory some container's stack links to (the image store keeps
    them: a committed container may stand on a layer of an image since removed)."""
    found = set()
    try:
        names = os.listdir(containers)
    except FileNotFoundError:
        return found
    for name in names:
        try:
            found.update(layer_links(containers / name))
        except OSError:
            continue  # not a container's directory, or one being removed
    return found


def layer_links(cdir: Path) -> list[str]:
    """Where the container's layer links point, top first."""
    links = cdir / "layers"
    return [os.readlink(links / str(i)) for i in range(len(os.listdir(links)))]


def _adds_nothing(layer: str) -> bool:
    try:
        if os.listdir(layer):
            return False
    except OSError:
        return False  # gone or unreadable: kept, so that whoever mounts it says so
    return not is_opaque(str(layer), follow_symlinks=True)  # (through a container's layer link)


def overlay_stack(layers: list) -> list:
    """The layer directories (top first) to mount for `layers`: the topmost copy of a
    layer listed twice, and no empty layer, but never none (see the module's docstring)."""
    seen, out = set(), []
    for layer in layers:
        key = os.path.realpath(layer)
        if key in seen:
            continue
        seen.add(key)
        if not _adds_nothing(str(layer)):
            out.append(layer)
    return out or list(layers[:1])


def push_layer(cdir: Path, layer: str) -> None:
    """Put `layer` on top of the container's lower layers (nothing if it is there already;
    a copy of it lower down goes, an empty one is not put)."""
    current = layer_links(cdir)
    wanted = overlay_stack([layer] + current)
    if wanted == current:
        return
    staged = cdir / "layers.next"
    shutil.rmtree(staged, ignore_errors=True)  # what a killed earlier attempt left
    staged.mkdir()
    for i, target in enumerate(wanted):
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
