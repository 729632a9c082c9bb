"""Swarm mode's endpoints, refused as dockerd refuses them on a node outside any swarm
(503): tinydocker has no swarm. Clients read that status as "no swarm here" (docker-py's
leave(force=True) takes it as done; compose and the CLI say the words)."""

from __future__ import annotations

from .server import HTTPError

NOT_A_MANAGER = ('This node is not a swarm manager. Use "docker swarm init" or "docker swarm join" to connect '
                 'this node to swarm and try again.')


def leave(req) -> None:
    raise HTTPError(503, "This node is not part of a swarm")


def join(req) -> None:
    raise HTTPError(503, "tinydocker has no swarm mode: a node cannot make or join a swarm")


def not_a_manager(req, **_) -> None:
    raise HTTPError(503, NOT_A_MANAGER)


_SWARM = r"/(?P<what>swarm|services|nodes|tasks|secrets|configs)(?P<rest>/.*)?"
ROUTES = [
    ("POST", r"/swarm/leave", leave),
    ("POST", r"/swarm/(?:init|join)", join),
    *((method, _SWARM, not_a_manager) for method in ("GET", "POST", "DELETE")),
]
