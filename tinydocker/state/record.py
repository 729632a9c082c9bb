"""A container's record: what state/containers/NAME/record.toml holds, and what it says of
the container (docker's status, whether it is starting, being committed or removed)."""

from dataclasses import dataclass, field, fields
from datetime import datetime, timezone

from ..linux import proc

CREATED, RUNNING, EXITED = "created", "running", "exited"
# what docker reports for a container whose end nobody saw (its monitor was killed)
EXIT_UNKNOWN = 255


def now() -> datetime:
    return datetime.now(timezone.utc)


@dataclass
class Record:
    id: str
    name: str
    image: str
    command: list[str]
    created: datetime
    status: str = CREATED
    pid: int | None = None
    start_ticks: int | None = None      # the container's PID 1, identified with `pid`
    boot_id: str | None = None
    monitor_pid: int | None = None      # the tinydocker process waiting on the container
    monitor_ticks: int | None = None
    started: datetime | None = None
    exit_code: int | None = None
    oom_killed: bool = False
    finished: datetime | None = None
    error: str | None = None            # why it failed to start, or why its end went unrecorded
    # a commit promoting the upper to a layer holds the stopped container: pid, ticks and
    # boot of the committing process; then the layer's directory and the new image's id
    committing: dict | None = None
    # the layers (diff ids, bottom first) commits promoted this container's upper to: it
    # stands on them over its image's (stack.py), whether or not their images still exist
    promoted: list[str] | None = None
    # an `rm` under way: pid, ticks and boot of the removing process (no start from then on)
    removing: dict | None = None
    # what this start took on its network: name, ip, prefix, gateway, bridge, ports (network/attach.py)
    network: dict | None = None
    # an ordinary user's: the delegated cgroup v2 subtree its last start's cgroup was made in,
    # where commands started outside that subtree (an ssh login's) find it again
    cgroup: str | None = None
    spec: dict = field(default_factory=dict)
    restart_count: int = 0              # starts by its --restart policy since the last start by hand
    stopped_by_user: bool = False       # `stop` or `kill`: the policy does not restart it (docker's rule)
    # the monitor's finisher waiting out the policy's back-off before a restart: its pid, ticks, boot
    restart_wait: dict | None = None
    # ends within 10 s of their start in a row: the back-off doubles with each (docker's
    # rule), and a longer run starts it again from 0.1 s
    quick_ends: int = 0
    # seen, never stored: whether the running container's cgroup is frozen (pause); the
    # freezer itself is the truth, whatever killed process paused it
    paused: bool = field(default=False, metadata={"seen": True})

    @property
    def short_id(self) -> str:
        return self.id[:12]

    @property
    def image_id(self) -> str:
        """The id (sha256:…) of the image the container was made from."""
        return self.spec.get("image_id", "")

    def to_toml(self) -> dict:
        return {f.name: getattr(self, f.name) for f in fields(self)
                if getattr(self, f.name) is not None and not f.metadata.get("seen")}

    @classmethod
    def from_toml(cls, data: dict) -> "Record":
        return cls(**{k: v for k, v in data.items() if k in _STORED})

    def container_alive(self) -> bool:
        return proc.is_alive(self.pid, self.start_ticks, self.boot_id)

    def monitor_alive(self) -> bool:
        return proc.is_alive(self.monitor_pid, self.monitor_ticks, self.boot_id)

    @property
    def state(self) -> str:
        """docker's State.Status: created, running, paused, restarting or exited."""
        if self.status == RUNNING:
            return "paused" if self.paused else RUNNING
        if self.status == EXITED and self.restart_wait and holder_alive(self.restart_wait):
            return "restarting"
        return self.status

    @property
    def starting(self) -> bool:
        """Created and its monitor alive: a `run` or `start` is launching it right now (a
        "created" record whose monitor is dead is what a killed one left behind)."""
        return self.status == CREATED and self.monitor_alive()

    @property
    def being_committed(self) -> bool:
        return holder_alive(self.committing)

    @property
    def being_removed(self) -> bool:
        return holder_alive(self.removing)


def holder_alive(holder: dict | None) -> bool:
    """Whether the process a hold names (pid, ticks, boot) still lives: a killed one's hold lapses."""
    return bool(holder) and proc.is_alive(holder.get("pid"), holder.get("ticks"), holder.get("boot_id"))


# the fields a record file holds (ps reads a thousand records: worked out once, not per record)
_STORED = frozenset(f.name for f in fields(Record) if not f.metadata.get("seen"))
