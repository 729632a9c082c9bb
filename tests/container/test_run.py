"""run: argv, exit codes, signals, the overlay's upper layer, a pty session."""

import fcntl
import os
import select
import signal
import struct
import subprocess
import termios
import time

import pytest

from conftest import wait_for


def test_argv_survives_spaces_quotes_newlines(td):
    args = ["a b", "c'd", 'e"f', "g\nh", "", "  ", "$HOME", "-la", "--rm", "*"]
    out = td.out("run", "c1", "printf", "[%s]\\n", *args)
    assert out == "".join(f"[{a}]\n" for a in args)


def test_options_after_name_belong_to_the_command(td):
    out = td.out("run", "c1", "ls", "-la", "/")
    assert out.startswith("total ")
    # and a tinydocker option placed after NAME is not taken by tinydocker
    assert td.out("run", "c2", "echo", "--rm", "-i") == "--rm -i\n"
    assert (td.containers / "c2").exists()


def test_attach_only_the_streams_asked_for(td):
    # docker's run -a STREAM (podman's system tests): the others still reach the log
    script = ["sh", "-c", "read line; echo out $line; echo err $line >&2"]
    res = td("run", "-a", "stdout", "--network", "none", "c1", *script, input=b"x\n")
    assert (res.returncode, res.stdout, res.stderr) == (0, b"out\n", b""), res.stderr
    assert td.out("logs", "c1") == "out\n" and td("logs", "c1").stderr == b"err\n"
    res = td("run", "-a", "STDERR", "-a", "stdin", "--network", "none", "c2", *script, input=b"y\n")
    assert (res.returncode, res.stdout, res.stderr) == (0, b"", b"err y\n"), res.stderr
    for flags, words in ((["-a", "stdmiddle"], b'invalid argument "stdmiddle" for "-a, --attach" flag'),
                         (["-a", "stdout", "-d"], b"Conflicting options: -a and -d")):
        res = td("run", *flags, "--network", "none", "c3", "true")
        assert res.returncode == 125 and words in res.stderr, res.stderr
    assert td("create", "-a", "stdout", "c4", "true").returncode == 125  # create takes no -a here


def test_default_command_is_a_shell(td):
    # the image's Cmd, as docker's busybox image has it
    res = td("run", "-i", "c1", input=b"echo from-sh $0\n", check=True)
    assert res.stdout == b"from-sh sh\n"
    assert td.record("c1")["command"] == ["sh"]


@pytest.mark.parametrize("cmd, code", [
    (["true"], 0),
    (["sh", "-c", "exit 42"], 42),
    (["no-such-command"], 127),
    (["/no/such/path"], 127),
    (["/etc/passwd"], 126),        # exists but is not executable
    (["/etc"], 126),               # a directory
    (["sh", "-c", "sleep 5 & kill -TERM $!; wait $!"], 143),
])
def test_exit_codes_as_docker(td, cmd, code):
    res = td("run", "c1", *cmd)
    assert res.returncode == code, res.stderr
    if code in (126, 127):
        assert res.stderr.decode().count("\n") == 1 and cmd[0] in res.stderr.decode()
    assert td.record("c1")["exit_code"] == code


def test_killed_by_signal_is_128_plus_n(td):
    p = td.popen("run", "c1", "sleep", "30")
    rec = td.wait_running("c1")
    os.kill(rec["pid"], signal.SIGKILL)
    assert p.wait(30) == 137
    rec = td.record("c1")
    assert rec["status"] == "exited" and rec["exit_code"] == 137


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT, signal.SIGHUP])
def test_signals_to_tinydocker_reach_the_container(td, sig):
    script = f'trap "echo got-{sig.name}; exit 7" {sig.name[3:]}; echo ready; while :; do sleep 0.05; done'
    p = td.popen("run", "c1", "sh", "-c", script)
    assert p.stdout.readline() == b"ready\n"
    p.send_signal(sig)
    out, _ = p.communicate(timeout=30)
    assert out == f"got-{sig.name}\n".encode()
    assert p.returncode == 7


def test_writes_land_in_upper_never_in_the_image(td):
    td.out("image", "build", "busybox")
    image = td.image_rootfs()
    before = sorted(os.listdir(image / "bin"))
    td.out("run", "c1", "sh", "-c", "echo data > /newfile; rm /bin/ls; echo more >> /etc/passwd")
    upper = td.containers / "c1" / "upper"
    assert (upper / "newfile").read_text() == "data\n"
    assert os.stat(upper / "bin" / "ls").st_rdev == 0 and os.path.exists(upper / "bin" / "ls")  # a whiteout
    assert (upper / "etc" / "passwd").read_text().endswith("more\n")
    assert not (image / "newfile").exists()
    assert sorted(os.listdir(image / "bin")) == before
    assert "more" not in (image / "etc" / "passwd").read_text()


def test_containers_do_not_see_each_others_files(td):
    td.out("run", "a", "sh", "-c", "echo secret > /only-a")
    res = td("run", "b", "cat", "/only-a")
    assert res.returncode == 1 and b"No such file" in res.stderr
    # both run at the same time, each on its own layer
    # each ends only once its input closes, after the exec: a container ending while an
    # exec'd process is still on its way out would take that process with its namespace
    wait = "while [ ! -e /go ]; do sleep 0.05; done"
    pa = td.popen("run", "-i", "pa", "sh", "-c", f"echo A > /f; {wait}; cat /f; read x", stdin=subprocess.PIPE)
    pb = td.popen("run", "-i", "pb", "sh", "-c", f"echo B > /f; {wait}; cat /f; read x", stdin=subprocess.PIPE)
    # each reads only once both have written
    for name in ("pa", "pb"):
        wait_for(lambda: (td.containers / name / "upper" / "f").exists(), what=f"{name}'s /f written")
    for name in ("pa", "pb"):
        td.out("exec", name, "touch", "/go")
    assert pa.communicate(b"", timeout=30)[0] == b"A\n"
    assert pb.communicate(b"", timeout=30)[0] == b"B\n"


def test_parallel_containers_from_a_script(td):
    td.out("image", "build", "busybox")
    procs = [td.popen("run", "--rm", f"p{i}", "sh", "-c", f"echo {i}") for i in range(12)]
    outs = [p.communicate(timeout=60)[0] for p in procs]
    assert [p.returncode for p in procs] == [0] * 12
    assert outs == [f"{i}\n".encode() for i in range(12)]
    assert os.listdir(td.containers) == []


def _read_until(fd: int, needle: bytes, timeout: float = 20) -> bytes:
    buf = b""
    deadline = time.monotonic() + timeout
    while needle not in buf:
        left = deadline - time.monotonic()
        if left <= 0:
            raise AssertionError(f"never saw {needle!r} in {buf!r}")
        ready, _, _ = select.select([fd], [], [], left)
        if ready:
            try:
                chunk = os.read(fd, 4096)
            except OSError:
                break
            if not chunk:
                break
            buf += chunk
    return buf


def test_interactive_pty_session(td):
    td.out("image", "build", "busybox")
    master, slave = os.openpty()
    fcntl.ioctl(master, termios.TIOCSWINSZ, struct.pack("HHHH", 33, 101, 0, 0))
    attrs_before = termios.tcgetattr(slave)

    def make_ctty():
        fcntl.ioctl(0, termios.TIOCSCTTY, 0)

    p = subprocess.Popen(td.cmd + ["run", "-it", "c1", "/bin/sh"], stdin=slave, stdout=slave, stderr=slave,
                         env=td.env, start_new_session=True, preexec_fn=make_ctty)
    try:
        os.write(master, b"tty; stty size; echo $TERM\r")
        out = _read_until(master, b"xterm")
        assert b"/dev/pts/0" in out          # a pty of the container's own devpts
        assert b"33 101" in out              # the size of the user's terminal
        # line editing happens in the container's line discipline: backspace erases
        os.write(master, b"echo abX\x7fc\r")
        assert b"abc" in _read_until(master, b"abc")
        # Ctrl-C reaches the container's foreground process, not tinydocker
        os.write(master, b"sleep 30; echo after-sleep\r")
        wait_for(lambda: _in_front(td.record("c1")["pid"], b"sleep\x0030\x00"), what="sleep 30 in the foreground")
        os.write(master, b"\x03")
        os.write(master, b"echo still-$((40+2))\r")
        out = _read_until(master, b"still-42")
        assert b"\nafter-sleep" not in out  # the sleep was interrupted, not finished
        assert p.poll() is None
        # the window size follows the user's terminal
        fcntl.ioctl(master, termios.TIOCSWINSZ, struct.pack("HHHH", 40, 120, 0, 0))
        wait_for(lambda: _winsize(td.record("c1")["pid"]) == (40, 120), what="the container's terminal resized")
        os.write(master, b"stty size\r")
        _read_until(master, b"40 120")
        os.write(master, b"exit 3\r")
        assert p.wait(30) == 3
        # the user's terminal is put back as it was
        assert termios.tcgetattr(slave) == attrs_before
    finally:
        if p.poll() is None:
            p.kill()
            p.wait()
        os.close(master)
        os.close(slave)


def _in_front(parent: int, cmdline: bytes) -> bool:
    """Whether a child of `parent` runs `cmdline` in the foreground of its terminal."""
    try:
        with open(f"/proc/{parent}/task/{parent}/children") as f:
            children = f.read().split()
        for child in children:
            with open(f"/proc/{child}/cmdline", "rb") as f:
                if f.read() != cmdline:
                    continue
            with open(f"/proc/{child}/stat") as f:
                fields = f.read().rsplit(")", 1)[1].split()
            return fields[2] == fields[5]  # its process group is the terminal's foreground one
    except OSError:
        pass
    return False


def _winsize(pid: int) -> tuple[int, int] | None:
    """The size (rows, columns) of the terminal that is process `pid`'s stdin."""
    try:
        fd = os.open(f"/proc/{pid}/fd/0", os.O_RDONLY | os.O_NOCTTY | os.O_NONBLOCK)
    except OSError:
        return None
    try:
        return struct.unpack("HHHH", fcntl.ioctl(fd, termios.TIOCGWINSZ, b"\0" * 8))[:2]
    finally:
        os.close(fd)


def test_tty_without_terminal_is_refused(td):
    res = td("run", "-it", "c1", "true", input=b"")
    assert res.returncode == 125
    assert res.stderr.decode().strip() == "tinydocker: the input device is not a TTY"
    assert not (td.containers / "c1").exists()


def _run_on_a_terminal(td, script: str, want: bytes) -> None:
    """`run -t c1 sh -c SCRIPT` with our stdout on a pty and stdin /dev/null: want is shown."""
    master, slave = os.openpty()
    try:
        p = subprocess.run(td.cmd + ["run", "-t", "c1", "sh", "-c", script], stdin=subprocess.DEVNULL,
                           stdout=slave, stderr=slave, env=td.env, timeout=30)
        assert p.returncode == 0
        assert want in _read_until(master, want)
    finally:
        os.close(master)
        os.close(slave)


def test_tty_env_sets_term(td):
    _run_on_a_terminal(td, "echo TERM=$TERM", b"TERM=xterm")


def test_run_rm_removes_the_container(td):
    assert td("run", "--rm", "gone", "sh", "-c", "echo x > /f").returncode == 0
    assert not (td.containers / "gone").exists()
    assert td("run", "--rm", "gone2", "sh", "-c", "exit 5").returncode == 5
    assert os.listdir(td.containers) == []


def test_run_rm_whose_start_fails_leaves_nothing_and_without_rm_keeps_the_error(td):
    # the OCI runtime's own failure (a sysctl the kernel lacks), found out at create: docker's
    # daemon removes a --rm container whose start failed
    res = td("run", "--rm", "--network", "none", "--sysctl", "net.nosuch=1", "failed", "true")
    assert res.returncode == 125 and res.stderr.count(b"\n") == 1 and b"net/nosuch" in res.stderr
    assert td("ps", "-aq").stdout == b"" and os.listdir(td.containers) == []
    res = td("run", "--network", "none", "--sysctl", "net.nosuch=1", "kept", "true")
    assert res.returncode == 125
    assert td("inspect", "-f", "{{.State.Error}}", "kept").stdout.strip() != b""
    td.out("rm", "kept")


def test_stdout_closed_early_does_not_hang(td):
    # `yes` needs SIGPIPE at its default inside the container, not Python's ignore
    res = subprocess.run(f"{' '.join(td.cmd)} run c1 yes | head -n 2", shell=True, capture_output=True,
                         env=td.env, timeout=60)
    assert res.stdout == b"y\ny\n"
    wait_for(lambda: td.record("c1")["status"] == "exited", what="exit recorded")


def test_the_root_directory_keeps_the_images_mode_and_owner(td, tmp_path):
    """`/` inside is the overlay's upper directory: it takes the image root's mode and owner."""
    import tarfile

    td.out("image", "build", "busybox")

    def locked_root(member):
        if member.name == ".":
            member.mode, member.uid, member.gid = 0o555, 1000, 1001
        return member

    tarball = tmp_path / "rootfs.tar"
    with tarfile.open(tarball, "w") as tar:
        tar.add(td.image_rootfs(), arcname=".", filter=locked_root)
    td.out("import", str(tarball), "locked")
    assert td.out("run", "--image", "locked", "c1", "stat", "-c", "%a %u %g", "/") == "555 1000 1001\n"
    upper = td.containers / "c1" / "upper"
    assert (os.stat(upper).st_mode & 0o7777, os.stat(upper).st_uid, os.stat(upper).st_gid) == (0o555, 1000, 1001)
    # and a start on the same upper layer keeps it
    assert td.out("start", "-a", "c1") == "555 1000 1001\n"


def test_tty_without_interactive_gives_the_pty_as_stdin_too(td):
    _run_on_a_terminal(td, "[ -t 0 ] && echo stdin-is-a-tty", b"stdin-is-a-tty")


def test_run_td_shell_stays_up_on_its_terminal(td):
    """docker run -td NAME sh: the shell waits on its terminal instead of reading EOF."""
    td.out("run", "-td", "c1", "sh")
    # asleep waiting for its terminal's input: it has found no end of it (EOF would end sh)
    td.wait_asleep("c1", "poll", "select", "tty_read", "wait_woken")
    rec = td.record("c1")
    assert rec["status"] == "running", rec
    assert td.out("exec", "c1", "readlink", "/proc/1/fd/0").startswith("/dev/pts/")
    td.out("rm", "-f", "c1")
