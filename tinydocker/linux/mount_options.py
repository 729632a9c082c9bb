"""mount(8)'s option words as mount(2) flags: one table for every reader of mount options
(a bundle's mounts, --tmpfs, --mount type=tmpfs)."""

# the MS_* bits by name (linux/mount.h)
MS = {"RDONLY": 1, "NOSUID": 2, "NODEV": 4, "NOEXEC": 8, "SYNCHRONOUS": 16, "REMOUNT": 32, "MANDLOCK": 64,
      "DIRSYNC": 128, "NOSYMFOLLOW": 256, "NOATIME": 1024, "NODIRATIME": 2048, "BIND": 4096, "REC": 16384,
      "SILENT": 32768, "POSIXACL": 1 << 16, "UNBINDABLE": 1 << 17, "PRIVATE": 1 << 18, "SLAVE": 1 << 19,
      "SHARED": 1 << 20, "RELATIME": 1 << 21, "I_VERSION": 1 << 23, "STRICTATIME": 1 << 24, "LAZYTIME": 1 << 25}
# the filesystem-independent options that are flags: word -> (set?, MS_* bit); "set" False
# clears the bit (rw, suid, ...); anything else with "=" is filesystem data
FLAGS = {
    "defaults": (True, 0), "ro": (True, MS["RDONLY"]), "rw": (False, MS["RDONLY"]),
    "nosuid": (True, MS["NOSUID"]), "suid": (False, MS["NOSUID"]),
    "nodev": (True, MS["NODEV"]), "dev": (False, MS["NODEV"]),
    "noexec": (True, MS["NOEXEC"]), "exec": (False, MS["NOEXEC"]),
    "sync": (True, MS["SYNCHRONOUS"]), "async": (False, MS["SYNCHRONOUS"]),
    "dirsync": (True, MS["DIRSYNC"]), "remount": (True, MS["REMOUNT"]),
    "mand": (True, MS["MANDLOCK"]), "nomand": (False, MS["MANDLOCK"]),
    "noatime": (True, MS["NOATIME"]), "atime": (False, MS["NOATIME"]),
    "nodiratime": (True, MS["NODIRATIME"]), "diratime": (False, MS["NODIRATIME"]),
    "relatime": (True, MS["RELATIME"]), "norelatime": (False, MS["RELATIME"]),
    "strictatime": (True, MS["STRICTATIME"]), "nostrictatime": (False, MS["STRICTATIME"]),
    "lazytime": (True, MS["LAZYTIME"]), "nolazytime": (False, MS["LAZYTIME"]),
    "iversion": (True, MS["I_VERSION"]), "noiversion": (False, MS["I_VERSION"]),
    "nosymfollow": (True, MS["NOSYMFOLLOW"]), "symfollow": (False, MS["NOSYMFOLLOW"]),
    "acl": (True, MS["POSIXACL"]), "noacl": (False, MS["POSIXACL"]),
    "silent": (True, MS["SILENT"]), "loud": (False, MS["SILENT"]),
    "bind": (True, MS["BIND"]), "rbind": (True, MS["BIND"] | MS["REC"]),
}
# propagation options: a second mount(2) call with only these bits
PROPAGATION = {
    "private": MS["PRIVATE"], "rprivate": MS["PRIVATE"] | MS["REC"],
    "slave": MS["SLAVE"], "rslave": MS["SLAVE"] | MS["REC"],
    "shared": MS["SHARED"], "rshared": MS["SHARED"] | MS["REC"],
    "unbindable": MS["UNBINDABLE"], "runbindable": MS["UNBINDABLE"] | MS["REC"],
}
