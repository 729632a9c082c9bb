"""overlayfs' own marks on disk, in whichever namespace of xattrs this process may write.

Root in the initial user namespace marks an opaque directory with trusted.overlay.opaque, as
overlayfs reads it by default. trusted.* needs CAP_SYS_ADMIN there, so an ordinary user (or
root of a user namespace) marks it with user.overlay.opaque instead, which an overlay mounted
with `userxattr` reads. Both prefixes are overlayfs' own: a layer may set neither.
"""

import os

OWN_PREFIXES = ("trusted.overlay.", "user.overlay.")
_initial: bool | None = None


def in_initial_namespace() -> bool:
    """Whether this process is root's kind: euid 0 in the machine's own user namespace."""
    global _initial
    if os.geteuid() != 0:
        return False
    if _initial is None:
        try:
            with open("/proc/self/uid_map") as f:
                _initial = f.read().split() == ["0", "0", "4294967295"]
        except OSError:
            _initial = True
    return _initial


def opaque_xattr() -> str:
    return "trusted.overlay.opaque" if in_initial_namespace() else "user.overlay.opaque"


def is_opaque(directory: str, follow_symlinks: bool = False) -> bool:
    try:
        return os.getxattr(directory, opaque_xattr(), follow_symlinks=follow_symlinks) == b"y"
    except OSError:
        return False


def options(lower: str, upper: str | None = None, work: str | None = None) -> str:
    """mount(2)'s data for an overlay of `lower` ("a:b", top first): writable with `upper` and
    `work`, else read-only layers. No index, metacopy or redirects, so that an upper stays a
    plain tree a commit can tar. In a user namespace its marks are user.* xattrs (userxattr),
    and redirect_dir=off is refused there: nofollow neither makes nor follows a redirect."""
    data = f"lowerdir={lower}"
    if upper is not None:
        data += f",upperdir={upper},workdir={work},index=off,metacopy=off"
        if in_initial_namespace():
            data += ",redirect_dir=off"
    if not in_initial_namespace():
        data += ",redirect_dir=nofollow,userxattr"
    return data


def mountable_in_user_namespace(release: str | None = None) -> bool:
    """Whether the kernel (`release`, default this one's) mounts overlayfs in a user namespace:
    from Linux 5.11 on."""
    import re

    found = re.match(r"(\d+)\.(\d+)", release or os.uname().release)
    return found is not None and (int(found[1]), int(found[2])) >= (5, 11)
