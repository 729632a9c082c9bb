"""`load` and `save`: images in files, as docker, podman and skopeo write them.

    docker-archive   manifest.json [{Config, RepoTags, Layers}] with the config and each
                     layer's plain tar at the paths it names (docker save, old and new
                     layouts; skopeo's docker-archive:)
    OCI layout       oci-layout, index.json and blobs/sha256/*, as a directory or a tar
                     (skopeo's oci: and oci-archive:, podman save --format oci-archive)

Everything read is verified against the digest that names it; a layer's uncompressed
bytes against the config's diff id. Nothing is stored unless the whole image is good.
"""

from __future__ import annotations

import hashlib
import io
import json
import os
import posixpath
import shutil
import tarfile

from ..errors import TinydockerError
from . import layer, oci, reference
from .digests import digest_of, sha256_hex
from .index import Image
from .reference import familiar_name
from .staging import Staging
from .store import ImageStore

_CHUNK = 1 << 20


class _Source:
    """Files of an archive (a tar, or a directory), by their path inside it."""

    def __init__(self, path: str, label: str):
        self.label = label
        self.dir = path if os.path.isdir(path) else None
        self.tar = None
        if self.dir is None:
            try:
                self.tar = tarfile.open(path, "r:*")
                self.members = {posixpath.normpath(m.name): m for m in self.tar.getmembers()}
            except (tarfile.TarError, EOFError, OSError) as e:
                said = _said(e)
                if said.startswith("file could not be opened successfully"):
                    said = "neither a tar nor a compressed one"  # not tarfile's lines, one per method it tried
                raise TinydockerError(f"cannot read archive {label}: not a readable tar ({said})") from None

    def _inside(self, name: str) -> str:
        norm = posixpath.normpath(name)
        if norm.startswith(("/", "../")) or norm == "..":
            raise TinydockerError(f"archive {self.label} names a file outside itself: {name!r}")
        return norm

    def exists(self, name: str) -> bool:
        norm = self._inside(name)
        if self.dir is not None:
            return os.path.isfile(os.path.join(self.dir, norm))
        return norm in self.members

    def open(self, name: str):
        norm = self._inside(name)
        try:
            if self.dir is not None:
                real = os.path.realpath(os.path.join(self.dir, norm))
                if not real.startswith(os.path.realpath(self.dir) + os.sep):
                    raise TinydockerError(f"archive {self.label} links outside itself: {name!r}")
                return open(real, "rb")
            member = self.members[norm]
            handle = self.tar.extractfile(member)
            if handle is None:
                raise KeyError(name)
            return handle
        except (KeyError, FileNotFoundError):
            raise TinydockerError(f"archive {self.label} is incomplete: {name} is missing") from None

    def read(self, name: str, limit: int = 64 << 20) -> bytes:
        with self.open(name) as f:
            data = f.read(limit + 1)
        if len(data) > limit:
            raise TinydockerError(f"archive {self.label}: {name} is too large for a manifest or config")
        return data

    def close(self) -> None:
        if self.tar is not None:
            self.tar.close()


def _said(error: BaseException) -> str:
    return getattr(error, "strerror", None) or str(error) or type(error).__name__


def load(store: ImageStore, path: str, platform: str | None = None) -> list[tuple[Image, list[str]]]:
    """Load every image of the archive at `path` ("-": stdin, or a binary file object read
    as stdin is, the service's request body; either spooled to a file first);
    [(image, the names it got)]."""
    with Staging(store) as stage:
        if not isinstance(path, str) or path == "-":
            import sys

            spooled = stage.dir / "stdin.tar"
            with open(spooled, "wb") as out:
                shutil.copyfileobj(sys.stdin.buffer if path == "-" else path, out, _CHUNK)
            source = _Source(str(spooled), "from stdin")
        else:
            if not os.path.exists(path):
                raise TinydockerError(f"cannot read archive {path}: no such file or directory")
            source = _Source(path, path)
        try:
            if source.exists("manifest.json"):
                wanted = _docker_images(source)
            elif source.exists("index.json"):
                wanted = _oci_images(source, oci.parse_platform(platform))
            else:
                raise TinydockerError(f"archive {source.label} is neither a docker archive (no manifest.json) "
                                      "nor an OCI layout (no index.json)")
            if not wanted:
                raise TinydockerError(f"archive {source.label} holds no image")
            done = []
            for item in wanted:
                done.append(_load_one(stage, source, **item))
            return done
        finally:
            source.close()


def _docker_images(source: _Source) -> list[dict]:
    try:
        entries = json.loads(source.read("manifest.json"))
        out = []
        for entry in entries:
            out.append({"config_path": entry["Config"], "layer_paths": list(entry["Layers"]),
                        "names": list(entry.get("RepoTags") or []), "manifest": None, "layer_media": None})
        return out
    except (ValueError, KeyError, TypeError) as e:
        raise TinydockerError(f"archive {source.label} has a malformed manifest.json ({e})") from None


def _oci_images(source: _Source, platform: dict) -> list[dict]:
    try:
        index = json.loads(source.read("index.json"))
        out = []
        for entry in index.get("manifests", []):
            names = _names_of(entry.get("annotations") or {})
            manifest_bytes, manifest = _manifest_for(source, entry, platform)
            if manifest is None:
                continue
            out.append({"config_path": _blob_path(manifest["config"]["digest"]),
                        "config_digest": manifest["config"]["digest"],
                        "layer_paths": [_blob_path(d["digest"]) for d in manifest["layers"]],
                        "layer_digests": [d["digest"] for d in manifest["layers"]],
                        "names": names, "manifest": manifest_bytes, "layer_media": None})
        return out
    except (ValueError, KeyError, TypeError) as e:
        raise TinydockerError(f"archive {source.label} has a malformed OCI index or manifest ({e})") from None


def _names_of(annotations: dict) -> list[str]:
    """The name an OCI layout gives an image: containerd's full name if there, else the
    ref.name annotation (skopeo writes what followed oci:DIR:, often a bare name)."""
    full = annotations.get("io.containerd.image.name")
    if full:
        return [full]
    name = annotations.get("org.opencontainers.image.ref.name")
    return [name] if name else []


def _blob_path(digest: str) -> str:
    return f"blobs/sha256/{sha256_hex(digest)}"


def _verified(source: _Source, digest: str) -> bytes:
    data = source.read(_blob_path(digest))
    if digest_of(data) != digest:
        raise TinydockerError(f"archive {source.label}: blob {digest} does not match its digest")
    return data


def _manifest_for(source: _Source, entry: dict, platform: dict) -> tuple[bytes, dict | None]:
    data = _verified(source, entry["digest"])
    document = json.loads(data)
    kind = oci.media_type_of(document, entry.get("mediaType"))
    if kind in oci.INDEXES:
        chosen = oci.pick(document, platform)
        if chosen is None:
            return data, None
        return _manifest_for(source, chosen, platform)
    return data, document


def _load_one(stage: Staging, source: _Source, config_path: str, layer_paths: list[str], names: list[str],
              manifest: bytes | None, layer_media, config_digest: str | None = None,
              layer_digests: list[str] | None = None) -> tuple[Image, list[str]]:
    config = source.read(config_path)
    expected = config_digest or _digest_in_name(config_path)
    if expected and digest_of(config) != expected:
        raise TinydockerError(f"archive {source.label}: the config {config_path} does not match its digest")
    try:
        diff_ids = json.loads(config)["rootfs"]["diff_ids"]
    except (ValueError, KeyError, TypeError):
        raise TinydockerError(f"archive {source.label}: the config {config_path} has no rootfs.diff_ids") from None
    if len(diff_ids) != len(layer_paths):
        raise TinydockerError(f"archive {source.label}: the image lists {len(layer_paths)} layers, "
                              f"its config {len(diff_ids)}")
    blobs, described = [], []
    for i, (path, diff_id) in enumerate(zip(layer_paths, diff_ids)):
        want_digest = layer_digests[i] if layer_digests else None
        blob, size, compression = _take_layer(stage, source, path, diff_id, want_digest, i + 1)
        blobs.append(blob)
        described.append((oci.layer_media_type(compression), blob, size))
    if manifest is None:
        manifest = oci.manifest((digest_of(config), len(config)), described)
    full_names = []
    for name in names:
        try:
            full_names.append(str(reference.parse(name)))
        except TinydockerError:
            continue  # a name docker would not take; the image still loads, unnamed
    image = stage.publish(manifest, config, blobs, names=full_names)
    return image, [familiar_name(n) for n in full_names]


def _digest_in_name(path: str) -> str | None:
    """docker save names files after their digest: HEX.json, blobs/sha256/HEX."""
    base = posixpath.basename(path)
    hex_part = base[:-5] if base.endswith(".json") else base
    if len(hex_part) == 64 and all(c in "0123456789abcdef" for c in hex_part):
        return "sha256:" + hex_part
    return None


def _take_layer(stage: Staging, source: _Source, path: str, diff_id: str, digest: str | None,
                number: int) -> tuple[str, int, str]:
    """Copy one layer into the staging area as a blob, verify it, unpack it (unless the
    store has it); (blob digest, blob size, compression)."""
    incoming = stage.dir / "blobs" / f"incoming-{number}"
    h = hashlib.sha256()
    with source.open(path) as src, open(incoming, "wb") as out:
        while chunk := src.read(_CHUNK):
            h.update(chunk)
            out.write(chunk)
    blob = "sha256:" + h.hexdigest()
    if digest and blob != digest:
        raise TinydockerError(f"archive {source.label}: layer {number} does not match its digest {digest}")
    with open(incoming, "rb") as f:
        compression = layer.sniff(f.read(4))
    try:
        with open(incoming, "rb") as f:
            if stage.has_layer(diff_id):
                unpacked, got = None, layer.diff_id_of(f)  # held already: only check the bytes
            else:
                unpacked = stage.new_tree()
                applied = layer.apply(f, str(unpacked))
                got = applied.diff_id
    except layer.LayerError as e:
        raise TinydockerError(f"archive {source.label}: layer {number} is unusable: {e}") from None
    if got != diff_id:
        raise TinydockerError(f"archive {source.label}: layer {number} does not match its diff id {diff_id}")
    if unpacked is not None:
        stage.keep_layer(unpacked, diff_id, applied.size)
    size = incoming.stat().st_size
    os.rename(incoming, stage.blob_path(blob))
    return blob, size, compression


# -- save -------------------------------------------------------------------------------

def save(store: ImageStore, refs: list[str], out, format: str = "docker-archive") -> None:
    """Write the images as one archive to the binary file `out`."""
    images = []
    for ref in refs:
        image = store.get(ref)
        if reference.is_id_prefix(ref) and image.id.startswith(ref if ref.startswith("sha256:") else "sha256:" + ref):
            # saved by id: the archive names nothing, and loads as <none>:<none> (docker's)
            images.append((image, []))
            continue
        name = str(reference.parse(ref))
        images.append((image, [name] if name in image.names else list(image.names)))
    with tarfile.open(fileobj=out, mode="w|", format=tarfile.PAX_FORMAT) as tar:
        if format == "docker-archive":
            _save_docker(store, images, tar)
        elif format == "oci-archive":
            _save_oci(store, images, tar)
        else:
            raise TinydockerError(f"unsupported format {format!r}: use docker-archive or oci-archive")


def _add_bytes(tar: tarfile.TarFile, name: str, data: bytes) -> None:
    info = tarfile.TarInfo(name)
    info.size = len(data)
    info.mode = 0o644
    tar.addfile(info, io.BytesIO(data))


def _add_dir(tar: tarfile.TarFile, name: str) -> None:
    info = tarfile.TarInfo(name)
    info.type = tarfile.DIRTYPE
    info.mode = 0o755
    tar.addfile(info)


def _save_docker(store: ImageStore, images, tar: tarfile.TarFile) -> None:
    """docker save's classic layout: HEX.json configs, DIFFHEX/layer.tar plain layers."""
    entries, written, repositories = [], set(), {}
    for image, names in images:
        config_name = f"{image.hex}.json"
        if config_name not in written:
            _add_bytes(tar, config_name, store.read_blob(image.id))
            written.add(config_name)
        manifest = store.manifest(image)
        layers = []
        for diff_id, descriptor in zip(image.layers, manifest["layers"]):
            folder = sha256_hex(diff_id)
            if folder not in written:
                _add_dir(tar, folder)
                _add_plain_layer(store, tar, f"{folder}/layer.tar", descriptor["digest"])
                _add_bytes(tar, f"{folder}/VERSION", b"1.0")
                written.add(folder)
            layers.append(f"{folder}/layer.tar")
        tags = [familiar_name(n) for n in names]
        entries.append({"Config": config_name, "RepoTags": tags or None, "Layers": layers})
        for tag in tags:
            repo, _, tag_part = tag.rpartition(":")
            repositories.setdefault(repo, {})[tag_part] = sha256_hex(image.layers[-1]) if image.layers else ""
    _add_bytes(tar, "manifest.json", json.dumps(entries).encode())
    if repositories:
        _add_bytes(tar, "repositories", json.dumps(repositories).encode())


def _add_plain_layer(store: ImageStore, tar: tarfile.TarFile, name: str, blob: str) -> None:
    """A docker archive holds plain tars: a compressed blob is decompressed on the way."""
    path = store.blob_path(blob)
    with open(path, "rb") as f:
        compression = layer.sniff(f.read(4))
    if not compression:
        tar.add(str(path), arcname=name, filter=_root_owned)
        return
    # the size goes in the header before the data: decompress into a spool first
    import tempfile

    with tempfile.TemporaryFile(dir=store.dir) as spool, open(path, "rb") as f:
        reader = layer.decompressing(f, compression)
        while chunk := reader.read(_CHUNK):
            spool.write(chunk)
        info = tarfile.TarInfo(name)
        info.size = spool.tell()
        info.mode = 0o644
        spool.seek(0)
        tar.addfile(info, spool)


def _root_owned(info: tarfile.TarInfo) -> tarfile.TarInfo:
    info.uid = info.gid = 0
    info.uname = info.gname = ""
    info.mode = 0o644
    return info


def _save_oci(store: ImageStore, images, tar: tarfile.TarFile) -> None:
    """An OCI layout: every blob as stored, so the manifests keep their digests."""
    _add_bytes(tar, "oci-layout", json.dumps({"imageLayoutVersion": "1.0.0"}).encode())
    _add_dir(tar, "blobs")
    _add_dir(tar, "blobs/sha256")
    written, manifests = set(), []
    for image, names in images:
        for blob in image.blobs:
            if blob not in written:
                tar.add(str(store.blob_path(blob)), arcname=_blob_path(blob), filter=_root_owned)
                written.add(blob)
        manifest = store.read_blob(image.manifest)
        kind = oci.media_type_of(json.loads(manifest))
        for name in names or [None]:
            entry = oci.descriptor(kind, image.manifest, len(manifest))
            if name:
                entry["annotations"] = {"io.containerd.image.name": name,
                                        "org.opencontainers.image.ref.name": reference.parse(name).tag or ""}
            manifests.append(entry)
    _add_bytes(tar, "index.json", oci.canonical({"schemaVersion": 2, "mediaType": oci.OCI_INDEX,
                                                 "manifests": manifests}))
