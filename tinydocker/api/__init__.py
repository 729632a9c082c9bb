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
CLI does (TINYDOCKER_ROOT, the source checkout, /var/lib/tinydocker; for a user who is not
root, $XDG_DATA_HOME/tinydocker). Errors are raised
as TinydockerError, whose `code` is the exit status the CLI uses.
"""

import importlib
import sys
import types

# Where each function lives, imported at its first use: a script or command pays only for
# what it calls (`ps` imports neither run's nor the registry's modules)
_HOME = {
    **dict.fromkeys(["run", "create"], ".create"),
    **dict.fromkeys(["attach", "exec", "exec_detached", "kill", "pause", "prune_containers", "remove", "rename", "restart", "start",
                     "stop", "unpause", "update", "wait"], ".containers"),
    **dict.fromkeys(["cp", "diff", "stat_path"], ".files"),
    **dict.fromkeys(["health_states", "inspect", "inspect_all", "logs", "ps", "sizes", "stats", "top"], ".observe"),
    **dict.fromkeys(["build_image", "commit", "export", "history", "images", "import_image", "inspect_image", "load",
                     "prune_images", "remove_image", "save", "tag"], ".images"),
    **dict.fromkeys(["login", "logout", "pull", "push"], ".registry"),
    **dict.fromkeys(["disk_usage", "info", "prune", "reset", "version"], ".system"),
    **dict.fromkeys(["connect_network", "create_network", "disconnect_network", "inspect_network", "networks", "port",
                     "prune_networks", "remove_network"], ".networks"),
    **dict.fromkeys(["create_volume", "inspect_volume", "prune_volumes", "remove_volume", "volumes"], ".volumes"),
    **dict.fromkeys(["build", "prune_builder"], ".build"),
    **dict.fromkeys(["Container", "WaitTimeout"], ".handles"),
    "events": ".events",
    "resize": ".terminals",
    **dict.fromkeys(["create_exec", "inspect_exec", "resize_exec", "start_exec"], ".execs"),
    "disk_usage_items": ".usage",
    "unshare": ".rootless",
    "parse_signal": "..container.signals",
}

__all__ = [*_HOME]


def __getattr__(name: str):
    if name not in _HOME:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(importlib.import_module(_HOME[name], __name__), name)
    globals()[name] = value
    return value


def __dir__():
    return sorted(set(globals()) | set(__all__))


class _Package(types.ModuleType):
    """Importing a submodule binds it on its package, and seven of the API's functions share
    their module's name (build, create, events, images, inspect, networks, volumes): the function
    keeps the name."""

    def __setattr__(self, name, value):
        if not (name in _HOME and isinstance(value, types.ModuleType)):
            super().__setattr__(name, value)


sys.modules[__name__].__class__ = _Package
