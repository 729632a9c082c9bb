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


class NoSuchContainer(TinydockerError):
    code = 1

    def __init__(self, ref: str):
        super().__init__(f"No such container: {ref}")
        self.ref = ref


class ContainerRunning(TinydockerError):
    code = 1
