"""What runs inside the new namespaces, from fork to exec, in the order it happens.

The runtime forks this process as PID 1 of a new PID namespace. It then:

 0. moves itself into the container's cgroup, which the parent made before the fork;
    doing it here rather than from the parent lets the kernel's slow part of a cgroup
    move (an RCU grace period on v1) overlap the parent's writing of the record;
 1. waits for its orders on the spec pipe (the parent writes them only once the state
    record is in place; EOF without orders means the parent died: leave quietly);
 2. takes new mount, UTS, IPC, network and cgroup namespaces (the cgroup namespace is
    rooted at the container's cgroup, joined in step 0) and, on a bridge, makes its veth
    pair (network/endpoint.py);
 3. makes every mount private, so nothing below ever propagates to the host;
 4. mounts the container's overlay and, under it, fresh /proc, /sys, /dev, then its
    bind mounts and volumes (binds.py), each resolved inside the overlay;
 5. pivot_roots into the overlay and detaches the old root;
 6. sets up stdio (a pty of the container's own devpts with -t), the working directory,
    and the environment;
 7. becomes the container's user (looked up in the container's /etc/passwd and group);
 8. execs the command, looking it up on the container's PATH (with --init, forks it and
    stays PID 1 to pass signals on and reap orphans: pid1.py).

Every failure is sent back on the report socket as one JSON message before exiting; a
successful exec closes the socket (it is close-on-exec), which the parent reads as "started".
"""

# Everything the child needs is imported here, at load time: after pivot_root the host's
# Python library is out of reach, and a lazy import there would fail.
import errno
import fcntl
import json
import os
import signal
import socket
import stat
import struct
import termios

from ..errors import EXIT_CANNOT_EXEC, EXIT_NOT_FOUND, EXIT_TINYDOCKER
from ..linux import syscalls as sc
from ..network import endpoint
from ..security import masks, process as security, sysctls
from ..volume import tmpfs
from . import binds, pid1, user

FORWARDED_SIGNALS = (signal.SIGINT, signal.SIGTERM, signal.SIGHUP, signal.SIGQUIT,
                     signal.SIGUSR1, signal.SIGUSR2)


class ExecFailure(Exception):
    def __init__(self, message: str, code: int):
        super().__init__(message)
        self.code = code


def child_main(spec_fd: int, report: socket.socket, join_cgroup) -> None:
    """Entry point in the forked child. Never returns.

    join_cgroup(pid) moves a process into the container's cgroup; 0 means the caller.
    """
    code = EXIT_TINYDOCKER
    try:
        _default_signals()
        join_cgroup(0)
        orders = _read_orders(spec_fd)
        if orders is None:
            os._exit(EXIT_TINYDOCKER)
        _enter_container(orders, report)
        if orders.get("init"):
            pid1.name_self(orders["argv"])
        _become(orders["user"], orders["env"], orders["confinement"], orders.get("group_add", []))
        if orders.get("init"):
            # --init: stay PID 1 and fork the command; its failure to exec is reported below
            pid1.run(orders["tty"], lambda: _exec(orders["argv"], orders["env"]))
        _exec(orders["argv"], orders["env"])
    except ExecFailure as e:
        code = e.code
        _report(report, {"error": str(e), "code": e.code})
    except BaseException as e:  # noqa: BLE001 - whatever it is, the parent must hear of it
        _report(report, {"error": f"container setup failed: {_said(e)}", "code": EXIT_TINYDOCKER})
    os._exit(code)


def enter_main(namespaces: dict, join_cgroup, orders: dict, report: socket.socket) -> None:
    """`exec`'s path into a running container; never returns.

    The parent has forked us into the container's PID namespace already (a PID namespace
    applies only to children). What is left: its cgroup, then its other namespaces, the
    mount namespace last (joining it puts us at the container's root), then stdio, the
    working directory and the exec, as for the container's own command.
    `namespaces` maps a CLONE_* flag to an open /proc/PID/ns/* descriptor.
    """
    code = EXIT_TINYDOCKER
    try:
        # not dumpable until execve: a container process must not reach the host's
        # interpreter through our /proc/PID/exe or our fds while we join (CVE-2019-5736)
        sc.prctl(sc.PR_SET_DUMPABLE, 0)
        _default_signals()
        join_cgroup(0)
        for flag in (sc.CLONE_NEWCGROUP, sc.CLONE_NEWIPC, sc.CLONE_NEWUTS, sc.CLONE_NEWNET, sc.CLONE_NEWNS):
            sc.setns(namespaces[flag], flag)
        _stdio(orders["tty"], orders["interactive"], report)
        try:
            os.chdir(orders["workdir"])
        except OSError as e:
            raise ExecFailure(f"cannot enter working directory {orders['workdir']}: {e.strerror}",
                              EXIT_CANNOT_EXEC) from None
        sc.close_range_cloexec(3)
        _become(orders["user"], orders["env"], orders["confinement"], orders.get("group_add", []))
        _exec(orders["argv"], orders["env"])
    except ExecFailure as e:
        code = e.code
        _report(report, {"error": str(e), "code": e.code})
    except BaseException as e:  # noqa: BLE001
        _report(report, {"error": f"cannot enter the container: {_said(e)}", "code": EXIT_TINYDOCKER})
    os._exit(code)


def _said(error: BaseException) -> str:
    """A failure as words, without Python's "[Errno N]" (syscalls put what failed into strerror)."""
    if isinstance(error, OSError) and error.strerror:
        return error.strerror + (f": {error.filename}" if error.filename else "")
    return f"{type(error).__name__}: {error}"


def _become(spec: str, env: dict, confinement: dict, group_add: list) -> None:
    """The user, inside the container's confinement: the capabilities are cut before the
    switch (which needs CAP_SETUID) and set exactly after it."""
    security.before_user_switch(confinement)
    try:
        user.become(spec, env, group_add)
    except user.UnknownUser as e:
        raise ExecFailure(str(e), EXIT_TINYDOCKER) from None
    security.after_user_switch(confinement, os.getuid())


def _default_signals() -> None:
    """The parent's Python handlers (and its SIGPIPE ignore) must not reach the command."""
    for sig in FORWARDED_SIGNALS + (signal.SIGPIPE, signal.SIGXFSZ, signal.SIGWINCH):
        signal.signal(sig, signal.SIG_DFL)


def frame_orders(orders: dict) -> bytes:
    """The orders as the child reads them: their length first, then the JSON.

    The child must not wait for EOF to know they are complete: when a script starts
    containers from several threads, another thread's child, forked meanwhile, holds a copy
    of this pipe's write end until it execs, and it execs only once its own orders came.
    Two such children would wait on each other for ever."""
    data = json.dumps(orders).encode()
    return struct.pack("<Q", len(data)) + data


def _read_orders(fd: int) -> dict | None:
    """The parent's orders, or None if it gave up before sending them."""
    def exactly(n: int) -> bytes | None:
        chunks = []
        while n:
            chunk = os.read(fd, n)
            if not chunk:
                return None
            chunks.append(chunk)
            n -= len(chunk)
        return b"".join(chunks)

    try:
        header = exactly(8)
        data = exactly(struct.unpack("<Q", header)[0]) if header is not None else None
    finally:
        os.close(fd)
    return json.loads(data) if data is not None else None


def _report(report: socket.socket, message: dict, fds: list[int] = ()) -> None:
    try:
        socket.send_fds(report, [json.dumps(message).encode()], list(fds))
    except OSError:
        pass  # the parent is gone; our exit status is all that is left to say


def _enter_container(o: dict, report: socket.socket) -> None:
    # we joined our cgroup in step 0, so the new cgroup namespace is rooted there and
    # /proc/self/cgroup inside shows "/" rather than the host's layout
    net = o["network"]
    # the network namespace too, unless --network host (or container:NAME, joined instead);
    # endpoint.py wires a bridge's veth
    endpoint.enter(net, lambda extra: sc.unshare(
        sc.CLONE_NEWNS | sc.CLONE_NEWUTS | sc.CLONE_NEWIPC | sc.CLONE_NEWCGROUP | extra))
    # before anything is mounted: no mount of ours may propagate back to the host
    sc.mount("none", "/", None, sc.MS_REC | sc.MS_PRIVATE)
    sc.sethostname(o["hostname"])

    root = o["merged"]
    # the lower directories are short relative names (layers/0:layers/1:…, links to the
    # image's layers, top first) under the container's directory: the mount options
    # must fit in one page, and 100 absolute layer paths would not
    os.chdir(o["lower_base"])
    sc.mount("overlay", root, "overlay", 0,
             f"lowerdir={o['lower']},upperdir={o['upper']},workdir={o['work']}"
             # whatever the host's module defaults: an upper directory that is a plain layer
             # (no metadata-only copies, no redirects) is what commit turns into one
             ",index=off,metacopy=off,redirect_dir=off")
    privileged = o["confinement"]["privileged"]
    _mount_kernel_filesystems(root, privileged, own_network=net["mode"] not in ("host", "container"))
    _mount_cgroupfs(root, o["cgroupfs"], writable=privileged)
    _make_devices(root, o.get("devices", []))
    binds.attach(root, o.get("binds", []))
    for key, value in o.get("sysctls", {}).items():
        # before /proc/sys goes read-only; each is the container's own namespace's (sysctls.py)
        with open(root + sysctls.path(key), "w") as f:
            f.write(value)
    if not privileged:
        masks.apply(root)

    os.chdir(root)
    # pivot_root(".", ".") stacks the old root on top of the new one at "/"; detaching it
    # leaves the overlay as the only thing visible, with no directory left behind for it
    sc.pivot_root(".", ".")
    sc.umount2(".", sc.MNT_DETACH)
    os.chdir("/")

    for entry in o.get("tmpfs", []):
        tmpfs.mount(entry)  # after pivot_root: its path resolves inside the container's root
    _stdio(o["tty"], o["interactive"], report)
    workdir = o["workdir"]
    os.makedirs(workdir, exist_ok=True)  # docker creates a missing -w directory
    if o.get("read_only"):
        # the root only: /dev, /proc, /sys, /dev/shm and tmpfs mounts are mounts of their own
        sc.mount("none", "/", None, sc.MS_REMOUNT | sc.MS_BIND | sc.MS_RDONLY)
    os.chdir(workdir)
    # descriptors a caller handed us without close-on-exec must not reach the command
    sc.close_range_cloexec(3)


def _stdio(tty: bool, interactive: bool, report: socket.socket) -> None:
    """With a tty, fds 0, 1 and 2 become a pty of the container's own devpts, whose master
    goes back to the parent (as with docker, -t alone gives the pty as stdin too: the
    parent then just sends nothing into it); without either, stdin is /dev/null."""
    if tty:
        master, slave = os.openpty()  # /dev/ptmx here is the container's own devpts instance
        _report(report, {"tty": os.ttyname(slave)}, [master])
        os.close(master)
        os.setsid()
        fcntl.ioctl(slave, termios.TIOCSCTTY, 0)
        for target in (0, 1, 2):
            os.dup2(slave, target)
        os.close(slave)
    elif not interactive:
        null = os.open("/dev/null", os.O_RDONLY)
        os.dup2(null, 0)
        os.close(null)


def _mount_kernel_filesystems(root: str, privileged: bool, own_network: bool) -> None:
    def at(path: str) -> str:
        full = root + path
        os.makedirs(full, exist_ok=True)
        return full

    sc.mount("proc", at("/proc"), "proc", sc.MS_NOSUID | sc.MS_NOEXEC | sc.MS_NODEV)
    # in the container's own network namespace: unprivileged ICMP echo sockets for every
    # group, so that ping needs no CAP_NET_RAW (podman does the same); /proc/sys is made
    # read-only afterwards
    try:
        if own_network:  # never the host's own setting
            with open(root + "/proc/sys/net/ipv4/ping_group_range", "w") as f:
                f.write("0 2147483647")
    except FileNotFoundError:
        pass  # a kernel without IPv4
    sysfs_flags = sc.MS_NOSUID | sc.MS_NOEXEC | sc.MS_NODEV | (0 if privileged else sc.MS_RDONLY)
    sc.mount("sysfs", at("/sys"), "sysfs", sysfs_flags)
    dev = at("/dev")
    # nosuid and noexec: nothing on /dev is a program, and a device node made here runs nothing
    sc.mount("tmpfs", dev, "tmpfs", sc.MS_NOSUID | sc.MS_NOEXEC | sc.MS_STRICTATIME, "mode=755,size=65536k")
    for name, major, minor in (("null", 1, 3), ("zero", 1, 5), ("full", 1, 7),
                               ("random", 1, 8), ("urandom", 1, 9), ("tty", 5, 0)):
        os.mknod(f"{dev}/{name}", 0o666 | 0o020000, os.makedev(major, minor))
        os.chmod(f"{dev}/{name}", 0o666)  # mknod is subject to the umask
    sc.mount("devpts", at("/dev/pts"), "devpts", sc.MS_NOSUID | sc.MS_NOEXEC,
             "newinstance,ptmxmode=0666,mode=0620,gid=5")
    os.symlink("pts/ptmx", f"{dev}/ptmx")
    sc.mount("shm", at("/dev/shm"), "tmpfs", sc.MS_NOSUID | sc.MS_NODEV | sc.MS_NOEXEC, "mode=1777,size=65536k")
    for name, target in (("fd", "/proc/self/fd"), ("stdin", "/proc/self/fd/0"),
                         ("stdout", "/proc/self/fd/1"), ("stderr", "/proc/self/fd/2")):
        os.symlink(target, f"{dev}/{name}")


def _make_devices(root: str, devices: list) -> None:
    """The --device nodes, with the host node's mode and owner (the device cgroup allows them)."""
    for d in devices:
        target = root + d["path"]
        os.makedirs(os.path.dirname(target), exist_ok=True)
        if os.path.lexists(target):
            os.unlink(target)  # docker's --device /dev/null:/dev/null replaces the default node
        kind = stat.S_IFCHR if d["kind"] == "c" else stat.S_IFBLK
        os.mknod(target, kind | d["mode"], os.makedev(d["major"], d["minor"]))
        os.chown(target, d["uid"], d["gid"])
        os.chmod(target, d["mode"])  # mknod is subject to the umask


def _mount_cgroupfs(root: str, filesystems: list, writable: bool) -> None:
    """The container's own cgroups at /sys/fs/cgroup, read-only, as docker shows them;
    writable when privileged (docker's, for a container that manages cgroups below its own).

    Mounted inside the new cgroup namespace, each hierarchy's root is the container's
    cgroup, so the container sees its limits and usage and nothing of the host's tree.
    """
    where = root + "/sys/fs/cgroup"
    flags = sc.MS_NOSUID | sc.MS_NOEXEC | sc.MS_NODEV
    hierarchy_flags = flags | (0 if writable else sc.MS_RDONLY)
    if filesystems and filesystems[0][0] == "cgroup2":
        sc.mount("cgroup2", where, "cgroup2", hierarchy_flags)
        return
    sc.mount("tmpfs", where, "tmpfs", flags, "mode=755,size=64k")
    for fstype, options, name in filesystems:
        os.mkdir(f"{where}/{name}")
        sc.mount("cgroup", f"{where}/{name}", fstype, hierarchy_flags, options)
    sc.mount("tmpfs", where, "tmpfs", flags | sc.MS_REMOUNT | sc.MS_RDONLY, "mode=755,size=64k")


def _exec(argv: list[str], env: dict) -> None:
    """execve with docker's lookup rules and exit codes (127 not found, 126 not executable)."""
    cmd = argv[0]
    if "/" in cmd:
        candidates = [cmd]
    else:
        candidates = [os.path.join(d or ".", cmd) for d in env.get("PATH", "").split(":")]
    denied = None
    for path in candidates:
        try:
            os.execve(path, argv, env)
        except OSError as e:
            if e.errno in (errno.ENOENT, errno.ENOTDIR) and "/" not in cmd:
                continue
            if e.errno == errno.EACCES and "/" not in cmd:
                denied = e
                continue
            if e.errno in (errno.ENOENT, errno.ENOTDIR):
                raise ExecFailure(f'exec: "{cmd}": stat {cmd}: no such file or directory', EXIT_NOT_FOUND)
            raise ExecFailure(f'exec: "{cmd}": {e.strerror.lower()}', EXIT_CANNOT_EXEC)
    if denied is not None:
        raise ExecFailure(f'exec: "{cmd}": permission denied', EXIT_CANNOT_EXEC)
    raise ExecFailure(f'exec: "{cmd}": executable file not found in $PATH', EXIT_NOT_FOUND)
