"""The API for volumes: create, list, inspect, remove, prune."""

from collections.abc import Sequence

from ..state import root as paths


def _volumes(root):
    from ..state.store import Store
    from ..volume.store import VolumeStore

    data_root = paths.resolve(root)
    return VolumeStore(data_root, records=Store(data_root).all)


def _doc(volume: dict) -> dict:
    """docker volume inspect's document."""
    created = volume["created"]
    return {"CreatedAt": created.strftime("%Y-%m-%dT%H:%M:%SZ"), "Driver": "local",
            "Labels": volume.get("labels") or {}, "Mountpoint": volume["mountpoint"], "Name": volume["name"],
            "Options": volume.get("options") or {}, "Scope": "local", "Anonymous": volume.get("anonymous", False)}


def create_volume(name: str | None = None, labels: Sequence[str] | dict = (), root=None,
                  options: Sequence[str] | dict = ()) -> dict:
    """A new named volume (a random name if none is given), or the existing one of that
    name, as `docker volume create` does; its inspect document. options: the local
    driver's (-o type=tmpfs -o device=tmpfs -o o=size=64m; type=none, o=bind, device=DIR)."""
    from ..errors import TinydockerError

    if not isinstance(labels, dict):
        pairs = [label.partition("=") for label in labels]
        if any(not key for key, _, _ in pairs):
            raise TinydockerError("invalid label: want KEY=VALUE")
        labels = {key: value for key, _, value in pairs}
    if not isinstance(options, dict):
        options = dict(option.partition("=")[::2] for option in options)
    return _doc(_volumes(root).create(name, labels, options))


def volumes(filters: Sequence[str] = (), root=None) -> list[dict]:
    """Every volume's inspect document, by name; filters as docker's volume ls --filter
    ("dangling=true", "label=k=v", "name=part", "driver=local")."""
    from .filters import volume_filter

    store = _volumes(root)
    wanted = volume_filter(filters, lambda name: bool(store.users(name)))
    return [doc for doc in (_doc(v) for v in store.all()) if wanted(doc)]


def inspect_volume(name: str, root=None) -> dict:
    from ..errors import NoSuchVolume

    volume = _volumes(root).load(name)
    if volume is None:
        raise NoSuchVolume(name)
    return _doc(volume)


def remove_volume(name: str, force: bool = False, root=None) -> None:
    """Remove a volume; refused while any container (running or stopped) mounts it.
    force=True only makes a missing volume no error, as docker's -f."""
    from ..errors import NoSuchVolume

    try:
        _volumes(root).remove(name)
    except NoSuchVolume:
        if not force:
            raise


def prune_volumes(all: bool = False, root=None) -> dict:
    """Remove the anonymous volumes no container mounts (every unused one with all=True).
    Returns {"volumes": [names], "reclaimed": bytes}."""
    return _volumes(root).prune(all=all)
