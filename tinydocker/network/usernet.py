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
    record      state/usernet: the holder's pid, start time and boot

Lifetime: the holder is made waiting for a go, which its maker writes only once N is set up
and the holder recorded: a maker killed before leaves nothing (the holder reads the end of
the pipe and leaves; slirp4netns, whose --exit-fd only the holder holds, follows). The
holder goes with the data root's last user network (`network rm`, prune, `system reset`).
Killed, it takes N with it, its bridges and every container's veth: those containers run
on unreachable until restarted, and the next start makes a new holder.
"""

import os
import signal
import subprocess

from ..errors import TinydockerError

RECORD = "usernet"
SOCK = RECORD + ".sock"  # slirp4netns's API, for published ports
HOLDER = "sleep"  # its /proc/PID/comm: a pid taken by another program is left alone
TAP = "tap0"


def _record(state) -> str:
    return os.path.join(str(state), RECORD)


def holder(state) -> int | None:
    """The live holder's pid, or None."""
    from ..linux import proc

    try:
        with open(_record(state)) as f:
            pid, ticks, boot = f.read().split()
    except (OSError, ValueError):
        return None
    if proc.is_alive(int(pid), int(ticks), boot) and proc.comm(int(pid)) == HOLDER:
        return int(pid)
    return None


def ensure(state) -> int:
    """The holder's pid, made if there is none live."""
    from pathlib import Path

    from ..state.root import file_lock

    with file_lock(Path(str(state)) / ".usernet.lock"):
        pid = holder(state)
        if pid is None:
            from ..linux import idmap

            pid = idmap.call(lambda: _make(state), start=_forked)
    return pid


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
        raise _gone()
    return None


def _gone() -> TinydockerError:
    return TinydockerError("the namespace of this user's networks has gone (its holder was killed): "
                           "start the container again")


def _inside(pid: int, fn):
    from ..linux import idmap

    try:
        fds = [os.open(f"/proc/{pid}/ns/{kind}", os.O_RDONLY | os.O_CLOEXEC) for kind in ("user", "net")]
    except OSError:  # the holder ended this very moment
        raise _gone() from None
    try:
        return idmap.call(fn, start=lambda child: _forked(child, fds))
    finally:
        for fd in fds:
            os.close(fd)


def publish(state, container_id: str, name: str, address: str, wanted: list[dict], alive) -> list[dict]:
    """-p for a container at `address` on a user network: host ports checked and chosen as for
    the default network (slirp.py); each forwarded by the holder's slirp4netns to the same
    port of N's tap0, which N's nftables map to the container (root's maps, keyed there on
    the port alone). A port N's maps still give a container that is gone (`alive(id)` false:
    a start SIGKILLed before it recorded its ports) is taken back. The bindings, as recorded."""
    from . import firewall, ports, slirp
    from .nftables import NftError

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
        for b in bindings:  # a port the kernel picked is kept: N's map is keyed on it already
            slirp.forward(str(state), SOCK, b, name, False, guest_port=b["host_port"])
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
        return firewall.claimed()

    _follow(state, run(state, release, required=False))


def sweep(state, alive) -> list[str]:
    """`system prune`: the ports of containers that are gone (`alive(id)` false), in N and in
    the tool; their ids."""
    from . import firewall

    def release():
        return firewall.sweep(alive), firewall.claimed()

    dropped, claims = run(state, release, required=False) or ([], None)
    _follow(state, claims)
    return dropped


def _follow(state, claims) -> None:
    """Every forward of the tool that no element of N's maps (`claims`) stands behind, removed."""
    from . import slirp

    if claims is None:
        return  # no holder: its tool, and every port it forwarded, went with it
    held = {(m.split("_")[0], key.rsplit(" ", 1)[-1]) for m, key, _ in claims}
    try:
        listed = slirp.ask(str(state), SOCK, {"execute": "list_hostfwd"})
        entries = listed.get("return", listed).get("entries", [])  # 1.2 answers without "return"
        for e in entries:
            if (e.get("proto"), str(e.get("host_port"))) not in held:
                slirp.ask(str(state), SOCK, {"execute": "remove_hostfwd", "arguments": {"id": e["id"]}})
    except OSError:
        pass  # the tool has just gone with its holder: nothing is forwarded


def holds(state, pid: int) -> bool:
    """Whether process `pid` (a container's init) is in the holder's user namespace."""
    held = holder(state)
    try:
        return held is not None and os.stat(f"/proc/{pid}/ns/user").st_ino == os.stat(f"/proc/{held}/ns/user").st_ino
    except OSError:
        return False


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
    """The holder ended (its namespaces, bridges and slirp4netns with it), and forgotten."""
    import select

    pid = holder(state)
    if pid is not None:
        try:
            fd = os.pidfd_open(pid)
        except OSError:
            fd = None
        if fd is not None:
            try:
                if holder(state) == pid:  # checked once held: that very process
                    signal.pidfd_send_signal(fd, signal.SIGKILL)
                    select.select([fd], [], [], 10)
            finally:
                os.close(fd)
    try:
        os.unlink(_record(state))
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
    """In a forked process (its children, the holder and slirp4netns, are left to init when it
    leaves): the holder, N set up, recorded, then let go. Its pid."""
    import shutil

    from ..linux import idmap, proc
    from ..linux import syscalls as sc
    from ..linux.files import write_atomic
    from . import slirp

    tool, sleep = slirp.tool(), shutil.which(HOLDER, path="/usr/bin:/bin")
    if sleep is None:
        raise TinydockerError(f"the networks of a user who is not root need `{HOLDER}` in /usr/bin or /bin")
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
    log = os.path.join(str(state), RECORD + ".log")
    try:
        os.unlink(os.path.join(str(state), SOCK))  # a killed holder's tool's
    except FileNotFoundError:
        pass
    try:
        ready_r, ready_w = os.pipe2(os.O_CLOEXEC)
        with open(log, "wb") as out:
            subprocess.Popen(
                [tool, "--configure", f"--mtu={slirp.MTU}", "--disable-host-loopback", "--enable-seccomp",
                 f"--exit-fd={exit_r}", f"--ready-fd={ready_w}", f"--api-socket={SOCK}",
                 f"--userns-path=/proc/{pid}/ns/user", "--netns-type=path", f"/proc/{pid}/ns/net", TAP],
                cwd=str(state), pass_fds=(exit_r, ready_w), stdin=subprocess.DEVNULL, stdout=out, stderr=out,
                start_new_session=True).returncode = 0  # init reaps it: this process leaves first
        os.close(exit_r)
        os.close(ready_w)
        try:
            if os.read(ready_r, 1) != b"1":
                with open(log, errors="replace") as f:
                    said = "; ".join(line.strip() for line in f if "experimental" not in line)
                raise TinydockerError(f"cannot start {slirp.TOOL} for this user's networks: "
                                      f"{said or 'it ended at once'}")
        finally:
            os.close(ready_r)
        _inside(pid, _set_up)
        write_atomic(_record(state), f"{pid} {proc.start_ticks(pid)} {proc.boot_id()}\n".encode(), durable=False)
        os.write(go_w, b"1")
        os.read(execd_r, 1)  # the end: it runs `sleep` now, which holder() looks for
    except BaseException:
        os.kill(pid, signal.SIGKILL)
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

