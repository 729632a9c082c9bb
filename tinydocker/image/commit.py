"""`commit`: a container's upper directory becomes a new layer over its image.

The upper directory is written as an OCI layer tar (overlayfs' whiteouts and opaque
directories turned back into `.wh.` entries, see layer.write); that tar is the layer's
blob, and unpacking it gives the layer's directory, exactly as for a pulled layer. The
new config is the image's, with the container's settings and one more history step.
"""

from __future__ import annotations

from datetime import datetime, timezone
import os
from pathlib import Path

from . import layer, oci, reference
from .store import Image, ImageStore, digest_of, file_digest


def commit(store: ImageStore, upper: Path, base: Image, settings: dict, ref: str | None,
           comment: str = "", author: str = "", created_by: str = "") -> Image:
    config = store.config(base)
    manifest = store.manifest(base)
    names = [str(reference.parse(ref))] if ref else []
    with store.staging() as stage:
        tar_path = stage.dir / "blobs" / "commit.tar"
        with open(tar_path, "wb") as out:
            layer.write(str(upper), out, whiteouts=True)
        diff_id = file_digest(tar_path)
        tree = stage.new_tree()
        with open(tar_path, "rb") as f:
            applied = layer.apply(f, str(tree))  # the layer exactly as any reader of the blob gets it
        os.rename(tar_path, stage.blob_path(diff_id))
        stage.keep_layer(tree, diff_id, applied.size)
        now = datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.%fZ")
        new_config = dict(config)
        new_config["created"] = now
        new_config["config"] = {**(config.get("config") or {}), **settings}
        if author:
            new_config["author"] = author
        new_config["rootfs"] = {"type": "layers", "diff_ids": list(base.layers) + [diff_id]}
        step = {"created": now, "created_by": created_by}
        if comment:
            step["comment"] = comment
        if author:
            step["author"] = author
        new_config["history"] = list(config.get("history") or []) + [step]
        config_bytes = oci.canonical(new_config)
        layers = [(d["mediaType"], d["digest"], d["size"]) for d in manifest["layers"]]
        layers.append((oci.OCI_LAYER, diff_id, stage.blob_path(diff_id).stat().st_size))
        manifest_bytes = oci.manifest((digest_of(config_bytes), len(config_bytes)), layers)
        layer_blobs = [d for _, d, _ in layers]
        return stage.publish(manifest_bytes, config_bytes, layer_blobs, names=names)


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
