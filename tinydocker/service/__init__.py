"""`system service`: the Docker Engine API served from tinydocker's own API, while it is
wanted, as podman's service does. Every handler calls the same functions the CLI calls;
the service keeps no state of its own.

    server.py      listening, HTTP, API versions, errors as docker's {"message": …}
    websocket.py   RFC 6455 for attach/ws: the handshake, frames both ways
    routes.py      the table of every module's ROUTES
    system.py      /_ping, /version, /info, /system/df, /auth
    events.py      /events: the journal replayed and followed
    containers.py  /containers/…: create, start, stop, kill, wait, remove, list, inspect, logs, attach…
    translate.py   docker's JSON (a create's body, a listing's rows) to and from the API's terms
    execs.py       /containers/…/exec and /exec/…: instances kept as files under the data root
    archive.py     /containers/…/archive: docker cp both ways
    images.py      /images/…, /build, /commit: pulls and pushes with docker's progress stream
    networks.py    /networks/…
    volumes.py     /volumes/…
    swarm.py       the swarm endpoints, refused as dockerd refuses them outside a swarm
"""


def run(address: str | None, idle: float = 5.0, group: str | None = None, any_address: bool = False,
        root=None) -> None:
    """Serve the API at `address` until SIGTERM/SIGINT, or `idle` seconds without a request
    (0: never)."""
    import ipaddress
    import signal

    from ..errors import TinydockerError
    from ..state import root as paths
    from .routes import ROUTES
    from .server import Service, listen, serve

    if address and address.startswith("tcp://") and not any_address:
        host = address[len("tcp://"):].rpartition(":")[0].strip("[]")
        try:
            loopback = host == "localhost" or ipaddress.ip_address(host).is_loopback
        except ValueError:
            loopback = False
        if not loopback:
            raise TinydockerError(f"{address} is not a loopback address: whoever reaches it is root here "
                                  "(--tcp-any-address to insist)")
    data_root = paths.resolve(root)
    server, _ = listen(address, group)
    signal.signal(signal.SIGTERM, _interrupted)  # as ^C: the socket file goes with the service
    try:
        serve(server, Service(ROUTES, data_root), idle or None)
    except KeyboardInterrupt:
        pass


def _interrupted(*_):
    raise KeyboardInterrupt
