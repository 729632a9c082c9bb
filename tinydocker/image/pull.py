"""`pull`: an image from a registry into the store.

Everything pulled is verified against the digest that names it, each layer's unpacked
bytes against the config's diff id, and nothing is published unless the whole image is
good: a pull works in a Staging directory that disappears with any failure. Layers come
in parallel.
"""

from __future__ import annotations

import json
import os
import threading

from ..errors import TinydockerError
from . import layer, oci, reference
from .progress import Progress, human, progress_for
from .registries_conf import resolve_alias
from .registry import Client, client_for
from .digests import sha256_hex
from .index import Image
from .reference import familiar_name
from .staging import Staging
from .store import ImageStore

_PARALLEL = 3                 # layers in flight at once: docker's default max-concurrent-downloads
_NESTING = 4                  # indexes within indexes followed, at most


def _select(client: Client, repo: str, name: str, data: bytes, kind: str, platform: str | None
            ) -> tuple[bytes, dict]:
    """The image manifest to pull: `data` itself, or the one its index has for the platform."""
    document = json.loads(data)
    depth = 0
    while kind in oci.INDEXES:  # an index may name another index (containerd follows it too)
        depth += 1
        if depth > _NESTING:
            raise client._fail(f"the indexes of {name} nest more than {_NESTING} deep")
        wanted = oci.parse_platform(platform)
        entry = oci.pick(document, wanted)
        if entry is None:
            text = "/".join(wanted[k] for k in ("os", "architecture", "variant") if k in wanted)
            raise client._fail(f"no matching manifest for {text} in the manifest list entries")
        data, kind, digest = client.manifest(repo, entry["digest"], name)
        if entry.get("size") is not None and entry["size"] != len(data):
            raise client._fail(f"manifest {digest} is not the size its index says")
        document = json.loads(data)  # (client.manifest checked it is JSON of a known type)
    # a single image is what it is, whatever --platform asked: docker takes it too
    return data, document


def _layers_of(client: Client, manifest: dict, config: dict, name: str) -> list[tuple[dict, str]]:
    """(descriptor, diff id) of each layer, bottom first, checked for shape."""
    try:
        layers = list(manifest["layers"])
        diff_ids = list(config["rootfs"]["diff_ids"])
        for d in layers:
            sha256_hex(d["digest"])
            int(d["size"])
    except (KeyError, TypeError, ValueError, TinydockerError) as e:
        raise client._fail(f"the manifest or config of {name} is malformed ({e})") from None
    if len(layers) != len(diff_ids):
        raise client._fail(f"{name}'s manifest lists {len(layers)} layers, its config {len(diff_ids)}")
    for d in layers:
        if d.get("mediaType") and d["mediaType"] not in oci.LAYER_TYPES:
            raise client._fail(f"{name} has a layer of unsupported type {d['mediaType']!r}")
    return list(zip(layers, diff_ids))


class _Puller:
    """The layers of one pull, fetched and unpacked in parallel into one Staging."""

    def __init__(self, client: Client, stage: Staging, repo: str, progress: Progress,
                 cancel: threading.Event | None = None):
        self.client, self.stage, self.repo, self.progress = client, stage, repo, progress
        self.store = stage.store
        self.keep_lock = threading.Lock()   # two layers with one diff id must not race to keep it
        self.abort = cancel or threading.Event()  # the first failure (or the caller) stops the others
        self.fetched = 0

    def take(self, descriptor: dict, diff_id: str) -> None:
        digest = descriptor["digest"]
        short = sha256_hex(digest)[:12]
        if self.store.layer_dir(diff_id).is_dir() and self.store.blob_path(digest).exists():
            self.progress.line(short, f"{short}: Already exists", final=True)
            return
        if self.abort.is_set():
            return
        size = int(descriptor["size"])
        self.progress.line(short, f"{short}: Pulling fs layer")
        incoming = self.stage.dir / "blobs" / f"incoming-{sha256_hex(digest)}"
        self.client.download(self.repo, descriptor, str(incoming), abort=self.abort, progress=lambda n: (
            self.progress.line(short, f"{short}: Downloading {human(n)}/{human(size)}", throttle=True)))
        if self.abort.is_set():
            return
        with self.keep_lock:
            self.fetched += 1
        self.progress.line(short, f"{short}: Extracting")
        try:
            with open(incoming, "rb") as f:
                if self.stage.has_layer(diff_id):
                    tree, got = None, layer.diff_id_of(f)  # unpacked already: only check the bytes
                else:
                    tree = self.stage.new_tree()
                    applied = layer.apply(f, str(tree))
                    got = applied.diff_id
        except layer.LayerError as e:
            raise self.client._fail(f"layer {short} is unusable: {e}") from None
        if got != diff_id:
            raise self.client._fail(f"layer {short} does not match its diff id {diff_id}")
        if tree is not None:
            with self.keep_lock:
                self.stage.keep_layer(tree, diff_id, applied.size)
        os.replace(incoming, self.stage.blob_path(digest))
        self.progress.line(short, f"{short}: Pull complete", final=True)

    def run(self, layers: list[tuple[dict, str]]) -> None:
        """Take the layers, _PARALLEL threads taking the next one as each is done; the first
        failure, in layer order, once every thread has stopped. (Threads of its own, not a
        concurrent.futures pool, whose import brings logging: 3 ms of every pull.)"""
        unique = list({d["digest"]: (d, diff_id) for d, diff_id in layers}.values())  # a layer twice: once
        queue = iter(enumerate(unique))
        lock = threading.Lock()
        failures: dict[int, BaseException] = {}

        def work() -> None:
            while not self.abort.is_set():
                with lock:
                    item = next(queue, None)
                if item is None:
                    return
                i, (descriptor, diff_id) = item
                try:
                    self.take(descriptor, diff_id)
                except BaseException as e:
                    failures[i] = e
                    self.abort.set()

        threads = [threading.Thread(target=work, name=f"pull_{n}") for n in range(min(_PARALLEL, len(unique)))]
        for t in threads:
            t.start()
        try:
            for t in threads:
                t.join()
        except BaseException:  # ^C: the threads stop at their next chunk
            self.abort.set()
            raise
        if failures:
            raise failures[min(failures)]
        if self.abort.is_set():
            raise TinydockerError(f"the pull from {self.repo} was cancelled")


def pull(store: ImageStore, name: str, platform: str | None = None, tls_verify: bool = True,
         out=None, creds=None, cancel: threading.Event | None = None) -> Image:
    """Pull `name` (NAME[:TAG] or NAME@DIGEST) into the store. `out` (a text stream) gets
    docker's lines, a terminal on stderr the progress of each layer; None: silent. `cancel`,
    once set, stops the layers' downloads at their next chunk and fails the pull (nothing
    kept)."""
    ref = reference.parse(resolve_alias(name))
    shown = familiar_name(str(ref))
    client = client_for(store, ref.registry, tls_verify, f"pull {shown}", repository=ref.repository,
                        by_digest=ref.digest is not None, creds=creds)
    wanted = ref.digest or ref.tag
    top, kind, top_digest = client.manifest(ref.path, wanted, shown)
    manifest_bytes, manifest = _select(client, ref.path, shown, top, kind, platform)
    if out is not None:
        print(f"{wanted}: Pulling from {ref.path}", file=out, flush=True)
    try:
        config_descriptor = manifest["config"]
        sha256_hex(config_descriptor["digest"])
    except (KeyError, TypeError, TinydockerError):
        raise client._fail(f"the manifest of {shown} names no config") from None
    config_bytes = client.blob(ref.path, config_descriptor, "config")
    try:
        config = json.loads(config_bytes)
    except ValueError as e:
        raise client._fail(f"the config of {shown} is not JSON ({e})") from None
    layers = _layers_of(client, manifest, config, shown)
    with Staging(store) as stage:
        puller = _Puller(client, stage, ref.path, progress_for(out, log_final=False), cancel)
        puller.run(layers)
        up_to_date = puller.fetched == 0 and store.blob_path(config_descriptor["digest"]).exists()
        image = stage.publish(manifest_bytes, config_bytes, [d["digest"] for d, _ in layers],
                              names=[str(ref)] if ref.tag else [],
                              digests=[f"{ref.repository}@{top_digest}"])
    if out is not None:
        print(f"Digest: {top_digest}", file=out)
        print(f"Status: {'Image is up to date' if up_to_date else 'Downloaded newer image'} for {shown}",
              file=out, flush=True)
    return image
