"""Throwaway local users for the rootless tests (issue 23): made with useradd, with or
without subordinate id ranges (usermod --add-subuids, as an administrator gives them), and
removed with all they own at the test's end. `user.td(...)` runs tinydocker as that user,
with the user's own environment (HOME, XDG_*) and nothing of root's.

The user runs a copy of this checkout's package and of the suite's dependencies in a
world-readable directory: the checkout itself may sit where only root can read (CI's clone)."""

import os
import pwd
import random
import shutil
import signal
import subprocess
import sys
import sysconfig
import tempfile
from pathlib import Path

import pytest

from conftest import REPO

RANGE = 65536
_SKIP = shutil.ignore_patterns("__pycache__", "pip", "pip-*", "setuptools", "setuptools-*", "pkg_resources",
                               "_pytest", "pytest", "pytest-*", "*.pth")


@pytest.fixture(scope="session")
def user_python():
    """(python, PYTHONPATH) an ordinary user can run tinydocker with."""
    where = Path(tempfile.mkdtemp(prefix="tdr-py-", dir="/tmp"))
    try:
        os.chmod(where, 0o755)
        shutil.copytree(REPO / "tinydocker", where / "tinydocker", ignore=_SKIP)
        shutil.copytree(REPO / "images", where / "images", ignore=_SKIP)
        shutil.copytree(sysconfig.get_path("purelib"), where / "deps", ignore=_SKIP)
        yield os.path.realpath(sys.executable), f"{where}:{where / 'deps'}"
    finally:
        shutil.rmtree(where, ignore_errors=True)


class User:
    def __init__(self, name: str, home: Path, ranges: bool, python):
        self.name, self.home, self.python = name, home, python
        entry = pwd.getpwnam(name)
        self.uid, self.gid = entry.pw_uid, entry.pw_gid
        self.subuid = self.subgid = None
        self.made_files = []
        self.cgroup = None  # a cgroup v2 directory its commands start in (delegate() sets it)
        self.made_cgroups = []
        if ranges:
            for path in ("/etc/subuid", "/etc/subgid"):  # a fresh machine may have neither yet
                if not os.path.exists(path):
                    with open(path, "x") as f:
                        os.fchmod(f.fileno(), 0o644)
                    self.made_files.append(path)
            # a range of its own far above the machine's users, as an administrator would give
            start = 1_000_000 + random.SystemRandom().randrange(1, 20_000) * RANGE
            span = f"{start}-{start + RANGE - 1}"
            subprocess.run(["usermod", "--add-subuids", span, "--add-subgids", span, name],
                           check=True, capture_output=True)
            self.subuid = self.subgid = start

    def env(self, **extra) -> dict:
        return {"HOME": str(self.home), "USER": self.name, "LOGNAME": self.name, "PATH": "/usr/bin:/bin",
                "PYTHONPATH": self.python[1], "LANG": "C.UTF-8", **extra}

    def command(self, *args, env=None) -> list[str]:
        """The command line that runs `args` as this user (its uid, gid and groups; no
        capability, no root's environment), in self.cgroup if one is set: a root shell moves
        itself there, then becomes the user (as a login's session is placed by systemd)."""
        command = ["setpriv", f"--reuid={self.uid}", f"--regid={self.gid}", "--init-groups",
                   "env", "-i", *(f"{k}={v}" for k, v in self.env(**(env or {})).items()), *args]
        if self.cgroup is not None:
            command = ["sh", "-c", 'echo $$ > "$0/cgroup.procs" && exec "$@"', str(self.cgroup), *command]
        return command

    def __call__(self, *args, input=None, timeout=60, env=None, cwd=None) -> subprocess.CompletedProcess:
        """A command run as this user (see command())."""
        return subprocess.run(self.command(*args, env=env), input=input, capture_output=True, timeout=timeout,
                              cwd=cwd or self.home)

    def td(self, *args, **kw) -> subprocess.CompletedProcess:
        return self(self.python[0], "-m", "tinydocker", *args, **kw)

    def popen(self, *python_args) -> subprocess.Popen:
        """The user's Python with `python_args`, started and left running (pipes for its output)."""
        return subprocess.Popen(self.command(self.python[0], *python_args), stdout=subprocess.PIPE,
                                stderr=subprocess.PIPE, cwd=self.home)

    def delegate(self, mount: str = "/sys/fs/cgroup") -> Path:
        """A cgroup v2 subtree delegated to this user as systemd gives one (Delegate=yes on
        user@.service): a directory of the user's, its cgroup.procs, cgroup.subtree_control
        and cgroup.threads chowned to it, the controllers enabled in its parent; and a leaf
        below it where the user's commands start from now on (self.cgroup), as an app's
        scope under the user's manager. Returns the subtree; removed with the user."""
        top = Path(mount) / f"{self.name}.delegated"
        offered = (Path(mount) / "cgroup.controllers").read_text().split()
        wanted = [c for c in ("cpu", "cpuset", "memory", "pids", "io") if c in offered]
        (Path(mount) / "cgroup.subtree_control").write_text(" ".join("+" + c for c in wanted))
        session = top / "session.scope"
        for directory in (top, session):
            directory.mkdir()
            self.made_cgroups.insert(0, directory)  # deepest first, for remove()
            os.chown(directory, self.uid, self.gid)
            for name in ("cgroup.procs", "cgroup.subtree_control", "cgroup.threads"):
                os.chown(directory / name, self.uid, self.gid)
        self.cgroup = session
        return top

    def processes(self) -> list[int]:
        found = []
        for pid in filter(str.isdigit, os.listdir("/proc")):
            try:
                if os.stat(f"/proc/{pid}").st_uid == self.uid:
                    found.append(int(pid))
            except FileNotFoundError:
                pass
        return found

    def monitors(self) -> list[int]:
        """The user's data root monitors (python -m tinydocker.container.monitor ...)."""
        found = []
        for pid in self.processes():
            try:
                with open(f"/proc/{pid}/cmdline", "rb") as f:
                    if b"container.monitor" in f.read():
                        found.append(pid)
            except OSError:  # ended since the listing
                pass
        return found

    def running(self, comm: str) -> list[int]:
        """The user's processes named `comm` (/proc/PID/comm), not zombies: one killed whose
        parent has yet to reap it is gone."""
        found = []
        for pid in self.processes():
            try:
                with open(f"/proc/{pid}/comm") as f:
                    named = f.read().strip()
                with open(f"/proc/{pid}/stat") as f:
                    state = f.read().rsplit(")", 1)[1].split()[0]
            except OSError:
                continue
            if named == comm and state != "Z":
                found.append(pid)
        return found

    def remove(self) -> None:
        for pid in self.processes():  # by pid: whatever the user left running
            try:
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
        for directory in self.made_cgroups:  # what the user made below them goes first
            _remove_cgroup_tree(directory)
        subprocess.run(["userdel", self.name], capture_output=True)
        for path in ("/etc/subuid", "/etc/subgid"):  # userdel takes the ranges too; make sure
            try:
                with open(path) as f:
                    lines = f.readlines()
            except FileNotFoundError:
                continue
            kept = [line for line in lines if not line.startswith(self.name + ":")]
            if kept != lines:
                with open(path, "w") as f:
                    f.writelines(kept)
            if path in self.made_files and not kept:
                os.unlink(path)  # made for this user: the machine goes back to what it was
        shutil.rmtree(self.home, ignore_errors=True)


def _remove_cgroup_tree(top: Path) -> None:
    """rmdir a cgroup and those below it, deepest first, waiting for killed processes to leave."""
    import time

    try:  # every process left below it, those of the user's subordinate ids too (Linux 5.14+)
        (top / "cgroup.kill").write_text("1")
    except OSError:
        pass
    deadline = time.monotonic() + 10
    for directory, _dirs, _files in os.walk(top, topdown=False):
        while True:
            try:
                os.rmdir(directory)
                break
            except FileNotFoundError:
                break
            except OSError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.05)  # a killed process is still leaving it


def _make(user_python, ranges: bool) -> User:
    name = f"tdr{random.SystemRandom().randrange(10 ** 6):06d}"
    home = Path(tempfile.mkdtemp(prefix=f"{name}-", dir="/tmp"))
    # no ranges of useradd's choosing (Debian's gives each new user one): the test gives its own
    subprocess.run(["useradd", "--no-create-home", "--home-dir", str(home), "--shell", "/bin/sh",
                    "-K", "SUB_UID_COUNT=0", "-K", "SUB_GID_COUNT=0", name], check=True, capture_output=True)
    entry = pwd.getpwnam(name)
    os.chown(home, entry.pw_uid, entry.pw_gid)
    try:
        return User(name, home, ranges, user_python)
    except BaseException:
        subprocess.run(["userdel", name], capture_output=True)
        shutil.rmtree(home, ignore_errors=True)
        raise


@pytest.fixture(scope="session")
def tun_for_everyone():
    """slirp4netns (an ordinary user's default network) opens /dev/net/tun as the user:
    Debian's udev makes it 0666, a machine without udev (this project's, CI's) leaves the
    kernel's 0600. Opened up for the session's tests that need it, and given back after."""
    path = "/dev/net/tun"
    mode = os.stat(path).st_mode & 0o7777
    if mode & 0o666 != 0o666:
        os.chmod(path, mode | 0o666)
    try:
        yield
    finally:
        os.chmod(path, mode)


@pytest.fixture
def user(user_python):
    """An ordinary user with subordinate id ranges."""
    u = _make(user_python, ranges=True)
    yield u
    u.remove()


@pytest.fixture
def bare_user(user_python):
    """An ordinary user with no subordinate ids (its own id is all its namespace maps)."""
    u = _make(user_python, ranges=False)
    yield u
    u.remove()


@pytest.fixture(params=["subordinate-ranges", "own-id-alone"])
def someone(request, user, bare_user):
    """Each kind of ordinary user in turn, with busybox built in its store."""
    u = user if request.param == "subordinate-ranges" else bare_user
    res = u.td("image", "build", "busybox")
    assert res.returncode == 0, res.stderr
    return u


def user_bundle(u: User, applets=("sh", "cat"), dirs=("proc", "sys", "dev", "tmp")) -> dict:
    """An OCI bundle in the user's home, its files the user's: busybox with `applets`, the
    directories `dirs`, and `tinydocker-runtime spec --rootless`'s config; that config, to
    change and write back to bundle/config.json."""
    import json

    b = u.home / "bundle"
    (b / "rootfs" / "bin").mkdir(parents=True)
    shutil.copy("/bin/busybox", b / "rootfs" / "bin" / "busybox")
    for applet in applets:
        os.symlink("busybox", b / "rootfs" / "bin" / applet)
    for d in dirs:
        (b / "rootfs" / d).mkdir()
    for top, subdirs, files in os.walk(b):
        for name in [top, *(os.path.join(top, n) for n in subdirs + files)]:
            os.lchown(name, u.uid, u.gid)
    res = u(u.python[0], "-m", "tinydocker.runtime", "spec", "--rootless", cwd=b)
    assert res.returncode == 0, res.stderr
    doc = json.loads((b / "config.json").read_text())
    doc["process"]["terminal"] = False
    return doc
