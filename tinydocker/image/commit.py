"""`commit`: a container's upper directory becomes a new layer over its image.

The upper directory is written as an OCI layer tar (overlayfs' whiteouts and opaque
directories turned back into `.wh.` entries, see layer.write); that tar is the layer's
blob, and unpacking it gives the layer's directory, exactly as for a pulled layer. The
new config is the image's, with the container's settings and one more history step.

A stopped container's upper directory is promoted instead of copied: the layer is made of
hard links to its files (only directories are made anew) and the container then moves
onto that layer with an empty upper (state/stack.py). The blob is still written, as the
store keeps every layer's tar for save and push.
"""

from __future__ import annotations

from datetime import datetime, timezone
import os
from pathlib import Path
import stat

from ..errors import TinydockerError
from ..linux import idmap, overlay
from . import layer, oci, reference
from .digests import digest_of, file_digest
from .index import Image
from .staging import Staging
from .store import ImageStore


def commit(store: ImageStore, upper: Path | None, base: Image | None, settings: dict, ref: str | None,
           comment: str = "", author: str = "", created_by: str = "", link=None,
           promoted: list[str] = (), config: dict | None = None, cache_key: str | None = None,
           intermediate: bool = False) -> Image:
    """The new image. With `link` (the upper will not change: its container is stopped and
    held), the layer is hard links to the upper's files, and link(layer directory, image id)
    is called before the image is published; otherwise the layer is unpacked from the tar.
    `promoted`: the layers (diff ids) that earlier commits promoted the container's upper
    to, between its image's and the upper; their blobs are their plain tars, named by
    their diff ids, and outlive their images as long as the container stands on them.

    A build's step (builder/build.py) also gives: `upper` None for a step that changes no
    file (no layer; its history entry says empty_layer), `base` None for FROM scratch,
    `config` the whole new "config" object (instead of `settings` merged over the base's),
    and the step's `cache_key` and whether the image is `intermediate`."""
    old = store.config(base) if base is not None else {**oci.host_platform(), "rootfs": {"type": "layers"}}
    base_layers = [(d["mediaType"], d["digest"], d["size"]) for d in store.manifest(base)["layers"]] if base else []
    names = [str(reference.parse(ref))] if ref else []
    with Staging(store) as stage:
        layers = base_layers + [(oci.OCI_LAYER, d, _promoted_size(store, d)) for d in promoted]
        diff_ids = list(base.layers if base else []) + list(promoted)
        if upper is not None:
            diff_id = _stage_layer(stage, upper, link)
            layers.append((oci.OCI_LAYER, diff_id, stage.blob_path(diff_id).stat().st_size))
            diff_ids.append(diff_id)
        now = datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.%fZ")
        new_config = dict(old)
        new_config["created"] = now
        new_config["config"] = config if config is not None else {**(old.get("config") or {}), **settings}
        if author:
            new_config["author"] = author
        new_config["rootfs"] = {"type": "layers", "diff_ids": diff_ids}
        step = {"created": now, "created_by": created_by}
        if comment:
            step["comment"] = comment
        if author:
            step["author"] = author
        if upper is None:
            step["empty_layer"] = True
        earlier = [{"created": now, "created_by": created_by} for _ in promoted]
        new_config["history"] = list(old.get("history") or []) + earlier + [step]
        config_bytes = oci.canonical(new_config)
        manifest_bytes = oci.manifest((digest_of(config_bytes), len(config_bytes)), layers)
        if link and upper is not None:
            link(store.layer_dir(diff_ids[-1]), digest_of(config_bytes))
        return stage.publish(manifest_bytes, config_bytes, [d for _, d, _ in layers], names=names,
                             cache=[cache_key] if cache_key else [], intermediate=intermediate)


def _stage_layer(stage: Staging, upper: Path, link) -> str:
    """The upper directory as a staged layer (its tar as the blob): its diff id."""
    tar_path = stage.dir / "blobs" / "commit.tar"
    tree = stage.new_tree()
    if link:
        link_tree(str(upper), str(tree))
        size = layer.tree_size(str(tree))
    with open(tar_path, "wb") as out:
        layer.write(str(tree if link else upper), out, whiteouts=True)
    diff_id = file_digest(tar_path)
    if not link:
        with open(tar_path, "rb") as f:
            size = layer.apply(f, str(tree)).size  # the layer exactly as any reader of the blob gets it
    os.rename(tar_path, stage.blob_path(diff_id))
    stage.keep_layer(tree, diff_id, size)
    return diff_id


def _promoted_size(store: ImageStore, diff_id: str) -> int:
    try:
        return store.blob_path(diff_id).stat().st_size
    except FileNotFoundError:
        raise TinydockerError(f"the container's layer {diff_id[7:19]}, of an earlier commit, has lost its "
                              f"tar from {store.blobs}: export the container and import it instead") from None


@idmap.as_namespace_root
def link_tree(src: str, dst: str) -> None:
    """Make the empty directory `dst` like `src`: directories anew (owner, mode, xattrs, times),
    everything else hard-linked. overlayfs' own xattrs stay behind, but for an opaque
    directory's mark, which is also what marks one in a layer."""
    _copy_dir(src, dst)
    pending = [(src, dst)]
    made = []
    while pending:
        source, target = pending.pop()
        made.append((source, target))
        with os.scandir(source) as entries:
            for entry in entries:
                s, t = entry.path, os.path.join(target, entry.name)
                if entry.is_dir(follow_symlinks=False):
                    os.mkdir(t)
                    _copy_dir(s, t)
                    pending.append((s, t))
                else:
                    os.link(s, t, follow_symlinks=False)
    for source, target in reversed(made):  # after their contents, which change a directory's mtime
        st = os.lstat(source)
        os.utime(target, ns=(st.st_atime_ns, st.st_mtime_ns), follow_symlinks=False)


def _copy_dir(src: str, dst: str) -> None:
    st = os.lstat(src)
    os.chown(dst, st.st_uid, st.st_gid, follow_symlinks=False)
    os.chmod(dst, stat.S_IMODE(st.st_mode))  # after chown, which clears setgid
    for key in os.listxattr(src, follow_symlinks=False):
        if key.startswith(overlay.OWN_PREFIXES) and key != overlay.opaque_xattr():
            continue
        os.setxattr(dst, key, os.getxattr(src, key, follow_symlinks=False), follow_symlinks=False)


def container_settings(spec: dict) -> dict:
    """The container's settings in the image config's terms (what `commit` keeps)."""
    entrypoint = spec.get("entrypoint") or []
    argv = spec.get("argv") or []
    settings = {
        "Env": list(spec.get("env") or []),
        "Entrypoint": entrypoint or None,
        "Cmd": argv[len(entrypoint):] or None,
        "WorkingDir": spec.get("workdir") or "",
        "User": spec.get("user") or "",
        "Labels": dict(spec.get("labels") or {}) or None,
        "ExposedPorts": {p: {} for p in spec.get("exposed_ports") or []} or None,
        "StopSignal": spec.get("stop_signal") or None,
    }
    return {k: v for k, v in settings.items() if v not in (None, "")}
