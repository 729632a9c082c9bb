"""docker's credential helper protocol: `docker-credential-NAME get`, the server on stdin,
`{"ServerURL": …, "Username": …, "Secret": …}` on stdout, or "credentials not found" and
a failure when it has none. What `credsStore` and `credHelpers` in a docker config name."""

from __future__ import annotations

import json
import shutil
import subprocess

from ..errors import TinydockerError

_TIMEOUT = 60   # a helper may ask the user's keyring to unlock: give it time, not for ever


def get(helper: str, server: str) -> tuple[str, str] | None:
    """(user, secret) the helper has for `server`, or None when it has none."""
    program = f"docker-credential-{helper}"
    path = shutil.which(program)
    if path is None:
        raise TinydockerError(f"credential helper {program} (named in a docker config) is not on PATH")
    try:
        done = subprocess.run([path, "get"], input=server.encode(), capture_output=True, timeout=_TIMEOUT)
    except subprocess.TimeoutExpired:
        raise TinydockerError(f"credential helper {program} gave no answer for {server} in {_TIMEOUT} s") from None
    except OSError as e:
        raise TinydockerError(f"credential helper {program} cannot run: {e.strerror}") from None
    out = done.stdout.decode(errors="replace").strip()
    if done.returncode != 0:
        if "credentials not found" in out.lower():
            return None
        words = (out or done.stderr.decode(errors="replace").strip()).splitlines()
        raise TinydockerError(f"credential helper {program} failed for {server}: "
                              f"{words[0] if words else f'exit {done.returncode}'}")
    try:
        answer = json.loads(out)
        user, secret = answer["Username"], answer["Secret"]
        if not isinstance(user, str) or not isinstance(secret, str):
            raise TypeError
    except (ValueError, KeyError, TypeError):
        raise TinydockerError(f"credential helper {program} answered for {server} with no "
                              f"Username and Secret") from None
    return (user, secret) if secret else None
