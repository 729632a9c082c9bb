"""Resource limits as docker's flags mean them, checked against this machine.

A Limits value is plain data (it travels in the spec and the record). Every check that
can fail happens here, before anything of the container exists, so a bad value costs
nothing to undo: `-m 5x`, `--cpus 9` on a 2-CPU machine or `--cpuset-cpus 7` end as one
line and exit 125.
"""

from dataclasses import dataclass
import os
import re

from ..errors import TinydockerError

# docker refuses smaller limits: below this a process cannot even be started reliably
MIN_MEMORY = 6 * 1024 * 1024
# podman's default: a fork bomb in one container must not take the host's pid space
DEFAULT_PIDS_LIMIT = 2048
UNLIMITED = -1
CFS_PERIOD_US = 100_000       # docker's fixed period; --cpus sets the quota against it
MIN_CPU_QUOTA_US = 1000       # the kernel's floor, i.e. --cpus 0.01
MAX_CPU_SHARES = 262144

_SIZE_RE = re.compile(r"(\d+(?:\.\d+)?) ?([kmgtp]?)(?:i?b)?", re.IGNORECASE)
_CPU_LIST_RE = re.compile(r"\d+(-\d+)?(,\d+(-\d+)?)*")


@dataclass
class Limits:
    memory: int | None = None          # bytes
    memory_swap: int | None = None     # bytes of memory + swap; -1 unlimited (docker's meaning)
    memory_reservation: int | None = None  # bytes: the soft limit reclaim pushes a container back to
    cpu_quota: int | None = None       # microseconds per CFS_PERIOD_US, from --cpus
    cpu_shares: int | None = None      # relative weight, docker/v1 scale (2..262144)
    cpuset_cpus: str | None = None
    cpuset_mems: str | None = None
    pids_limit: int | None = None      # None: DEFAULT_PIDS_LIMIT where the pids controller is; -1: unlimited

    def any(self) -> bool:
        """Whether the user asked for a limit (the default pids limit is not one)."""
        return any(v is not None for v in (self.memory, self.memory_swap, self.memory_reservation, self.cpu_quota,
                                          self.cpu_shares, self.cpuset_cpus, self.cpuset_mems)) \
            or self.pids_limit not in (None, UNLIMITED)

    def pids_max(self, have_controller: bool):
        """What pids.max gets: the limit, "max", or None to leave it (the default where
        there is no pids controller; asking for a limit there is an error elsewhere)."""
        if self.pids_limit is None:
            return DEFAULT_PIDS_LIMIT if have_controller else None
        if self.pids_limit == UNLIMITED:
            return "max" if have_controller else None
        return self.pids_limit

    @property
    def effective_pids_limit(self) -> int:
        """As inspect shows it: the limit, 0 for none."""
        if self.pids_limit is None:
            return DEFAULT_PIDS_LIMIT
        return 0 if self.pids_limit == UNLIMITED else self.pids_limit

    @property
    def cpus(self) -> float | None:
        return None if self.cpu_quota is None else self.cpu_quota / CFS_PERIOD_US

    def swap_limit(self) -> int | None:
        """memory+swap in bytes to enforce: docker lets a container swap as much as its memory
        when --memory-swap is not given, and without bound at -1 (None here)."""
        if self.memory is None or self.memory_swap == -1:
            return None
        return self.memory_swap if self.memory_swap is not None else 2 * self.memory


def parse_bytes(text: str, flag: str) -> int:
    """docker's RAMInBytes: '512k', '64m', '1g', '1.5GiB', plain bytes; binary multiples."""
    m = _SIZE_RE.fullmatch(str(text).strip())
    if not m:
        raise TinydockerError(f"invalid size for {flag}: {text!r} (use a number with b, k, m or g)")
    return int(float(m.group(1)) * 1024 ** " kmgtp".index(m.group(2).lower() or " "))


def parse_cpu_list(text: str) -> set[int]:
    """'0', '0-3', '0,2-3' as the kernel's cpuset lists; an empty set if malformed."""
    text = text.strip()
    if not _CPU_LIST_RE.fullmatch(text):
        return set()
    found = set()
    for part in text.split(","):
        low, _, high = part.partition("-")
        low, high = int(low), int(high or low)
        if high < low:
            return set()
        found.update(range(low, high + 1))
    return found


def _online(path: str) -> set[int]:
    try:
        with open(path) as f:
            return parse_cpu_list(f.read())
    except FileNotFoundError:
        return {0}  # a kernel without NUMA has one node, 0


def _cpuset(text: str, what: str, path: str) -> str:
    wanted = parse_cpu_list(text)
    if not wanted:
        raise TinydockerError(f"invalid value {text!r} for {what}: use a list like 0, 0-1 or 0,2")
    available = _online(path)
    if not wanted <= available:
        raise TinydockerError(f"Requested {what} are not available - requested {text}, "
                              f"available: {_format_cpu_list(available)}")
    return text.strip()


def _format_cpu_list(cpus: set[int]) -> str:
    ranges, ordered = [], sorted(cpus)
    for cpu in ordered:
        if ranges and cpu == ranges[-1][1] + 1:
            ranges[-1][1] = cpu
        else:
            ranges.append([cpu, cpu])
    return ",".join(f"{a}" if a == b else f"{a}-{b}" for a, b in ranges)


def build(memory: str | None = None, memory_swap: str | None = None, cpus: str | float | None = None,
          cpu_shares: int | None = None, cpuset_cpus: str | None = None, cpuset_mems: str | None = None,
          pids_limit: int | None = None, memory_reservation: str | None = None) -> Limits:
    """Limits from docker's flag values (strings as typed, or numbers from a script)."""
    limits = Limits()
    # as in docker, 0 means "no limit" for every limit that takes a number
    if memory is not None:
        limits.memory = parse_bytes(memory, "--memory") or None
        if limits.memory is not None and limits.memory < MIN_MEMORY:
            raise TinydockerError("Minimum memory limit allowed is 6MB")
    if memory_swap is not None:
        if str(memory_swap).strip() == "-1":
            limits.memory_swap = -1
        else:
            limits.memory_swap = parse_bytes(memory_swap, "--memory-swap") or None
    if limits.memory_swap is not None:
        if limits.memory is None:
            raise TinydockerError("You should always set the Memory limit when using Memoryswap limit")
        if limits.memory_swap != -1 and limits.memory_swap < limits.memory:
            raise TinydockerError("Minimum memoryswap limit should be larger than memory limit")
    if memory_reservation is not None:
        limits.memory_reservation = parse_bytes(memory_reservation, "--memory-reservation") or None
        if limits.memory_reservation is not None and limits.memory_reservation < MIN_MEMORY:
            raise TinydockerError("Minimum memory reservation allowed is 6MB")
    check_reservation(limits)
    if cpus is not None:
        limits.cpu_quota = _cpu_quota(cpus)
    if cpu_shares is not None:
        if not 0 <= int(cpu_shares) <= MAX_CPU_SHARES:
            raise TinydockerError(f"invalid --cpu-shares {cpu_shares}: use 2 to {MAX_CPU_SHARES} (0 for the default)")
        limits.cpu_shares = int(cpu_shares) or None
    if cpuset_cpus is not None:
        limits.cpuset_cpus = _cpuset(cpuset_cpus, "CPUs", "/sys/devices/system/cpu/online")
    if cpuset_mems is not None:
        limits.cpuset_mems = _cpuset(cpuset_mems, "memory nodes", "/sys/devices/system/node/online")
    if pids_limit is not None:
        if int(pids_limit) < -1:
            raise TinydockerError(f"invalid --pids-limit {pids_limit}: use a positive number, or -1 for unlimited")
        limits.pids_limit = int(pids_limit) if int(pids_limit) > 0 else UNLIMITED  # as docker: 0 is -1
    return limits


def check_reservation(limits: Limits) -> None:
    """docker's rule: the reservation may not be above the limit (equal is fine)."""
    if limits.memory and limits.memory_reservation and limits.memory < limits.memory_reservation:
        raise TinydockerError("Minimum memory limit can not be less than memory reservation limit, see usage")


def _cpu_quota(cpus) -> int | None:
    try:
        value = float(cpus)
    except ValueError:
        raise TinydockerError(f"invalid --cpus {cpus!r}: use a number such as 0.5 or 1.5") from None
    available = os.cpu_count() or 1
    if value == 0:
        return None
    if not 0.01 <= value <= available:
        raise TinydockerError(f"range of CPUs is from 0.01 to {available:.2f}, "
                              f"as there are only {available} CPUs available")
    return max(MIN_CPU_QUOTA_US, round(value * CFS_PERIOD_US))
