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


class Cache:
    """The store's images by cache key, read again only when the index file has changed
    (a build looks up every step: parsing the whole index each time cost ~45 ms a step in
    a store of 200 images, bench/build.sh)."""

    def __init__(self, store):
        self.store = store
        self.seen = None
        self.by_key: dict = {}

    def lookup(self, cache_key: str):
        """The image made under `cache_key`, or None."""
        import os

        try:
            st = os.stat(self.store.dir / "index.toml")
            seen = (st.st_ino, st.st_mtime_ns, st.st_size)
        except FileNotFoundError:
            seen = None
        if seen != self.seen or seen is None:
            self.by_key = {k: image for image in self.store.index().images.values() for k in image.cache}
            self.seen = seen
        return self.by_key.get(cache_key)
