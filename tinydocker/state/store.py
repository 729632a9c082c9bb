"""The state store: one TOML record per container, every change under one lock file.

Layout under the data root:

    state/.lock                      the lock (filelock); held for milliseconds, never while a container runs
    state/containers/NAME/record.toml
    state/containers/NAME/upper      the container's writable layer
    state/containers/NAME/work       overlayfs' scratch directory
    state/containers/NAME/merged     where the overlay is mounted, inside the container's mount namespace only
    state/containers/NAME/layers/N   links to the image's layer directories, 0 the top one: the
                                     overlay's lower directories, by names short enough for
                                     100 layers to fit in the mount options
    state/containers/.trash-PID-TICKS-*  a removed container's files, being deleted by process PID
    state/containers/NAME/{layers,upper}.next
                                     the new stack of a commit that promotes the upper (stack.py)
    state/volumes/                   named volumes (volume/store.py), under the same lock

Directories are keyed by name, so owning a name is owning a directory: a name is taken
by creating NAME/ under the lock, and given back by renaming NAME/ away under the lock.
A record is always replaced whole (temp file, fsync, rename), so a reader sees the old
record or the new one, never a mix.
"""

import os
from pathlib import Path
import shutil
import stat

from ..errors import ContainerRunning, NoSuchContainer, TinydockerError
from ..linux import proc
from ..linux.files import write_atomic
from . import events
from .holds import Holds
from .observe import Observing
from .record import Record, now
from .root import DataRoot, file_lock, visible_entries

RECORD = "record.toml"
LOG = "container.log"
MONITOR_ERROR = "monitor.error"  # written by a monitor that could not record the end (container/monitor.py)
class Store(Holds, Observing):
    def __init__(self, root: DataRoot):
        self.root = root
        self.dir = root.containers

    # -- locking and files ------------------------------------------------------------

    def lock(self):
        return file_lock(self.root.state_lock)

    def container_dir(self, name: str) -> Path:
        return self.dir / name

    def log_path(self, name: str) -> Path:
        return self.dir / name / LOG

    def written(self, record: "Record") -> int:
        """Bytes the container wrote: its upper directory's disk usage (ps -s, system df, prune)."""
        from ..linux.tree import disk_usage

        return disk_usage(self.container_dir(record.name) / "upper")

    def monitor_error_path(self, name: str) -> Path:
        return self.dir / name / MONITOR_ERROR

    def _write(self, record: Record) -> None:
        import tomli_w

        write_atomic(self.container_dir(record.name) / RECORD, tomli_w.dumps(record.to_toml()).encode())

    def load(self, name: str, cache=None) -> Record | None:
        """Container NAME's record, or None; `cache` (all()'s RecordCache) spares parsing
        a record file whose bytes it has parsed before."""
        try:
            # a plain string, not container_dir(): pathlib's joins cost a third of reading
            # a thousand records for ps
            with open(f"{self.dir}/{name}/{RECORD}", "rb") as f:
                data = f.read()
            if cache:
                parsed = cache.parsed(name, data)
            else:
                import tomllib  # only when a record is read: a listing over no records needs none

                parsed = tomllib.loads(data.decode())
            record = Record.from_toml(parsed)
        except FileNotFoundError:
            return None
        except (ValueError, TypeError) as e:  # TOMLDecodeError and UnicodeDecodeError are ValueErrors
            raise TinydockerError(f"corrupt record for container {name}: {e}")
        # the directory's name is the name: a rename killed between moving the directory
        # and rewriting the record still leaves one name
        record.name = name
        return record

    def current(self, record: Record) -> Record | None:
        """The stored record of this container (by id: it may have been renamed since
        `record` was read), or None if it was removed."""
        return self.located(record.name, record.id)

    def located(self, name: str, container_id: str) -> Record | None:
        """Container `container_id`, looked for under `name` first (where it almost always is)."""
        found = self.load(name)
        if found is not None and found.id == container_id:
            return found
        for other, cid in self._ids():
            if cid == container_id:
                return self.load(other)
        return None

    def holds(self, record: Record) -> bool:
        """Whether the store still has this container (not removed)."""
        return self.current(record) is not None

    def rename(self, record: Record, new: str, also=None) -> Record:
        """Give the container a new name, under the lock: its directory moves, then its
        record says so (load() trusts the directory, so a kill between the two is harmless).
        also(record), if given, runs under the same lock (the network's member list)."""
        with self.lock():
            current = self.current(record)
            if current is None:
                raise NoSuchContainer(record.name)
            if current.starting or current.being_committed:
                raise ContainerRunning(f"container {current.name} is being started or committed by another "
                                       "command: try again")
            holder = self.load(new)
            if holder is not None:
                raise TinydockerError(
                    f'Conflict. The container name "/{new}" is already in use by container "{holder.id}". '
                    "You have to remove (or rename) that container to be able to reuse that name.")
            if self.container_dir(new).exists():
                shutil.rmtree(self.container_dir(new))  # a create killed before its record landed
            os.rename(self.container_dir(current.name), self.container_dir(new))
            old, current.name = current.name, new
            current.spec = {**current.spec, "name": new}
            self._write(current)
            if also:
                also(current)
        events.container(self.root, current, "rename", oldName=f"/{old}")
        return current

    def all(self) -> list[Record]:
        from .cache import RecordCache

        cache = RecordCache(self.root)
        records = (self.load(n, cache) for n in visible_entries(self.dir))
        records = [r for r in records if r is not None]
        cache.save()
        return records

    # -- lifecycle ----------------------------------------------------------------------

    def create(self, spec: dict, layers: list[Path], launching: bool = True, also=None) -> Record:
        """Take the name and write the first record, or fail naming the holder of the name;
        `spec` is the container's spec as recorded (ContainerSpec.to_dict(): the store keeps
        it, the engine reads it);
        launching=False for `create`, whose container no process is starting yet. also(),
        if given, runs under the same lock before the record is written (the named volumes
        made: `volume rm` takes that lock, so none can go between them and the record).

        `layers` are the image's layer directories, top first. The upper and work
        directories take the mode and owner of the top layer's root: the upper directory
        *is* the container's `/`, so an image whose `/` is 0555 keeps it.
        """
        # the creating process is the monitor from the start: while it lives, a record still
        # "created" is a container being started, not one a killed `run` left behind
        me = os.getpid()
        name = spec["name"]
        record = Record(id=os.urandom(32).hex(), name=name, image=spec["image"],
                        command=list(spec["argv"]), created=now(), spec=spec, boot_id=proc.boot_id())
        if launching:
            record.monitor_pid, record.monitor_ticks = me, proc.start_ticks(me)
        cdir = self.container_dir(name)
        with self.lock():
            holder = self.load(name)
            if holder is not None:
                raise TinydockerError(
                    f'Conflict. The container name "/{name}" is already in use by container '
                    f'"{holder.id}". You have to remove (or rename) that container to be able to reuse that name.')
            if cdir.exists():
                # a directory without a record: a create that was killed before its record landed
                shutil.rmtree(cdir)
            cdir.mkdir(parents=True)
            for sub in ("upper", "work", "merged", "layers"):
                (cdir / sub).mkdir()
            for i, layer in enumerate(layers):
                os.symlink(layer, cdir / "layers" / str(i))
            if also:
                also()
            like = os.stat(layers[0])
            for sub in ("upper", "work"):
                os.chown(cdir / sub, like.st_uid, like.st_gid)
                os.chmod(cdir / sub, stat.S_IMODE(like.st_mode))
            self._write(record)
        events.container(self.root, record, "create")
        return record

    def lower_dirs(self, name: str) -> list[str]:
        """The overlay's lower directories, relative to the container's directory, top first;
        refused if a layer has gone (removed from the image store by force)."""
        links = self.container_dir(name) / "layers"
        try:
            count = len(os.listdir(links))
        except FileNotFoundError:
            raise TinydockerError(f"container {name} has no image layers (made by an older tinydocker?): "
                                  "remove it and run it again") from None
        for i in range(count):
            if not (links / str(i)).is_dir():
                raise TinydockerError(f"container {name} cannot start: its image's layer "
                                      f"{os.readlink(links / str(i))} is gone")
        from . import stack

        # a container made by an older tinydocker may link a layer twice, which overlayfs refuses
        return [f"layers/{p.name}" for p in stack.overlay_stack([links / str(i) for i in range(count)])]

    def layer_stack(self, name: str) -> list[str]:
        """The container's upper directory, then its image's layers, top first, as full paths:
        the overlay's view, to read the image's files through (its /etc/passwd, say)."""
        cdir = self.container_dir(name)
        return [str(cdir / "upper"), *(str(cdir / d) for d in self.lower_dirs(name))]

    def update(self, record: Record, **changes) -> Record | None:
        """Apply changes to the stored record if it is still this container's, and, when
        `record` names a pid, still this start of it; None otherwise.

        The pid check keeps a late writer (the monitor of an earlier start) from
        overwriting what a newer start recorded.
        """
        with self.lock():
            current = self.current(record)
            if current is None:
                return None
            if record.pid is not None and current.pid != record.pid:
                return None
            for key, value in changes.items():
                setattr(current, key, value)
            self._write(current)
        return current

    # -- commit by promotion (image/commit.py, stack.py) ------------------------------------

    def remove(self, record: Record) -> bool:
        """Give the name back at once (rename under the lock), then delete the files."""
        trash = self.dir / proc.private_name(".trash")
        with self.lock():
            current = self.current(record)
            if current is None:
                return False
            os.rename(self.container_dir(current.name), trash)
        events.container(self.root, current, "destroy")
        _remove_tree(trash)
        return True

    def sweep(self) -> None:
        """Clean what killed processes left: deletions stopped midway (their .trash-*),
        and directories without a record (a `run` killed between its mkdir and its record;
        both happen under the lock, so one seen under the lock is abandoned)."""
        proc.remove_abandoned(self.dir, ".trash")
        with self.lock():
            half_made = [n for n in visible_entries(self.dir) if not (self.dir / n / RECORD).exists()]
            trash = [self.dir / proc.private_name(".trash") for _ in half_made]
            for n, path in zip(half_made, trash):
                os.rename(self.dir / n, path)
        for path in trash:
            _remove_tree(path)

    # -- looking up and observing -----------------------------------------------------------

    def lookup(self, ref: str) -> Record:
        """A container by name, full id or unique id prefix, as docker resolves references."""
        if ref and "/" not in ref and not ref.startswith("."):
            record = self.load(ref)
            if record is not None:
                return record
        prefix = ref.lower()
        matches = [name for name, cid in self._ids() if ref and cid.startswith(prefix)]
        if len(matches) == 1:
            record = self.load(matches[0])
            if record is not None:
                return record
        if len(matches) > 1:
            raise TinydockerError(f"multiple containers match id prefix {ref!r}; use more characters", code=1)
        raise NoSuchContainer(ref)

    def _ids(self):
        """(name, id) of every container, from the first line of each record (where the id
        always is), so that resolving an id prefix does not parse a thousand records."""
        for name in visible_entries(self.dir):
            try:
                with open(self.container_dir(name) / RECORD, "rb") as f:
                    first = f.readline()
            except FileNotFoundError:
                continue
            if first.startswith(b'id = "'):
                yield name, first[6:].split(b'"', 1)[0].decode()
            elif (record := self.load(name)) is not None:
                yield name, record.id

    def cgroup(self, record: Record):
        from .. import cgroups

        if not hasattr(self, "_layout"):
            self._layout = cgroups.layout()  # once per store: ps observes every container
        return cgroups.open_cgroup(record.id, self._layout, record.cgroup)


def _remove_tree(path) -> None:
    # loaded at the first removal only: what every command imports stays small
    from ..linux.idmap import remove_tree

    remove_tree(path)
