"""The names the runtime knows, in one place: the config loader accepts exactly these and
`features` lists exactly these, so what we advertise and what we accept cannot drift apart.

Each table lists only what tinydocker can honour; a name the runtime-spec (or runc) knows but
that is missing here is refused at load with the field named.
"""

from ..linux.mount_options import FLAGS as MOUNT_FLAGS, PROPAGATION as MOUNT_PROPAGATION  # noqa: F401
from ..security import capabilities, seccomp

# the runtime-spec versions this loader reads: every 1.x (the spec keeps the 1.x series
# compatible), with the fields added after 1.0.2 refused by name (see config.py)
OCI_VERSION_MIN = "1.0.0"
OCI_VERSION_MAX = "1.0.2-dev"  # what runc 1.1.5 says it implements; engines write it too

# the hook points, in the order a container meets them (prestart: the spec's older name)
HOOKS = ("prestart", "createRuntime", "createContainer", "startContainer", "poststart", "poststop")

# the namespace types of runtime-spec 1.0 ("time" came with 1.1 and is refused)
NAMESPACES = ("cgroup", "ipc", "mount", "network", "pid", "user", "uts")

# the capabilities by their config.json names (CAP_*), in number order
CAPABILITIES = tuple("CAP_" + name for name in capabilities.NAMES)

# setrlimit(2)'s resources -> their number on Linux (asm-generic/resource.h)
RLIMITS = {
    "RLIMIT_CPU": 0, "RLIMIT_FSIZE": 1, "RLIMIT_DATA": 2, "RLIMIT_STACK": 3, "RLIMIT_CORE": 4, "RLIMIT_RSS": 5,
    "RLIMIT_NPROC": 6, "RLIMIT_NOFILE": 7, "RLIMIT_MEMLOCK": 8, "RLIMIT_AS": 9, "RLIMIT_LOCKS": 10,
    "RLIMIT_SIGPENDING": 11, "RLIMIT_MSGQUEUE": 12, "RLIMIT_NICE": 13, "RLIMIT_RTPRIO": 14, "RLIMIT_RTTIME": 15,
}

# runc's and crun's own option, no kernel flag: the tmpfs starts with a copy of what the image
# has at its destination (podman's --tmpfs asks for it); tmpfs only
MOUNT_COPY_UP = "tmpcopyup"
# bare words that are filesystem data, not flags (devpts' own instance)
MOUNT_DATA_WORDS = ("newinstance", "userxattr")  # userxattr: overlayfs in a user namespace
# the filesystem types the issue asks for; "bind"/"none" with a bind option is a bind mount
MOUNT_TYPES = ("bind", "proc", "sysfs", "tmpfs", "devpts", "mqueue", "cgroup", "cgroup2", "overlay")

# rootfsPropagation's values
ROOTFS_PROPAGATION = ("private", "rprivate", "slave", "rslave", "shared", "rshared", "unbindable", "runbindable")

# seccomp, as tinydocker's filter compiler (security/seccomp.py) builds it; SCMP_ACT_NOTIFY needs
# a listener (listenerPath), which is not supported
SECCOMP_ACTIONS = (*seccomp.ACTIONS, "SCMP_ACT_ERRNO", "SCMP_ACT_TRACE")  # those two take a value
SECCOMP_OPERATORS = tuple(seccomp.OPERATORS)
SECCOMP_ARCHES = tuple(seccomp.ARCHES)
# seccomp(2) SECCOMP_SET_MODE_FILTER flags by name -> bit
SECCOMP_FLAGS = {"SECCOMP_FILTER_FLAG_TSYNC": 1, "SECCOMP_FILTER_FLAG_LOG": 2, "SECCOMP_FILTER_FLAG_SPEC_ALLOW": 4}

# resources.devices' types and access letters
DEVICE_RULE_TYPES = ("a", "c", "b")
DEVICE_TYPES = ("c", "b", "u", "p")

# which namespace a sysctl belongs to (runc's rule): a sysctl of none of these would change the host
SYSCTL_IPC = ("kernel.msgmax", "kernel.msgmnb", "kernel.msgmni", "kernel.sem", "kernel.shmall", "kernel.shmmax",
              "kernel.shmmni", "kernel.shm_rmid_forced")
SYSCTL_IPC_PREFIXES = ("fs.mqueue.",)
SYSCTL_UTS = ("kernel.domainname", "kernel.hostname")
SYSCTL_NET_PREFIXES = ("net.",)

# cgroup hierarchies tinydocker's cgroups package drives; the systemd driver is not implemented
CGROUP = {"v1": True, "v2": True, "systemd": False, "systemdUser": False}
