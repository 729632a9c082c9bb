"""Named volumes: a directory each under the data root, as docker's local driver keeps them.

    state/volumes/NAME/_data          what the container sees at its mount point
    state/volumes/NAME/volume.toml    created, labels, anonymous
    state/volumes/.new-PID-TICKS-*    a volume being made (renamed into place whole)
    state/volumes/.trash-PID-TICKS-*  a removed volume, being deleted by process PID (started at TICKS)

Every change is made under the state lock, the lock the container records are written
under: a volume a container is being created with cannot be removed meanwhile, and "in
use" (some record mounts it) is read under the same lock that changes it.
"""

from datetime import datetime, timezone
import os
from pathlib import Path
import shutil
import tomllib

from ..errors import InUse, NoSuchVolume, TinydockerError
from ..linux import proc
from ..linux.tree import disk_usage
from ..state import events
from ..state.root import DataRoot, file_lock, visible_entries
from .mounts import check_volume_name

META = "volume.toml"
DATA = "_data"


class VolumeStore:
    def __init__(self, root: DataRoot, records=None):
        """`records()` lists the container records (state.store.Store.all), for "in use"."""
        self.root = root
        self.dir = root.state / "volumes"
        self._records = records or (lambda: [])

    def lock(self):
        return file_lock(self.root.state_lock)

    def data(self, name: str) -> Path:
        return self.dir / name / DATA

    def load(self, name: str) -> dict | None:
        try:
            with open(self.dir / name / META, "rb") as f:
                meta = tomllib.load(f)
        except (FileNotFoundError, NotADirectoryError):
            return None
        except tomllib.TOMLDecodeError as e:
            raise TinydockerError(f"corrupt record for volume {name}: {e}") from None
        return {"name": name, "mountpoint": str(self.data(name)), **meta}

    def all(self) -> list[dict]:
        found = (self.load(n) for n in visible_entries(self.dir))
        return [v for v in found if v is not None]

    # -- making ----------------------------------------------------------------------------

    def ensure_locked(self, name: str, anonymous: bool = False, labels: dict | None = None,
                      options: dict | None = None) -> bool:
        """With the state lock held: the volume, made if it is not there; whether it was made.
        It appears whole (made aside, then renamed into place) or not at all."""
        if (self.dir / name / META).exists():
            return False
        import tomli_w

        temp = self.dir / proc.private_name(".new")
        shutil.rmtree(temp, ignore_errors=True)
        (temp / DATA).mkdir(parents=True)
        meta = {"created": datetime.now(timezone.utc), "anonymous": anonymous, "labels": dict(labels or {}),
                "options": dict(options or {})}
        (temp / META).write_bytes(tomli_w.dumps(meta).encode())
        if (self.dir / name).exists():
            _remove_tree(self.dir / name)  # a volume without its record: what a killed command left
        os.rename(temp, self.dir / name)
        events.emit(self.root, "volume", "create", name, {"driver": "local"})
        return True

    def ensure_for(self, mounts: list[dict]) -> None:
        """With the state lock held: the named and anonymous volumes a container's mounts name."""
        for m in mounts:
            if m["type"] == "volume":
                self.ensure_locked(m["source"], anonymous=m["anonymous"])

    def create(self, name: str | None = None, labels: dict | None = None, options: dict | None = None) -> dict:
        """`volume create [NAME]`: a new volume, or the existing one of that name (as docker).
        `options`: the local driver's (mounts.check_driver_options)."""
        from .mounts import anonymous_name, check_driver_options

        options = check_driver_options(options or {})
        name = check_volume_name(name) if name else anonymous_name()
        with self.lock():
            self.ensure_locked(name, anonymous=False, labels=labels, options=options)
        return self.load(name)

    def sources(self, mounts: list[dict]) -> list[dict]:
        """A container's mounts as its init attaches them (container/binds.py), at each start:
        host paths checked (a -v directory made if missing, as docker does), each volume's
        directory, whether an empty volume is first filled from the image; shallow targets
        first, so that a mount inside another's target lands on top of it."""
        out = []
        for m in sorted(mounts, key=lambda m: m["target"].count("/")):
            if m["type"] == "bind":
                source, populate = m["source"], False
                if not os.path.exists(source):
                    if not m.get("create"):
                        raise TinydockerError(f"bind source path does not exist: {source}")
                    try:
                        os.makedirs(source, exist_ok=True)
                    except OSError as e:
                        raise TinydockerError(f"cannot create the host directory {source} for -v: "
                                              f"{e.strerror}") from None
            else:
                options = (self.load(m["source"]) or {}).get("options") or {}
                if options and "bind" not in options.get("o", "").split(","):
                    # the local driver's filesystem (a tmpfs, a device): mounted by the init itself
                    out.append({"filesystem": {"type": options["type"], "device": options["device"],
                                               "options": options.get("o", "")},
                                "source": options["device"], "target": m["target"], "readonly": m["readonly"],
                                "populate": False})
                    continue
                source = options["device"] if options else str(self.data(m["source"]))
                try:
                    populate = not m.get("nocopy") and not os.listdir(source)
                except FileNotFoundError:
                    raise TinydockerError(f"volume {m['source']} is gone (its directory {source} is missing)") from None
            out.append({"source": source, "target": m["target"], "readonly": m["readonly"], "populate": populate})
        return out

    # -- removing ---------------------------------------------------------------------------

    def users(self, name: str) -> list[str]:
        """The ids of the containers whose spec mounts the volume, whatever their state."""
        return [r.id for r in self._records()
                if any(m.get("type") == "volume" and m.get("source") == name for m in r.spec.get("mounts", []))]

    def remove(self, name: str) -> None:
        """`volume rm`: refused while a container (running or not) mounts it, as docker does."""
        with self.lock():
            if self.load(name) is None:
                raise NoSuchVolume(name)
            users = self.users(name)
            if users:
                raise InUse(f"remove {name}: volume is in use - [{', '.join(users)}]")
            trash = self._discard_locked(name)
        _remove_tree(trash)

    def release_anonymous(self, mounts: list[dict]) -> None:
        """The anonymous volumes of a container that is gone (`rm -v`, `--rm`), unless
        another container mounts them too (--volumes-from or by name)."""
        names = [m["source"] for m in mounts if m.get("type") == "volume" and m.get("anonymous")]
        if not names:
            return
        with self.lock():
            trash = [self._discard_locked(n) for n in names if self.load(n) is not None and not self.users(n)]
        for path in trash:
            _remove_tree(path)

    def prune(self, all: bool = False) -> dict:
        """The volumes no container mounts: anonymous ones only, or every one with all=True
        (docker 23's rule). Returns {"volumes": [names], "reclaimed": bytes}."""
        self.sweep()
        with self.lock():
            used = {m.get("source") for r in self._records() for m in r.spec.get("mounts", [])
                    if m.get("type") == "volume"}
            chosen = [v["name"] for v in self.all() if v["name"] not in used and (all or v.get("anonymous"))]
            sizes = {n: disk_usage(self.data(n)) for n in chosen}
            trash = [self._discard_locked(n) for n in chosen]
        for path in trash:
            _remove_tree(path)
        return {"volumes": chosen, "reclaimed": sum(sizes.values())}

    def _discard_locked(self, name: str) -> Path:
        """Give the name back at once; the caller deletes the files after the lock."""
        trash = self.dir / proc.private_name(".trash")
        os.rename(self.dir / name, trash)
        events.emit(self.root, "volume", "destroy", name, {"driver": "local"})
        return trash

    def sweep(self) -> None:
        """What killed commands left: volumes half made or half deleted."""
        proc.remove_abandoned(self.dir, ".trash")
        proc.remove_abandoned(self.dir, ".new")


def _remove_tree(path) -> None:
    # an ordinary user's containers may have written files of its subordinate ids into a volume
    from ..linux.idmap import remove_tree

    remove_tree(path)
