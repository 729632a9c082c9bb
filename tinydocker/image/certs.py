"""A registry's TLS trust, where docker and podman users keep it: containers-certs.d(5).

    CERTS_D/HOST[:PORT]/ca.crt, *.crt     CAs trusted for that registry (besides the system's)
    CERTS_D/HOST[:PORT]/NAME.cert + NAME.key   a client certificate and its key

The directories searched, in order: DATA_ROOT/certs.d (tinydocker's own), then each of
$TINYDOCKER_CERTS_D (colon-separated; it replaces the next two, for tests and odd setups),
else /etc/containers/certs.d and /etc/docker/certs.d.
"""

from __future__ import annotations

import os
from pathlib import Path
import ssl

from ..errors import TinydockerError

_SYSTEM = ("/etc/containers/certs.d", "/etc/docker/certs.d")


def search_path(data_root: Path | None) -> list[Path]:
    dirs = [data_root / "certs.d"] if data_root is not None else []
    override = os.environ.get("TINYDOCKER_CERTS_D")
    dirs += [Path(d) for d in (override.split(":") if override is not None else _SYSTEM) if d]
    return dirs


def host_dirs(host: str, data_root: Path | None) -> list[Path]:
    """The certs.d directories that exist for `host` (HOST[:PORT], as in image names)."""
    return [d / host for d in search_path(data_root) if (d / host).is_dir()]


def context(host: str, dirs: list[Path], verify: bool) -> ssl.SSLContext:
    """The one TLS context of a client to `host` (building one costs ~20 ms: never per connection)."""
    ctx = ssl.create_default_context()
    if not verify:
        ctx.check_hostname = False
        ctx.verify_mode = ssl.CERT_NONE
    for d in dirs:
        try:
            names = sorted(os.listdir(d))
        except OSError as e:
            raise TinydockerError(f"cannot read the certificates of {host} in {d}: {e.strerror}") from None
        for name in names:
            path = d / name
            try:
                if name.endswith(".crt") and verify:
                    ctx.load_verify_locations(cafile=str(path))
                elif name.endswith(".cert"):
                    key = path.with_suffix(".key")
                    if not key.exists():
                        raise TinydockerError(f"client certificate {path} of {host} has no key {key.name} beside it")
                    ctx.load_cert_chain(str(path), str(key))
                elif name.endswith(".key") and not path.with_suffix(".cert").exists():
                    raise TinydockerError(f"client key {path} of {host} has no certificate {path.stem}.cert beside it")
            except (ssl.SSLError, OSError) as e:
                words = getattr(e, "reason", None) or getattr(e, "strerror", None) or str(e)
                raise TinydockerError(f"certificate {path} of {host} is unusable: {words}") from None
    return ctx
