"""Which device nodes a container may make and open: the device cgroup's allow-list.

Rules are written as cgroup v1's devices.allow lines, "TYPE MAJOR:MINOR ACCESS" (type c,
b or a; * for any number; access of r, w, m). The v1 back-end writes them after
`devices.deny a`; on cgroup v2, where the device controller is a BPF program attached to
the cgroup, `program()` compiles them into one (BPF_PROG_TYPE_CGROUP_DEVICE: a dozen
instructions per rule, written out here since no library makes them).
"""

import os
import re
import stat
import struct

from ..errors import TinydockerError

# the nodes a runtime makes in /dev, and /dev/net/tun: what runc always allows, as docker does
DEFAULT = [
    "c 1:3 rwm",    # null
    "c 1:5 rwm",    # zero
    "c 1:7 rwm",    # full
    "c 1:8 rwm",    # random
    "c 1:9 rwm",    # urandom
    "c 5:0 rwm",    # tty
    "c 5:1 rwm",    # console
    "c 5:2 rwm",    # ptmx
    "c 136:* rwm",  # the container's own pseudo-terminals
    "c 10:200 rwm",  # net/tun
]

_TYPES = {"a": 0, "b": 1, "c": 2}  # BPF_DEVCG_DEV_BLOCK 1, _CHAR 2
_ACCESS = {"m": 1, "r": 2, "w": 4}  # BPF_DEVCG_ACC_MKNOD, _READ, _WRITE


def parse(rule: str) -> tuple[int, int | None, int | None, int]:
    """(type, major or None for *, minor or None, access bits) of one rule."""
    try:
        kind, numbers, access = rule.split()
        major, minor = numbers.split(":")
        bits = 0
        for a in access:
            bits |= _ACCESS[a]
        return (_TYPES[kind], None if major == "*" else int(major), None if minor == "*" else int(minor), bits)
    except (ValueError, KeyError):
        raise TinydockerError(f"invalid device rule {rule!r}: want TYPE MAJOR:MINOR ACCESS, as 'c 1:3 rwm'") from None


# docker's --device-cgroup-rule: one rule, written as devices.allow takes it
_RULE_RE = re.compile(r"[acb] (\d+|\*):(\d+|\*) [rwm]{1,3}")


def check_rule(rule: str) -> str:
    """A --device-cgroup-rule as docker checks it ('c 1:3 rwm', 'b 7:* rw', 'a *:* m')."""
    if not _RULE_RE.fullmatch(rule):
        raise TinydockerError(f"invalid device cgroup format '{rule}'")
    return rule


def host_device(flag: str) -> dict:
    """`--device HOST[:CONTAINER[:PERMISSIONS]]` as docker reads it: the host node's type,
    numbers, mode and owner, where it goes in the container, and the rule that allows it."""
    host, path, access = parse_flag(flag)
    try:
        st = os.stat(host)
    except OSError as e:
        raise TinydockerError(f"error gathering device information while adding custom device {host!r}: "
                              f"{e.strerror.lower()}") from None
    if not (stat.S_ISCHR(st.st_mode) or stat.S_ISBLK(st.st_mode)):
        raise TinydockerError(f"error gathering device information while adding custom device {host!r}: "
                              "not a device node")
    kind = "c" if stat.S_ISCHR(st.st_mode) else "b"
    major, minor = os.major(st.st_rdev), os.minor(st.st_rdev)
    # m always: init makes the node inside the container's cgroup. Another node of the same
    # numbers gives nothing the container lacks; what it may open is still `access`
    allowed = "".join(a for a in "rwm" if a in access + "m")
    return {"path": path, "kind": kind, "major": major, "minor": minor, "mode": stat.S_IMODE(st.st_mode),
            "uid": st.st_uid, "gid": st.st_gid, "rule": f"{kind} {major}:{minor} {allowed}"}


def parse_flag(flag: str) -> tuple[str, str, str]:
    """(host path, container path, access) of a --device flag; the host is not looked at."""
    parts = flag.split(":")
    if not parts[0] or len(parts) > 3:
        raise TinydockerError(f"invalid --device {flag!r}: want HOST[:CONTAINER[:rwm]]")
    host = parts[0]
    path = parts[1] if len(parts) > 1 and parts[1] else host
    access = parts[2] if len(parts) > 2 else "rwm"
    if len(parts) == 2 and set(parts[1]) <= set("rwm") and not parts[1].startswith("/"):
        path, access = host, parts[1]  # docker's HOST:PERMISSIONS
    if not access or set(access) - set("rwm") or not path.startswith("/"):
        raise TinydockerError(f"invalid --device {flag!r}: want HOST[:CONTAINER[:rwm]]")
    return host, path, access


# what a privileged container does not get from the host's /dev: directories that are
# filesystems of their own (the container has its own pts, shm and mqueue) or a tool's
# bookkeeping, and the host's console (runc's list)
_NOT_COPIED_DIRS = {"pts", "shm", "fd", "mqueue", ".lxc", ".lxd-mounts", ".udev"}
_NOT_COPIED = {"console", "ptmx"}  # the container's ptmx is its own devpts's


def all_host_devices(top: str = "/dev") -> list[dict]:
    """--privileged's devices: every character and block node under the host's /dev, as
    host_device() describes one, at the same path (runc's HostDevices). Links, fifos and
    sockets are not devices; a node that vanishes while we look is skipped."""
    found = []
    try:
        entries = sorted(os.scandir(top), key=lambda e: e.name)
    except OSError:
        return found
    for entry in entries:
        try:
            if entry.is_dir(follow_symlinks=False):
                if entry.name not in _NOT_COPIED_DIRS:
                    found += all_host_devices(entry.path)
                continue
            if top == "/dev" and entry.name in _NOT_COPIED:
                continue
            st = entry.stat(follow_symlinks=False)
        except OSError:
            continue
        if stat.S_ISCHR(st.st_mode) or stat.S_ISBLK(st.st_mode):
            kind = "c" if stat.S_ISCHR(st.st_mode) else "b"
            major, minor = os.major(st.st_rdev), os.minor(st.st_rdev)
            found.append({"path": entry.path, "kind": kind, "major": major, "minor": minor,
                          "mode": stat.S_IMODE(st.st_mode), "uid": st.st_uid, "gid": st.st_gid,
                          "rule": f"{kind} {major}:{minor} rwm"})
    return found


# -- the v2 program ------------------------------------------------------------------------------

def _insn(code: int, dst: int = 0, src: int = 0, off: int = 0, imm: int = 0) -> bytes:
    return struct.pack("<BBhi", code, dst | src << 4, off, imm)


_LDX_W = 0x61      # dst = *(u32 *)(src + off)
_MOV_X = 0xBF      # dst = src (64-bit)
_MOV_K = 0xB7      # dst = imm
_AND_K = 0x57      # dst &= imm
_RSH_K = 0x77      # dst >>= imm
_JNE_K = 0x55      # if dst != imm: pc += off
_EXIT = 0x95


def program(rules: list[str]) -> bytes:
    """A BPF_PROG_TYPE_CGROUP_DEVICE program: 1 (allow) if any rule matches, else 0.

    Its context is struct bpf_cgroup_dev_ctx { u32 access_type; u32 major; u32 minor; },
    the device type in access_type's low 16 bits and the access in its high 16.
    """
    head = [
        _insn(_LDX_W, dst=2, src=1, off=0),   # r2 = access_type
        _insn(_MOV_X, dst=3, src=2),
        _insn(_AND_K, dst=3, imm=0xFFFF),     # r3 = type
        _insn(_MOV_X, dst=4, src=2),
        _insn(_RSH_K, dst=4, imm=16),         # r4 = access
        _insn(_LDX_W, dst=5, src=1, off=4),   # r5 = major
        _insn(_LDX_W, dst=6, src=1, off=8),   # r6 = minor
    ]
    body = []
    for rule in rules:
        kind, major, minor, access = parse(rule)
        block = [_insn(_MOV_X, dst=7, src=4), _insn(_AND_K, dst=7, imm=~access & 0x7)]  # r7: access not granted
        # (register, value) pairs that must hold; None (a wildcard, or type a) is no test
        tests = [(r, v) for r, v in ((7, 0), (3, kind or None), (5, major), (6, minor)) if v is not None]
        for i, (register, value) in enumerate(tests):
            # a mismatch jumps past the rest of this rule: the tests after it, then "allow"
            block.append(_insn(_JNE_K, dst=register, imm=value, off=len(tests) - 1 - i + 2))
        body += block + [_insn(_MOV_K, dst=0, imm=1), _insn(_EXIT)]
    tail = [_insn(_MOV_K, dst=0, imm=0), _insn(_EXIT)]
    return b"".join(head + body + tail)
