"""A container's removal once it is held for it (Store.hold_for_removal): what it took on
the network, its runtime's state, its cgroup, then its record and directory."""

from ..state.store import Store


def discard(store: Store, record) -> None:
    """Network and cgroup first, record last: a removal killed midway leaves a record that
    `rm` can retry."""
    from ..network.attach import release_all
    from .oci import forget

    # what a killed monitor could not give back, or a start killed before it recorded it
    release_all(store, record.id)
    forget(store.root, record.spec, record.id, str(store.container_dir(record.name)))
    store.cgroup(record).remove()
    try:
        from ..state.stack import layer_links

        links = layer_links(store.container_dir(record.name))
    except OSError:
        links = []
    store.remove(record)
    if links:
        from ..image.store import ImageStore

        # a layer a commit promoted its upper to, whose image has gone: it goes with it
        ImageStore(store.root).release(links)
