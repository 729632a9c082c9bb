"""tinydocker: daemonless containers on overlayfs, small enough to read in an afternoon.

The public API lives in tinydocker.api and is re-exported here; see its docstring. The
package is laid out by concern: the engine on top (cli, api, spec, state), the subsystems
that realise a spec below it (container, image, cgroups, security, volume, network), and
linux (system calls, /proc) at the bottom.
"""

from .api import *  # noqa: F401,F403 - the API is the package's face
from .api import __all__ as _api
from .errors import TinydockerError
from .version import __version__  # noqa: F401

__all__ = [*_api, "TinydockerError"]
