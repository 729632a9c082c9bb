"""The build cache: a step's image is found again by its key, the digest of everything
the step's result depends on (its parent image, its instruction as recorded in the
history, the ARG values it sees, and the content of the files it copies).

The keys live on the images themselves, in the store's index (index.Image.cache): the
cache is exactly the images the store holds, so a removed image takes its keys with it,
and a build killed before its step's image was published left no key."""

from __future__ import annotations

import hashlib
import json


def key(parent, created_by: str, **more) -> str:
    """The cache key of a step over `parent` (an Image, or None for scratch)."""
    document = {"parent": parent.id if parent is not None else "scratch", "created_by": created_by,
                **{k: v for k, v in sorted(more.items()) if v}}
    return "sha256:" + hashlib.sha256(json.dumps(document, sort_keys=True).encode()).hexdigest()


def lookup(store, cache_key: str):
    """The image made under `cache_key`, or None."""
    for image in store.index().images.values():
        if cache_key in image.cache:
            return image
    return None
