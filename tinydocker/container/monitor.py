"""The monitor: one resident process per data root for all its detached containers.

It is what a detached container leaves running besides itself: one process, started by
the first `run -d` (or `start`) that finds none (monitor_client.py), that leaves once its
last container has ended and been recorded. For each start it is asked for, it forks a
launcher, which launches the container as an attached run would (runtime.launch_detached)
and hands the container's output descriptors back; the monitor is a child subreaper, so
the container's init, orphaned when the launcher exits, becomes its child. From then on
the monitor copies each container's output into its log, and once a PID 1 has ended and
its output is drained, forks a finisher that records the end (code, OOM kill, time),
removes the cgroup and, with --rm, the container, and starts it again if its restart
policy says so. The init is reaped only after its end is recorded: until then its pid
cannot be another process's.

Why one process and forks of it: a per-container interpreter costs some 3 MiB of its own
(a bare one 2.3 MiB), and one that imports tinydocker to launch and to record costs its
start-up time for every container. This one imports what launching and recording need
once; its launchers and finishers are copies of it (gc-frozen, so that the collector does
not write to every shared page), and a container costs it a few descriptors and a log.

The monitor holds no lock and does no store work itself (its forks do): nothing it holds
can cross into a container. If it is killed, its containers run on; their records name it
as their monitor, and the next command that finds both gone settles each as docker does
a container whose end nobody saw (exit code 255), as for any killed monitor.
"""

import fcntl
import gc
import os
import resource
import select
import selectors
import signal
import socket
import sys
import time

from ..linux import fds as inherited
from ..linux import proc
from ..state.root import resolve
from .logfile import LogWriter
from .monitor_client import LOCK, at, receive, send
from .stdio import write_all

# a quiet second after PID 1 has ended: its output is drained (a writer outside its PID
# namespace could hold a pipe open for ever)
DRAIN = 1.0
# how long a monitor nobody has asked anything yet waits for its first request
FIRST_REQUEST = 5.0


class Container:
    """One detached container the monitor watches: its init, its output, its log."""

    def __init__(self, facts: dict, fds: list[int]):
        self.id, self.name, self.pid = facts["id"], facts["name"], facts["pid"]
        self.remove, self.error_path = facts["remove"], facts["error_path"]
        self.outputs = {fds[i]: stream.encode() for i, stream in enumerate(facts["streams"])}
        self.input = fds[len(facts["streams"])] if facts["input"] else None
        # an ordinary user's network helper leaves when this, its exit pipe, closes
        self.holder = fds[-1] if facts.get("holder") else None
        self.log = LogWriter(facts["log"] or None, *facts["limits"])
        self.pidfd = os.pidfd_open(self.pid)
        self.ended = False
        self.quiet_until = 0.0  # once ended: when the output counts as drained
        self.finisher = None
        self.unadopted = False  # ended while still its launcher's child: finished once adopted
        # its health check (health.py): docker's first probe comes an interval after the start
        self.health = facts.get("health")
        self.next_probe = time.monotonic() + self.health["interval"] / 1e9 if self.health else None
        self.prober = None

    def close_outputs(self) -> None:
        for fd in self.outputs:
            os.close(fd)
        self.outputs = {}
        self.log.close()


class Monitor:
    def __init__(self, root: str, listener: socket.socket, state_fd: int):
        self.root = root
        self.listener = listener
        self.state = state_fd
        self.me = os.getpid()
        self.selector = selectors.DefaultSelector()
        # by PID 1's pid: a restart's start can come while the last start's finisher runs
        self.containers: dict[int, Container] = {}
        self.by_fd: dict[int, Container] = {}       # by an output's descriptor or its pidfd
        self.finishers: dict[int, Container] = {}   # a finisher's pid: the container it records
        self.probers: dict[int, Container] = {}     # a prober's pid: the container it checks
        self.handovers: set[socket.socket] = set()  # launchers' channels back
        self.launchers: set[int] = set()             # their pids, reaped as they leave
        self.clients: set[socket.socket] = set()    # connections whose request is awaited
        self.asked = False
        self.born = time.monotonic()
        # some six descriptors a container: the soft limit's 1024 would stop at ~170; the
        # containers themselves get the limit this process was given
        self.nofile = resource.getrlimit(resource.RLIMIT_NOFILE)
        resource.setrlimit(resource.RLIMIT_NOFILE, (self.nofile[1], self.nofile[1]))
        wake_r, wake_w = os.pipe2(os.O_NONBLOCK | os.O_CLOEXEC)
        self.wake = wake_r
        signal.set_wakeup_fd(wake_w)
        signal.signal(signal.SIGCHLD, lambda *_: None)  # only to wake the loop
        self.selector.register(listener, selectors.EVENT_READ, self._accept)
        self.selector.register(wake_r, selectors.EVENT_READ, self._children)

    # -- the loop ----------------------------------------------------------------------

    def run(self) -> None:
        while not self._idle():
            for key, _ in self.selector.select(self._timeout()):
                # skip what an earlier handler of this round took care of (a handover read
                # as a launcher left) and may have closed, its number perhaps reused since
                if self.selector.get_map().get(key.fd) is key:
                    key.data(key.fileobj)
            self._drained()
            self._probe()
        self._leave()

    def _timeout(self) -> float | None:
        moments = [c.quiet_until for c in self.containers.values()
                   if c.ended and c.finisher is None and not c.unadopted]
        moments += [c.next_probe for c in self._checked()]
        if not self.asked:
            moments.append(self.born + FIRST_REQUEST)
        return max(0.0, min(moments) - time.monotonic()) if moments else None

    def _checked(self):
        """The running containers with a health check and no probe under way."""
        return [c for c in self.containers.values() if c.health and not c.ended and c.prober is None]

    def _probe(self) -> None:
        """A prober for each container whose check is due: a fork that runs it and records
        the result (health.py); the next one an interval after it ends, as docker's."""
        now = time.monotonic()
        for container in self._checked():
            if now < container.next_probe:
                continue
            pid = os.fork()
            if pid == 0:
                self._in_child(())
                try:
                    from .health import probe

                    probe(self.root, container.id, container.pid, container.health)
                except BaseException:  # noqa: BLE001 - seen with TINYDOCKER_DEBUG (the monitor's stderr)
                    import traceback

                    traceback.print_exc()
                finally:
                    os._exit(0)
            container.prober = pid
            self.probers[pid] = container

    def _waited_for(self) -> list[int]:
        """The children to wait for before leaving idle: not an ordinary user's networks'
        holder and its tool, left to this subreaper by a start it launched, which outlive it."""
        children = proc.children(os.getpid())
        if children and os.geteuid() != 0:
            from ..network import usernet

            kept = usernet.processes(f"/proc/self/fd/{self.state}")
            children = [pid for pid in children if pid not in kept]
        return children

    def _idle(self) -> bool:
        if self.containers or self.finishers or self.handovers or self.clients or self._waited_for():
            return False
        return self.asked or time.monotonic() > self.born + FIRST_REQUEST

    def _leave(self) -> None:
        """Stop listening first, then turn away (unanswered) whoever connected meanwhile:
        an unanswered request is asked again of a monitor started anew."""
        try:
            os.unlink(at(self.state))
        except FileNotFoundError:
            pass  # the data root was removed under us
        self.listener.setblocking(False)
        try:
            while True:
                self.listener.accept()[0].close()
        except BlockingIOError:
            pass

    # -- requests ----------------------------------------------------------------------

    def _accept(self, listener) -> None:
        try:
            conn, _ = listener.accept()
        except BlockingIOError:
            return
        conn.setblocking(False)
        uid = conn.getsockopt(socket.SOL_SOCKET, socket.SO_PEERCRED, 12)
        if int.from_bytes(uid[4:8], sys.byteorder) != os.getuid():
            conn.close()  # only this data root's owner asks anything of its monitor
            return
        self.clients.add(conn)
        self.selector.register(conn, selectors.EVENT_READ, self._request)

    def _request(self, conn) -> None:
        self.selector.unregister(conn)
        self.clients.discard(conn)
        try:
            request, _ = receive(conn)
            if request is None:
                return
            send(conn, {"taken": True})
            self.asked = True
            if request.get("op") == "start":
                self._launch(conn, request)
            elif request.get("op") == "input":
                held = next((c for c in self.containers.values()
                             if c.id == request.get("id") and not c.ended), None)
                if held is not None and held.input is not None:
                    send(conn, {"input": True}, [held.input])
                else:
                    send(conn, {"input": False})
            elif request.get("op") == "close_input":
                # StdinOnce (docker run -i): its attached client's input has ended, and so
                # does the container's once no one else holds a copy
                held = next((c for c in self.containers.values()
                             if c.id == request.get("id") and not c.ended), None)
                if held is not None and held.input is not None:
                    os.close(held.input)
                    held.input = None
                send(conn, {"closed": True})
        except (OSError, ValueError):
            pass  # the asker is gone, or spoke nonsense: nothing was started for it
        finally:
            conn.close()

    def _launch(self, conn, request: dict) -> None:
        """A launcher for the container: it answers the asker and hands the container back."""
        ours, theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_SEQPACKET)
        pid = os.fork()
        if pid == 0:
            self._in_child((conn.fileno(), theirs.fileno()))
            code = 1
            try:
                from .runtime import launch_detached

                answer, facts, fds = launch_detached(resolve(self.root), request["name"], request["id"],
                                                     request["fresh"], self.me)
                if facts is not None:
                    send(theirs, facts, fds)  # watched before the asker hears it has started
                send(conn, answer)
                code = 0
            except BaseException:  # noqa: BLE001 - seen with TINYDOCKER_DEBUG (the monitor's stderr)
                import traceback

                traceback.print_exc()
            finally:
                os._exit(code)
        theirs.close()
        ours.setblocking(False)
        self.launchers.add(pid)
        self.handovers.add(ours)
        self.selector.register(ours, selectors.EVENT_READ, self._handover)

    def _handover(self, channel) -> None:
        self.selector.unregister(channel)
        self.handovers.discard(channel)
        try:
            facts, fds = receive(channel)
        except (OSError, ValueError):
            facts, fds = None, []
        finally:
            channel.close()
        try:
            self._watch(facts, fds)
        finally:
            if not self.handovers:
                self._reap()  # the strays _reap left while a handover was awaited

    def _watch(self, facts: dict | None, fds: list[int]) -> None:
        if facts is None:
            for fd in fds:
                os.close(fd)
            return  # the start failed (the asker was told why), or its launcher was killed
        try:
            container = Container(facts, fds)
        except OSError:  # its PID 1 already reaped (cannot be: see _reap), or no descriptor left
            for fd in fds:
                os.close(fd)
            return
        self.containers[container.pid] = container
        for fd in container.outputs:
            os.set_blocking(fd, False)
            self.by_fd[fd] = container
            self.selector.register(fd, selectors.EVENT_READ, self._output)
        self.by_fd[container.pidfd] = container
        self.selector.register(container.pidfd, selectors.EVENT_READ, self._ended)

    # -- containers --------------------------------------------------------------------

    def _output(self, fd: int) -> None:
        container = self.by_fd[fd]
        try:
            data = os.read(fd, 65536)
        except BlockingIOError:
            return
        except OSError:  # EIO: a pty whose every slave end is closed
            data = b""
        if data:
            container.log.write(container.outputs[fd], data)
            if container.ended:
                container.quiet_until = time.monotonic() + DRAIN
        else:
            self.selector.unregister(fd)
            del container.outputs[fd], self.by_fd[fd]
            os.close(fd)

    def _ended(self, pidfd: int) -> None:
        container = self.by_fd.pop(pidfd)
        self.selector.unregister(pidfd)
        container.ended = True
        container.quiet_until = time.monotonic() + DRAIN

    def _drained(self) -> None:
        """Finish every ended container whose output is drained (or has been quiet)."""
        now = time.monotonic()
        for container in list(self.containers.values()):
            if (container.ended and container.finisher is None and not container.unadopted
                    and (not container.outputs or now >= container.quiet_until)):
                self._finish(container)

    def _finish(self, container: Container) -> None:
        try:
            info = os.waitid(os.P_PID, container.pid, os.WEXITED | os.WNOHANG | os.WNOWAIT)
        except ChildProcessError:
            info = None
        if info is None:  # still its launcher's child: ours once that launcher has left
            container.unadopted = True
            return
        for fd in list(container.outputs):
            self.selector.unregister(fd)
            del self.by_fd[fd]
        container.close_outputs()
        code = info.si_status if info.si_code == os.CLD_EXITED else 128 + info.si_status
        pid = os.fork()
        if pid == 0:
            self._in_child(())
            try:
                from .runtime import finish_detached

                finish_detached(self.root, container.name, container.id, container.pid, code, container.remove)
            except BaseException as e:  # noqa: BLE001 - whatever it is, it must not be lost
                keep_error(container.error_path, container.pid, f"{type(e).__name__}: {e}")
            finally:
                os._exit(0)
        container.finisher = pid
        self.finishers[pid] = container

    def _children(self, wake: int) -> None:
        """Reap what has ended: a finisher (and then the init whose end it recorded), a
        launcher, an init nobody watches (a killed launcher's). A watched init waits."""
        try:
            while os.read(wake, 512):
                pass
        except BlockingIOError:
            pass
        # a launcher hands its container over before it leaves: read what has come
        for channel in list(self.handovers):
            if select.select([channel], [], [], 0)[0]:
                self._handover(channel)
        for container in self.containers.values():
            container.unadopted = False
        self._reap()
        self._drained()  # an init adopted just now may be one waiting to be finished

    def _reap(self) -> None:
        """Reap the finishers, launchers and probers that have ended, and the strays: inits nobody
        watches (a killed launcher's). An init can be adopted before its launcher hands it
        over (the process between them leaves first), and one that ended at once looks
        like a stray: strays wait until no handover is awaited, or its init would be reaped
        before it is watched, its output and end lost."""
        strays = not self.handovers
        for pid in proc.children(os.getpid()):
            if pid in self.containers or not (strays or pid in self.finishers or pid in self.launchers
                                              or pid in self.probers):
                continue
            try:
                reaped, _ = os.waitpid(pid, os.WNOHANG)
            except ChildProcessError:
                continue
            self.launchers.discard(reaped)
            probed = self.probers.pop(reaped, None) if reaped else None
            if probed is not None:
                probed.prober = None
                probed.next_probe = time.monotonic() + probed.health["interval"] / 1e9
            container = self.finishers.pop(reaped, None) if reaped else None
            if container is not None:
                os.waitpid(container.pid, 0)  # recorded: the pid may go
                os.close(container.pidfd)
                if container.input is not None:
                    os.close(container.input)
                if container.holder is not None:
                    os.close(container.holder)
                del self.containers[container.pid]

    def _in_child(self, keep) -> None:
        """A launcher or finisher lets go of all the monitor holds (other containers'
        output, the socket, the lock), of its signal wiring and of its descriptor limit."""
        signal.set_wakeup_fd(-1)
        signal.signal(signal.SIGCHLD, signal.SIG_DFL)
        inherited.drop_inherited(keep)
        resource.setrlimit(resource.RLIMIT_NOFILE, self.nofile)


def keep_error(error_path: str, pid: int, what: str) -> None:
    """Leave the reason beside the record: the next command that settles the record as
    exited (255: nobody recorded the end) shows it as State.Error."""
    message = f"{pid}\nthe monitor could not record the end of the container: {what}"
    try:
        fd = os.open(error_path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_NOFOLLOW | os.O_CLOEXEC, 0o600)
    except OSError:
        return  # the container was removed meanwhile: there is nobody left to tell
    try:
        write_all(fd, message.encode(errors="replace"))
    finally:
        os.close(fd)


def serve(root: str, ready: int) -> None:
    """The monitor's life: become nobody's child, take the data root's monitor lock, listen,
    say "ready" on `ready` (or "taken", if another monitor holds the lock), serve, leave."""
    if os.fork():
        os._exit(0)
    from ..linux import syscalls as sc

    state = resolve(root).state
    state.mkdir(parents=True, exist_ok=True)
    lock = os.open(state / LOCK, os.O_RDWR | os.O_CREAT | os.O_NOFOLLOW | os.O_CLOEXEC, 0o600)
    try:
        fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        write_all(ready, b"taken")
        os._exit(0)
    sc.prctl(sc.PR_SET_CHILD_SUBREAPER, 1)
    state_fd = os.open(state, os.O_PATH | os.O_DIRECTORY | os.O_CLOEXEC)
    path = at(state_fd)
    try:
        os.unlink(path)  # a killed monitor's: the lock says nobody listens there
    except FileNotFoundError:
        pass
    listener = socket.socket(socket.AF_UNIX, socket.SOCK_SEQPACKET | socket.SOCK_CLOEXEC)
    old_umask = os.umask(0o177)
    try:
        listener.bind(path)
    finally:
        os.umask(old_umask)
    listener.listen(128)
    # what every launch and finish needs, imported once and shared with every fork
    from . import bundle, oci, runtime  # noqa: F401 - imported to be shared
    from ..network import endpoint  # noqa: F401
    from ..runtime import create, delete, start  # noqa: F401

    gc.collect()
    gc.freeze()
    monitor = Monitor(root, listener, state_fd)
    write_all(ready, b"ready")
    os.close(ready)
    monitor.run()
    os._exit(0)


if __name__ == "__main__":
    serve(sys.argv[1], int(sys.argv[2]))
