"""The default seccomp filter: the system calls a container has no business making fail
with EPERM, with the effect of docker's and podman's default profile.

Docker's profile is an allow-list of about 350 calls; this one denies by name what that
list leaves out or allows only with a capability, which reads in one screen. Where docker
ties a call to a capability (mount to SYS_ADMIN, clock_settime to SYS_TIME...), a
container given that capability may make it here too.

The filter is compiled with libseccomp (through ctypes: it is the library that knows
every architecture's numbers, including the 32-bit x86 and x32 ABIs an x86_64 process can
enter) and exported as BPF once; the BPF is cached under the data root by a digest of the
rules, so a run only reads a few hundred bytes and loads them with prctl in the child.
"""

import ctypes
import errno
import json
import os
from pathlib import Path

from ..errors import TinydockerError
from ..linux.files import write_atomic

# (capability that lifts the denial, or None) → calls
DENIED = {
    None: [
        # the kernel's keyrings are not namespaced
        "add_key", "keyctl", "request_key",
        # page-fault handling in user space (a tool for kernel exploits), the audit trail
        "userfaultfd", "lookup_dcookie",
        # obsolete or host-wide
        "nfsservctl", "uselib", "ustat", "sysfs", "_sysctl", "vm86", "vm86old", "get_kernel_syms",
        "query_module", "create_module", "afs_syscall", "tuxcall", "security", "vserver", "getpmsg", "putpmsg",
    ],
    "SYS_ADMIN": [
        # mounts, namespaces and the root: the container's own are made for it already
        "mount", "umount", "umount2", "pivot_root", "unshare", "setns", "fsopen", "fsconfig", "fsmount", "fspick",
        "open_tree", "move_mount", "mount_setattr", "quotactl", "quotactl_fd", "fanotify_init",
        "name_to_handle_at", "swapon", "swapoff",
    ],
    "DAC_READ_SEARCH": ["open_by_handle_at"],  # "Shocker": open any inode of the host by handle
    "SYS_MODULE": ["init_module", "finit_module", "delete_module"],
    "SYS_BOOT": ["reboot", "kexec_load", "kexec_file_load"],
    "SYS_TIME": ["settimeofday", "stime", "clock_settime", "clock_settime64", "clock_adjtime", "clock_adjtime64"],
    "SYS_PACCT": ["acct"],
    "SYS_RAWIO": ["iopl", "ioperm"],
    "SYSLOG": ["syslog"],
    "SYS_NICE": ["mbind", "set_mempolicy", "move_pages", "migrate_pages"],
    "BPF": ["bpf"],
    "PERFMON": ["perf_event_open"],
}
# clone with any of these flags makes namespaces: allowed only with SYS_ADMIN
NAMESPACE_FLAGS = [0x00020000, 0x02000000, 0x04000000, 0x08000000, 0x10000000, 0x20000000, 0x40000000, 0x00000080]
# personality(2) as docker allows it: Linux, 32-bit Linux, UNAME26 of either, and 0xffffffff
# (a query); the other flags weaken the address space layout (ADDR_NO_RANDOMIZE...)
PERSONALITY_ALLOWED = [0x0, 0x8, 0x20000, 0x20008, 0xFFFFFFFF]

_ALLOW = 0x7FFF0000
_ERRNO = 0x00050000
_SCMP_ARCH_X86 = 0x40000003
_SCMP_ARCH_X32 = 0x4000003E
_SCMP_ARCH_X86_64 = 0xC000003E
_SCMP_ARCH_ARM = 0x40000028
_SCMP_ARCH_AARCH64 = 0xC00000B7


class _ArgCmp(ctypes.Structure):
    _fields_ = [("arg", ctypes.c_uint), ("op", ctypes.c_int), ("a", ctypes.c_uint64), ("b", ctypes.c_uint64)]


def rules(caps: list[str]) -> dict:
    """The rules for a container holding `caps`: plain data, also the cache key."""
    held = set(caps)
    names = sorted({n for cap, calls in DENIED.items() if cap is None or cap not in held for n in calls})
    return {"deny": names, "clone_namespaces": "SYS_ADMIN" not in held}


def cached(cache: Path, key_data, make) -> bytes:
    import hashlib

    key = hashlib.sha256(json.dumps(key_data, sort_keys=True).encode()).hexdigest()[:32]
    path = cache / f"{key}.bpf"
    try:
        return path.read_bytes()
    except FileNotFoundError:
        pass
    program = make()
    cache.mkdir(parents=True, exist_ok=True)
    write_atomic(path, program)
    return program


# -- docker's JSON profiles (--security-opt seccomp=PROFILE.json) ---------------------------------

ACTIONS = {"SCMP_ACT_KILL": 0x00000000, "SCMP_ACT_KILL_THREAD": 0x00000000, "SCMP_ACT_KILL_PROCESS": 0x80000000,
            "SCMP_ACT_TRAP": 0x00030000, "SCMP_ACT_ALLOW": _ALLOW, "SCMP_ACT_LOG": 0x7FFC0000}
OPERATORS = {"SCMP_CMP_NE": 1, "SCMP_CMP_LT": 2, "SCMP_CMP_LE": 3, "SCMP_CMP_EQ": 4, "SCMP_CMP_GE": 5,
        "SCMP_CMP_GT": 6, "SCMP_CMP_MASKED_EQ": 7}
ARCHES = {"SCMP_ARCH_X86": _SCMP_ARCH_X86, "SCMP_ARCH_X32": _SCMP_ARCH_X32, "SCMP_ARCH_X86_64": _SCMP_ARCH_X86_64,
           "SCMP_ARCH_ARM": _SCMP_ARCH_ARM, "SCMP_ARCH_AARCH64": _SCMP_ARCH_AARCH64}
# this machine's libseccomp name, and how a profile's includes/excludes name it
NATIVE_ARCH = {"aarch64": "SCMP_ARCH_AARCH64"}.get(os.uname().machine, "SCMP_ARCH_X86_64")
_ARCH_WORDS = {"aarch64": {"arm64", "aarch64"}}.get(os.uname().machine, {"amd64", "x86_64"})


def check_profile(text: str, source: str) -> None:
    """Refuse a profile that is not docker's format, naming the file."""
    try:
        profile = json.loads(text)
        _action(profile["defaultAction"], profile.get("defaultErrnoRet"))
        for call in profile.get("syscalls") or []:
            _action(call["action"], call.get("errnoRet"))
            for arg in call.get("args") or []:
                OPERATORS[arg["op"]], int(arg["index"]), int(arg["value"])
    except (ValueError, KeyError, TypeError) as e:
        raise TinydockerError(f"invalid seccomp profile {source}: {e}") from None


def _action(name: str, errno_ret) -> int:
    if name == "SCMP_ACT_ERRNO":
        return _ERRNO | (int(errno_ret) if errno_ret is not None else errno.EPERM) & 0xFFFF
    if name == "SCMP_ACT_TRACE":
        return 0x7FF00000 | (int(errno_ret) if errno_ret is not None else errno.EPERM) & 0xFFFF
    if name not in ACTIONS:
        raise ValueError(f"unsupported action {name!r}")
    return ACTIONS[name]


def applies(call: dict, caps: set[str]) -> bool:
    """docker's includes/excludes: every included capability held, none of the excluded;
    the architecture named (as amd64 or x86_64), the kernel new enough."""
    includes, excludes = call.get("includes") or {}, call.get("excludes") or {}
    if any(c.upper().removeprefix("CAP_") not in caps for c in includes.get("caps") or []):
        return False
    if any(c.upper().removeprefix("CAP_") in caps for c in excludes.get("caps") or []):
        return False
    if includes.get("arches") and not _ARCH_WORDS & set(includes["arches"]):
        return False
    if excludes.get("arches") and _ARCH_WORDS & set(excludes["arches"]):
        return False
    if includes.get("minKernel"):
        wanted = tuple(int(x) for x in includes["minKernel"].split(".")[:2])
        running = tuple(int(x) for x in os.uname().release.split("-")[0].split(".")[:2])
        if running < wanted:
            return False
    return True


def compile_profile(profile: dict, caps: list[str]) -> bytes:
    """A docker-format profile as BPF, for a container holding `caps`."""
    lib = _library()
    default = _action(profile["defaultAction"], profile.get("defaultErrnoRet"))
    ctx = lib.seccomp_init(default)
    if not ctx:
        raise TinydockerError("libseccomp could not make a filter")
    try:
        native = lib.seccomp_arch_native()
        extra = set()
        for entry in profile.get("archMap") or []:
            if ARCHES.get(entry.get("architecture")) == native:
                extra |= {ARCHES[a] for a in entry.get("subArchitectures") or [] if a in ARCHES}
        extra |= {ARCHES[a] for a in profile.get("architectures") or [] if a in ARCHES}
        for arch in extra - {native}:
            _ok(lib.seccomp_arch_add(ctx, arch), "add an architecture")
        held = set(caps)
        for call in profile.get("syscalls") or []:
            if not applies(call, held):
                continue
            action = _action(call["action"], call.get("errnoRet"))
            if action == default:
                continue  # libseccomp refuses a rule that says what the default says
            cmps = [_ArgCmp(int(a["index"]), OPERATORS[a["op"]], int(a["value"]), int(a.get("valueTwo") or 0))
                    for a in call.get("args") or []]
            array = (_ArgCmp * max(len(cmps), 1))(*cmps)
            for name in call.get("names") or ([call["name"]] if call.get("name") else []):
                number = lib.seccomp_syscall_resolve_name(name.encode())
                if number < 0:
                    continue
                ret = lib.seccomp_rule_add_array(ctx, action, number, len(cmps), array)
                if ret != -errno.EEXIST:  # a second rule for the same call and arguments: the first holds
                    _ok(ret, f"add a rule for {name}")
        return _export(lib, ctx)
    finally:
        lib.seccomp_release(ctx)


def _library():
    try:
        lib = ctypes.CDLL("libseccomp.so.2", use_errno=True)
    except OSError:
        raise TinydockerError("the default seccomp filter needs libseccomp (Debian: apt-get install libseccomp2), "
                              "or run with --security-opt seccomp=unconfined") from None
    lib.seccomp_init.restype = ctypes.c_void_p
    lib.seccomp_init.argtypes = [ctypes.c_uint32]
    lib.seccomp_release.argtypes = [ctypes.c_void_p]
    lib.seccomp_arch_native.restype = ctypes.c_uint32
    lib.seccomp_arch_add.argtypes = [ctypes.c_void_p, ctypes.c_uint32]
    lib.seccomp_syscall_resolve_name.argtypes = [ctypes.c_char_p]
    lib.seccomp_rule_add_array.argtypes = [ctypes.c_void_p, ctypes.c_uint32, ctypes.c_int, ctypes.c_uint,
                                           ctypes.POINTER(_ArgCmp)]
    lib.seccomp_export_bpf.argtypes = [ctypes.c_void_p, ctypes.c_int]
    return lib


def default_profile(wanted: dict) -> dict:
    """The default filter for `wanted` (rules()) as a profile in docker's and the
    runtime-spec's form: what this module compiles, and what a bundle gives an OCI runtime."""
    native = NATIVE_ARCH
    compat = {"SCMP_ARCH_X86_64": ["SCMP_ARCH_X86", "SCMP_ARCH_X32"], "SCMP_ARCH_AARCH64": ["SCMP_ARCH_ARM"]}

    def masked(mask: int, value: int) -> dict:
        return {"index": 0, "value": mask, "valueTwo": value, "op": "SCMP_CMP_MASKED_EQ"}

    calls = [{"names": list(wanted["deny"]), "action": "SCMP_ACT_ERRNO", "errnoRet": errno.EPERM}]
    if wanted["clone_namespaces"]:
        calls += [{"names": ["clone"], "action": "SCMP_ACT_ERRNO", "errnoRet": errno.EPERM, "args": [masked(f, f)]}
                  for f in NAMESPACE_FLAGS]
        # its flags sit in memory, out of a filter's reach: ENOSYS makes libc fall back to clone
        calls.append({"names": ["clone3"], "action": "SCMP_ACT_ERRNO", "errnoRet": errno.ENOSYS})
    calls += [{"names": ["personality"], "action": "SCMP_ACT_ERRNO", "errnoRet": errno.EPERM, "args": [masked(m, v)]}
              for m, v in _personality_denials()]
    return {"defaultAction": "SCMP_ACT_ALLOW", "architectures": [native, *compat.get(native, [])], "syscalls": calls}


def _export(lib, ctx) -> bytes:
    out = os.memfd_create("seccomp", os.MFD_CLOEXEC)
    try:
        _ok(lib.seccomp_export_bpf(ctx, out), "export the filter")
        size = os.lseek(out, 0, os.SEEK_END)
        return os.pread(out, size, 0)
    finally:
        os.close(out)


def _personality_denials() -> list[tuple[int, int]]:
    """PERSONALITY_ALLOWED as denials, each one masked comparison (libseccomp compares an
    argument once per rule). The kernel reads the low 32 bits. With bit 31 clear, any bit
    but 3 and 17 set is denied; with bit 31 set, any of bits 0-30 clear is (only
    0xffffffff has it set and is allowed)."""
    high = 1 << 31
    allowed_low = 0x8 | 0x20000
    denials = [(high | 1 << bit, 1 << bit) for bit in range(31) if not allowed_low >> bit & 1]
    denials += [(high | 1 << bit, high) for bit in range(31)]
    return denials


def _ok(ret: int, what: str) -> None:
    if ret < 0:
        raise TinydockerError(f"libseccomp could not {what}: {os.strerror(-ret)}")
