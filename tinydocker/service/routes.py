"""Every endpoint the service serves: each module's ROUTES, in one table."""

from . import containers, system
from . import networks, volumes

ROUTES = [*system.ROUTES, *containers.ROUTES]
ROUTES += [*networks.ROUTES, *volumes.ROUTES]
