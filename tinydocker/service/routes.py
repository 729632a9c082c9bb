"""Every endpoint the service serves: each module's ROUTES, in one table."""

from . import containers, images, system

ROUTES = [*system.ROUTES, *containers.ROUTES, *images.ROUTES]
