"""tinydocker: daemonless containers on overlayfs, small enough to read in an afternoon.

The public API lives in tinydocker.api and is re-exported here; see its docstring.
"""

from .api import (build_image, images, import_image, info, inspect, inspect_all, prune, ps, remove,
                  remove_image, run, stats)
from .errors import TinydockerError

__version__ = "0.1.0"
__all__ = ["run", "ps", "inspect", "inspect_all", "stats", "remove", "prune", "images", "build_image", "import_image",
           "remove_image", "info", "TinydockerError"]
