"""`export`: a container's whole file tree as one tar, as the container sees it.

A child in a mount namespace of its own mounts a read-only overlay of the container's
upper directory over its image's layers, and writes the tar from there: the same view
whether or not the container runs, and nothing of the host's mounts (the container's
/proc, /sys, /dev are mounts inside its own namespace, not in this overlay).
"""

import json
import os

from ..errors import TinydockerError
from ..image import layer
from ..linux import syscalls as sc


def export(container_dir, lower: list[str], out_fd: int) -> None:
    """Write the merged tree of the container in `container_dir` (whose layer links are
    `lower`, relative to it) to the descriptor out_fd."""
    said_r, said_w = os.pipe()
    pid = os.fork()
    if pid == 0:
        code = 1
        try:
            os.close(said_r)
            sc.unshare(sc.CLONE_NEWNS)
            sc.mount("none", "/", None, sc.MS_REC | sc.MS_PRIVATE)
            os.chdir(container_dir)  # the lower directories are named relative to it
            # the upper directory, on top, is just another (read-only) lower one here
            sc.mount("overlay", "merged", "overlay", sc.MS_RDONLY, "lowerdir=" + ":".join(["upper"] + lower))
            with os.fdopen(out_fd, "wb", closefd=False) as out:
                layer.write(os.path.join(container_dir, "merged"), out, whiteouts=False)
            code = 0
        except BaseException as e:  # noqa: BLE001 - the parent says it, in words
            reason = e.strerror if isinstance(e, OSError) and e.strerror else str(e)
            os.write(said_w, json.dumps({"error": reason}).encode())
        finally:
            os._exit(code)
    os.close(said_w)
    with os.fdopen(said_r, "rb") as said:
        message = said.read()
    _, status = os.waitpid(pid, 0)
    if message or status != 0:
        reason = json.loads(message)["error"] if message else f"exit status {status}"
        raise TinydockerError(f"cannot export the container's files: {reason}")
