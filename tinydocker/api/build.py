"""The API's build: an image from a Dockerfile (docker's classic builder), and the build
cache's pruning."""

from __future__ import annotations

from collections.abc import Sequence

from ..state import root as paths


def build(context: str = ".", tags: Sequence[str] = (), *, file: str | None = None,
          build_args: Sequence[str] | dict = (), target: str | None = None, no_cache: bool = False,
          pull: str = "missing", labels: Sequence[str] | dict = (), network: str = "bridge",
          quiet: bool = False, iidfile: str | None = None, platform: str | None = None, out=None,
          root=None) -> str:
    """Build the image that CONTEXT's Dockerfile describes; its id ("sha256:…").

    context: a directory, or "-" for a tar of one (or a lone Dockerfile) on stdin; file:
    the Dockerfile (default CONTEXT/Dockerfile, else Containerfile; "-": stdin); tags:
    ["name:tag"]; build_args: ["K=V"] or a dict (a bare "K" takes the caller's
    environment's K, as docker's --build-arg does); target: the stage to stop at;
    no_cache: run every step; pull: "missing" | "always" | "never" for the FROM images;
    labels: added to the image; network: the RUN steps' ("bridge", "none", "host");
    quiet: print nothing (the steps' output is kept back unless one fails); out: where
    the step lines go (default stdout); iidfile: a file to write the id to."""
    import os
    import shutil

    from ..builder.build import Builder, BuildError, Options
    from ..builder.context import open_context
    from ..errors import TinydockerError
    from ..image import reference
    from ..image.store import ImageStore, private_name
    from ..spec import parse_labels
    from .create import PULL_POLICIES, _image_for

    if pull not in PULL_POLICIES:
        raise TinydockerError(f"invalid pull option {pull!r}: must be one of always, missing, never")
    for tag in tags:
        try:
            reference.parse(tag)
        except TinydockerError as e:
            raise TinydockerError(f'invalid argument "{tag}" for "-t, --tag" flag: {e}') from None
    data_root = paths.resolve(root)
    images = ImageStore(data_root)
    options = Options(tags=list(tags), build_args=_build_args(build_args), target=target, no_cache=no_cache,
                      pull=pull, labels=dict(labels) if isinstance(labels, dict) else parse_labels(labels),
                      network=network, quiet=quiet, platform=platform)
    # a tar context is unpacked in the store, under a name whose process a sweep checks (a
    # killed build's goes with the store's next change, as a killed pull's does)
    scratch = images.dir / private_name("context")
    scratch.mkdir(parents=True)
    try:
        with open_context(context, file, str(scratch)) as ctx:
            image_id = Builder(data_root, ctx, options, lambda ref, policy: _image_for(images, ref, policy, quiet),
                               out=out).build()
    finally:
        shutil.rmtree(scratch, ignore_errors=True)
    if quiet:
        print(image_id, file=out, flush=True) if out is not None else print(image_id, flush=True)
    if iidfile:
        from ..linux.files import write_atomic

        try:
            write_atomic(os.path.abspath(iidfile), image_id.encode(), 0o644)
        except OSError as e:
            raise BuildError(f"cannot write --iidfile {iidfile}: {e.strerror}") from None
    from .images import _event

    for tag in tags:
        _event(data_root, "tag", image_id, tag)
    return image_id


def _build_args(given) -> dict[str, str]:
    import os

    if isinstance(given, dict):
        return {str(k): str(v) for k, v in given.items()}
    values = {}
    for item in given:
        name, eq, value = item.partition("=")
        if not eq:
            if name not in os.environ:
                continue  # docker: a bare name not in the environment is not passed
            value = os.environ[name]
        values[name] = value
    return values


def prune_builder(all: bool = False, root=None) -> dict:
    """Free the build cache: the steps' images that no image stands on (a build's image
    keeps the steps it was made of, as docker keeps an image's parents) and no container
    uses, and what killed builds left; all=True: every step's image no container uses, and
    the cache keys finished images carry. {"images": [ids], "reclaimed": bytes}."""
    from ..builder.build import sweep
    from ..image.digests import sha256_hex
    from ..image.store import ImageStore
    from .images import _users

    data_root = paths.resolve(root)
    sweep(data_root)
    store = ImageStore(data_root)
    in_use = _users(data_root)
    with store.change() as index:
        steps = [img for img in index.images.values() if img.intermediate and not img.names]
        finals = [img for img in index.images.values() if not img.intermediate or img.names]
        histories = {img.id: store.config(img).get("history") or [] for img in steps + finals}

        def beneath(step, image) -> bool:
            mine, theirs = histories[step.id], histories[image.id]
            return (image.layers[:len(step.layers)] == step.layers and len(theirs) > len(mine)
                    and theirs[:len(mine)] == mine)

        gone = [img for img in steps if not in_use(img.id)
                and (all or not any(beneath(img, final) for final in finals))]
        before = {sha256_hex(d) for img in index.images.values() for d in img.layers}
        for img in gone:
            del index.images[img.id]
        if all:
            for img in index.images.values():
                img.cache = []
        after = {sha256_hex(d) for img in index.images.values() for d in img.layers}
        reclaimed = sum(index.layer_sizes.get(h, 0) for h in before - after)
    return {"images": [img.id for img in gone], "reclaimed": reclaimed}
