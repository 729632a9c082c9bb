"""Registry credentials, kept by `login` and read by `pull` and `push`.

One JSON file in docker's config format, so the same tools can read it:

    {"auths": {"127.0.0.1:5000": {"auth": base64("user:password")}}}

It is $REGISTRY_AUTH_FILE if set (podman's and skopeo's variable), else DATA_ROOT/auth.json.
It holds passwords: it is created 0600 and only ever replaced whole (a temporary file
renamed over it), so no reader sees half of it and no other user sees any of it.
"""

from __future__ import annotations

import base64
import binascii
import json
import os
from pathlib import Path

from ..errors import TinydockerError
from ..state.root import DataRoot, file_lock

# docker.io's credentials go by every name docker gives the hub
_HUB_ALIASES = ("index.docker.io", "registry-1.docker.io", "registry.hub.docker.com", "docker.io")


def auth_file(root: DataRoot) -> Path:
    override = os.environ.get("REGISTRY_AUTH_FILE")
    return Path(override) if override else root.root / "auth.json"


def normalise(server: str) -> str:
    """The key a server's credentials go under: host[:port], as images name registries
    (`https://index.docker.io/v1/`, docker's own key for the hub, is docker.io)."""
    text = server.strip()
    for scheme in ("https://", "http://"):
        if text.startswith(scheme):
            text = text[len(scheme):]
    host = text.split("/", 1)[0]
    if not host:
        raise TinydockerError(f"invalid registry server {server!r}: give HOST[:PORT]")
    return "docker.io" if host in _HUB_ALIASES else host


def _read(path: Path) -> dict:
    try:
        document = json.loads(path.read_text())
    except FileNotFoundError:
        return {"auths": {}}
    except (ValueError, OSError) as e:
        raise TinydockerError(f"credentials file {path} is unreadable: {getattr(e, 'strerror', None) or e}")
    if not isinstance(document, dict) or not isinstance(document.get("auths", {}), dict):
        raise TinydockerError(f"credentials file {path} is damaged: no \"auths\" object")
    document.setdefault("auths", {})
    return document


def _write(path: Path, document: dict) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp-{os.getpid()}")
    # created 0600 from the start: a chmod afterwards would leave a moment it is readable
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    try:
        os.fchmod(fd, 0o600)  # in case a stale tmp of ours existed with other permissions
        with os.fdopen(fd, "w") as f:
            json.dump(document, f, indent=1)
            f.write("\n")
            f.flush()
            os.fsync(f.fileno())
        os.rename(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


def _lock(path: Path):
    # two logins at once would each write back what they read, losing one of them
    return file_lock(path.with_name(f".{path.name}.lock"))


def lookup(root: DataRoot, registry: str) -> tuple[str, str] | None:
    """(user, password) stored for `registry`, or None."""
    path = auth_file(root)
    entry = _read(path)["auths"].get(normalise(registry))
    if not isinstance(entry, dict) or not entry.get("auth"):
        return None
    try:
        user, sep, password = base64.b64decode(entry["auth"], validate=True).decode().partition(":")
    except (binascii.Error, UnicodeDecodeError, ValueError):
        raise TinydockerError(f"credentials file {path}: the entry for {registry} is damaged; "
                              f"log in to {registry} again") from None
    return (user, password) if sep else None


def store(root: DataRoot, server: str, username: str, password: str) -> None:
    path = auth_file(root)
    with _lock(path):
        document = _read(path)
        token = base64.b64encode(f"{username}:{password}".encode()).decode()
        document["auths"][normalise(server)] = {"auth": token}
        _write(path, document)


def remove(root: DataRoot, server: str) -> str:
    """Forget the credentials for `server`; the key they were under. Unknown: error, exit 1."""
    host = normalise(server)
    path = auth_file(root)
    with _lock(path):
        document = _read(path)
        if host not in document["auths"]:
            raise TinydockerError(f"Not logged in to {host}", code=1)
        del document["auths"][host]
        _write(path, document)
    return host
