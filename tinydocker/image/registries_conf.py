"""containers-registries.conf(5), version 2: what podman users already say about registries.

    [[registry]]
    prefix = "example.com/foo"          # the names this entry is for (default: location)
    location = "127.0.0.1:5000/bar"     # where they really are
    insecure = true                     # plain HTTP, or TLS unverified
    blocked = true                      # never pulled from
    [[registry.mirror]]
    location = "mirror.local/foo"       # tried first, in order; `pull-from-mirror`: all, digest-only, tag-only
    insecure = true

    [aliases]
    "myimage" = "example.com/foo/myimage"   # a short name's full name

Read: $CONTAINERS_REGISTRIES_CONF alone when set (what podman honours, and what tests use);
else $XDG_CONFIG_HOME/containers/registries.conf if there is one, else
/etc/containers/registries.conf, then the .conf files of the registries.conf.d beside
each read, in name order, later ones overriding (entries with the same prefix replaced).
`unqualified-search-registries` is not used: a short name without an alias is docker.io's,
as docker users expect.
"""

from __future__ import annotations

from dataclasses import dataclass, field
import os
from pathlib import Path

from ..errors import TinydockerError

_SYSTEM = Path("/etc/containers/registries.conf")


@dataclass
class Endpoint:
    location: str                  # HOST[:PORT][/PATH]
    insecure: bool = False
    pull_from_mirror: str = "all"


@dataclass
class Registry:
    prefix: str
    location: str
    insecure: bool = False
    blocked: bool = False
    mirrors: list[Endpoint] = field(default_factory=list)

    def matches(self, name: str) -> bool:
        if self.prefix.startswith("*."):
            host = name.split("/", 1)[0]
            return host.endswith(self.prefix[1:])
        return name == self.prefix or name.startswith(self.prefix + "/")


@dataclass
class Config:
    registries: dict[str, Registry] = field(default_factory=dict)   # by prefix
    aliases: dict[str, str] = field(default_factory=dict)

    def find(self, name: str) -> Registry | None:
        """The entry for a repository (HOST/PATH) or a host: the longest prefix that matches."""
        found = [r for r in self.registries.values() if r.matches(name)]
        return max(found, key=lambda r: len(r.prefix), default=None)

    def endpoints(self, repository: str, by_digest: bool) -> list[tuple[str, bool]]:
        """Where to pull `repository` from, in order: (HOST/PATH, insecure); the last is the
        registry itself, the others its mirrors."""
        entry = self.find(repository)
        if entry is None:
            return [(repository, False)]
        if entry.blocked:
            raise TinydockerError(f"registry {repository.split('/', 1)[0]} is blocked in registries.conf")

        def moved(location: str) -> str:
            if entry.prefix.startswith("*.") or not location:
                return repository
            return location + repository[len(entry.prefix):]

        wanted = "digest-only" if by_digest else "tag-only"
        out = [(moved(m.location), m.insecure) for m in entry.mirrors
               if m.pull_from_mirror in ("all", "", wanted)]
        return out + [(moved(entry.location), entry.insecure)]

    def insecure(self, host: str) -> bool:
        entry = self.find(host)
        return entry is not None and entry.insecure

    def alias(self, short: str) -> str | None:
        return self.aliases.get(short)


def _files() -> list[Path]:
    override = os.environ.get("CONTAINERS_REGISTRIES_CONF")
    if override:
        return [Path(override)]
    user = Path(os.environ.get("XDG_CONFIG_HOME") or Path.home() / ".config") / "containers" / "registries.conf"
    main = user if user.exists() else _SYSTEM
    dirs = [user.with_name("registries.conf.d")] if main == user else \
        [_SYSTEM.with_name("registries.conf.d"), user.with_name("registries.conf.d")]
    files = [main]
    for d in dirs:
        try:
            files += [d / n for n in sorted(os.listdir(d)) if n.endswith(".conf")]
        except OSError:
            pass
    return files


def _bool(value, path: Path, what: str) -> bool:
    if not isinstance(value, bool):
        raise TinydockerError(f"registries.conf {path}: {what} is not true or false")
    return value


def _merge(config: Config, document: dict, path: Path) -> None:
    if "registries" in document and isinstance(document["registries"], dict):
        raise TinydockerError(f"registries.conf {path} is in the old version 1 format: tinydocker reads version 2")
    for table in document.get("registry", []):
        if not isinstance(table, dict):
            raise TinydockerError(f"registries.conf {path}: [[registry]] is not a table")
        location = str(table.get("location", "")).rstrip("/")
        prefix = str(table.get("prefix") or location).rstrip("/")
        if not prefix:
            raise TinydockerError(f"registries.conf {path}: a [[registry]] has neither prefix nor location")
        mirrors = []
        for m in table.get("mirror", []):
            if not isinstance(m, dict) or not m.get("location"):
                raise TinydockerError(f"registries.conf {path}: a mirror of {prefix} has no location")
            mirrors.append(Endpoint(str(m["location"]).rstrip("/"), _bool(m.get("insecure", False), path, "insecure"),
                                    str(m.get("pull-from-mirror", "all"))))
        config.registries[prefix] = Registry(prefix, location, _bool(table.get("insecure", False), path, "insecure"),
                                             _bool(table.get("blocked", False), path, "blocked"), mirrors)
    aliases = document.get("aliases", {})
    if not isinstance(aliases, dict):
        raise TinydockerError(f"registries.conf {path}: [aliases] is not a table")
    config.aliases.update({str(k): str(v) for k, v in aliases.items()})


_cached: Config | None = None


def load() -> Config:
    """The configuration, read once a process."""
    global _cached
    if _cached is None:
        import tomllib  # only a pull or push reads it

        config = Config()
        for path in _files():
            try:
                with open(path, "rb") as f:
                    document = tomllib.load(f)
            except FileNotFoundError:
                continue
            except OSError as e:
                raise TinydockerError(f"registries.conf {path} is unreadable: {e.strerror}") from None
            except tomllib.TOMLDecodeError as e:
                raise TinydockerError(f"registries.conf {path} is not valid TOML: {e}") from None
            _merge(config, document, path)
        _cached = config
    return _cached


def resolve_alias(name: str) -> str:
    """A short name (no registry) that registries.conf's [aliases] has: the full name it
    stands for, with the tag or digest asked for; any other name as it is."""
    rest, at, digest = name.partition("@")
    slash, colon = rest.rfind("/"), rest.rfind(":")
    bare, tag = (rest[:colon], rest[colon:]) if colon > slash else (rest, "")
    first = bare.split("/", 1)[0]
    if "/" in bare and ("." in first or ":" in first or first == "localhost"):
        return name
    target = load().alias(bare)
    return f"{target}{tag}{at}{digest}" if target else name
