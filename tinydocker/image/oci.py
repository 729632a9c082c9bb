"""The JSON documents of images, as the OCI image spec and docker's schema 2 define them.

Both formats say the same things under different media types; tinydocker reads either
and writes OCI.
"""

from __future__ import annotations

import json
import platform as _platform

OCI_INDEX = "application/vnd.oci.image.index.v1+json"
OCI_MANIFEST = "application/vnd.oci.image.manifest.v1+json"
OCI_CONFIG = "application/vnd.oci.image.config.v1+json"
OCI_LAYER = "application/vnd.oci.image.layer.v1.tar"
OCI_LAYER_GZIP = OCI_LAYER + "+gzip"
OCI_LAYER_ZSTD = OCI_LAYER + "+zstd"
DOCKER_LIST = "application/vnd.docker.distribution.manifest.list.v2+json"
DOCKER_MANIFEST = "application/vnd.docker.distribution.manifest.v2+json"
DOCKER_CONFIG = "application/vnd.docker.container.image.v1+json"
DOCKER_LAYER_GZIP = "application/vnd.docker.image.rootfs.diff.tar.gzip"

MANIFESTS = (OCI_MANIFEST, DOCKER_MANIFEST)
INDEXES = (OCI_INDEX, DOCKER_LIST)
# layers that are not part of the root filesystem (foreign layers are; attestations not)
LAYER_TYPES = (OCI_LAYER, OCI_LAYER_GZIP, OCI_LAYER_ZSTD, DOCKER_LAYER_GZIP,
               "application/vnd.docker.image.rootfs.diff.tar",
               "application/vnd.docker.image.rootfs.foreign.diff.tar.gzip",
               "application/vnd.oci.image.layer.nondistributable.v1.tar+gzip")

_COMPRESSION = {"": OCI_LAYER, "gzip": OCI_LAYER_GZIP, "zstd": OCI_LAYER_ZSTD}


def layer_media_type(compression: str) -> str:
    return _COMPRESSION[compression]


def canonical(document: dict) -> bytes:
    """The bytes tinydocker writes for a document it makes (compact, keys in order)."""
    return json.dumps(document, separators=(",", ":"), sort_keys=True).encode()


def descriptor(media_type: str, digest: str, size: int, **extra) -> dict:
    return {"mediaType": media_type, "digest": digest, "size": size, **extra}


def manifest(config: tuple[str, int], layers: list[tuple[str, str, int]]) -> bytes:
    """An OCI manifest: config (digest, size), layers [(media type, digest, size)], bottom first."""
    return canonical({
        "schemaVersion": 2,
        "mediaType": OCI_MANIFEST,
        "config": descriptor(OCI_CONFIG, *config),
        "layers": [descriptor(*layer) for layer in layers],
    })


def media_type_of(document: dict, declared: str | None = None) -> str:
    """A manifest's own mediaType, else what it was served as, else what its shape says."""
    kind = document.get("mediaType") or declared or ""
    if kind:
        return kind
    return OCI_INDEX if "manifests" in document else OCI_MANIFEST


def host_platform() -> dict:
    machine = _platform.machine()
    arch = {"x86_64": "amd64", "aarch64": "arm64", "armv7l": "arm", "i686": "386", "ppc64le": "ppc64le",
            "s390x": "s390x", "riscv64": "riscv64"}.get(machine, machine)
    return {"os": "linux", "architecture": arch}


def parse_platform(text: str | None) -> dict:
    if not text:
        return host_platform()
    parts = text.split("/")
    if len(parts) < 2 or not all(parts):
        from ..errors import TinydockerError

        raise TinydockerError(f"invalid platform {text!r}: write OS/ARCH[/VARIANT], e.g. linux/amd64")
    wanted = {"os": parts[0], "architecture": parts[1]}
    if len(parts) > 2:
        wanted["variant"] = parts[2]
    return wanted


def pick(index: dict, wanted: dict) -> dict | None:
    """The entry of an index (or manifest list) for the platform wanted: the first whose
    platform matches, else the first that names no platform (as containerd takes one: an
    index of a single image often says nothing of it). Attestations and other artifacts
    are never taken."""
    loose = None
    for entry in index.get("manifests", []):
        if not isinstance(entry, dict) or entry.get("mediaType") not in (None, *MANIFESTS, *INDEXES):
            continue
        if (entry.get("annotations") or {}).get("vnd.docker.reference.type"):
            continue  # buildkit's attestation manifests: "unknown/unknown", not an image
        have = entry.get("platform")
        if not have:
            loose = loose or entry
            continue
        if have.get("os") != wanted["os"] or have.get("architecture") != wanted["architecture"]:
            continue
        if "variant" in wanted and have.get("variant") != wanted["variant"]:
            continue
        return entry
    return loose
