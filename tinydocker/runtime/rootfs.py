"""The container's root filesystem, built in the init's new mount namespace, in runc's order:

    every mount private → root.path bind-mounted onto itself → the config's mounts in order →
    the default /dev nodes and links, then linux.devices → pivot_root (chroot with
    --no-pivot) → linux.rootfsPropagation on the new root → maskedPaths, readonlyPaths →
    root.readonly

Every destination is resolved inside the new root (`inside`): a symlink in the rootfs that
points at /etc or ../../ leads to the rootfs's /etc, never the host's.
"""

import os
import stat

from ..linux import syscalls as sc
from .cgroups import own_cgroup
from .config import Config, Mount

MS_SLAVE = 1 << 19
MS_SHARED = 1 << 20
MS_UNBINDABLE = 1 << 17
MS_MOVE = 8192
_PROPAGATION = {"private": sc.MS_PRIVATE, "slave": MS_SLAVE, "shared": MS_SHARED, "unbindable": MS_UNBINDABLE}
_LOCKED = sc.MS_NOSUID | sc.MS_NODEV | sc.MS_NOEXEC

# runc's default nodes: name, major, minor
DEFAULT_DEVICES = (("null", 1, 3), ("zero", 1, 5), ("full", 1, 7), ("random", 1, 8), ("urandom", 1, 9), ("tty", 5, 0))
_LINKS = (("/proc/self/fd", "fd"), ("/proc/self/fd/0", "stdin"), ("/proc/self/fd/1", "stdout"),
          ("/proc/self/fd/2", "stderr"), ("pts/ptmx", "ptmx"))


class SetupError(Exception):
    """A step of the container's setup that failed, said as one line."""


def inside(root: str, path: str) -> str:
    """`path` resolved under `root` as if root were "/": symlinks followed and kept inside,
    ".." stopping at root (filepath-securejoin's rule). Missing components are kept as given."""
    parts = [p for p in path.split("/") if p]
    resolved: list[str] = []
    links = 0
    while parts:
        part = parts.pop(0)
        if part == ".":
            continue
        if part == "..":
            if resolved:
                resolved.pop()
            continue
        candidate = root + "/" + "/".join(resolved + [part])
        try:
            st = os.lstat(candidate)
        except FileNotFoundError:
            resolved.append(part)
            continue
        if stat.S_ISLNK(st.st_mode):
            links += 1
            if links > 255:
                raise SetupError(f"too many symbolic links resolving {path} in the rootfs")
            target = os.readlink(candidate)
            if target.startswith("/"):
                resolved = []
            parts = [p for p in target.split("/") if p] + parts
            continue
        resolved.append(part)
    return root + "/" + "/".join(resolved) if resolved else root


def prepare(config: Config, root: str, leaves=(), in_user_ns: bool = False) -> None:
    """Everything before pivot_root; `root` is root.path on the host, `leaves` the
    container's cgroup directories (what a cgroup mount shows without a cgroup namespace)."""
    # nothing built here may propagate back to the host; linux.rootfsPropagation is given to
    # the container's own root once pivot_root is done (which refuses a shared root)
    sc.mount("none", "/", None, sc.MS_REC | sc.MS_PRIVATE)
    sc.mount(root, root, None, sc.MS_BIND | sc.MS_REC)
    # v1 hierarchies cannot be mounted from a user namespace: the container's own
    # directories are bound instead, as without a cgroup namespace
    own_cgroupns = config.linux.namespace("cgroup") is not None and not in_user_ns
    for m in config.mounts:
        mount_one(root, m, None if own_cgroupns else leaves)
    if not any(m.destination == "/dev" and m.bind for m in config.mounts):
        default_devices(root, in_user_ns)
    for d in config.linux.devices:
        # as runc: /dev/ptmx stays the link to the container's own devpts (podman
        # --privileged lists the host's /dev/ptmx among the devices)
        if os.path.normpath(d.path) != "/dev/ptmx":
            make_device(root, d, in_user_ns)


def _target(root: str, m: Mount) -> str:
    target = inside(root, m.destination)
    source_is_file = m.bind and os.path.exists(m.source) and not os.path.isdir(m.source)
    try:
        if source_is_file:
            os.makedirs(os.path.dirname(target), exist_ok=True)
            if not os.path.lexists(target):
                os.close(os.open(target, os.O_WRONLY | os.O_CREAT | os.O_NOFOLLOW | os.O_CLOEXEC, 0o644))
        else:
            os.makedirs(target, exist_ok=True)
    except OSError as e:
        raise SetupError(f"cannot make the mount point {m.destination} in the rootfs: {e.strerror}") from None
    return target


def mount_one(root: str, m: Mount, cgroup_leaves=None) -> None:
    try:
        if m.bind:
            if not os.path.exists(m.source):
                raise SetupError(f"mount {m.source} on {m.destination}: the source does not exist")
            target = _target(root, m)
            sc.mount(m.source, target, None, sc.MS_BIND | (sc.MS_REC if m.recursive else 0))
            wanted = m.flags & ~(sc.MS_BIND | sc.MS_REC | sc.MS_REMOUNT)
            if wanted:
                # a bind mount takes its flags only in a remount; keep those the source's
                # mount has locked (nosuid, nodev... in a user namespace)
                sc.mount(m.source, target, None, sc.MS_BIND | sc.MS_REMOUNT | wanted | _locked_flags(target))
        elif m.type == "cgroup":
            target = _target(root, m)
            cgroup_filesystems(target, m.flags, cgroup_leaves)
        else:
            target = _target(root, m)
            if m.type == "tmpfs" and m.copy_up:
                _tmpfs_copy_up(target, m)
            else:
                sc.mount(m.source or m.type, target, m.type, m.flags, m.data or None)
        for p in m.propagation:
            sc.mount("none", target, None, p)
    except OSError as e:
        raise SetupError(f"mount {m.source or m.type} on {m.destination}: {e.strerror}") from None


def _locked_flags(target: str) -> int:
    st = os.statvfs(target)
    flags = 0
    for bit, mount_bit in ((os.ST_NOSUID, sc.MS_NOSUID), (os.ST_NODEV, sc.MS_NODEV), (os.ST_NOEXEC, sc.MS_NOEXEC)):
        if st.f_flag & bit:
            flags |= mount_bit
    return flags


def _tmpfs_copy_up(target: str, m: Mount) -> None:
    import shutil
    import tempfile

    scratch = tempfile.mkdtemp(prefix="tmpcopyup-")
    try:
        sc.mount("tmpfs", scratch, "tmpfs", m.flags & ~sc.MS_RDONLY, m.data or None)
        for name in os.listdir(target):
            src = os.path.join(target, name)
            if os.path.isdir(src) and not os.path.islink(src):
                shutil.copytree(src, os.path.join(scratch, name), symlinks=True)
            else:
                shutil.copy2(src, os.path.join(scratch, name), follow_symlinks=False)
        sc.mount(scratch, target, None, MS_MOVE)
        if m.flags & sc.MS_RDONLY:
            sc.mount("none", target, None, sc.MS_REMOUNT | m.flags, m.data or None)
    finally:
        os.rmdir(scratch)


def cgroup_filesystems(target: str, flags: int, leaves=None) -> None:
    """The cgroup hierarchies at `target`: cgroup2 itself on a unified host; on v1 a tmpfs
    holding each hierarchy. In the container's own cgroup namespace each is mounted afresh
    (its root is then the container's cgroup); without one (`leaves` given), the container's
    own directory of each is bind-mounted in its place, as runc does, so that the host's
    tree stays out of sight."""
    with open("/proc/self/mountinfo") as f:
        lines = f.read().splitlines()
    v1, v1_mounts, v2 = [], [], False
    for line in lines:
        before, _, after = line.partition(" - ")
        fstype, _src, options = (after.split() + ["", ""])[:3]
        if fstype == "cgroup":
            keep = [o for o in options.split(",") if o not in ("rw", "ro") and ("=" not in o or o.startswith("name="))]
            name = os.path.basename(before.split()[4])
            if (name, ",".join(keep)) not in v1:
                v1.append((name, ",".join(keep)))
                v1_mounts.append(before.split()[4])
        elif fstype == "cgroup2":
            v2 = True
    base = sc.MS_NOSUID | sc.MS_NOEXEC | sc.MS_NODEV

    def bind(source: str, at: str) -> None:
        sc.mount(source, at, None, sc.MS_BIND)
        sc.mount(source, at, None, sc.MS_BIND | sc.MS_REMOUNT | base | (flags & sc.MS_RDONLY))

    if not v1:
        if v2:
            if leaves is not None and not leaves:
                # a rootless container in its caller's cgroup (none of its own): a user
                # namespace may not mount cgroup2 outside a cgroup namespace of its own
                bind(_v2_mount(lines) + own_cgroup(""), target)
            else:
                try:
                    sc.mount("cgroup2", target, "cgroup2", base | flags)
                except PermissionError:
                    if not leaves:
                        raise
                    # a rootless container with a cgroup of its own (a delegated subtree) but
                    # no cgroup namespace: a user namespace may not mount cgroup2 outside one
                    # of its own, so its leaf is bound instead (runc falls back so too)
                    bind(leaves[0], target)
        return
    sc.mount("tmpfs", target, "tmpfs", base, "mode=755")
    for (name, options), mount_point in zip(v1, v1_mounts):
        os.makedirs(f"{target}/{name}", exist_ok=True)
        own = next((leaf for leaf in leaves or () if leaf.startswith(mount_point + "/")), None)
        if leaves is not None and own is not None:
            bind(own, f"{target}/{name}")
        elif leaves is not None and not leaves:
            # rootless, no cgroup of its own: its caller's, as runc's rootless containers see
            # it (a user namespace may not mount a v1 hierarchy)
            bind(os.path.normpath(mount_point + "/" + own_cgroup(options)), f"{target}/{name}")
        else:
            sc.mount("cgroup", f"{target}/{name}", "cgroup", base | (flags & sc.MS_RDONLY), options)
    if flags & sc.MS_RDONLY:
        sc.mount("tmpfs", target, "tmpfs", base | sc.MS_REMOUNT | sc.MS_RDONLY, "mode=755")


def _v2_mount(mountinfo_lines) -> str:
    for line in mountinfo_lines:
        before, _, after = line.partition(" - ")
        if after.split()[:1] == ["cgroup2"]:
            return before.split()[4]
    return "/sys/fs/cgroup"


def _bind_device(host_path: str, path: str) -> None:
    """A device node in a user namespace, where mknod is refused: the host's, bound."""
    os.close(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_NOFOLLOW | os.O_CLOEXEC, 0o644))
    sc.mount(host_path, path, None, sc.MS_BIND)


def default_devices(root: str, in_user_ns: bool = False) -> None:
    dev = inside(root, "/dev")
    os.makedirs(dev, exist_ok=True)
    for name, major, minor in DEFAULT_DEVICES:
        path = f"{dev}/{name}"
        if os.path.lexists(path):
            os.unlink(path)
        if in_user_ns:
            _bind_device(f"/dev/{name}", path)
            continue
        os.mknod(path, 0o666 | stat.S_IFCHR, os.makedev(major, minor))
        os.chmod(path, 0o666)  # mknod is subject to the umask
    for target, name in _LINKS:
        path = f"{dev}/{name}"
        if name == "ptmx" and not os.path.isdir(f"{dev}/pts"):
            continue
        if os.path.lexists(path):
            if name == "ptmx" or os.path.islink(path):
                os.unlink(path)
            else:
                continue
        os.symlink(target, path)


def make_device(root: str, d, in_user_ns: bool = False) -> None:
    target = inside(root, d.path)
    kind = {"c": stat.S_IFCHR, "u": stat.S_IFCHR, "b": stat.S_IFBLK, "p": stat.S_IFIFO}[d.type]
    mode = d.file_mode if d.file_mode is not None else 0o666
    try:
        os.makedirs(os.path.dirname(target), exist_ok=True)
        if in_user_ns and os.path.lexists(target) and os.stat(target).st_rdev == os.stat(d.path).st_rdev:
            return  # one of the default devices, bound already (a mount point, which unlink refuses)
        if os.path.lexists(target):
            os.unlink(target)
        if in_user_ns:
            _bind_device(d.path, target)  # the host's node of that path, as runc does
            return
        os.mknod(target, kind | mode, os.makedev(d.major or 0, d.minor or 0))
        os.chown(target, d.uid or 0, d.gid or 0)
        os.chmod(target, mode)
    except OSError as e:
        raise SetupError(f"cannot make the device {d.path}: {e.strerror}") from None


def enter(root: str, no_pivot: bool, propagation: str = "") -> None:
    os.chdir(root)
    if no_pivot:
        sc.mount(root, "/", None, MS_MOVE)
        os.chroot(".")
    else:
        # pivot_root(".", ".") stacks the old root on the new one; detaching it leaves the
        # rootfs alone at "/" with no directory of its own for the old root
        sc.pivot_root(".", ".")
        sc.umount2(".", sc.MNT_DETACH)
    os.chdir("/")
    if propagation:
        sc.mount("none", "/", None, sc.MS_REC | _PROPAGATION[propagation.lstrip("r")])


def finish(config: Config) -> None:
    """After pivot_root: the masked and read-only paths, then the read-only root."""
    for path in config.linux.masked_paths:
        try:
            if os.path.isdir(path) and not os.path.islink(path):
                sc.mount("tmpfs", path, "tmpfs", sc.MS_RDONLY | _LOCKED, "size=0k")
            elif os.path.exists(path):
                sc.mount("/dev/null", path, None, sc.MS_BIND)
        except OSError as e:
            raise SetupError(f"cannot mask {path}: {e.strerror}") from None
    for path in config.linux.readonly_paths:
        try:
            if os.path.exists(path):
                sc.mount(path, path, None, sc.MS_BIND | sc.MS_REC)
                sc.mount(path, path, None, sc.MS_BIND | sc.MS_REMOUNT | sc.MS_RDONLY | _locked_flags(path))
        except OSError as e:
            raise SetupError(f"cannot make {path} read-only: {e.strerror}") from None
    if config.root.readonly:
        sc.mount("none", "/", None, sc.MS_BIND | sc.MS_REMOUNT | sc.MS_RDONLY | _locked_flags("/"))
