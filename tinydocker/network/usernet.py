"""An ordinary user's own networks (issue 23): their bridges in one network namespace of the
user's, where the user's containers on them reach each other by name.

A user can move a veth only between namespaces it holds CAP_NET_ADMIN over, which two
containers in user namespaces of their own (siblings) never share. So, as podman's rootless
network namespace does, a data root's user networks live in a namespace held by a process:

    holder      `sleep infinity`, root of a user namespace U with the user's mapping and of
                a network namespace N in it: N has the networks' bridges and nftables table
                (root's code, run there as U's root), and a way out through slirp4netns
                (tap0, 10.0.2.100, NATed as root's host NATs its bridges)
    containers  made in U itself (the runtime joins it by path), with network namespaces of
                their own owned by U, into which the engine, entering U and N, plugs veths
    record      state/usernet: the holder's pid, start time and boot, its tool's pid and
                start time; the tool's API socket is state/usernet-PID.sock

Lifetime: the holder is made waiting for a go, which its maker writes only once N is set up
and the holder recorded: a maker killed before leaves nothing (the holder reads the end of
the pipe and leaves; slirp4netns, whose --exit-fd only the holder holds, follows). The
holder goes with the data root's last user network (`network rm`, prune, `system reset`).
Killed, it takes N with it, its bridges and every container's veth: those containers run
on unreachable until restarted, and the next start makes a new holder.
"""

import os
import signal

from ..errors import TinydockerError

RECORD = "usernet"
HOLDER = "sleep"  # its /proc/PID/comm: a pid taken by another program is left alone
TAP = "tap0"


def _record(state) -> str:
    return os.path.join(str(state), RECORD)


def _sock(pid: int) -> str:
    """The tool's API socket, in state/: one per holder, since a tool leaving unlinks its own."""
    return f"{RECORD}-{pid}.sock"


def _members(state) -> tuple[int, int, str, int, int] | None:
    """(holder pid, its start ticks, boot, tool pid, its start ticks) as recorded."""
    try:
        with open(_record(state)) as f:
            pid, ticks, boot, tool, tool_ticks = f.read().split()
        return int(pid), int(ticks), boot, int(tool), int(tool_ticks)
    except (OSError, ValueError):
        return None


def holder(state) -> int | None:
    """The live holder's pid, or None."""
    from ..linux import proc

    members = _members(state)
    if members and proc.is_alive(*members[:3]) and proc.comm(members[0]) == HOLDER:
        return members[0]
    return None


def processes(state) -> set[int]:
    """The holder's and its tool's pids, as recorded (a monitor they were left to as its
    children does not wait for them to end before it leaves idle)."""
    members = _members(state)
    return {members[0], members[3]} if members else set()


def ensure(state) -> int:
    """The holder's pid, made if there is none live."""
    with _lock(state):
        pid = holder(state)
        if pid is None:
            from ..linux import idmap

            pid = idmap.call(lambda: _make(state), start=_forked)
    return pid


def _lock(state):
    from pathlib import Path

    from ..state.root import file_lock

    return file_lock(Path(str(state)) / ".usernet.lock")


def gone(code: int = 125) -> TinydockerError:
    return TinydockerError("the namespace of this user's networks has gone (its holder was killed): "
                           "start the container again", code=code)


def run(state, fn, required: bool = True):
    """fn() as root of U, in N, in a forked process (idmap.call): its result. Without a live
    holder there is nothing of N to touch: None, or (`required`) an error."""
    pid = holder(state)
    if pid is not None:
        try:
            return _inside(pid, fn)
        except TinydockerError:
            if holder(state) == pid:
                raise  # fn's own failure
            # else the holder ended meanwhile (a `network rm`, a reset, a kill), N with it
    if required:
        raise gone()
    return None


def run_for(state, container_pid: int, fn):
    """run(), for a container's init (`container_pid`) that must be in this holder's U: a holder
    killed and made anew since the container was made has another N, not the container's."""
    if not holds(state, container_pid):
        raise gone()
    return run(state, fn)


def _inside(pid: int, fn):
    from ..linux import idmap

    try:
        fds = [os.open(f"/proc/{pid}/ns/{kind}", os.O_RDONLY | os.O_CLOEXEC) for kind in ("user", "net")]
    except OSError:  # the holder ended this very moment
        raise gone() from None
    try:
        return idmap.call(fn, start=lambda child: _forked(child, fds))
    finally:
        for fd in fds:
            os.close(fd)


def publish(state, container_id: str, name: str, address: str, wanted: list[dict], alive) -> list[dict]:
    """-p for a container at `address` on a user network: host ports checked and chosen as for
    the default network (slirp.py); each forwarded by the holder's slirp4netns to the same
    port of N's tap0, which N's nftables map to the container (root's maps, keyed there on
    the port alone: two containers cannot publish one port on two host addresses). A port
    a container that is gone (`alive(id)` false: a start SIGKILLed before it recorded its
    ports) still holds is taken back. The bindings, as recorded."""
    from . import firewall, ports, slirp
    from .nftables import NftError

    try:
        bindings, _ = slirp.host_ports(wanted)
    except TinydockerError:
        sweep(state, alive)  # held by the tool for a container that is gone, perhaps: once more
        bindings, _ = slirp.host_ports(wanted)
    inner = [{**b, "host_ip": ""} for b in bindings]

    def claim():
        try:
            firewall.publish(container_id, address, inner)
        except NftError:
            firewall.sweep(alive)
            claims = firewall.claimed()
            for b in inner:
                if firewall.clashes(b, claims):
                    raise ports.in_use(b) from None
            firewall.publish(container_id, address, inner)

    try:
        run(state, claim)
        pid = holder(state)
        for b in bindings:  # a port the kernel picked is kept: N's map is keyed on it already
            slirp.forward(str(state), _sock(pid), b, name, False, guest_port=b["host_port"])
    except OSError as e:  # the tool went with its holder, killed this very moment
        unpublish(state, container_id)
        raise TinydockerError(f"cannot publish the ports of container {name}: {e.strerror or e}") from None
    except BaseException:
        unpublish(state, container_id)
        raise
    return bindings


def unpublish(state, container_id: str) -> None:
    """The container's ports given back, in N and in the tool; with them any forward that no
    element of N's maps stands behind (a start killed between the two)."""
    from . import firewall

    def release():
        firewall.unpublish(container_id)
        return None, firewall.claimed()

    _release(state, release)


def sweep(state, alive) -> list[str]:
    """`system prune`: the ports of containers that are gone (`alive(id)` false), in N and in
    the tool; their ids."""
    from . import firewall

    def release():
        return firewall.sweep(alive), firewall.claimed()

    return _release(state, release) or []


def _release(state, release):
    """release() in N, returning (its result, N's claims left); then every forward of the tool
    that no claim stands behind is removed. The forwards are listed first: one a concurrent
    start adds after the listing is not judged, and one listed was added after its claim."""
    from . import slirp

    pid = holder(state)
    if pid is None:
        return None  # no holder: its tool, and every port it forwarded, went with it
    try:
        listed = slirp.ask(str(state), _sock(pid), {"execute": "list_hostfwd"})
    except OSError:
        listed = {}  # the tool has just gone with its holder: nothing is forwarded
    answer = run(state, release, required=False)
    if answer is None:
        return None
    result, claims = answer
    held = {(m.split("_")[0], key.rsplit(" ", 1)[-1]) for m, key, _ in claims}
    try:
        for e in listed.get("return", listed).get("entries", []):  # 1.2 answers without "return"
            if (e.get("proto"), str(e.get("host_port"))) not in held:
                slirp.ask(str(state), _sock(pid), {"execute": "remove_hostfwd", "arguments": {"id": e["id"]}})
    except OSError:
        pass
    return result


def holds(state, pid: int) -> bool:
    """Whether process `pid` (a container's init) is in the holder's user namespace."""
    from ..linux import proc

    held = holder(state)
    return held is not None and proc.same_namespace(f"/proc/{pid}/ns/user", f"/proc/{held}/ns/user")


def user_namespace(state) -> int:
    """U, opened (the runtime joins it by /proc/self/fd/N)."""
    pid = ensure(state)
    try:
        fd = os.open(f"/proc/{pid}/ns/user", os.O_RDONLY | os.O_CLOEXEC)
    except OSError:
        fd = None
    if fd is not None and holder(state) == pid:  # checked once open: that very process's
        return fd
    if fd is not None:
        os.close(fd)
    raise TinydockerError("the namespace of this user's networks went away while a container was being made: "
                          "start it again")


def end(state) -> None:
    """The holder ended and its tool after it (its namespaces, bridges and forwarded ports with
    them), and forgotten: once this returns, their host ports are free."""
    from ..linux import proc
    from . import slirp

    with _lock(state):  # not while a holder is being made and recorded
        members = _members(state)
        if members is None:
            return
        pid, ticks, boot, tool, tool_ticks = members
        proc.end(pid, ticks, boot, HOLDER)
        proc.end(tool, tool_ticks, boot, slirp.TOOL)  # it leaves on its own, at once: waited for
        for path in (_record(state), os.path.join(str(state), _sock(pid))):
            try:
                os.unlink(path)
            except FileNotFoundError:
                pass


def _forked(child, fds=()) -> int:
    """child() in a plain forked process, which first enters the namespaces `fds` (U first:
    only then is it allowed into N)."""
    from ..linux import syscalls as sc

    pid = os.fork()
    if pid == 0:  # pragma: no cover - the child's side
        try:
            for fd, flag in zip(fds, (sc.CLONE_NEWUSER, sc.CLONE_NEWNET)):
                sc.setns(fd, flag)
            child()
        finally:
            os._exit(125)
    return pid


def _make(state) -> int:
    """In a forked process, under the lock: the holder, N set up, recorded, then let go. Its
    pid. The holder and its tool are this process's children, left when it leaves to init
    or to the nearest subreaper (a data root's monitor, which reaps them when they end)."""
    import glob
    import shutil

    from ..linux import idmap, proc
    from ..linux import syscalls as sc
    from ..linux.files import write_atomic
    from . import slirp

    tool, sleep = slirp.tool(), shutil.which(HOLDER, path="/usr/bin:/bin")
    if sleep is None:
        raise TinydockerError(f"the networks of a user who is not root need `{HOLDER}` in /usr/bin or /bin")
    for old in glob.glob(os.path.join(glob.escape(str(state)), _sock("*"))):
        os.unlink(old)  # a killed tool's: under the lock, no holder lives
    go_r, go_w = os.pipe2(os.O_CLOEXEC)
    execd_r, execd_w = os.pipe2(os.O_CLOEXEC)  # its end closes at the holder's exec
    exit_r, exit_w = os.pipe2(os.O_CLOEXEC)  # the holder keeps its end across its exec

    def hold():  # pragma: no cover - root of U, in N
        os.setsid()
        null = os.open(os.devnull, os.O_RDWR)
        for std in (0, 1, 2):
            os.dup2(null, std)
        low = 3  # nothing else of the maker's crosses (its locks above all)
        for kept in sorted((go_r, execd_w, exit_w)):
            os.closerange(low, kept)
            low = kept + 1
        os.closerange(low, os.sysconf("SC_OPEN_MAX"))
        if os.read(go_r, 1) != b"1":
            os._exit(0)
        os.close(go_r)
        os.set_inheritable(exit_w, True)
        os.execv(sleep, [HOLDER, "infinity"])

    pid = idmap.spawn(hold, flags=sc.CLONE_NEWNET)
    os.close(go_r)
    os.close(execd_w)
    os.close(exit_w)
    try:
        target = [f"--userns-path=/proc/{pid}/ns/user", "--netns-type=path", f"/proc/{pid}/ns/net", TAP]
        child, ready_r = slirp.spawn(tool, str(state), RECORD + ".log", _sock(pid), exit_r, target)
        slirp.ready(ready_r, str(state), RECORD + ".log", child, "this user's networks")
        _inside(pid, _set_up)
        facts = f"{pid} {proc.start_ticks(pid)} {proc.boot_id()} {child.pid} {proc.start_ticks(child.pid)}\n"
        write_atomic(_record(state), facts.encode(), durable=False)
        os.write(go_w, b"1")
        os.read(execd_r, 1)  # the end: it runs `sleep` now, which holder() looks for, or it failed to
        if holder(state) != pid:
            raise TinydockerError(f"the holder of this user's networks could not run {sleep}")
    except BaseException:
        os.kill(pid, signal.SIGKILL)  # its tool follows it (exit-fd)
        try:
            os.unlink(_record(state))
        except FileNotFoundError:
            pass
        raise
    finally:
        os.close(go_w)
        os.close(execd_r)
    return pid


def _set_up() -> None:
    """In N: loopback up, forwarding on, the nftables table (its NAT is the way out)."""
    from . import firewall, netlink

    with netlink.Netlink() as nl:
        nl.set_up("lo")
    with open("/proc/sys/net/ipv4/ip_forward", "w") as f:  # N's own: /proc/sys/net is the caller's
        f.write("1")
    firewall.ensure_table()
