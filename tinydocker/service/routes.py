"""Every endpoint the service serves: each module's ROUTES, in one table."""

from . import archive, containers, execs, system

ROUTES = [*system.ROUTES, *containers.ROUTES, *archive.ROUTES, *execs.ROUTES]
