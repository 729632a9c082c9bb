"""The resident part of a detached container: its log while it runs, then its end.

The supervisor process launches the container (runtime._supervise) and then execs this
file as a fresh interpreter, `python -S supervisor.py ROOT NAME ID PID REMOVE LOG FDS PATH`,
with nothing imported beyond what waiting needs: while the container runs, this is what
stays resident for it. It is deliberately not `-m tinydocker.supervisor`, which would load
the package and its dependencies for the container's whole life.

The container's output pipes (or its pty) are copied into LOG in the CRI log format
(the one podman's k8s-file driver writes), one record per line:

    2026-11-22T17:38:37.636162123Z stdout F a complete line
    2026-11-22T17:38:37.636162123Z stderr P a partial line, continued by the next record

Once PID 1 has ended and its output is drained, tinydocker proper is imported to record
the exit (code, OOM kill, time), remove the cgroup and, with --rm, the container: the
same ending an attached `run` has.
"""

import os
import select
import sys
import time


def timestamp() -> bytes:
    seconds, nanos = divmod(time.time_ns(), 1_000_000_000)
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(seconds)).encode() + b".%09dZ" % nanos


def log_records(stream: bytes, data: bytes) -> bytes:
    stamp = timestamp()
    lines = data.split(b"\n")
    out = [b"%s %s F %s\n" % (stamp, stream, line) for line in lines[:-1]]
    if lines[-1]:
        out.append(b"%s %s P %s\n" % (stamp, stream, lines[-1]))
    return b"".join(out)


def write_all(fd: int, data: bytes) -> None:
    view = memoryview(data)
    while view:
        view = view[os.write(fd, view):]


def pump(outputs: dict, pid: int, log: int) -> None:
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
                write_all(log, log_records(outputs[fd], data))
            else:
                del outputs[fd]
                os.close(fd)
    os.close(pidfd)


def main(argv: list[str]) -> None:
    root, name, container_id, pid, remove, log_path, fds, path = argv[1:9]
    outputs = {}
    for item in fds.split(","):
        fd, stream = item.split(":")
        outputs[int(fd)] = stream.encode()
    try:
        log = os.open(log_path, os.O_WRONLY | os.O_APPEND | os.O_CREAT | os.O_CLOEXEC, 0o640)
    except OSError:
        log = os.open(os.devnull, os.O_WRONLY | os.O_CLOEXEC)  # removed meanwhile: output has nowhere to go
    pump(outputs, int(pid), log)
    os.close(log)
    sys.path[:] = path.split(os.pathsep)
    from tinydocker.container.runtime import finish_detached

    finish_detached(root, name, container_id, int(pid), remove == "1")


if __name__ == "__main__":
    main(sys.argv)
