"""Images as docker shows them: `images` rows, `image inspect`'s document, `history`."""

from __future__ import annotations

from datetime import datetime, timezone

from . import reference
from .index import Image
from .store import ImageStore


def parse_time(text: str | None) -> datetime | None:
    """An image config's RFC 3339 time (UTC, as images write it); None if absent or odd."""
    if not text:
        return None
    # Go writes nanoseconds; Python takes microseconds
    head, _, frac = text.rstrip("Z").partition(".")
    try:
        return datetime.fromisoformat(head + ("." + frac[:6] if frac else "")).replace(tzinfo=timezone.utc)
    except ValueError:
        return None


def created_of(config: dict, image: Image) -> datetime:
    return parse_time(config.get("created")) or image.added or datetime.now(timezone.utc)


def listing(store: ImageStore, all: bool = False) -> list[dict]:
    """One row per image and name; a build's steps only with all (docker's images -a)."""
    index = store.index()
    rows = []
    for image in index.images.values():
        if image.intermediate and not image.names and not all:
            continue  # a build's step, kept for its cache (`builder prune` frees them)
        config = store.config(image)
        common = {"id": image.id, "created": created_of(config, image), "size": index.size(image),
                  "labels": dict((config.get("config") or {}).get("Labels") or {})}
        digests = {reference.parse(d).repository: d.split("@", 1)[1] for d in image.digests}
        if not image.names:
            rows.append({"repository": None, "tag": None, "digest": next(iter(digests.values()), None), **common})
        for name in image.names:
            ref = reference.parse(name)
            rows.append({"repository": ref.familiar, "tag": ref.tag, "digest": digests.get(ref.repository),
                         **common})
    rows.sort(key=lambda r: (r["created"], r["repository"] or "", r["tag"] or ""), reverse=True)
    return rows


def inspect_doc(store: ImageStore, image: Image) -> dict:
    config = store.config(image)
    index = store.index()
    return {
        "Id": image.id,
        "RepoTags": [f"{reference.familiar(n.rsplit(':', 1)[0])}:{n.rsplit(':', 1)[1]}" for n in image.names],
        "RepoDigests": [f"{reference.familiar(d.split('@')[0])}@{d.split('@')[1]}" for d in image.digests],
        "Created": config.get("created", ""),
        "Author": config.get("author", ""),
        "Config": config.get("config") or {},
        "Architecture": config.get("architecture", ""),
        "Variant": config.get("variant"),
        "Os": config.get("os", ""),
        "Size": index.size(image),
        "GraphDriver": {"Name": "overlay", "Data": {
            "LowerDir": ":".join(str(d) for d in store.layer_dirs(image))}},
        "RootFS": {"Type": "layers", "Layers": list(image.layers)},
        "Metadata": {"LastTagTime": image.added.isoformat() if image.added else ""},
    }


def history(store: ImageStore, image: Image) -> list[dict]:
    """Newest first, each entry with the size of its layer (0 for an empty_layer step)."""
    config = store.config(image)
    index = store.index()
    layers = list(image.layers)
    out = []
    for step in config.get("history") or []:
        size = 0
        layer_id = None
        if not step.get("empty_layer") and layers:
            layer_id = layers.pop(0)
            size = index.layer_sizes.get(layer_id.split(":", 1)[1], 0)
        out.append({"created": step.get("created", ""), "created_by": step.get("created_by", ""),
                    "comment": step.get("comment", ""), "size": size, "empty_layer": bool(step.get("empty_layer")),
                    "layer": layer_id})
    for layer_id in layers:  # layers the history does not tell of
        out.append({"created": "", "created_by": "", "comment": "", "size": index.layer_sizes.get(
            layer_id.split(":", 1)[1], 0), "empty_layer": False, "layer": layer_id})
    out.reverse()
    return out
