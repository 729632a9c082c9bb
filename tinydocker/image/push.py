"""`push`: an image from the store to a registry, blobs the registry lacks first, the
manifest last (it makes the tag visible)."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
import json

from ..errors import TinydockerError
from . import oci, reference
from .progress import human, progress_for
from .registry import client_for
from .digests import sha256_hex
from .reference import familiar_name
from .store import ImageStore

_PARALLEL = 4                 # blobs in flight at once, as docker's default


def push(store: ImageStore, name: str, tls_verify: bool = True, out=None, creds=None) -> str:
    """Push the image `name` (NAME[:TAG]) to its registry under its tag; its manifest's
    digest. Blobs the registry has already are not sent again."""
    ref = reference.parse(name)
    if ref.digest or not ref.tag:
        raise TinydockerError(f"cannot push {name}: push a NAME[:TAG], not a digest")
    shown = familiar_name(str(ref))
    image = store.index().find(str(ref))
    if image is None:
        raise TinydockerError(f"An image does not exist locally with the tag: {shown}", code=1)
    manifest_bytes = store.read_blob(image.manifest)
    manifest = json.loads(manifest_bytes)
    kind = oci.media_type_of(manifest)
    blobs = [(d["digest"], int(d["size"])) for d in manifest.get("layers", [])]
    blobs.append((manifest["config"]["digest"], int(manifest["config"]["size"])))
    for digest, _size in blobs:
        if not store.blob_path(digest).exists():
            raise TinydockerError(f"image {shown} has lost blob {digest} from the store: pull or load it again")
    if out is not None:
        print(f"The push refers to repository [{ref.repository}]", file=out, flush=True)
    client = client_for(store, ref.registry, tls_verify, f"push {shown}", creds=creds)
    progress = progress_for(out, log_final=True)
    client.ping()  # the first challenge answered once, not by every thread at once

    def send(digest: str, size: int) -> None:
        short = sha256_hex(digest)[:12]
        if client.has_blob(ref.path, digest):
            progress.line(short, f"{short}: Layer already exists", final=True)
            return
        progress.line(short, f"{short}: Pushing {human(size)}")
        client.upload(ref.path, digest, str(store.blob_path(digest)), size)
        progress.line(short, f"{short}: Pushed", final=True)

    unique = list(dict.fromkeys(blobs))
    with ThreadPoolExecutor(max_workers=_PARALLEL, thread_name_prefix="push") as pool:
        for future in [pool.submit(send, digest, size) for digest, size in unique]:
            future.result()
    digest = client.put_manifest(ref.path, ref.tag, manifest_bytes, kind)
    # the registry now knows the image by this digest too, as docker records after a push
    with store.change() as index:
        held = index.images.get(image.id)
        pushed = f"{ref.repository}@{digest}"
        if held is not None and pushed not in held.digests:
            held.digests.append(pushed)
    if out is not None:
        print(f"{ref.tag}: digest: {digest} size: {len(manifest_bytes)}", file=out, flush=True)
    return digest
