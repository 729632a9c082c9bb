"""The default network of an ordinary user's container, through slirp4netns (issue 23).

A user who is not root can make no veth, bridge or nftables rule on the host. The
container's network namespace (the runtime makes it inside the container's own user
namespace) gets instead a tap device, `eth0`, whose other end is a slirp4netns process in
the host's namespace: it is the container's gateway (10.0.2.2) and DNS forwarder
(10.0.2.3), and turns the container's TCP and UDP into the user's own sockets on the host.
Published ports are the tool's too (its API's add_hostfwd): it listens on the host's
HOST port and connects to the container's 10.0.2.100:CTR.

    connect (before create): the ports checked and chosen, /etc files written
    wire (after create, before start): slirp4netns attached to the init's namespaces,
        ready, its ports added; its pid, start time and boot kept under the data root
        (state/slirp4netns/ID), by id (a container's directory moves with a rename)
    release (at the container's end, rm, a new start): the tool killed by that pid

The tool has no life of its own: its --exit-fd is the read end of a pipe whose only write
end the container's waiter holds (an attached `run`, or the data root's monitor for a
detached one, handed over by its launcher). Whoever holds it dying closes it and the tool
leaves: a start SIGKILLed between spawning the tool and keeping its pid leaks nothing.
Host loopback (10.0.2.2 as the host's 127.0.0.1) is off, as podman has it: a container
must not reach what the host serves on loopback only.
"""

import json
import os
import socket

from ..errors import TinydockerError
from . import hosts

TOOL = "slirp4netns"
ADDRESS, PREFIX, GATEWAY, DNS = "10.0.2.100", 24, "10.0.2.2", "10.0.2.3"
IFNAME = "eth0"
MTU = 65520  # slirp4netns's maximum: fewer, bigger writes through the tap (podman's too)
_TUN = "/dev/net/tun"


def refuse(network: str, doing: str = "") -> TinydockerError:
    """What an ordinary user cannot do: connect a container of the default network (in a user
    namespace of its own) to another, or one to the default network."""
    return TinydockerError(f"network {doing + ' ' if doing else ''}{network}: the default network of a user who is "
                           "not root is each container's own, made with it; use networks of your own "
                           "(network create, --network NAME)", code=1 if doing else 125)


def connect(store, record, spec, own: set) -> tuple[dict, list[dict], dict]:
    """(orders for wire, binds of the /etc files, what to record) for the default network
    of an ordinary user's container; `own` the /etc files the user mounts themselves."""
    from .store import DEFAULT

    if spec.network != DEFAULT or spec.networks:
        raise refuse(spec.network if spec.network != DEFAULT else spec.networks[0]["name"])
    if spec.ip:
        raise TinydockerError("user specified IP address is supported on user defined networks only")
    found = tool()
    bindings, ephemeral = _bindings(spec)
    me = {"id": record.id, "name": spec.name, "ip": ADDRESS, "aliases": []}
    cdir = str(store.container_dir(spec.name))
    binds = hosts.write_all(cdir, spec.hostname, spec.add_hosts, spec.dns or [DNS], me, [me], skip=own,
                            dns_search=spec.dns_search, dns_options=spec.dns_options)
    info = {"name": DEFAULT, "id": "", "ip": ADDRESS, "prefix": PREFIX, "gateway": GATEWAY, "mac": "",
            "ifname": IFNAME, "aliases": [], "ports": bindings, "driver": TOOL}
    # the same binding dicts as the record's: a port picked again at wire is recorded as picked
    orders = {"mode": TOOL, "tool": found, "ports": bindings, "ephemeral": ephemeral, "state": str(store.root.state),
              "id": record.id, "name": spec.name}
    return orders, binds, info


def tool() -> str:
    """The tool's path, once it and the device it opens are there for this user."""
    import shutil

    found = shutil.which(TOOL, path=os.environ.get("PATH", "") + ":/usr/bin:/bin")
    if not found:
        raise TinydockerError(f"the networks of a user who is not root need {TOOL} "
                              f"(Debian: apt-get install {TOOL}); use --network none or host")
    if not os.access(_TUN, os.R_OK | os.W_OK):
        raise TinydockerError(f"the networks of a user who is not root need {_TUN} open to every user "
                              "(mode 0666, as Debian's udev makes it); use --network none or host")
    return found


def _bindings(spec) -> tuple[list[dict], list[int]]:
    """-p and -P as host ports this user can listen on: one below the kernel's unprivileged
    start, or one a socket holds, refused now, in one line; and which of them the kernel
    picked (-p CTR, -P), to be picked again if another start takes it first."""
    from . import ports

    wanted = [b for p in spec.ports for b in ports.parse(p)]
    if spec.publish_all:
        wanted += ports.exposed(spec.exposed_ports)
    return host_ports(wanted)


def host_ports(wanted: list[dict]) -> tuple[list[dict], list[int]]:
    """_bindings' checks and choices for `wanted` (ports.parse's bindings)."""
    from . import ports

    if not wanted:
        return [], []
    start = _unprivileged_start()
    for b in wanted:
        low = b["host_range"][0] if "host_range" in b else b["host_port"]
        if low and low < start:
            raise TinydockerError(f"cannot publish port {low}: a user who is not root can publish ports from "
                                  f"{start} up (net.ipv4.ip_unprivileged_port_start)")
    chosen = []
    for b in wanted:
        if b["host_port"]:  # checked as the tool will bind it
            ports.probe(b, in_use)
            chosen.append(dict(b))
        else:  # picked free by the kernel (in its range, for -p LOW-HIGH:CTR)
            chosen.append(ports.choose([b])[0])
    return chosen, [i for i, b in enumerate(wanted) if not b["host_port"] and "host_range" not in b]


def _unprivileged_start() -> int:
    try:
        with open("/proc/sys/net/ipv4/ip_unprivileged_port_start") as f:
            return int(f.read())
    except (OSError, ValueError):
        return 1024


def in_use(b: dict) -> TinydockerError:
    # docker's, whose userland proxy is what slirp4netns is here
    return TinydockerError(f"Error starting userland proxy: listen {b['proto']}4 {b['host_ip'] or '0.0.0.0'}:"
                           f"{b['host_port']}: bind: address already in use")


def _dir(state: str) -> str:
    path = os.path.join(state, TOOL)
    try:
        os.mkdir(path, 0o700)
    except FileExistsError:
        pass
    return path


def wire(pid: int, orders: dict) -> int:
    """slirp4netns attached to the namespaces of the container's init `pid` (created, not
    started), ready, with the published ports; the write end of its exit pipe (O_CLOEXEC),
    which the container's waiter holds for as long as the container runs."""
    from ..linux import proc
    from ..linux.files import write_atomic

    where = _dir(orders["state"])
    cid = orders["id"]
    release(orders["state"], cid)  # a killed start's, if its exit pipe is still held somewhere
    sock, log = cid[:16] + ".sock", cid + ".log"
    exit_r, exit_w = os.pipe2(os.O_CLOEXEC)
    try:
        child, ready_r = spawn(orders["tool"], where, log, sock, exit_r, [str(pid), IFNAME])
        try:
            facts = f"{child.pid} {proc.start_ticks(child.pid)} {proc.boot_id()}\n"
        except OSError:  # it has left already: the ready pipe says so below
            facts = ""
        try:
            if facts:
                write_atomic(os.path.join(where, cid), facts.encode(), durable=False)
        except BaseException:
            os.close(ready_r)
            raise
        ready(ready_r, where, log, child, f"container {orders['name']}")
        for i, b in enumerate(orders["ports"]):
            forward(where, sock, b, orders["name"], i in orders["ephemeral"])
    except BaseException:
        os.close(exit_w)
        release(orders["state"], cid)
        raise
    finally:
        _unlink(os.path.join(where, sock))  # its ports are set for good: nobody asks it more
    return exit_w


def spawn(found: str, where: str, log: str, sock: str, exit_r: int, target: list[str]):
    """The tool (`found`: tool()'s path) started in `where` on the namespaces `target` names (a
    pid and a device, or --userns-path, --netns-type=path, a path and a device), its output
    in `log`, its API on `sock`, leaving once `exit_r`'s pipe has no writer (closed here):
    (its Popen, the read end of its ready pipe, for ready()). In a session of its own: a
    terminal's ^C is the container's, not its network's. Not Popen's to reap: whoever waits
    for the container does, or whoever it is left to."""
    import subprocess

    ready_r, ready_w = os.pipe2(os.O_CLOEXEC)
    out = -1
    try:
        out = os.open(os.path.join(where, log), os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_NOFOLLOW | os.O_CLOEXEC,
                      0o600)
        child = subprocess.Popen(
            [found, "--configure", f"--mtu={MTU}", "--disable-host-loopback", "--enable-seccomp",
             f"--exit-fd={exit_r}", f"--ready-fd={ready_w}", f"--api-socket={sock}", *target],
            cwd=where, pass_fds=(exit_r, ready_w), stdin=subprocess.DEVNULL, stdout=out, stderr=out,
            start_new_session=True)
    except BaseException:
        os.close(ready_r)
        raise
    finally:
        for fd in (exit_r, ready_w, out):
            if fd >= 0:
                os.close(fd)
    child.returncode = 0  # (Popen's finaliser would reap it otherwise)
    return child, ready_r


def ready(ready_r: int, where: str, log: str, child, what: str) -> None:
    """The tool spawn() started, ready; else why not, in one line about `what`."""
    try:
        if os.read(ready_r, 1) != b"1":
            raise TinydockerError(f"cannot start {TOOL} for {what}: {_said(where, log, child)}")
    finally:
        os.close(ready_r)


def forward(where: str, sock: str, b: dict, name: str, ephemeral: bool, guest: str = ADDRESS,
            guest_port: int | None = None) -> None:
    """Port `b` published by the tool whose API socket is `where`/`sock`, to `guest` (port
    `guest_port`, default the container's), or why not in docker's words. One the kernel
    picked may have been taken since by another start's tool (the port is free until the
    tool binds it): picked again, in `b` itself (the record's)."""
    from . import ports

    for _ in range(5 if ephemeral else 1):
        said = ask(where, sock, {"execute": "add_hostfwd", "arguments": {
            "proto": b["proto"], "host_addr": b["host_ip"] or "0.0.0.0", "host_port": b["host_port"],
            "guest_addr": guest, "guest_port": guest_port or b["container_port"]}}).get("error")
        if said is None:
            return
        if ephemeral:
            b["host_port"] = ports.choose([{**b, "host_port": 0}])[0]["host_port"]
    ports.probe(b, in_use)  # taken meanwhile: docker's words; else the tool's
    raise TinydockerError(f"cannot publish port {b['host_port']} of container {name}: {said}")


def ask(where: str, sock: str, request: dict) -> dict:
    """One request to the tool's API, one answer: {"return": ...} or {"error": its reason}."""
    d = os.open(where, os.O_PATH | os.O_DIRECTORY | os.O_CLOEXEC)
    try:
        with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM | socket.SOCK_CLOEXEC) as s:
            # by the directory's descriptor: a socket's path is at most 107 bytes, a home's is not
            s.connect(f"/proc/self/fd/{d}/{sock}")
            s.sendall(json.dumps(request).encode())
            s.shutdown(socket.SHUT_WR)
            answer = b""
            while chunk := s.recv(4096):
                answer += chunk
    finally:
        os.close(d)
    try:
        reply = json.loads(answer)
    except ValueError:
        reply = {"error": {"desc": answer.decode(errors="replace") or "no answer"}}
    if "error" in reply:
        error = reply["error"]
        return {"error": str(error.get("desc", error) if isinstance(error, dict) else error)}
    return reply


def _said(where: str, log: str, child) -> str:
    """Why the tool left before it was ready: the last line it wrote (not its warning that
    seccomp is experimental), else how it ended."""
    try:
        with open(os.path.join(where, log), errors="replace") as f:
            lines = [line.strip() for line in f if line.strip() and "experimental" not in line]
    except OSError:
        lines = []
    if lines:  # its child's reason, then its own ("child failed(1)")
        return "; ".join(lines[-3:])
    try:
        _, status = os.waitpid(child.pid, 0)
    except ChildProcessError:
        return "it ended at once"
    code = os.waitstatus_to_exitcode(status)
    return f"it was killed by signal {-code}" if code < 0 else f"it ended at once (exit code {code})"


def release(state: str, container_id: str) -> None:
    """End the container's slirp4netns, if it runs (by the pid kept at its start, checked
    against its start time and boot: a pid taken since by another process is left alone),
    and forget it. Its parent reaps it: the attached `run` here, else the monitor."""
    where = os.path.join(state, TOOL)
    path = os.path.join(where, container_id)
    try:
        with open(path) as f:
            pid, ticks, boot = f.read().split()
    except (OSError, ValueError):
        pid = None
    if pid is not None:
        _end(int(pid), int(ticks), boot)
    for name in (container_id, container_id + ".log", container_id[:16] + ".sock"):
        _unlink(os.path.join(where, name))


def _end(pid: int, ticks: int, boot: str) -> None:
    """SIGKILL the tool and wait for it to have exited: its sockets (the published ports)
    are closed once this returns, so a port `rm -f` gave back can be published at once."""
    from ..linux import proc

    proc.end(pid, ticks, boot, TOOL)
    try:
        os.waitpid(pid, 0)  # ours (an attached run's): reaped; else its parent, the monitor, reaps it
    except ChildProcessError:
        pass


def _unlink(path: str) -> None:
    try:
        os.unlink(path)
    except FileNotFoundError:
        pass
