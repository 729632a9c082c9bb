"""The names the runtime knows, in one place: the config loader accepts exactly these and
`features` lists exactly these, so what we advertise and what we accept cannot drift apart.

Each table lists only what tinydocker can honour; a name the runtime-spec (or runc) knows but
that is missing here is refused at load with the field named.
"""

# the runtime-spec versions this loader reads: every 1.x (the spec keeps the 1.x series
# compatible), with the fields added after 1.0.2 refused by name (see config.py)
OCI_VERSION_MIN = "1.0.0"
OCI_VERSION_MAX = "1.0.2-dev"  # what runc 1.1.5 says it implements; engines write it too

# the hook points, in the order a container meets them (prestart: the spec's older name)
HOOKS = ("prestart", "createRuntime", "createContainer", "startContainer", "poststart", "poststop")

# the namespace types of runtime-spec 1.0 ("time" came with 1.1 and is refused)
NAMESPACES = ("cgroup", "ipc", "mount", "network", "pid", "user", "uts")

# linux/capability.h, by number (0..40, Linux 5.9)
CAPABILITIES = tuple("CAP_" + name for name in (
    "CHOWN", "DAC_OVERRIDE", "DAC_READ_SEARCH", "FOWNER", "FSETID", "KILL", "SETGID", "SETUID", "SETPCAP",
    "LINUX_IMMUTABLE", "NET_BIND_SERVICE", "NET_BROADCAST", "NET_ADMIN", "NET_RAW", "IPC_LOCK", "IPC_OWNER",
    "SYS_MODULE", "SYS_RAWIO", "SYS_CHROOT", "SYS_PTRACE", "SYS_PACCT", "SYS_ADMIN", "SYS_BOOT", "SYS_NICE",
    "SYS_RESOURCE", "SYS_TIME", "SYS_TTY_CONFIG", "MKNOD", "LEASE", "AUDIT_WRITE", "AUDIT_CONTROL", "SETFCAP",
    "MAC_OVERRIDE", "MAC_ADMIN", "SYSLOG", "WAKE_ALARM", "BLOCK_SUSPEND", "AUDIT_READ", "PERFMON", "BPF",
    "CHECKPOINT_RESTORE",
))

# setrlimit(2)'s resources -> their number on Linux (asm-generic/resource.h)
RLIMITS = {
    "RLIMIT_CPU": 0, "RLIMIT_FSIZE": 1, "RLIMIT_DATA": 2, "RLIMIT_STACK": 3, "RLIMIT_CORE": 4, "RLIMIT_RSS": 5,
    "RLIMIT_NPROC": 6, "RLIMIT_NOFILE": 7, "RLIMIT_MEMLOCK": 8, "RLIMIT_AS": 9, "RLIMIT_LOCKS": 10,
    "RLIMIT_SIGPENDING": 11, "RLIMIT_MSGQUEUE": 12, "RLIMIT_NICE": 13, "RLIMIT_RTPRIO": 14, "RLIMIT_RTTIME": 15,
}

# mount(8)'s filesystem-independent options that are mount flags: name -> (set?, MS_* bit).
# "set" False clears the bit (rw, suid, ...). Anything else with "=" is filesystem data.
_MS = {"RDONLY": 1, "NOSUID": 2, "NODEV": 4, "NOEXEC": 8, "SYNCHRONOUS": 16, "REMOUNT": 32, "MANDLOCK": 64,
       "DIRSYNC": 128, "NOSYMFOLLOW": 256, "NOATIME": 1024, "NODIRATIME": 2048, "BIND": 4096, "REC": 16384,
       "SILENT": 32768, "POSIXACL": 1 << 16, "UNBINDABLE": 1 << 17, "PRIVATE": 1 << 18, "SLAVE": 1 << 19,
       "SHARED": 1 << 20, "RELATIME": 1 << 21, "I_VERSION": 1 << 23, "STRICTATIME": 1 << 24, "LAZYTIME": 1 << 25}
MOUNT_FLAGS = {
    "defaults": (True, 0), "ro": (True, _MS["RDONLY"]), "rw": (False, _MS["RDONLY"]),
    "nosuid": (True, _MS["NOSUID"]), "suid": (False, _MS["NOSUID"]),
    "nodev": (True, _MS["NODEV"]), "dev": (False, _MS["NODEV"]),
    "noexec": (True, _MS["NOEXEC"]), "exec": (False, _MS["NOEXEC"]),
    "sync": (True, _MS["SYNCHRONOUS"]), "async": (False, _MS["SYNCHRONOUS"]),
    "dirsync": (True, _MS["DIRSYNC"]), "remount": (True, _MS["REMOUNT"]),
    "mand": (True, _MS["MANDLOCK"]), "nomand": (False, _MS["MANDLOCK"]),
    "noatime": (True, _MS["NOATIME"]), "atime": (False, _MS["NOATIME"]),
    "nodiratime": (True, _MS["NODIRATIME"]), "diratime": (False, _MS["NODIRATIME"]),
    "relatime": (True, _MS["RELATIME"]), "norelatime": (False, _MS["RELATIME"]),
    "strictatime": (True, _MS["STRICTATIME"]), "nostrictatime": (False, _MS["STRICTATIME"]),
    "lazytime": (True, _MS["LAZYTIME"]), "nolazytime": (False, _MS["LAZYTIME"]),
    "iversion": (True, _MS["I_VERSION"]), "noiversion": (False, _MS["I_VERSION"]),
    "nosymfollow": (True, _MS["NOSYMFOLLOW"]), "symfollow": (False, _MS["NOSYMFOLLOW"]),
    "acl": (True, _MS["POSIXACL"]), "noacl": (False, _MS["POSIXACL"]),
    "silent": (True, _MS["SILENT"]), "loud": (False, _MS["SILENT"]),
    "bind": (True, _MS["BIND"]), "rbind": (True, _MS["BIND"] | _MS["REC"]),
}
# propagation options: a second mount(2) call with only these bits
MOUNT_PROPAGATION = {
    "private": _MS["PRIVATE"], "rprivate": _MS["PRIVATE"] | _MS["REC"],
    "slave": _MS["SLAVE"], "rslave": _MS["SLAVE"] | _MS["REC"],
    "shared": _MS["SHARED"], "rshared": _MS["SHARED"] | _MS["REC"],
    "unbindable": _MS["UNBINDABLE"], "runbindable": _MS["UNBINDABLE"] | _MS["REC"],
}
# runc's and crun's own option, no kernel flag: the tmpfs starts with a copy of what the image
# has at its destination (podman's --tmpfs asks for it); tmpfs only
MOUNT_COPY_UP = "tmpcopyup"
# bare words that are filesystem data, not flags (devpts' own instance)
MOUNT_DATA_WORDS = ("newinstance",)
# the filesystem types the issue asks for; "bind"/"none" with a bind option is a bind mount
MOUNT_TYPES = ("bind", "proc", "sysfs", "tmpfs", "devpts", "mqueue", "cgroup", "cgroup2")

# rootfsPropagation's values
ROOTFS_PROPAGATION = ("private", "rprivate", "slave", "rslave", "shared", "rshared", "unbindable", "runbindable")

# seccomp, as tinydocker's filter compiler (security/seccomp.py) builds it; SCMP_ACT_NOTIFY needs
# a listener (listenerPath), which is not supported
SECCOMP_ACTIONS = ("SCMP_ACT_ALLOW", "SCMP_ACT_ERRNO", "SCMP_ACT_KILL", "SCMP_ACT_KILL_PROCESS",
                   "SCMP_ACT_KILL_THREAD", "SCMP_ACT_LOG", "SCMP_ACT_TRACE", "SCMP_ACT_TRAP")
SECCOMP_OPERATORS = ("SCMP_CMP_EQ", "SCMP_CMP_GE", "SCMP_CMP_GT", "SCMP_CMP_LE", "SCMP_CMP_LT",
                     "SCMP_CMP_MASKED_EQ", "SCMP_CMP_NE")
SECCOMP_ARCHES = ("SCMP_ARCH_AARCH64", "SCMP_ARCH_ARM", "SCMP_ARCH_X32", "SCMP_ARCH_X86", "SCMP_ARCH_X86_64")
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
