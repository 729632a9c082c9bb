"""Plain data classes, as @dataclass makes them, without its start-up cost.

The runtime's verbs are separate processes that engines start several times per container,
and a container's init runs the same model: importing `dataclasses` (with `inspect`) and
generating each class's methods with exec() cost ~45 ms of `tinydocker-runtime run` on this
machine, more than runc takes to run a container. Here a class is given one shared
__init__, __eq__, __repr__ (and __hash__ and read-only fields when frozen) that read its
annotations: nothing is compiled per class.

    @plain(frozen=True)
    class Rlimit:
        type: str
        soft: int = 0
        extra: dict = factory(dict)     # a fresh dict per instance

Construction by keyword or by position in field order; replace(obj, **changes) and
as_dict(obj) (recursive, as dataclasses.asdict) are the module's other two verbs.
"""

_FIELDS = "__plain_fields__"
_DEFAULTS = "__plain_defaults__"


class _Factory:
    __slots__ = ("make",)

    def __init__(self, make):
        self.make = make


def factory(make) -> _Factory:
    """A default made afresh for every instance (dataclasses' default_factory)."""
    return _Factory(make)


def _init(self, *args, **given):
    names = getattr(type(self), _FIELDS)
    if len(args) > len(names):
        raise TypeError(f"{type(self).__name__}() takes {len(names)} arguments, {len(args)} given")
    values = dict(zip(names, args))
    for key, value in given.items():
        if key not in names or key in values:
            raise TypeError(f"{type(self).__name__}() got an unexpected or repeated argument {key!r}")
        values[key] = value
    defaults = getattr(type(self), _DEFAULTS)
    for name in names:
        if name in values:
            value = values[name]
        elif name in defaults:
            value = defaults[name]
            if isinstance(value, _Factory):
                value = value.make()
        else:
            raise TypeError(f"{type(self).__name__}() missing the argument {name!r}")
        object.__setattr__(self, name, value)


def _values(self) -> tuple:
    return tuple(getattr(self, name) for name in getattr(type(self), _FIELDS))


def _eq(self, other):
    if type(other) is not type(self):
        return NotImplemented
    return _values(self) == _values(other)


def _repr(self) -> str:
    inner = ", ".join(f"{name}={getattr(self, name)!r}" for name in getattr(type(self), _FIELDS))
    return f"{type(self).__name__}({inner})"


def _hash(self) -> int:
    return hash(_values(self))


def _read_only(self, name, value):
    raise AttributeError(f"cannot assign to field {name!r} of a frozen {type(self).__name__}")


def plain(cls=None, *, frozen: bool = False):
    """The decorator: @plain or @plain(frozen=True)."""
    def make(cls):
        names = []
        for klass in reversed(cls.__mro__):
            for name in getattr(klass, "__annotations__", {}):
                if name not in names:
                    names.append(name)
        defaults = {}
        for klass in reversed(cls.__mro__):
            defaults.update({n: klass.__dict__[n] for n in names if n in klass.__dict__})
        for name, value in defaults.items():
            if isinstance(value, _Factory) and name in cls.__dict__:
                delattr(cls, name)  # a class attribute would be one object shared by all
        setattr(cls, _FIELDS, tuple(names))
        setattr(cls, _DEFAULTS, defaults)
        cls.__init__ = _init
        cls.__eq__ = _eq
        cls.__repr__ = _repr
        if frozen:
            cls.__hash__ = _hash
            cls.__setattr__ = _read_only
            cls.__delattr__ = _read_only
        else:
            cls.__hash__ = None
        return cls

    return make(cls) if cls is not None else make


def replace(obj, **changes):
    """A copy of `obj` with `changes` (dataclasses.replace)."""
    values = {name: getattr(obj, name) for name in getattr(type(obj), _FIELDS)}
    values.update(changes)
    return type(obj)(**values)


def as_dict(obj):
    """`obj` as plain dicts, lists and values, nested objects included (dataclasses.asdict)."""
    if hasattr(type(obj), _FIELDS):
        return {name: as_dict(getattr(obj, name)) for name in getattr(type(obj), _FIELDS)}
    if isinstance(obj, (list, tuple)):
        return type(obj)(as_dict(v) for v in obj)
    if isinstance(obj, dict):
        return {k: as_dict(v) for k, v in obj.items()}
    return obj
