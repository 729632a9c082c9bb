"""`--tmpfs PATH[:OPTIONS]`: an empty tmpfs at PATH, made inside the container's root.

Docker's defaults, rw,noexec,nosuid,nodev, then the user's options: the flag words
(ro, rw, exec, noexec, suid, nosuid, dev, nodev) become mount flags, the rest (size=,
mode=, uid=, gid=, nr_inodes=) tmpfs's own options.
"""

import os

from ..errors import TinydockerError
from ..linux import mount_options, syscalls as sc

_WORDS = ("ro", "rw", "noexec", "exec", "nosuid", "suid", "nodev", "dev")  # docker's --tmpfs flag words
_DATA = ("size", "mode", "uid", "gid", "nr_inodes", "nr_blocks", "huge", "mpol")


def parse(flag: str) -> dict:
    path, _, options = flag.partition(":")
    if not path.startswith("/") or path == "/" or "\0" in flag:
        raise TinydockerError(f"invalid --tmpfs {flag!r}: want an absolute PATH[:OPTIONS], not /")
    flags, data = sc.MS_NOEXEC | sc.MS_NOSUID | sc.MS_NODEV, []
    for option in filter(None, options.split(",")):
        if option in _WORDS:
            on, bit = mount_options.FLAGS[option]
            flags = flags | bit if on else flags & ~bit
        elif option.partition("=")[0] in _DATA and "=" in option:
            data.append(option)
        else:
            raise TinydockerError(f"invalid --tmpfs {flag!r}: unknown option {option!r}")
    return {"path": os.path.normpath(path), "flags": flags, "data": ",".join(data)}
