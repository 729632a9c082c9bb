"""System call numbers by machine, for the calls glibc does not wrap (syscalls.py makes them
by number), kept apart from ctypes so that any command can check the machine at no cost.

The older numbers differ by machine: x86_64 has its own table, and aarch64 uses
asm-generic's. The calls added since Linux 5.1 have one number everywhere. On any other
machine the numbers are -1 (ENOSYS, never some other call), and the CLI refuses to start.
"""

import os

MACHINE = os.uname().machine
_BY_MACHINE = {
    "x86_64": {"pivot_root": 155, "keyctl": 250, "bpf": 321},
    "aarch64": {"pivot_root": 41, "keyctl": 219, "bpf": 280},
}
_EVERYWHERE = {"open_tree": 428, "move_mount": 429, "openat2": 437, "pidfd_getfd": 438, "mount_setattr": 442}
NUMBERS = {**dict.fromkeys(_BY_MACHINE["x86_64"], -1), **_BY_MACHINE.get(MACHINE, {}), **_EVERYWHERE}


def unsupported() -> str | None:
    """Why tinydocker cannot run on this machine, or None."""
    if MACHINE in _BY_MACHINE:
        return None
    return f"tinydocker runs on x86_64 and aarch64 machines; this one is {MACHINE}"
