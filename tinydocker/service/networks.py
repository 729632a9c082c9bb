"""The service's /networks endpoints, each a call of tinydocker's network API; statuses and
messages as dockerd's."""

from __future__ import annotations

from .. import api
from ..errors import TinydockerError
from ..network.store import NoSuchNetwork
from .server import HTTPError


def _answered(call):
    """call()'s value; what the network API refuses as dockerd's status: 404 for a network
    it does not know, 403 for one in use or pre-defined and for an endpoint already there,
    409 for a name taken. Anything else goes to the server's own mapping (404 for a
    container, 400 for bad input)."""
    try:
        return call()
    except NoSuchNetwork as e:
        raise HTTPError(404, str(e)) from None
    except TinydockerError as e:
        text = str(e)
        if "has active endpoints" in text or "pre-defined" in text or "already exists in network" in text:
            raise HTTPError(403, text) from None
        if "already exists" in text:
            raise HTTPError(409, text) from None
        raise


def list_networks(req) -> None:
    filters = [f"{k}={v}" for k, values in req.filters().items() for v in values if isinstance(v, str)]
    req.send_json(api.networks(filters=filters, root=req.root))


def inspect(req, ref: str) -> None:
    req.send_json(_answered(lambda: api.inspect_network(ref, root=req.root)))


def create(req) -> None:
    body = req.json(required=True)
    if not isinstance(body, dict):
        raise HTTPError(400, "the body must be a JSON object")
    name = body.get("Name")
    if not name or not isinstance(name, str):
        raise HTTPError(400, "network name must not be empty" if not name else "Name must be a string")
    driver = body.get("Driver") or "bridge"
    if driver != "bridge":
        raise HTTPError(404, f"plugin \"{driver}\" not found: tinydocker's networks are bridges")
    for key, what in (("Internal", "internal networks"), ("EnableIPv6", "IPv6"), ("Attachable", None),
                      ("Ingress", "ingress networks"), ("ConfigOnly", "config-only networks")):
        if body.get(key) and what:
            raise HTTPError(400, f"{what} are not supported by tinydocker (network {name})")
    ipam = body.get("IPAM") or {}
    if not isinstance(ipam, dict):
        raise HTTPError(400, "IPAM must be an object")
    configs = ipam.get("Config") or []
    if not isinstance(configs, list) or len(configs) > 1:
        raise HTTPError(400, f"network {name}: tinydocker takes one IPAM config (a subnet and its gateway)")
    config = configs[0] if configs else {}
    if not isinstance(config, dict) or config.get("IPRange") or config.get("AuxiliaryAddresses"):
        raise HTTPError(400, f"network {name}: an IPAM config is a Subnet and a Gateway, no ranges")
    labels = body.get("Labels") or {}
    if not isinstance(labels, dict):
        raise HTTPError(400, "Labels must be an object")
    options = body.get("Options") or {}
    doc = _answered(lambda: api.create_network(name, subnet=config.get("Subnet") or None,
                                               gateway=config.get("Gateway") or None,
                                               labels={str(k): str(v) for k, v in labels.items()}, root=req.root))
    # the bridge driver's options (its device's name, MTU...) are tinydocker's own to choose
    warning = f"options ignored: {', '.join(sorted(options))}" if options else ""
    req.send_json({"Id": doc["Id"], "Warning": warning}, status=201)


def _container(body) -> str:
    if not isinstance(body, dict) or not isinstance(body.get("Container"), str) or not body["Container"]:
        raise HTTPError(400, "a container is required: {\"Container\": NAME}")
    return body["Container"]


def connect(req, ref: str) -> None:
    body = req.json(required=True)
    container = _container(body)
    endpoint = body.get("EndpointConfig") or {}
    if not isinstance(endpoint, dict):
        raise HTTPError(400, "EndpointConfig must be an object")
    ip = ((endpoint.get("IPAMConfig") or {}).get("IPv4Address") or None)
    aliases = endpoint.get("Aliases") or []
    if not isinstance(aliases, list) or not all(isinstance(a, str) for a in aliases):
        raise HTTPError(400, "Aliases must be a list of names")
    _answered(lambda: api.connect_network(ref, container, ip=ip, aliases=aliases, root=req.root))


def disconnect(req, ref: str) -> None:
    body = req.json(required=True)
    container = _container(body)
    _answered(lambda: api.disconnect_network(ref, container, force=bool(body.get("Force")), root=req.root))


def remove(req, ref: str) -> None:
    _answered(lambda: api.remove_network(ref, root=req.root))


def prune(req) -> None:
    if req.filters():
        # dockerd's until= and label= are not the API's: said, rather than pruning more than asked
        raise HTTPError(400, f"invalid filter '{next(iter(req.filters()))}': "
                             "tinydocker's network prune takes no filters")
    req.send_json({"NetworksDeleted": api.prune_networks(root=req.root)})


ROUTES = [
    ("GET", r"/networks", list_networks),
    ("POST", r"/networks/create", create),
    ("POST", r"/networks/prune", prune),
    ("GET", r"/networks/(?P<ref>[^/]+)", inspect),
    ("POST", r"/networks/(?P<ref>[^/]+)/connect", connect),
    ("POST", r"/networks/(?P<ref>[^/]+)/disconnect", disconnect),
    ("DELETE", r"/networks/(?P<ref>[^/]+)", remove),
]
