"""`kill ID [SIGNAL]`: a signal to the container's init, or with --all to every process of
its cgroup; a created, running or paused container only ("container not running" otherwise)."""

import os
import signal

from . import cgroups
from .state import RuntimeError_, Store, status


def parse_signal(text: str) -> int:
    """TERM, SIGTERM, sigterm or 15."""
    if text.isdigit():
        number = int(text)
        if 0 < number < signal.NSIG:
            return number
    else:
        name = text.upper()
        name = name if name.startswith("SIG") else "SIG" + name
        found = getattr(signal.Signals, name, None) if name.isidentifier() else None
        if isinstance(found, signal.Signals):
            return int(found)
        if name.startswith("SIGRTMIN+") or name.startswith("SIGRTMAX-"):
            try:
                offset = int(name[9:])
            except ValueError:
                offset = -1
            base = signal.SIGRTMIN + offset if name.startswith("SIGRTMIN") else signal.SIGRTMAX - offset
            if offset >= 0 and signal.SIGRTMIN <= base <= signal.SIGRTMAX:
                return int(base)
    raise RuntimeError_(f"invalid signal: {text}")


def kill(store: Store, container_id: str, sig: int, everything: bool = False) -> None:
    with store.open(container_id) as locked:
        state = locked.read()
        now = status(locked.path, state, holding_lock=True)
        if everything and now == "stopped":
            # as runc's kill --all: what outlived the init (a shared PID namespace's orphans,
            # which containerd's shim sends SIGKILL after the init's end) still gets it
            cgroups.signal_all(state.leaves, sig)
            return
        if now not in ("created", "running", "paused"):
            raise RuntimeError_("container not running")
        try:
            if everything:
                cgroups.signal_all(state.leaves, sig)
                return
            try:
                os.kill(state.pid, sig)
            except ProcessLookupError:
                raise RuntimeError_("container not running") from None
        finally:
            if now == "paused" and sig == signal.SIGKILL:
                # a v1-frozen process acts on SIGKILL only once thawed; any other signal
                # stays pending until resume (runc thaws for SIGKILL alone too)
                cgroups.thaw(state.leaves)
