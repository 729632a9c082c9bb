"""docker's --filter KEY=VALUE for listings: the same key given twice matches either value,
different keys must all match."""

import re

from ..errors import TinydockerError

CONTAINER_KEYS = ("name", "id", "label", "status", "exited", "ancestor", "before", "since", "network", "volume")
STATUSES = ("created", "restarting", "running", "removing", "paused", "exited", "dead")


def parse(items, known) -> dict[str, list[str]]:
    """--filter flags as {key: [values]}; an unknown key is refused as docker refuses it."""
    filters: dict[str, list[str]] = {}
    for item in items:
        key, eq, value = item.partition("=")
        key = key.strip().lower()
        if not eq:
            raise TinydockerError(f"bad format of filter (expected name=value): {item}", code=1)
        if key not in known:
            raise TinydockerError(f"invalid filter '{key}'", code=1)
        filters.setdefault(key, []).append(value)
    return filters


def label_matches(labels: dict, wanted: list[str]) -> bool:
    """label=KEY (present) or label=KEY=VALUE, every one of them (docker ANDs labels)."""
    for want in wanted:
        key, eq, value = want.partition("=")
        if key not in labels or (eq and labels[key] != value):
            return False
    return True


class ContainerFilter:
    """A `ps --filter` set, resolved once (before/since name containers) for many records."""

    def __init__(self, items, store):
        self.f = parse(items, CONTAINER_KEYS)
        for status in self.f.get("status", []):
            if status not in STATUSES:
                raise TinydockerError(f"invalid filter 'status={status}': want one of {', '.join(STATUSES)}",
                                      code=1)
        for code in self.f.get("exited", []):
            if not code.lstrip("-").isdigit():
                raise TinydockerError(f"invalid filter 'exited={code}': want an exit code", code=1)
        # before/since: created before (after) the container named
        self.before = min((store.lookup(ref).created for ref in self.f.get("before", [])), default=None)
        self.since = max((store.lookup(ref).created for ref in self.f.get("since", [])), default=None)
        self.images = [_image_ids(store, ref) for ref in self.f.get("ancestor", [])]
        try:
            self.names = [re.compile(v) for v in self.f.get("name", [])]
        except re.error as e:
            raise TinydockerError(f"invalid filter 'name': {e}", code=1) from None

    def __bool__(self) -> bool:
        return bool(self.f)

    def matches(self, r) -> bool:
        f = self.f
        if self.names and not any(n.search(r.name) for n in self.names):
            return False
        if "id" in f and not any(r.id.startswith(v.lower()) for v in f["id"]):
            return False
        if "label" in f and not label_matches(r.spec.get("labels", {}), f["label"]):
            return False
        if "status" in f and r.state not in f["status"]:
            return False
        if "exited" in f and (r.status != "exited" or str(r.exit_code) not in f["exited"]):
            return False
        if self.before is not None and r.created >= self.before:
            return False
        if self.since is not None and r.created <= self.since:
            return False
        if self.images and not any(r.image == ref or r.image_id in ids for ref, ids in self.images):
            return False
        if "network" in f and r.spec.get("network") not in f["network"]:
            return False
        if "volume" in f and not any(m.get("source") in f["volume"] or m.get("target") in f["volume"]
                                     for m in r.spec.get("mounts", [])):
            return False
        return True


def _image_ids(store, ref: str) -> tuple[str, set]:
    """An ancestor= value: the reference as given, and the id it names now (if any)."""
    from ..image.store import ImageStore

    try:
        found = ImageStore(store.root).index().find(ref)
    except TinydockerError:
        found = None  # not a reference: it can still match what a container recorded
    return ref, {found.id} if found else set()
