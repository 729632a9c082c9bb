"""A small rtnetlink client: links, bridges, veth pairs, IPv4 addresses and routes.

Hand-written on the standard library because pyroute2 costs 130-150 ms to import, as much
as the rest of `run`'s start-up. Each module-level function opens a socket, sends one
request and reads the kernel's reply; `with Netlink() as nl:` shares one socket between
several calls. Errors are raised like the os module raises them, OSError(errno, "what:
strerror"), so `except FileExistsError` works for "already there".

A netlink socket talks to the network namespace it was *created* in, for its whole life:
a process that setns()es into a container's namespace afterwards still configures the old
one through the sockets it already has. Open a new Netlink() after setns() to reach the
new namespace (or keep the old one open on purpose, to reach back).
"""

import errno
import os
import socket
import struct

# linux/netlink.h, linux/rtnetlink.h, linux/if_link.h, linux/if_addr.h, linux/veth.h
NLM_F_REQUEST, NLM_F_ACK, NLM_F_EXCL, NLM_F_CREATE, NLM_F_DUMP = 0x1, 0x4, 0x200, 0x400, 0x300
NLM_F_DUMP_INTR, NLM_F_ACK_TLVS = 0x10, 0x200
NLMSG_ERROR, NLMSG_DONE = 2, 3
RTM_NEWLINK, RTM_DELLINK, RTM_GETLINK = 16, 17, 18
RTM_NEWADDR, RTM_GETADDR, RTM_NEWROUTE = 20, 22, 24
IFLA_ADDRESS, IFLA_IFNAME, IFLA_MTU, IFLA_MASTER, IFLA_LINKINFO = 1, 3, 4, 10, 18
IFLA_NET_NS_PID, IFLA_NET_NS_FD = 19, 28
IFLA_INFO_KIND, IFLA_INFO_DATA, VETH_INFO_PEER = 1, 2, 1
IFA_ADDRESS, IFA_LOCAL, IFA_BROADCAST = 1, 2, 4
RTA_OIF, RTA_GATEWAY = 4, 5
RT_TABLE_MAIN, RTPROT_BOOT, RT_SCOPE_UNIVERSE, RTN_UNICAST = 254, 3, 0, 1
IFF_UP = 0x1
NLA_F_NESTED, NLA_TYPE_MASK = 0x8000, 0x3FFF
SOL_NETLINK, NETLINK_CAP_ACK, NETLINK_EXT_ACK, NLMSGERR_ATTR_MSG = 270, 10, 11, 1
IFNAMSIZ = 16  # including the terminating NUL: names are at most 15 bytes

_NLMSGHDR = struct.Struct("=IHHII")  # len, type, flags, seq, port id
_IFINFOMSG = struct.Struct("=BxHiII")  # family, pad, device type, index, flags, change mask
_IFADDRMSG = struct.Struct("=BBBBI")  # family, prefix length, flags, scope, index
_RTMSG = struct.Struct("=BBBBBBBBI")  # family, dst len, src len, tos, table, protocol, scope, type, flags


def _attr(kind: int, payload: bytes) -> bytes:
    """One netlink attribute: length (without padding), type, payload padded to 4 bytes."""
    return struct.pack("=HH", 4 + len(payload), kind) + payload + b"\0" * (-len(payload) % 4)


def _nest(kind: int, *attrs: bytes) -> bytes:
    return _attr(kind | NLA_F_NESTED, b"".join(attrs))


def _attrs(data: bytes, offset: int = 0) -> dict[int, bytes]:
    """Parse attributes from offset on; the kernel may or may not flag its nests NLA_F_NESTED."""
    found = {}
    while offset + 4 <= len(data):
        length, kind = struct.unpack_from("=HH", data, offset)
        if length < 4:
            break
        found[kind & NLA_TYPE_MASK] = data[offset + 4 : offset + length]
        offset += (length + 3) & ~3
    return found


def _ifname(name: str) -> bytes:
    raw = name.encode()
    if not raw or len(raw) >= IFNAMSIZ:
        raise ValueError(f"interface name {name!r} must be 1 to {IFNAMSIZ - 1} bytes")
    return _attr(IFLA_IFNAME, raw + b"\0")


def _ipv4(text: str) -> bytes:
    try:  # inet_pton, not inet_aton: it refuses the "10.1" and "010.1.2.3" forms inet_aton takes
        return socket.inet_pton(socket.AF_INET, text)
    except OSError:
        raise ValueError(f"not an IPv4 address: {text!r}") from None


def _cstr(raw: bytes) -> str:
    return raw.split(b"\0", 1)[0].decode()


def _ifinfo(index: int = 0, flags: int = 0, change: int = 0) -> bytes:
    return _IFINFOMSG.pack(socket.AF_UNSPEC, 0, index, flags, change)


class Netlink:
    """One NETLINK_ROUTE socket, in the network namespace of the thread that opened it."""

    def __init__(self):
        self._sock = socket.socket(socket.AF_NETLINK, socket.SOCK_RAW | socket.SOCK_CLOEXEC, socket.NETLINK_ROUTE)
        try:
            # errors: echo only the header of our request, not all of it, and add the
            # kernel's own explanation ("extended ack") when it has one
            self._sock.setsockopt(SOL_NETLINK, NETLINK_CAP_ACK, 1)
            self._sock.setsockopt(SOL_NETLINK, NETLINK_EXT_ACK, 1)
            self._sock.bind((0, 0))  # port id 0: the kernel picks a unique one
        except BaseException:
            self._sock.close()
            raise
        self._seq = 0

    def close(self) -> None:
        self._sock.close()

    def __enter__(self) -> "Netlink":
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def _request(self, kind: int, flags: int, body: bytes, what: str) -> list[bytes]:
        """Send one message, return the payloads of the replies up to its ACK or DONE."""
        self._seq += 1
        seq = self._seq
        self._sock.send(_NLMSGHDR.pack(_NLMSGHDR.size + len(body), kind, NLM_F_REQUEST | flags, seq, 0) + body)
        replies, interrupted = [], False
        while True:
            data = self._sock.recv(1 << 16)  # a dump comes in several datagrams, each < 64 KiB
            offset = 0
            while offset + _NLMSGHDR.size <= len(data):
                length, mtype, mflags, mseq, _ = _NLMSGHDR.unpack_from(data, offset)
                payload = data[offset + _NLMSGHDR.size : offset + length]
                offset += max((length + 3) & ~3, _NLMSGHDR.size)
                if mseq != seq:
                    continue  # the late answer to an earlier request that was abandoned
                if mtype in (NLMSG_ERROR, NLMSG_DONE):
                    # an ERROR with error 0 is the ACK; a dump ends with DONE (carrying an error too)
                    error = -struct.unpack_from("=i", payload)[0] if len(payload) >= 4 else 0
                    if error:
                        raise _oserror(error, what, payload, mflags)
                    if interrupted:  # the set of links or addresses changed while it was dumped
                        raise InterruptedError(errno.EINTR, f"{what}: dump interrupted")
                    return replies
                interrupted |= bool(mflags & NLM_F_DUMP_INTR)
                replies.append(payload)

    def _dump(self, kind: int, body: bytes, what: str) -> list[bytes]:
        for attempt in range(5):  # start again a dump that concurrent changes made inconsistent
            try:
                return self._request(kind, NLM_F_DUMP, body, what)
            except InterruptedError:
                if attempt == 4:
                    raise

    def _index(self, link: str | int) -> int:
        if isinstance(link, int):
            return link
        index = self.link_index(link)
        if index is None:
            raise OSError(errno.ENODEV, f"{link}: {os.strerror(errno.ENODEV)}")
        return index

    def _setlink(self, link: str | int, what: str, *attrs: bytes, flags: int = 0, change: int = 0) -> None:
        # RTM_NEWLINK without NLM_F_CREATE changes an existing link (ENODEV if there is none)
        self._request(RTM_NEWLINK, NLM_F_ACK, _ifinfo(self._index(link), flags, change) + b"".join(attrs), what)

    def link_index(self, name: str) -> int | None:
        try:  # index 0: look up by name
            (reply,) = self._request(RTM_GETLINK, NLM_F_ACK, _ifinfo() + _ifname(name), f"get link {name}")
        except OSError as e:
            if e.errno == errno.ENODEV:
                return None
            raise
        return _IFINFOMSG.unpack_from(reply)[2]

    def _create(self, name: str, kind: str, *data: bytes) -> None:
        # NLM_F_EXCL: EEXIST if the name is taken. Without it the kernel applies the request
        # to the existing link and answers success, even when that link is of another kind
        info = _attr(IFLA_INFO_KIND, kind.encode() + b"\0") + (_nest(IFLA_INFO_DATA, *data) if data else b"")
        self._request(RTM_NEWLINK, NLM_F_ACK | NLM_F_CREATE | NLM_F_EXCL,
                      _ifinfo() + _ifname(name) + _nest(IFLA_LINKINFO, info), f"create {kind} {name}")

    def create_bridge(self, name: str) -> None:
        self._create(name, "bridge")

    def create_veth(self, name: str, peer: str, peer_netns_fd: int | None = None,
                    peer_netns_pid: int | None = None, peer_mac: str = "") -> None:
        """A veth pair `name` <-> `peer`, the peer made directly in another namespace if given,
        with the hardware address `peer_mac` ("02:42:0a:4d:00:02") if given."""
        if peer_netns_fd is not None and peer_netns_pid is not None:
            raise ValueError("give peer_netns_fd or peer_netns_pid, not both")
        # veth's private data (IFLA_INFO_DATA) holds VETH_INFO_PEER, which is not a plain
        # nest: it starts with a whole struct ifinfomsg for the peer, then the peer's own
        # IFLA_* attributes. A namespace attribute here moves the peer only; at the top
        # level it would move `name` instead.
        peer_attrs = _ifinfo() + _ifname(peer)
        if peer_mac:
            peer_attrs += _attr(IFLA_ADDRESS, bytes.fromhex(peer_mac.replace(":", "")))
        if peer_netns_fd is not None:
            peer_attrs += _attr(IFLA_NET_NS_FD, struct.pack("=I", peer_netns_fd))
        if peer_netns_pid is not None:
            peer_attrs += _attr(IFLA_NET_NS_PID, struct.pack("=I", peer_netns_pid))
        self._create(name, "veth", _attr(VETH_INFO_PEER, peer_attrs))

    def set_master(self, link: str | int, bridge: str | int) -> None:
        self._setlink(link, f"set master of {link} to {bridge}",
                      _attr(IFLA_MASTER, struct.pack("=I", self._index(bridge))))

    def set_up(self, link: str | int, up: bool = True) -> None:
        # ifi_change says which bits of ifi_flags to apply; the other flags stay as they are
        self._setlink(link, f"set {link} {'up' if up else 'down'}", flags=IFF_UP if up else 0, change=IFF_UP)

    def rename(self, index: int, new_name: str) -> None:
        """Rename a link, by index. Kernels before 6.2 refuse (EBUSY) while it is up."""
        self._setlink(index, f"rename link {index} to {new_name}", _ifname(new_name))

    def set_mtu(self, link: str | int, mtu: int) -> None:
        self._setlink(link, f"set mtu of {link} to {mtu}", _attr(IFLA_MTU, struct.pack("=I", mtu)))

    def delete_link(self, link: str | int) -> bool:
        """Delete a link (a veth's peer goes with it); False if there was none."""
        body = _ifinfo(link) if isinstance(link, int) else _ifinfo() + _ifname(link)
        try:
            self._request(RTM_DELLINK, NLM_F_ACK, body, f"delete link {link}")
        except OSError as e:
            if e.errno == errno.ENODEV:
                return False
            raise
        return True

    def links(self) -> list[dict]:
        """Every link of this namespace: index, name, kind (or None), master index (or None), up."""
        found = []
        for reply in self._dump(RTM_GETLINK, _ifinfo(), "list links"):
            _, _, index, flags, _ = _IFINFOMSG.unpack_from(reply)
            attrs = _attrs(reply, _IFINFOMSG.size)
            kind = _attrs(attrs.get(IFLA_LINKINFO, b"")).get(IFLA_INFO_KIND)
            master = attrs.get(IFLA_MASTER)
            found.append({"index": index, "name": _cstr(attrs[IFLA_IFNAME]),
                          "kind": _cstr(kind) if kind is not None else None,
                          "master": struct.unpack("=I", master)[0] if master else None,
                          "up": bool(flags & IFF_UP)})
        return found

    def add_address(self, link: str | int, cidr: str) -> None:
        """Add an IPv4 address such as "10.88.0.5/16"; the kernel adds its subnet's route."""
        address, _, prefix = cidr.partition("/")
        raw, prefixlen = _ipv4(address), int(prefix or 32)
        if not 0 <= prefixlen <= 32:
            raise ValueError(f"bad prefix length in {cidr!r}")
        # IFA_LOCAL is the interface's own address, IFA_ADDRESS the peer's on point-to-point
        # links; on a broadcast link both are the address. The kernel does not compute the
        # broadcast address itself (`ip addr add` neither, without "brd +"): we do.
        attrs = _attr(IFA_LOCAL, raw) + _attr(IFA_ADDRESS, raw)
        if prefixlen < 31:  # /31 and /32 have no broadcast address (RFC 3021)
            host_bits = (1 << (32 - prefixlen)) - 1
            attrs += _attr(IFA_BROADCAST, struct.pack("!I", struct.unpack("!I", raw)[0] | host_bits))
        body = _IFADDRMSG.pack(socket.AF_INET, prefixlen, 0, RT_SCOPE_UNIVERSE, self._index(link)) + attrs
        self._request(RTM_NEWADDR, NLM_F_ACK | NLM_F_CREATE | NLM_F_EXCL, body, f"add address {cidr} to {link}")

    def addresses(self, link: str | int) -> list[str]:
        """The IPv4 addresses of a link, as "a.b.c.d/len"."""
        index = self._index(link)
        # without NETLINK_GET_STRICT_CHK the kernel ignores ifa_index in a dump request:
        # it sends every address of the namespace, and we keep those of the link
        found = []
        for reply in self._dump(RTM_GETADDR, _IFADDRMSG.pack(socket.AF_INET, 0, 0, 0, 0), f"list addresses of {link}"):
            _, prefixlen, _, _, ifindex = _IFADDRMSG.unpack_from(reply)
            attrs = _attrs(reply, _IFADDRMSG.size)
            raw = attrs.get(IFA_LOCAL, attrs.get(IFA_ADDRESS))
            if ifindex == index and raw:
                found.append(f"{socket.inet_ntop(socket.AF_INET, raw)}/{prefixlen}")
        return found

    def add_default_route(self, gateway: str, link: str | int | None = None) -> None:
        """0.0.0.0/0 via gateway in table main; the kernel finds the device from the
        gateway's subnet (ENETUNREACH if no address of this namespace covers it)."""
        attrs = _attr(RTA_GATEWAY, _ipv4(gateway))
        if link is not None:
            attrs += _attr(RTA_OIF, struct.pack("=I", self._index(link)))
        body = _RTMSG.pack(socket.AF_INET, 0, 0, 0, RT_TABLE_MAIN, RTPROT_BOOT, RT_SCOPE_UNIVERSE, RTN_UNICAST, 0)
        self._request(RTM_NEWROUTE, NLM_F_ACK | NLM_F_CREATE | NLM_F_EXCL, body + attrs,
                      f"add default route via {gateway}")


def _oserror(error: int, what: str, payload: bytes, flags: int) -> OSError:
    message = f"{what}: {os.strerror(error)}"
    if flags & NLM_F_ACK_TLVS:  # after the error code and our echoed header (NETLINK_CAP_ACK)
        detail = _attrs(payload, 4 + _NLMSGHDR.size).get(NLMSGERR_ATTR_MSG)
        if detail:
            message += f" ({_cstr(detail)})"
    return OSError(error, message)


def _once(method):
    """A module-level function that runs one Netlink method on a socket of its own."""
    def call(*args, **kwargs):
        with Netlink() as nl:
            return method(nl, *args, **kwargs)
    call.__name__, call.__qualname__, call.__doc__ = method.__name__, method.__name__, method.__doc__
    return call


link_index = _once(Netlink.link_index)
create_bridge = _once(Netlink.create_bridge)
create_veth = _once(Netlink.create_veth)
set_master = _once(Netlink.set_master)
set_up = _once(Netlink.set_up)
rename = _once(Netlink.rename)
set_mtu = _once(Netlink.set_mtu)
delete_link = _once(Netlink.delete_link)
links = _once(Netlink.links)
add_address = _once(Netlink.add_address)
addresses = _once(Netlink.addresses)
add_default_route = _once(Netlink.add_default_route)
