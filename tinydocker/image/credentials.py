"""Registry credentials: kept by `login`, read by `pull` and `push` from wherever users keep them.

tinydocker's own file, where `login` writes and `logout` erases, is in docker's config format:

    {"auths": {"127.0.0.1:5000": {"auth": base64("user:password")}}}

It is $REGISTRY_AUTH_FILE if set (podman's and skopeo's variable), else DATA_ROOT/auth.json.
It holds passwords: it is created 0600 and only ever replaced whole (a temporary file of
mkstemp's renamed over it), so no reader sees half of it and no other user sees any of it.

Looked up, the first that has the registry wins, podman's order after tinydocker's own:

    1. tinydocker's file (above)
    2. $XDG_RUNTIME_DIR/containers/auth.json           podman's login
    3. $XDG_CONFIG_HOME/containers/auth.json (~/.config/…)
    4. $DOCKER_CONFIG/config.json, else ~/.docker/config.json   docker's login

In each, as docker reads its config: `credHelpers[registry]` (a docker-credential-HELPER),
else `auths[registry]`, else `credsStore` (the helper for every registry).
"""

from __future__ import annotations

import base64
import binascii
import contextlib
import errno
import json
import os
from pathlib import Path

from ..errors import TinydockerError
from ..linux.files import write_atomic
from ..state.root import DataRoot
from . import credential_helper

# docker.io's credentials go by every name docker gives the hub
_HUB_ALIASES = ("index.docker.io", "registry-1.docker.io", "registry.hub.docker.com", "docker.io")
_HUB_SERVER = "https://index.docker.io/v1/"   # the key docker's login uses for the hub, and asks helpers for


def auth_file(root: DataRoot) -> Path:
    override = os.environ.get("REGISTRY_AUTH_FILE")
    return Path(override) if override else root.root / "auth.json"


def search_path(root: DataRoot) -> list[Path]:
    """The files credentials are looked up in, in order (see the module's doc)."""
    paths = [auth_file(root)]
    runtime = os.environ.get("XDG_RUNTIME_DIR")
    if runtime:
        paths.append(Path(runtime) / "containers" / "auth.json")
    config = os.environ.get("XDG_CONFIG_HOME") or str(Path.home() / ".config")
    paths.append(Path(config) / "containers" / "auth.json")
    docker = os.environ.get("DOCKER_CONFIG") or str(Path.home() / ".docker")
    paths.append(Path(docker) / "config.json")
    return paths


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
    # nothing planted at a name we could guess (the old `.auth.json.tmp-PID`) is followed
    write_atomic(path, (json.dumps(document, indent=1) + "\n").encode())


@contextlib.contextmanager
def _lock(path: Path):
    """Two logins at once would each write back what they read, losing one of them. The
    lock file's directory may be anyone's (REGISTRY_AUTH_FILE=/tmp/…): filelock, from 3.20.1
    on, opens it never truncated and never through a symbolic link (CVE-2025-68146)."""
    from filelock import FileLock

    lock = path.with_name(f".{path.name}.lock")
    path.parent.mkdir(parents=True, exist_ok=True)
    try:
        held = FileLock(str(lock))
        held.acquire()
    except OSError as e:
        words = "it is a symbolic link" if e.errno == errno.ELOOP else e.strerror  # O_NOFOLLOW met a link
        raise TinydockerError(f"cannot lock the credentials file {path} ({lock}: {words})") from None
    try:
        yield
    finally:
        held.release()


def _decode(entry: dict, path: Path, registry: str) -> tuple[str, str] | None:
    if entry.get("auth"):
        try:
            user, sep, password = base64.b64decode(entry["auth"], validate=True).decode().partition(":")
        except (binascii.Error, UnicodeDecodeError, ValueError, TypeError):
            raise TinydockerError(f"credentials file {path}: the entry for {registry} is damaged; "
                                  f"log in to {registry} again") from None
        return (user, password) if sep else None
    if isinstance(entry.get("username"), str) and isinstance(entry.get("password"), str):
        return entry["username"], entry["password"]  # docker's older, spelled-out form
    return None


def _matching(table: dict, host: str):
    """The value under any key that names `host` (keys may be URLs: https://host/v1/)."""
    if host in table:
        return table[host]
    for key, value in table.items():
        try:
            if normalise(str(key)) == host:
                return value
        except TinydockerError:
            continue
    return None


def _from_file(path: Path, host: str) -> tuple[str, str] | None:
    document = _read(path)
    server = _HUB_SERVER if host == "docker.io" else host
    helpers = document.get("credHelpers")
    helper = _matching(helpers, host) if isinstance(helpers, dict) else None
    if isinstance(helper, str) and helper:
        return credential_helper.get(helper, server)
    entry = _matching(document["auths"], host)
    if isinstance(entry, dict):
        found = _decode(entry, path, host)
        if found:
            return found
    store = document.get("credsStore")
    if isinstance(store, str) and store:
        return credential_helper.get(store, server)
    return None


def lookup(root: DataRoot, registry: str) -> tuple[str, str] | None:
    """(user, password) for `registry` from the first place that has some, or None."""
    host = normalise(registry)
    for path in search_path(root):
        found = _from_file(path, host)
        if found:
            return found
    return None


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
