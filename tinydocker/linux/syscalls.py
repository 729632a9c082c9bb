"""The Linux system calls Python 3.11 does not wrap, through ctypes on libc.

Only what tinydocker needs, each raising OSError with errno like the os module does. Each
libc function is declared once, with its C signature (ctypes then converts and checks the
arguments); the calls glibc does not wrap go through syscall(2) by number (machine.py).
"""

import ctypes
import os

from .machine import NUMBERS

_libc = ctypes.CDLL(None, use_errno=True)

# namespaces (linux/sched.h)
CLONE_NEWNS = 0x00020000
CLONE_NEWCGROUP = 0x02000000
CLONE_NEWUTS = 0x04000000
CLONE_NEWIPC = 0x08000000
CLONE_NEWUSER = 0x10000000
CLONE_NEWPID = 0x20000000
CLONE_NEWNET = 0x40000000

# mount flags (linux/mount.h)
MS_RDONLY = 1
MS_NOSUID = 2
MS_NODEV = 4
MS_NOEXEC = 8
MS_REMOUNT = 32
MS_BIND = 4096
MS_REC = 16384
MS_PRIVATE = 1 << 18
MS_STRICTATIME = 1 << 24
MNT_DETACH = 2


AT_FDCWD = -100
RENAME_EXCHANGE = 2

_int, _uint, _ulong, _long, _text, _size = (ctypes.c_int, ctypes.c_uint, ctypes.c_ulong, ctypes.c_long,
                                            ctypes.c_char_p, ctypes.c_size_t)


def _declared(name: str, restype, *argtypes):
    function = getattr(_libc, name)
    function.restype, function.argtypes = restype, list(argtypes)
    return function


_unshare = _declared("unshare", _int, _int)
_setns = _declared("setns", _int, _int, _int)
_mount = _declared("mount", _int, _text, _text, _text, _ulong, _text)
_umount2 = _declared("umount2", _int, _text, _int)
_sethostname = _declared("sethostname", _int, _text, _size)
_renameat2 = _declared("renameat2", _int, _int, _text, _int, _text, _uint)
_prctl = _declared("prctl", _int, _int, _ulong, _ulong, _ulong, _ulong)
_syscall = _libc.syscall  # variadic: each call passes ctypes values
_syscall.restype = _long


def _check(ret: int, what: str) -> int:
    if ret < 0:
        err = ctypes.get_errno()
        raise OSError(err, f"{what}: {os.strerror(err)}")
    return ret


def unshare(flags: int) -> None:
    _check(_unshare(flags), "unshare")


def setns(fd: int, nstype: int) -> None:
    _check(_setns(fd, nstype), "setns")


def mount(source: str, target: str, fstype: str | None, flags: int = 0, data: str | None = None) -> None:
    ret = _mount(source.encode(), target.encode(), fstype.encode() if fstype else None, flags,
                 data.encode() if data else None)
    _check(ret, f"mount {fstype or source} on {target}")


def umount2(target: str, flags: int = 0) -> None:
    _check(_umount2(target.encode(), flags), f"umount {target}")


def pivot_root(new_root: str, put_old: str) -> None:
    ret = _syscall(_long(NUMBERS["pivot_root"]), _text(new_root.encode()), _text(put_old.encode()))
    _check(ret, "pivot_root")


def sethostname(name: str) -> None:
    raw = name.encode()
    _check(_sethostname(raw, len(raw)), "sethostname")


def loopback_up() -> None:
    """Bring this network namespace's "lo" up (SIOCGIFFLAGS, then SIOCSIFFLAGS with IFF_UP):
    what a runtime does for a namespace it makes, as runc does."""
    import fcntl
    import socket
    import struct

    siocgifflags, siocsifflags, iff_up = 0x8913, 0x8914, 0x1
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM | socket.SOCK_CLOEXEC) as s:
        request = struct.pack("16sh14x", b"lo", 0)
        flags = struct.unpack("16sh14x", fcntl.ioctl(s.fileno(), siocgifflags, request))[1]
        fcntl.ioctl(s.fileno(), siocsifflags, struct.pack("16sh14x", b"lo", flags | iff_up))


def rename_exchange(a: str, b: str) -> None:
    """Swap two paths in one step (renameat2 RENAME_EXCHANGE): a reader sees one or the other."""
    ret = _renameat2(AT_FDCWD, os.fsencode(a), AT_FDCWD, os.fsencode(b), RENAME_EXCHANGE)
    if ret < 0:
        err = ctypes.get_errno()
        raise OSError(err, os.strerror(err), a, None, b)


# -- resolving inside a root and the new mount API (linux/openat2.h, linux/mount.h) ------------

RESOLVE_NO_MAGICLINKS = 0x02
RESOLVE_NO_SYMLINKS = 0x04
RESOLVE_BENEATH = 0x08
RESOLVE_IN_ROOT = 0x10
OPEN_TREE_CLONE = 1
AT_EMPTY_PATH = 0x1000
AT_RECURSIVE = 0x8000
MOVE_MOUNT_F_EMPTY_PATH = 0x04
MOVE_MOUNT_T_EMPTY_PATH = 0x40
MOUNT_ATTR_RDONLY = 0x1


def openat2(dirfd: int, path: str, flags: int, resolve: int) -> int:
    """open relative to dirfd under `resolve` rules; RESOLVE_IN_ROOT makes dirfd the root for
    every component, symlinks and ".." included, so nothing resolves outside it."""
    import struct

    how = ctypes.create_string_buffer(struct.pack("<QQQ", flags | os.O_CLOEXEC, 0, resolve), 24)
    ret = _syscall(_long(NUMBERS["openat2"]), ctypes.c_int(dirfd), os.fsencode(path), how,
                        ctypes.c_size_t(24))
    if ret < 0:
        err = ctypes.get_errno()
        raise OSError(err, os.strerror(err), path)
    return ret


def clone_tree(path: str, read_only: bool) -> int:
    """A detached recursive bind of `path` (open_tree OPEN_TREE_CLONE), read-only all through
    if asked: a descriptor to attach with attach_tree, mounted nowhere until then."""
    fd = _check(_syscall(_long(NUMBERS["open_tree"]), ctypes.c_int(AT_FDCWD), os.fsencode(path),
                              ctypes.c_uint(OPEN_TREE_CLONE | os.O_CLOEXEC | AT_RECURSIVE)), f"bind {path}")
    if read_only:
        import struct

        # struct mount_attr: attr_set, attr_clr, propagation, userns_fd
        attr = ctypes.create_string_buffer(struct.pack("<QQQQ", MOUNT_ATTR_RDONLY, 0, 0, 0), 32)
        try:
            _check(_syscall(_long(NUMBERS["mount_setattr"]), ctypes.c_int(fd), b"",
                                 ctypes.c_uint(AT_EMPTY_PATH | AT_RECURSIVE), attr, ctypes.c_size_t(32)),
                   f"make the bind of {path} read-only")
        except OSError:
            os.close(fd)
            raise
    return fd


def attach_tree(tree_fd: int, target_fd: int) -> None:
    """Mount a detached tree (clone_tree) on the file or directory open as target_fd (O_PATH)."""
    _check(_syscall(_long(NUMBERS["move_mount"]), ctypes.c_int(tree_fd), b"", ctypes.c_int(target_fd), b"",
                         ctypes.c_uint(MOVE_MOUNT_F_EMPTY_PATH | MOVE_MOUNT_T_EMPTY_PATH)), "move_mount")


# -- capabilities, prctl and keyrings (linux/capability.h, linux/prctl.h, linux/keyctl.h) --------

PR_SET_DUMPABLE = 4
PR_SET_MM, PR_SET_MM_ARG_START, PR_SET_MM_ARG_END = 35, 8, 9
PR_CAPBSET_DROP = 24
PR_SET_NO_NEW_PRIVS = 38
PR_CAP_AMBIENT = 47
PR_CAP_AMBIENT_CLEAR_ALL = 4
_LINUX_CAPABILITY_VERSION_3 = 0x20080522
KEYCTL_JOIN_SESSION_KEYRING = 1


def prctl(option: int, arg2: int = 0, arg3: int = 0, arg4: int = 0, arg5: int = 0) -> int:
    return _check(_prctl(option, arg2, arg3, arg4, arg5), f"prctl {option}")


PR_SET_CHILD_SUBREAPER, PR_GET_CHILD_SUBREAPER = 36, 37


def child_subreaper() -> bool:
    """Whether this process adopts its descendants' orphans (PR_SET_CHILD_SUBREAPER)."""
    value = ctypes.c_int(0)
    _check(_prctl(PR_GET_CHILD_SUBREAPER, ctypes.addressof(value), 0, 0, 0), "prctl PR_GET_CHILD_SUBREAPER")
    return bool(value.value)


class _CapHeader(ctypes.Structure):
    _fields_ = [("version", ctypes.c_uint32), ("pid", ctypes.c_int)]


class _CapData(ctypes.Structure):
    _fields_ = [("effective", ctypes.c_uint32), ("permitted", ctypes.c_uint32), ("inheritable", ctypes.c_uint32)]


_capset = _declared("capset", _int, ctypes.POINTER(_CapHeader), ctypes.POINTER(_CapData))


def capset(effective: int, permitted: int, inheritable: int) -> None:
    """This thread's capability sets, as 64-bit masks (bit N: capability N)."""
    header = _CapHeader(_LINUX_CAPABILITY_VERSION_3, 0)
    data = (_CapData * 2)()
    for i in range(2):
        data[i].effective = effective >> (32 * i) & 0xFFFFFFFF
        data[i].permitted = permitted >> (32 * i) & 0xFFFFFFFF
        data[i].inheritable = inheritable >> (32 * i) & 0xFFFFFFFF
    _check(_capset(ctypes.byref(header), data), "capset")


def join_session_keyring() -> None:
    """A new anonymous session keyring: the caller's keys are out of reach from here on."""
    _check(_syscall(_long(NUMBERS["keyctl"]), ctypes.c_int(KEYCTL_JOIN_SESSION_KEYRING), None),
           "keyctl join session keyring")


PR_SET_SECCOMP = 22
SECCOMP_MODE_FILTER = 2


class _SockFprog(ctypes.Structure):
    _fields_ = [("len", ctypes.c_ushort), ("filter", ctypes.c_void_p)]


def load_seccomp_filter(program: bytes) -> None:
    """Install a seccomp BPF program (struct sock_filter[], 8 bytes each) on this thread."""
    buffer = ctypes.create_string_buffer(program, len(program))
    fprog = _SockFprog(len(program) // 8, ctypes.cast(buffer, ctypes.c_void_p))
    _check(_prctl(PR_SET_SECCOMP, SECCOMP_MODE_FILTER, ctypes.addressof(fprog), 0, 0), "seccomp")


# -- bpf(2), for the cgroup v2 device program (linux/bpf.h) ----------------------------------------

_BPF_PROG_LOAD = 5
_BPF_PROG_ATTACH = 8
_BPF_PROG_TYPE_CGROUP_DEVICE = 15
_BPF_CGROUP_DEVICE = 6


def _bpf(command: int, attr: bytes, what: str) -> int:
    buffer = ctypes.create_string_buffer(attr.ljust(128, b"\0"), 128)
    return _check(_syscall(_long(NUMBERS["bpf"]), ctypes.c_int(command), buffer, ctypes.c_uint(128)), what)


def attach_device_program(cgroup_dir: str, program: bytes) -> None:
    """Load a BPF_PROG_TYPE_CGROUP_DEVICE program and attach it to a cgroup v2 directory,
    which then holds it (the descriptors can go)."""
    import struct

    code = ctypes.create_string_buffer(program, len(program))
    license = ctypes.create_string_buffer(b"GPL")
    # union bpf_attr for BPF_PROG_LOAD: prog_type, insn_cnt, insns, license (the rest zero)
    attr = struct.pack("<IIQQ", _BPF_PROG_TYPE_CGROUP_DEVICE, len(program) // 8,
                       ctypes.addressof(code), ctypes.addressof(license))
    prog = _bpf(_BPF_PROG_LOAD, attr, "load the device program")
    try:
        target = os.open(cgroup_dir, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
        try:
            # BPF_PROG_ATTACH: target_fd, attach_bpf_fd, attach_type, attach_flags
            _bpf(_BPF_PROG_ATTACH, struct.pack("<IIII", target, prog, _BPF_CGROUP_DEVICE, 0),
                 "attach the device program")
        finally:
            os.close(target)
    finally:
        os.close(prog)




def pidfd_getfd(pidfd: int, target_fd: int) -> int:
    """A copy of another process's descriptor (as root: ptrace access to it), close-on-exec."""
    return _check(_syscall(_long(NUMBERS["pidfd_getfd"]), ctypes.c_int(pidfd), ctypes.c_int(target_fd),
                                ctypes.c_uint(0)), "pidfd_getfd")
