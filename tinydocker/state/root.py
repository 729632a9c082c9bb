"""Where tinydocker keeps its data.

Order: an explicit root (--root / the API's `root=`), then $TINYDOCKER_ROOT, then the
source checkout this package runs from (so `state/` and `images/` appear in the project,
as the design card draws them), then /var/lib/tinydocker for an installed copy. A user who
is not root never shares root's: theirs is $XDG_DATA_HOME/tinydocker (~/.local/share).
"""

from dataclasses import dataclass
import os
from pathlib import Path

from ..errors import TinydockerError

INSTALLED_ROOT = Path("/var/lib/tinydocker")

# overlayfs splits its mount options on ',' and its layer lists on ':'; a data root
# holding one of these would silently mean something else to the kernel.
_UNSAFE_IN_ROOT = (",", ":", "\\", "\n")


def user_root() -> Path:
    """An ordinary user's data root, by the XDG rules."""
    data = os.environ.get("XDG_DATA_HOME") or ""
    base = Path(data) if os.path.isabs(data) else Path.home() / ".local" / "share"
    return base / "tinydocker"


def _checkout_root() -> Path | None:
    top = Path(__file__).resolve().parents[2]  # tinydocker/state/root.py -> the checkout
    try:
        text = (top / "pyproject.toml").read_text()
    except OSError:
        return None
    return top if 'name = "tinydocker"' in text else None


@dataclass(frozen=True)
class DataRoot:
    root: Path

    @property
    def state(self) -> Path:
        return self.root / "state"

    @property
    def containers(self) -> Path:
        return self.state / "containers"

    @property
    def images(self) -> Path:
        return self.root / "images"

    @property
    def seccomp_cache(self) -> Path:
        """Compiled seccomp filters by a digest of their rules (security/seccomp.py)."""
        return self.state / "seccomp"

    @property
    def config_file(self) -> Path:
        """The data root's own settings (TOML): `runtime = "runc"`, the default --runtime."""
        return self.root / "config.toml"

    def setting(self, key: str, default=None):
        """One setting of config_file, checked to be a string; default if not set."""
        try:
            with open(self.config_file, "rb") as f:
                text = f.read()
        except FileNotFoundError:
            return default  # the usual case: no parser imported on run's path
        except OSError as e:
            raise TinydockerError(f"cannot read the data root's configuration {self.config_file}: {e.strerror}") from None
        import tomllib

        try:
            settings = tomllib.loads(text.decode())
        except (UnicodeDecodeError, tomllib.TOMLDecodeError) as e:
            raise TinydockerError(f"cannot read the data root's configuration {self.config_file}: {e}") from None
        value = settings.get(key, default)
        if value is not default and not isinstance(value, str):
            raise TinydockerError(f"{self.config_file}: {key} must be a string")
        return value

    @property
    def state_lock(self) -> Path:
        return self.state / ".lock"

    @property
    def images_lock(self) -> Path:
        return self.images / ".lock"


def file_lock(path: Path):
    """The lock guarding one store of the data root (its directory is made on first use)."""
    from .lock import Flock

    path.parent.mkdir(parents=True, exist_ok=True)
    return Flock(path)


def visible_entries(directory: Path) -> list[str]:
    """Names in a store directory, without its dot-entries (lock, temp and trash)."""
    try:
        return sorted(n for n in os.listdir(directory) if not n.startswith("."))
    except FileNotFoundError:
        return []


def resolve(root: "str | os.PathLike | DataRoot | None" = None) -> DataRoot:
    if isinstance(root, DataRoot):
        return root
    if root is None:
        root = os.environ.get("TINYDOCKER_ROOT") or None
    if root is not None:
        path = Path(root).absolute()
    else:
        path = user_root() if os.geteuid() != 0 else (_checkout_root() or INSTALLED_ROOT)
    if any(c in str(path) for c in _UNSAFE_IN_ROOT):
        raise TinydockerError(f"data root {str(path)!r} contains a character overlayfs cannot take (, : \\)")
    return DataRoot(path)
