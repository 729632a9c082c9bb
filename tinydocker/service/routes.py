"""Every endpoint the service serves: each module's ROUTES, in one table."""

from . import containers, system
from . import events, networks, volumes

ROUTES = [*system.ROUTES, *containers.ROUTES]
ROUTES += [*networks.ROUTES, *volumes.ROUTES, *events.ROUTES]
