"""`export`: a container's whole file tree as one tar, as the container sees it.

A child in a mount namespace of its own mounts a read-only overlay of the container's
upper directory over its image's layers, and writes the tar from there: the same view
whether or not the container runs, and nothing of the host's mounts (the container's
/proc, /sys, /dev are mounts inside its own namespace, not in this overlay).
"""

import os

from ..errors import TinydockerError
from ..image import layer
from ..linux import overlay, syscalls as sc


def export(container_dir, lower: list[str], out_fd: int) -> None:
    """Write the merged tree of the container in `container_dir` (whose layer links are
    `lower`, relative to it) to the descriptor out_fd."""
    from .copy import Child

    def work():
        try:
            sc.unshare(sc.CLONE_NEWNS)
            sc.mount("none", "/", None, sc.MS_REC | sc.MS_PRIVATE)
            os.chdir(container_dir)  # the lower directories are named relative to it
            # the upper directory, on top, is just another (read-only) lower one here
            sc.mount("overlay", "merged", "overlay", sc.MS_RDONLY, overlay.options(":".join(["upper"] + lower)))
            with os.fdopen(out_fd, "wb", closefd=False) as out:
                layer.write(os.path.join(container_dir, "merged"), out, whiteouts=False)
        except OSError as e:
            raise TinydockerError(f"cannot export the container's files: {e.strerror or e}") from None

    Child(lambda: None, work, keep=(out_fd,)).finish()
