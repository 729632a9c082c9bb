"""Errors a user sees as one line; `code` is the process exit status the CLI uses."""

# docker's convention: the daemon/CLI's own failures exit 125, a command that
# cannot be executed 126, one that is not found 127.
EXIT_TINYDOCKER = 125
EXIT_CANNOT_EXEC = 126
EXIT_NOT_FOUND = 127


class TinydockerError(Exception):
    """A failure of tinydocker itself (bad input, missing image, conflict...)."""

    code = EXIT_TINYDOCKER

    def __init__(self, message: str, code: int | None = None):
        super().__init__(message)
        if code is not None:
            self.code = code


class Refused(TinydockerError):
    """A request about something that exists, refused for the state it is in (docker's
    daemon answers these with an error, and its CLI exits 1)."""

    code = 1


class NoSuchContainer(Refused):
    def __init__(self, ref: str):
        super().__init__(f"No such container: {ref}")
        self.ref = ref


class NoSuchImage(Refused):
    def __init__(self, ref: str):
        super().__init__(f"No such image: {ref}")


class NoSuchVolume(Refused):
    def __init__(self, name: str):
        super().__init__(f"No such volume: {name}")


class NotRunning(Refused):
    def __init__(self, name: str, doing: str = ""):
        super().__init__(f"{doing}container {name} is not running")


class ContainerRunning(Refused):
    pass


class InUse(Refused):
    """Something another object still needs (a volume mounted, an image a container runs,
    a network with members): the message says by whom."""


def describe(error: BaseException, operation: str, data_root: str | None = None) -> tuple[str, int]:
    """Any failure as one line for the user, with its exit code.

    tinydocker's own errors say what they mean already. An OSError on a path under the data
    root is about the data root (a file where a directory belongs, a full or read-only disk,
    a lock that cannot be taken). Anything else was not foreseen: it is a bug, said as one.
    """
    if isinstance(error, TinydockerError):
        return str(error), error.code
    if isinstance(error, OSError) and data_root and str(error.filename or "").startswith(data_root):
        return f"data root {data_root} is not usable: {error.strerror}: {error.filename}", EXIT_TINYDOCKER
    return (f"unexpected error in '{operation}' (a bug in tinydocker, please report it): "
            f"{type(error).__name__}: {error}; TINYDOCKER_DEBUG=1 shows the traceback"), EXIT_TINYDOCKER
