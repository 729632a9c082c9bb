"""Image references, normalised as docker does: `alpine` is docker.io/library/alpine:latest.

    [REGISTRY/]PATH[:TAG][@sha256:HEX]

The first component is a registry when it has a '.' or a ':' or is 'localhost'; the
rest is the repository path, lower case. A reference with a digest names content; one
with a tag names whatever the tag points at now.
"""

from __future__ import annotations

from dataclasses import dataclass
import re

from ..errors import TinydockerError

DOCKER_HUB = "docker.io"
_COMPONENT = r"[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*"
_PATH_RE = re.compile(rf"{_COMPONENT}(?:/{_COMPONENT})*")
_TAG_RE = re.compile(r"[\w][\w.-]{0,127}")
_DIGEST_RE = re.compile(r"sha256:[0-9a-f]{64}")
_HOST_RE = re.compile(r"[a-zA-Z0-9](?:[a-zA-Z0-9.-]*[a-zA-Z0-9])?(?::[0-9]+)?|\[[0-9a-fA-F:]+\](?::[0-9]+)?")


@dataclass(frozen=True)
class Reference:
    registry: str
    path: str
    tag: str | None = None
    digest: str | None = None

    @property
    def repository(self) -> str:
        """registry/path: what tags and digests are attached to."""
        return f"{self.registry}/{self.path}"

    def __str__(self) -> str:
        text = self.repository
        if self.tag:
            text += f":{self.tag}"
        if self.digest:
            text += f"@{self.digest}"
        return text

    @property
    def familiar(self) -> str:
        """The repository as docker prints it: docker.io/library/ left out."""
        return familiar(self.repository)


def familiar(repository: str) -> str:
    for prefix in (f"{DOCKER_HUB}/library/", f"{DOCKER_HUB}/"):
        if repository.startswith(prefix):
            return repository[len(prefix):]
    return repository


def parse(text: str, default_tag: str | None = "latest") -> Reference:
    """Parse and normalise; a reference with neither tag nor digest gets `default_tag`."""
    rest, digest = text, None
    if "@" in rest:
        rest, digest = rest.split("@", 1)
        if not _DIGEST_RE.fullmatch(digest):
            raise _invalid(text, "a digest is sha256: and 64 lower-case hex digits")
    tag = None
    slash = rest.rfind("/")
    colon = rest.rfind(":")
    if colon > slash:
        rest, tag = rest[:colon], rest[colon + 1:]
        if not _TAG_RE.fullmatch(tag):
            raise _invalid(text, "a tag is up to 128 letters, digits, '_', '.' and '-'")
    first, _, remainder = rest.partition("/")
    if remainder and ("." in first or ":" in first or first == "localhost"):
        if not _HOST_RE.fullmatch(first):
            raise _invalid(text, f"{first!r} is not a registry host")
        registry, path = first, remainder
    else:
        registry, path = DOCKER_HUB, rest
        if registry == DOCKER_HUB and "/" not in path:
            path = f"library/{path}"
    if not _PATH_RE.fullmatch(path) or len(path) > 255:
        raise _invalid(text, "repository names are lower case: [a-z0-9] parts joined by '.', '_', '-' or '/'")
    if tag is None and digest is None:
        tag = default_tag
    return Reference(registry, path, tag, digest)


def is_id_prefix(text: str) -> bool:
    """An image id or a prefix of it (at least 3 hex digits), with or without sha256:."""
    hex_part = text[7:] if text.startswith("sha256:") else text
    return 3 <= len(hex_part) <= 64 and all(c in "0123456789abcdef" for c in hex_part)


def _invalid(text: str, why: str) -> TinydockerError:
    return TinydockerError(f"invalid reference format {text!r}: {why}")


def familiar_name(name: str) -> str:
    ref = parse(name)
    return f"{ref.familiar}:{ref.tag}" if ref.tag else f"{ref.familiar}@{ref.digest}"
