"""The Python API: what the CLI calls and what scripts import.

    import tinydocker
    code = tinydocker.run("c1", ["/bin/echo", "hi"])
    done = tinydocker.run("c2", ["/bin/echo", "hi"], capture_output=True, remove=True)
    done.exit_code, done.stdout          # 0, b"hi\\n"
    [c.name for c in tinydocker.ps(all=True)]
    tinydocker.remove("c1")
    tinydocker.run("c3", ["sleep", "600"], detach=True, memory="64m", cpus=0.5, pids_limit=50)
    tinydocker.stats(["c3"])             # [{"name": "c3", "cpu_percent": ..., "memory": ...}]
    tinydocker.exec("c3", ["ls"], capture_output=True).stdout
    tinydocker.stop("c3"); tinydocker.wait("c3")   # 137: sleep has no SIGTERM handler

Every function takes `root=` (a data root directory); the default is resolved as the
CLI does (TINYDOCKER_ROOT, the source checkout, /var/lib/tinydocker). Errors are raised
as TinydockerError, whose `code` is the exit status the CLI uses.
"""

from ..container.signals import parse_signal
from .containers import (attach, exec, kill, pause, prune_containers, remove, rename, restart, start, stop, unpause,
                         update, wait)
from .create import create, run
from .files import cp, diff
from .observe import inspect, inspect_all, logs, ps, sizes, stats, top
from .images import (build_image, commit, export, history, images, import_image, inspect_image, load,
                     prune_images, remove_image, save, tag)
from .registry import login, logout, pull, push
from .system import disk_usage, info, prune, reset, version
from .networks import (connect_network, create_network, disconnect_network, inspect_network, networks, port,
                       prune_networks, remove_network)
from .volumes import create_volume, inspect_volume, prune_volumes, remove_volume, volumes
from .events import events

__all__ = ["run", "create", "attach", "rename", "pause", "unpause", "top", "diff", "cp", "update", "sizes", "start", "stop", "kill", "restart", "wait", "logs", "exec", "ps", "inspect", "inspect_all",
           "stats", "remove", "prune", "reset", "prune_containers", "images", "build_image", "import_image",
           "remove_image", "inspect_image", "history", "tag", "prune_images", "load", "save", "commit", "export",
           "pull", "push", "login", "logout", "info", "version", "disk_usage", "parse_signal", "create_volume", "volumes", "inspect_volume",
           "remove_volume", "prune_volumes", "create_network", "networks", "inspect_network", "remove_network",
           "prune_networks", "port", "events", "connect_network", "disconnect_network"]
