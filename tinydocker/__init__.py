"""tinydocker: daemonless containers on overlayfs, small enough to read in an afternoon.

The public API lives in tinydocker.api and is re-exported here; see its docstring. The
package is laid out by concern: the engine on top (cli, api, spec, state), the subsystems
that realise a spec below it (container, image, cgroups), and linux (system calls, /proc)
at the bottom.
"""

from .api import (
    build_image, commit, exec, export, history, images, import_image, info, inspect, inspect_all, inspect_image,
    kill, load, login, logout, logs, prune, prune_containers, prune_images, ps, pull, push, remove, remove_image,
    restart, run, save, start, stats, stop, tag, wait
)
from .errors import TinydockerError

__version__ = "0.1.0"
__all__ = ["run", "start", "stop", "kill", "restart", "wait", "logs", "exec", "ps", "inspect", "inspect_all",
           "stats", "remove", "prune", "prune_containers", "images", "build_image", "import_image",
           "remove_image", "inspect_image", "history", "tag", "prune_images", "load", "save", "commit", "export",
           "pull", "push", "login", "logout", "info", "TinydockerError"]
