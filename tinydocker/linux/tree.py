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
    owners, modes and times; symlinks are copied as links, never followed, so a tree inside a
    container's root cannot lead the copy out of it. Entries already in `dest` are kept."""
    top = os.open(".", os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC, dir_fd=source_fd)
    try:
        # fwalk hands each directory over as a descriptor: no path is resolved twice
        for relative, dirs, files, dir_fd in os.fwalk(".", dir_fd=top, follow_symlinks=False):
            target_dir = os.path.normpath(os.path.join(dest, relative))
            if relative != ".":
                _make(lambda: os.mkdir(target_dir, 0o700))
                _same_meta(os.stat(dir_fd), target_dir)
            # a symlink to a directory is listed with the directories (and not entered)
            links = [d for d in dirs if stat.S_ISLNK(os.stat(d, dir_fd=dir_fd, follow_symlinks=False).st_mode)]
            for name in links + files:
                _copy_entry(dir_fd, name, os.path.join(target_dir, name))
        _same_meta(os.stat(top), dest)
    finally:
        os.close(top)


def _copy_entry(dir_fd: int, name: str, target: str) -> None:
    st = os.stat(name, dir_fd=dir_fd, follow_symlinks=False)
    if stat.S_ISLNK(st.st_mode):
        _make(lambda: os.symlink(os.readlink(name, dir_fd=dir_fd), target))
    elif stat.S_ISREG(st.st_mode):
        src = os.open(name, os.O_RDONLY | os.O_NOFOLLOW | os.O_CLOEXEC, dir_fd=dir_fd)
        try:
            try:
                dst = os.open(target, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_CLOEXEC, 0o600)
            except FileExistsError:
                return
            try:
                # sendfile, not copy_file_range: the source is often on overlayfs and the
                # destination elsewhere, which copy_file_range refuses (EXDEV)
                while os.sendfile(dst, src, None, 1 << 30):
                    pass
            finally:
                os.close(dst)
        finally:
            os.close(src)
    elif stat.S_ISDIR(st.st_mode):
        return  # fwalk lists a directory among the files only when it could not enter it
    else:
        _make(lambda: os.mknod(target, st.st_mode, st.st_rdev))  # fifos, sockets, devices
    _same_meta(st, target)


def _make(action) -> None:
    try:
        action()
    except FileExistsError:
        pass


def _same_meta(st: os.stat_result, path: str) -> None:
    os.chown(path, st.st_uid, st.st_gid, follow_symlinks=False)
    if not stat.S_ISLNK(st.st_mode):
        os.chmod(path, stat.S_IMODE(st.st_mode))
    os.utime(path, ns=(st.st_atime_ns, st.st_mtime_ns), follow_symlinks=False)
