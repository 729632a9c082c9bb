"""The API for ordinary users (issue 23, under way): whether this process is rootless, the
ids its user namespace maps, and `unshare`, podman's way into that namespace."""

from __future__ import annotations

import os
import signal

from ..errors import EXIT_TINYDOCKER, TinydockerError


def rootless() -> bool:
    return os.geteuid() != 0


def refuse_containers(verb: str) -> None:
    """Containers of the engine's own need root until issue 23 lands them: said in one line,
    before anything is made, rather than as the permission error the first cgroup gives."""
    if rootless():
        raise TinydockerError(f"{verb}: containers for a user who is not root are not there yet (issue 23): "
                              "tinydocker-runtime runs a rootless OCI bundle, and `tinydocker unshare` enters "
                              "your user namespace")


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
    ids = mapping()
    made_r, made_w = os.pipe2(os.O_CLOEXEC)
    go_r, go_w = os.pipe2(os.O_CLOEXEC)
    pid = os.fork()
    if pid == 0:  # pragma: no cover - the child execs or exits
        os.close(made_r)
        os.close(go_w)
        code = EXIT_TINYDOCKER
        try:
            sc.unshare(sc.CLONE_NEWUSER | sc.CLONE_NEWNS)
            os.write(made_w, b"1")
            if os.read(go_r, 1) != b"1":
                os._exit(code)  # the parent could not map the ids, and said why
            os.setresgid(0, 0, 0)
            os.setresuid(0, 0, 0)
            code = 127
            os.execvp(command[0], command)
        except FileNotFoundError:
            _say(f"{command[0]}: command not found")
        except PermissionError:
            code = 126
            _say(f"{command[0]}: permission denied")
        except OSError as e:
            _say(f"cannot make a user namespace: {e.strerror}" if code == EXIT_TINYDOCKER else
                 f"{command[0]}: {e.strerror}")
        finally:
            os._exit(code)
    os.close(made_w)
    os.close(go_r)
    failure = None
    if os.read(made_r, 1) == b"1":
        try:
            idmap.write(pid, ids)
        except TinydockerError as e:
            failure = e  # the child reads no go, and leaves
        else:
            os.write(go_w, b"1")
    os.close(go_w)
    os.close(made_r)
    # the command has the terminal's ^C; this process waits for it as a shell does
    old = signal.signal(signal.SIGINT, signal.SIG_IGN)
    try:
        _, status = os.waitpid(pid, 0)
    finally:
        signal.signal(signal.SIGINT, old)
    if failure is not None:
        raise failure
    if os.WIFSIGNALED(status):
        return 128 + os.WTERMSIG(status)
    return os.WEXITSTATUS(status)


def _say(message: str) -> None:
    os.write(2, f"tinydocker: {message}\n".encode(errors="replace"))
