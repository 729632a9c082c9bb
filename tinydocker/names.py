"""Names of containers and networks, as docker takes them: checked here, below the spec that
holds them and the stores that key their records by them."""

import re

from .errors import TinydockerError

NAME_RE = re.compile(r"[a-zA-Z0-9][a-zA-Z0-9_.-]*")


def check_name(name: str) -> str:
    if not NAME_RE.fullmatch(name) or len(name) > 253:
        raise TinydockerError(
            f"Invalid container name ({name!r}), only [a-zA-Z0-9][a-zA-Z0-9_.-] are allowed")
    return name
