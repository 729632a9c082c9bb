"""docker's --filter KEY=VALUE for listings: the same key given twice matches either value,
different keys must all match."""

import re

from ..errors import NoSuchImage, TinydockerError

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
        self.networks = {_network_name(store, ref) for ref in self.f.get("network", [])}
        try:
            self.names = [re.compile(v) for v in self.f.get("name", [])]
        except re.error as e:
            raise TinydockerError(f"invalid filter 'name': {e}", code=1) from None

    def asks(self, key: str) -> bool:
        return key in self.f

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
        if "network" in f and not self.networks & ({r.spec.get("network")} |
                                                   {n["name"] for n in r.spec.get("networks", [])}):
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


def _network_name(store, ref: str) -> str:
    """A network= value: the name of the network it names (by name or id), else itself."""
    from ..network.store import NetworkStore

    try:
        return NetworkStore(store.root).find(ref)["name"]
    except TinydockerError:
        return ref


def _dangling(f: dict) -> set[bool]:
    """The dangling= values asked (true/false, 1/0): the set of answers wanted."""
    wanted = set()
    for value in f.get("dangling", []):
        if value.lower() not in ("true", "false", "1", "0"):
            raise TinydockerError(f"invalid filter 'dangling={value}': want true or false", code=1)
        wanted.add(value.lower() in ("true", "1"))
    return wanted


IMAGE_KEYS = ("dangling", "reference", "label", "before", "since")


def image_filter(items, index, rows):
    """A predicate over `rows` (the images listing) for docker's images --filter; `index`
    resolves the images before= and since= name."""
    import fnmatch

    f = parse(items, IMAGE_KEYS)
    dangling = _dangling(f)

    def created(ref):
        image = index.find(ref)
        if image is None:
            raise NoSuchImage(ref)
        return next(r["created"] for r in rows if r["id"] == image.id)

    before = min((created(ref) for ref in f.get("before", [])), default=None)
    since = max((created(ref) for ref in f.get("since", [])), default=None)

    def matches(row) -> bool:
        if dangling and (row["repository"] is None) not in dangling:
            return False
        if "reference" in f:
            names = [f"{row['repository']}:{row['tag']}", row["repository"]] if row["repository"] else []
            if not any(fnmatch.fnmatchcase(n, pattern) for n in names for pattern in f["reference"]):
                return False
        if "label" in f and not label_matches(row.get("labels", {}), f["label"]):
            return False
        if before is not None and row["created"] >= before:
            return False
        if since is not None and row["created"] <= since:
            return False
        return True
    return matches


VOLUME_KEYS = ("dangling", "driver", "label", "name")


def volume_filter(items, in_use):
    """`volume ls --filter` (docker's keys): dangling=true|false (no container mounts it),
    driver=local, label=KEY[=VALUE], name=PART (a part of the name); in_use(name) says
    whether a container mounts it. A test of a volume's inspect document."""
    f = parse(items, VOLUME_KEYS)
    dangling = _dangling(f)

    def wanted(doc: dict) -> bool:
        if "name" in f and not any(part in doc["Name"] for part in f["name"]):
            return False
        if "driver" in f and doc["Driver"] not in f["driver"]:
            return False
        if "label" in f and not label_matches(doc["Labels"], f["label"]):
            return False
        return not dangling or (not in_use(doc["Name"])) in dangling
    return wanted



NETWORK_KEYS = ("dangling", "driver", "id", "label", "name", "scope", "type")


def network_filter(items, in_use):
    """`network ls --filter` (docker's keys): dangling=true|false (no container on it),
    driver=bridge, id=PREFIX, label=KEY[=VALUE], name=PART, scope=local, type=custom|builtin;
    in_use(doc) says whether a container is on it. A test of a network's document."""
    from ..network.store import PREDEFINED

    f = parse(items, NETWORK_KEYS)
    for value in f.get("type", []):
        if value not in ("custom", "builtin"):
            raise TinydockerError(f"invalid filter: 'type'='{value}'", code=1)
    dangling = _dangling(f)

    def wanted(doc: dict) -> bool:
        builtin = doc["Name"] in PREDEFINED
        checks = (("name", lambda v: v in doc["Name"]), ("id", lambda v: doc["Id"].startswith(v)),
                  ("driver", lambda v: doc["Driver"] == v), ("scope", lambda v: doc["Scope"] == v),
                  ("type", lambda v: builtin == (v == "builtin")))
        if any(key in f and not any(test(v) for v in f[key]) for key, test in checks):
            return False
        if "label" in f and not label_matches(doc.get("Labels") or {}, f["label"]):
            return False
        # docker: a pre-defined network is never dangling
        return not dangling or (not builtin and not in_use(doc)) in dangling
    return wanted
