"""The API for disk usage item by item (docker's /system/df document): each image with the
bytes it shares with others, each container's written bytes, each volume's bytes and users.
disk_usage() (system.py) gives the totals `system df` prints; this gives what they add up."""

from ..state import root as paths


def disk_usage_items(root=None) -> dict:
    """{"layers_size": bytes of every layer once,
        "images": [{id, names, digests, created (datetime), size, shared, containers, labels}],
        "containers": [{record, size_rw, size_root_fs}],
        "volumes": [{**inspect document, size, ref_count}]}"""
    from ..image.describe import created_of
    from ..image.digests import sha256_hex
    from ..image.store import ImageStore
    from ..linux.tree import disk_usage as du
    from ..state.store import Store
    from ..volume.store import VolumeStore
    from .volumes import _doc as volume_doc

    data_root = paths.resolve(root)
    store = Store(data_root)
    records = [store.observe(r) for r in store.all()]
    images = ImageStore(data_root)
    index = images.index()
    layers_of = {i.id: {sha256_hex(d) for d in i.layers} for i in index.images.values()}
    # a layer is shared when more than one image has it: docker's SharedSize
    holders: dict[str, int] = {}
    for layers in layers_of.values():
        for layer in layers:
            holders[layer] = holders.get(layer, 0) + 1
    users = {}
    for r in records:
        users[r.image_id] = users.get(r.image_id, 0) + 1
    image_rows = []
    for image in index.images.values():
        if image.intermediate and not image.names:
            continue  # a build's step: the build cache's, as `images` leaves it out
        layers = layers_of[image.id]
        image_rows.append({"id": image.id, "names": list(image.names), "digests": list(image.digests),
                           "created": created_of(images.config(image), image), "size": index.size(image),
                           "shared": sum(index.layer_sizes.get(x, 0) for x in layers if holders[x] > 1),
                           "containers": users.get(image.id, 0),
                           "labels": dict((images.config(image).get("config") or {}).get("Labels") or {})})
    container_rows = []
    for r in records:
        own = store.written(r)
        image = index.find(r.image_id) if r.image_id else None
        container_rows.append({"record": r, "size_rw": own, "size_root_fs": own + (index.size(image) if image else 0)})
    volumes = VolumeStore(data_root, records=lambda: records)
    volume_rows = [{**volume_doc(v), "size": du(volumes.data(v["name"])), "ref_count": len(volumes.users(v["name"]))}
                   for v in volumes.all()]
    every = set().union(*layers_of.values()) if layers_of else set()
    return {"layers_size": sum(index.layer_sizes.get(x, 0) for x in every), "images": image_rows,
            "containers": container_rows, "volumes": volume_rows}
