"""What a forked child does first with the descriptors it inherited.

A fork copies every descriptor of every thread of the process. A child that then waits
(for its orders, for its container to start) would keep another thread's flock held, or
its half-written file open, long after that thread let go: the lock's owner is the open
file description, and close-on-exec acts only at the exec. So such a child lets go of
everything it was not handed at once. Each descriptor is replaced by /dev/null rather
than closed: the number stays taken, so a Python object of the parent's that still
thinks it owns that number cannot, when collected in the child, close a file the child
has opened since. The replacements are close-on-exec.
"""

import os


def drop_inherited(keep) -> None:
    """Point every descriptor from 3 up but those in `keep` at /dev/null (close-on-exec)."""
    keep = set(keep)
    null = os.open(os.devnull, os.O_RDONLY | os.O_CLOEXEC)
    try:
        for name in os.listdir("/proc/self/fd"):
            fd = int(name)
            if fd > 2 and fd != null and fd not in keep:
                try:
                    os.dup2(null, fd, inheritable=False)
                except OSError:
                    pass  # the listing's own descriptor, closed by now
    finally:
        os.close(null)
