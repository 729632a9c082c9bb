"""The API for ordinary users (issue 23, under way): whether this process is rootless, the
ids its user namespace maps, and `unshare`, podman's way into that namespace."""

from __future__ import annotations

import os
import signal

from ..errors import TinydockerError


def rootless() -> bool:
    return os.geteuid() != 0


def mapping():
    """This user's mapping (linux.idmap.Mapping): root inside is the user, then its ranges."""
    from ..linux.idmap import for_user

    return for_user()


def unshare(command: list[str] | None = None) -> int:
    """Run `command` (default: the user's $SHELL, else /bin/sh) as root of a new user namespace
    with the user's mapping, and a mount namespace of its own; its exit code (128+N if
    killed by signal N). What a user's containers wrote with shifted owners can be removed
    there. Root is refused: it needs no user namespace."""
    from ..linux import idmap
    from ..linux import syscalls as sc

    if not rootless():
        raise TinydockerError("unshare is for a user who is not root: root needs no user namespace")
    command = list(command or [os.environ.get("SHELL") or "/bin/sh"])

    def run():
        code = 127
        try:
            os.execvp(command[0], command)
        except FileNotFoundError:
            _say(f"{command[0]}: command not found")
        except PermissionError:
            code = 126
            _say(f"{command[0]}: permission denied")
        except OSError as e:
            _say(f"{command[0]}: {e.strerror}")
        os._exit(code)

    # the command has the terminal's ^C; this process waits for it as a shell does
    old = signal.signal(signal.SIGINT, signal.SIG_IGN)
    try:
        status = idmap.in_namespace(run, mapping(), sc.CLONE_NEWNS)
    finally:
        signal.signal(signal.SIGINT, old)
    if os.WIFSIGNALED(status):
        return 128 + os.WTERMSIG(status)
    return os.WEXITSTATUS(status)


def _say(message: str) -> None:
    os.write(2, f"tinydocker: {message}\n".encode(errors="replace"))
