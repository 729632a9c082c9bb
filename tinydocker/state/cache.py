"""Parsed container records, kept between commands: `ps -a` over a thousand records spent
nine tenths of its time in tomllib (half a millisecond a record), while reading a record's
bytes and comparing them costs microseconds.

One file, state/records.cache, holds {name: (the record file's bytes, the parsed dict)}.
An entry serves only a record whose bytes are the same now, so a rewritten record is parsed
again however fast it changed (an mtime or inode can repeat within a timestamp tick after a
rewrite by rename; the bytes cannot). The bytes themselves rather than a digest of them:
comparing is exact and free, where hashlib's import alone costs ps 4 ms, and the bytes
make the file (1.5 MB for a thousand records) no slower to load.

The cache is derived data: it is written without the state lock, whole (temporary file,
then rename), and only when something was parsed afresh or a record went away. Two
commands racing just replace each other's file, harmlessly, since every entry is checked
against the bytes. A missing, unreadable or damaged cache means: parse everything.
"""

import sys

from .root import DataRoot

NAME = "records.cache"
TMP = ".records.cache"  # TMP-PID-RANDOM: one listing's new cache, until it replaces the old
FORMAT = 1  # bump when what an entry holds changes: an older cache is then ignored whole


def _load(path) -> dict:
    """The entries of the cache file, or {} if there is no usable one.

    Unpickling may only build what tomllib builds (dicts, lists, strings, numbers and the
    datetime types): a planted pickle could otherwise run code in whoever lists containers,
    which a planted TOML record cannot.
    """
    try:
        f = open(path, "rb")
    except OSError:
        return {}  # none yet (an empty data root): pickle is not even imported
    import pickle

    class Unpickler(pickle.Unpickler):
        def find_class(self, module, name):
            if module == "datetime" and name in ("datetime", "date", "time", "timedelta", "timezone"):
                return super().find_class(module, name)
            raise pickle.UnpicklingError(f"{module}.{name} is not allowed in the record cache")

    try:
        with f:
            version, entries = Unpickler(f).load()
    except Exception:  # unreadable, truncated, garbage: all mean "no cache"
        return {}
    return entries if version == FORMAT and isinstance(entries, dict) else {}


def _shared_keys(value):
    """`value` with its dicts' keys interned: every record has the same forty keys, and
    pickle writes an object it has seen once as a back-reference, which makes the cache
    file less than two thirds the size and twice as fast to load."""
    if isinstance(value, dict):
        return {sys.intern(k): _shared_keys(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_shared_keys(v) for v in value]
    return value


class RecordCache:
    """For one listing: parsed(name, bytes) for each record read, then save().

    The dicts handed out are this listing's own (the cache file is read afresh for each
    listing and written before the records are returned), so a caller changing a record
    cannot change what the cache holds.
    """

    def __init__(self, root: DataRoot):
        self.path = root.state / NAME
        self.entries = _load(self.path)
        self.seen: set[str] = set()
        self.changed = False

    def parsed(self, name: str, data: bytes) -> dict:
        """The record file's content `data` as tomllib parses it; a TOMLDecodeError (or
        UnicodeDecodeError) for a corrupt one, as tomllib raises it."""
        import tomllib

        self.seen.add(name)
        entry = self.entries.get(name)
        if type(entry) is tuple and len(entry) == 2 and entry[0] == data and type(entry[1]) is dict:
            return entry[1]
        parsed = _shared_keys(tomllib.loads(data.decode()))
        self.entries[name] = (data, parsed)
        self.changed = True
        return parsed

    def save(self) -> None:
        """Write the cache if this listing parsed something or saw a record gone; never
        fails the listing (a read-only or vanished data root just goes without)."""
        gone = self.entries.keys() - self.seen
        for name in gone:
            del self.entries[name]
        if not (self.changed or gone):
            return
        import pickle

        from ..linux.proc import remove_abandoned

        remove_abandoned(self.path.parent, TMP)  # what a listing killed while writing left
        from ..linux.files import write_atomic

        try:
            write_atomic(self.path, pickle.dumps((FORMAT, self.entries), protocol=pickle.HIGHEST_PROTOCOL))
        except OSError:
            pass  # a cache: the next listing parses again
