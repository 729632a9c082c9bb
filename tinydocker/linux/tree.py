"""Directory trees: their size on disk, and a copy that never follows a symlink."""

import os
import stat


def disk_usage(path) -> int:
    """Bytes allocated to everything under `path` (what removing it gives back)."""
    total = 0
    for dirpath, dirnames, filenames in os.walk(path):
        for name in dirnames + filenames:
            try:
                total += os.lstat(os.path.join(dirpath, name)).st_blocks * 512
            except OSError:
                pass
    return total


def copy_contents(source_fd: int, dest: str) -> None:
    """Copy what the directory open as `source_fd` holds into the directory `dest`, with
    owners and modes. Nothing is followed on either side: the source may be a container's
    root, and the destination a volume other containers write into while we copy, so every
    write goes through descriptors and no symlink in `dest` can lead a write out of it.
    Entries already in `dest` are kept."""
    from . import syscalls as sc

    top = os.open(".", os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC, dir_fd=source_fd)
    dest_top = os.open(dest, os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC)
    beneath = sc.RESOLVE_BENEATH | sc.RESOLVE_NO_SYMLINKS | sc.RESOLVE_NO_MAGICLINKS
    try:
        # fwalk hands each source directory over as a descriptor, parents before children
        for relative, dirs, files, dir_fd in os.fwalk(".", dir_fd=top, follow_symlinks=False):
            here = sc.openat2(dest_top, relative, os.O_RDONLY | os.O_DIRECTORY, beneath)
            try:
                for name in dirs + files:
                    _copy_entry(dir_fd, name, here)
            finally:
                os.close(here)
        _same_meta(os.fstat(top), dest_top)
    finally:
        os.close(top)
        os.close(dest_top)


def _copy_entry(dir_fd: int, name: str, here: int) -> None:
    """One entry of the source directory dir_fd into the destination directory `here`."""
    st = os.stat(name, dir_fd=dir_fd, follow_symlinks=False)
    if stat.S_ISDIR(st.st_mode):
        if _made(lambda: os.mkdir(name, 0o700, dir_fd=here)):
            _meta_of(name, here, st)
    elif stat.S_ISLNK(st.st_mode):
        if _made(lambda: os.symlink(os.readlink(name, dir_fd=dir_fd), name, dir_fd=here)):
            os.chown(name, st.st_uid, st.st_gid, dir_fd=here, follow_symlinks=False)
    elif stat.S_ISREG(st.st_mode):
        src = os.open(name, os.O_RDONLY | os.O_NOFOLLOW | os.O_CLOEXEC, dir_fd=dir_fd)
        try:
            try:
                dst = os.open(name, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC, 0o600,
                              dir_fd=here)
            except FileExistsError:
                return
            try:
                # sendfile, not copy_file_range: the source is often on overlayfs and the
                # destination elsewhere, which copy_file_range refuses (EXDEV)
                while os.sendfile(dst, src, None, 1 << 30):
                    pass
                _same_meta(st, dst)
            finally:
                os.close(dst)
        finally:
            os.close(src)
    elif _made(lambda: os.mknod(name, st.st_mode, st.st_rdev, dir_fd=here)):  # fifos, sockets, devices
        _meta_of(name, here, st)


def _made(action) -> bool:
    try:
        action()
        return True
    except FileExistsError:
        return False


def _meta_of(name: str, here: int, st: os.stat_result) -> None:
    """Owner and mode of an entry just made, through a descriptor of the entry itself."""
    fd = os.open(name, os.O_PATH | os.O_NOFOLLOW | os.O_CLOEXEC, dir_fd=here)
    try:
        if stat.S_IFMT(os.fstat(fd).st_mode) != stat.S_IFMT(st.st_mode):
            return  # replaced meanwhile by someone else: not ours to change
        # an O_PATH descriptor takes no fchmod; its /proc link names the inode, not a path
        os.chown(f"/proc/self/fd/{fd}", st.st_uid, st.st_gid)
        os.chmod(f"/proc/self/fd/{fd}", stat.S_IMODE(st.st_mode))
    finally:
        os.close(fd)


def _same_meta(st: os.stat_result, fd: int) -> None:
    os.fchown(fd, st.st_uid, st.st_gid)
    os.fchmod(fd, stat.S_IMODE(st.st_mode))
    os.utime(fd, ns=(st.st_atime_ns, st.st_mtime_ns))
