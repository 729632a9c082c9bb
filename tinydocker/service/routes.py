"""Every endpoint the service serves: each module's ROUTES, in one table."""

from . import archive, containers, execs, images, system

ROUTES = [*system.ROUTES, *containers.ROUTES, *archive.ROUTES, *execs.ROUTES, *images.ROUTES]
