"""The service's /volumes endpoints, each a call of tinydocker's volume API."""

from __future__ import annotations

from .. import api
from ..errors import NoSuchVolume
from .server import HTTPError


def _pairs(req, allowed: tuple[str, ...]) -> list[str]:
    """?filters as the API's ["key=value"], refusing keys the endpoint does not know."""
    out = []
    for key, values in req.filters().items():
        if key not in allowed:
            raise HTTPError(400, f"invalid filter '{key}'")
        for value in values:
            if not isinstance(value, str):
                raise HTTPError(400, f"invalid filter '{key}'")
            out.append(f"{key}={value}")
    return out


def _missing(name: str) -> HTTPError:
    return HTTPError(404, f"get {name}: no such volume")  # dockerd's words


def list_volumes(req) -> None:
    docs = api.volumes(filters=_pairs(req, ("dangling", "driver", "label", "name")), root=req.root)
    req.send_json({"Volumes": docs, "Warnings": []})


def inspect(req, name: str) -> None:
    try:
        req.send_json(api.inspect_volume(name, root=req.root))
    except NoSuchVolume:
        raise _missing(name) from None


def create(req) -> None:
    body = req.json()
    if not isinstance(body, dict):
        raise HTTPError(400, "the body must be a JSON object")
    driver = body.get("Driver") or "local"
    if driver != "local":
        raise HTTPError(404, f"plugin \"{driver}\" not found: tinydocker has only the 'local' volume driver")
    for key in ("Labels", "DriverOpts"):
        if not isinstance(body.get(key) or {}, dict):
            raise HTTPError(400, f"json: cannot unmarshal {type(body[key]).__name__} into Go struct field {key} "
                                 "of type map[string]string")
    name = body.get("Name") or None
    if name is not None and not isinstance(name, str):
        raise HTTPError(400, "json: cannot unmarshal into Go struct field Name of type string")
    doc = api.create_volume(name, labels={str(k): str(v) for k, v in (body.get("Labels") or {}).items()},
                            options={str(k): str(v) for k, v in (body.get("DriverOpts") or {}).items()},
                            root=req.root)
    req.send_json(doc, status=201)


def remove(req, name: str) -> None:
    try:
        api.remove_volume(name, force=req.flag("force"), root=req.root)
    except NoSuchVolume:
        raise _missing(name) from None


def prune(req) -> None:
    wanted = _pairs(req, ("all",))
    every = any(w.partition("=")[2].lower() in ("1", "true") for w in wanted)
    done = api.prune_volumes(all=every, root=req.root)
    req.send_json({"VolumesDeleted": done["volumes"], "SpaceReclaimed": done["reclaimed"]})


ROUTES = [
    ("GET", r"/volumes", list_volumes),
    ("POST", r"/volumes/create", create),
    ("POST", r"/volumes/prune", prune),
    ("GET", r"/volumes/(?P<name>[^/]+)", inspect),
    ("DELETE", r"/volumes/(?P<name>[^/]+)", remove),
]
