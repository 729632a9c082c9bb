"""tinydocker: daemonless containers on overlayfs, small enough to read in an afternoon.

The public API lives in tinydocker.api and is re-exported here, imported at its first use
(the OCI runtime, tinydocker.runtime, starts without it); see its docstring. The
package is laid out by concern: the engine on top (cli, api, spec, state), the subsystems
that realise a spec below it (container, image, cgroups, security, volume, network), and
linux (system calls, /proc) at the bottom.
"""

from .errors import TinydockerError
from .version import __version__  # noqa: F401


def __getattr__(name: str):
    import importlib
    import importlib.util

    if name != "__all__" and (name.startswith("_") or importlib.util.find_spec(f"{__name__}.{name}")):
        # a submodule (the import system asks before importing it) or no name of the API's
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    api = importlib.import_module(".api", __name__)
    if name == "__all__":
        return [*api.__all__, "TinydockerError"]
    if name in api.__all__:
        globals()[name] = value = getattr(api, name)
        return value
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def __dir__():
    return sorted(set(globals()) | set(__getattr__("__all__")))
