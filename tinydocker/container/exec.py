"""`exec`: a new process inside a running container."""

import os
import socket

from . import init
from .. import cgroups
from ..errors import NotRunning, TinydockerError
from ..linux import fds, syscalls as sc
from ..state.record import Record
from .process import SignalForwarder, await_start, exit_status, fork_in_pid_namespace, open_namespaces, outcome_of
from .stdio import CapturePipes

_NAMESPACES = ((sc.CLONE_NEWPID, "pid"), (sc.CLONE_NEWCGROUP, "cgroup"), (sc.CLONE_NEWIPC, "ipc"),
               (sc.CLONE_NEWUTS, "uts"), (sc.CLONE_NEWNET, "net"), (sc.CLONE_NEWNS, "mnt"))


def exec_in(record: Record, argv: list[str], env: dict, workdir: str, user: str, confinement: dict,
            group_add: list, interactive: bool = False, tty: bool = False, capture_output: bool = False, input: bytes | None = None):
    """Run a new process inside a running container and wait for it; returns as run does."""
    if tty and capture_output:
        raise TinydockerError("a terminal (-t) and captured output cannot be combined")
    if input is not None:
        interactive = True
    namespaces = open_namespaces(record, dict(_NAMESPACES), NotRunning(record.name))
    try:
        cgroup = cgroups.open_cgroup(record.id)
        orders = {"argv": argv, "env": env, "workdir": workdir, "user": user, "tty": tty,
                  "interactive": interactive, "confinement": confinement,
                  "group_add": group_add}
        pipes = CapturePipes(input) if capture_output else None
        report, child_report = socket.socketpair(socket.AF_UNIX, socket.SOCK_SEQPACKET)
        forwarder = SignalForwarder()
        forwarder.install()
        try:
            pid = fork_in_pid_namespace(lambda: sc.setns(namespaces[sc.CLONE_NEWPID], sc.CLONE_NEWPID))
            if pid == 0:
                report.close()
                if pipes:
                    pipes.in_child()
                fds.drop_inherited((*namespaces.values(), child_report.fileno()))
                init.enter_main(namespaces, cgroup.join, orders, child_report)  # never returns
            child_report.close()
            forwarder.target(pid)
            error, master = await_start(report)
            if pipes:
                pipes.in_parent()
            if master is not None:
                from .terminal import relay

                relay(master, interactive)
            out = pipes.pump(pid) if pipes else None
            code = exit_status(pid)
            os.waitpid(pid, 0)
        finally:
            forwarder.restore()
            report.close()
    finally:
        for fd in namespaces.values():
            os.close(fd)
    return outcome_of(error, code, out)
