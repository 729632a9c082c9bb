"""No cgroup of its own: an ordinary user's container where no cgroup subtree is delegated to
the user (cgroup v1 hosts such as this project's CI machine; on v2, a caller outside the
subtree delegated to it, delegation.py). It runs in the cgroup of whoever
started it, as runc's rootless containers do; what needs a cgroup (a limit, pause, the
accounting of stats) is refused in one line, never silently ignored."""

from ..errors import TinydockerError
from .fs import Usage
from .limits import Limits

WHY = "needs a cgroup of the container's own, and this user has none delegated here (on cgroup v2, systemd " \
      "delegates one to the user's own services: run tinydocker under `systemd-run --user --scope`)"


class Cgroupless:
    version = "none"

    def __init__(self, container_id: str):
        self.id = container_id

    def create(self, limits: Limits, devices: list[str] | None = None) -> None:
        if limits.any():
            raise TinydockerError(f"a limit (--memory, --cpus, --pids-limit...) {WHY}")

    def update(self, limits: Limits) -> None:
        raise TinydockerError(f"update {WHY}")

    def join(self, pid: int) -> None:
        pass

    def exists(self) -> bool:
        return False

    def usage(self) -> Usage:
        return Usage(cpu_ns=None, memory=None, memory_limit=None, pids=None)

    def oom_kills(self) -> int:
        return 0

    def pids(self) -> list[int]:
        return []

    def freeze(self) -> None:
        raise TinydockerError(f"pause {WHY}")

    def thaw(self) -> None:
        raise TinydockerError(f"unpause {WHY}")

    def frozen(self) -> bool:
        return False

    def remove(self) -> None:
        pass
