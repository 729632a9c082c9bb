"""Every endpoint the service serves: each module's ROUTES, in one table."""

from . import archive, containers, events, execs, images, networks, swarm, system, volumes

ROUTES = [*system.ROUTES, *containers.ROUTES, *archive.ROUTES, *execs.ROUTES, *images.ROUTES, *networks.ROUTES,
          *volumes.ROUTES, *events.ROUTES, *swarm.ROUTES]
