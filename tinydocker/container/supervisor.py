"""The resident part of a detached container: its log while it runs, then its end.

The supervisor process launches the container (runtime._supervise) and then execs this
file as a fresh interpreter, `python -S supervisor.py ROOT NAME ID PID REMOVE LOG LIMITS ERROR FDS PATH`,
with nothing imported beyond what waiting needs: while the container runs, this is what
stays resident for it. It is deliberately not `-m tinydocker.supervisor`, which would load
the package and its dependencies for the container's whole life.

The container's output pipes (or its pty) are copied into LOG (see logfile.py, a sibling
this program imports without the package; LIMITS is "MAX_SIZE:MAX_FILES", LOG "" for none).

Once PID 1 has ended and its output is drained, tinydocker proper is imported to record
the exit (code, OOM kill, time), remove the cgroup and, with --rm, the container: the
same ending an attached `run` has. tinydocker is imported from beside this file, whatever
the install mode made of the caller's sys.path (an editable install's import hook is no
path entry); the caller's path still serves for the dependencies. If recording the end
fails, the reason goes into ERROR (PID, a newline, the reason), which the next command
that settles the record shows as its State.Error.
"""

import os
import select
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from logfile import LogWriter, write_all  # noqa: E402 - the sibling file, not the package's module

# tinydocker/container/supervisor.py -> the directory that holds the tinydocker package
PACKAGE_PARENT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def pump(outputs: dict, pid: int, log: LogWriter) -> None:
    """Copy the container's output into the log until every writer is gone."""
    pidfd = os.pidfd_open(pid)
    ended = False
    while outputs:
        watch = list(outputs) + ([] if ended else [pidfd])
        # When PID 1 ends, the kernel ends its whole PID namespace and the pipes reach EOF.
        # A writer outside it could hold one open for ever: after a quiet second, stop.
        readable = select.select(watch, [], [], 1.0 if ended else None)[0]
        if not readable:
            break
        for fd in readable:
            if fd == pidfd:
                ended = True
                continue
            try:
                data = os.read(fd, 65536)
            except OSError:  # EIO: a pty whose every slave end is closed
                data = b""
            if data:
                log.write(outputs[fd], data)
            else:
                del outputs[fd]
                os.close(fd)
    os.close(pidfd)


def main(argv: list[str]) -> None:
    root, name, container_id, pid, remove, log_path, limits, error_path, fds, path = argv[1:11]
    outputs = {}
    for item in fds.split(","):
        fd, stream = item.split(":")
        outputs[int(fd)] = stream.encode()
    max_size, max_files = map(int, limits.split(":"))
    log = LogWriter(log_path or None, max_size, max_files)
    pump(outputs, int(pid), log)
    log.close()
    try:
        sys.path[:] = [PACKAGE_PARENT] + path.split(os.pathsep)
        from tinydocker.container.runtime import finish_detached

        finish_detached(root, name, container_id, int(pid), remove == "1")
    except BaseException as e:  # noqa: BLE001 - whatever it is, it must not be lost
        keep_error(error_path, pid, f"{type(e).__name__}: {e}")
        raise


def keep_error(error_path: str, pid: str, what: str) -> None:
    """Leave the reason beside the record: the next command that settles the record as
    exited (255: nobody recorded the end) shows it as State.Error."""
    message = f"{pid}\nthe supervisor could not record the end of the container: {what}"
    try:
        fd = os.open(error_path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_CLOEXEC, 0o600)
    except OSError:
        return  # the container was removed meanwhile: there is nobody left to tell
    try:
        write_all(fd, message.encode(errors="replace"))
    finally:
        os.close(fd)


if __name__ == "__main__":
    main(sys.argv)
