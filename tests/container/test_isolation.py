"""What a container sees: namespaces, its root filesystem, /proc, /sys, /dev, environment."""

import os
import re
import subprocess

from tinydocker import cgroups
from tinydocker.security.masks import MASKED, READ_ONLY


def test_command_is_pid1_with_hostname_of_the_name(td):
    out = td.out("run", "web1", "sh", "-c", "echo $$; hostname; cat /proc/1/cmdline; true")
    pid, host, cmdline = out.split("\n", 2)
    assert pid == "1"
    assert host == "web1"
    assert cmdline.split("\0")[:2] == ["sh", "-c"]


def test_hostname_option(td):
    assert td.out("run", "--hostname", "box.local", "c1", "hostname") == "box.local\n"


def test_own_pid_namespace_shows_only_container_processes(td):
    out = td.out("run", "c1", "sh", "-c", "ls /proc | grep -E '^[0-9]+$'")
    pids = set(out.split())
    # sh itself (1), and ls and grep that it forked; never the host's processes
    assert "1" in pids and len(pids) <= 4, pids


def test_mounts_inside_are_only_the_containers(td):
    out = td.out("run", "c1", "cat", "/proc/self/mountinfo")
    lines = out.strip().split("\n")
    by_point = {line.split()[4]: line for line in lines}
    where = cgroups.layout()
    cgroupfs = {"/sys/fs/cgroup"}
    if where.backend == "v1":
        cgroupfs |= {"/sys/fs/cgroup/" + os.path.basename(m) for m in set(where.v1.values())}
    # and the masks over /proc and /sys (those that exist on this kernel), each read-only
    masks = {p for p in MASKED + READ_ONLY if os.path.exists(p)}
    etc = {"/etc/hosts", "/etc/hostname", "/etc/resolv.conf"}  # the container's own, bound in
    assert set(by_point) == {"/", "/proc", "/sys", "/dev", "/dev/pts", "/dev/shm"} | cgroupfs | masks | etc
    for point in masks:
        if os.path.isdir(point) or point in READ_ONLY:
            assert by_point[point].split()[5].startswith("ro"), by_point[point]
    for point in cgroupfs:
        assert by_point[point].split()[5].startswith("ro"), by_point[point]
    assert " - overlay " in by_point["/"]
    # the lower directory goes by a short name, a link to the image's layer (a bundle, whose
    # runtime has its own working directory, names it in full)
    assert "/layers/0," in by_point["/"]
    assert os.readlink(td.containers / "c1" / "layers" / "0") == str(td.image_rootfs())
    assert "upperdir=" + str(td.containers / "c1" / "upper") in by_point["/"]
    for flag in ("nosuid", "nodev", "noexec"):
        assert flag in by_point["/proc"].split()[5]
    assert by_point["/sys"].split()[5].startswith("ro")
    assert " - tmpfs " in by_point["/dev"]
    assert "ptmxmode=666" in by_point["/dev/pts"]
    # devpts is its own instance, not the host's: its pty numbering starts empty
    assert td.out("run", "c2", "ls", "/dev/pts") == "ptmx\n"


def test_overlay_never_appears_on_the_host_while_running(td):
    p = td.popen("run", "c1", "sh", "-c", "echo up; sleep 2")
    assert p.stdout.readline() == b"up\n"
    with open("/proc/self/mountinfo") as f:
        assert str(td.root) not in f.read()
    assert p.wait(30) == 0


def test_old_root_is_gone(td):
    # the host's data root path and host-only files must be invisible inside
    out = td.out("run", "c1", "sh", "-c",
                 f"ls -a /; test -e {td.root} && echo SEEN-HOST; test -e /etc/debian_version && echo HOST-ETC; true")
    assert "SEEN-HOST" not in out and "HOST-ETC" not in out
    assert sorted(out.split()) == sorted(
        [".", ".."] + sorted(os.listdir(td.image_rootfs())))


def test_dev_holds_the_usual_nodes(td):
    out = td.out("run", "c1", "sh", "-c",
                 "ls /dev; for l in fd stdin stdout stderr ptmx; do readlink /dev/$l; done; "
                 "head -c 4 /dev/zero | od -An -tx1; echo x > /dev/null && echo null-ok; "
                 "head -c 16 /dev/urandom | wc -c; stat -c %a /dev/shm")
    for node in ("null", "zero", "full", "random", "urandom", "tty", "pts", "shm",
                 "fd", "stdin", "stdout", "stderr", "ptmx"):
        assert re.search(rf"^{node}$", out, re.M), node
    assert "/proc/self/fd\n/proc/self/fd/0\n/proc/self/fd/1\n/proc/self/fd/2\npts/ptmx\n" in out
    assert "00 00 00 00" in out and "null-ok" in out and "\n16\n" in out
    assert out.strip().endswith("1777")


def test_network_none_is_loopback_only_and_up(td):
    out = td.out("run", "--network", "none", "c1", "sh", "-c", "ls /sys/class/net; ip -o link")
    assert out.split("\n")[0] == "lo"
    assert "UP" in out.split("\n")[1]
    # loopback really works: a TCP round trip inside the container (on the default bridge too)
    out = td.out("run", "c2", "sh", "-c",
                 # the listener's input never ends: busybox nc quits at its input's end, which
                 # could come before the client's line
                 "nc -l -p 7777 < /dev/zero > /tmp/got & "
                 # its socket listening (state 0A, port 7777 = 1E61) before the client connects
                 "until grep -qs ':1E61 [0-9A-F:]* 0A ' /proc/net/tcp /proc/net/tcp6; do sleep 0.02; done; "
                 "echo ping | nc 127.0.0.1 7777 > /dev/null; wait; cat /tmp/got")
    assert out.strip().endswith("ping")


def test_ipc_and_uts_are_new(td):
    host_ipc = os.readlink("/proc/self/ns/ipc")
    host_uts = os.readlink("/proc/self/ns/uts")
    host_net = os.readlink("/proc/self/ns/net")
    host_mnt = os.readlink("/proc/self/ns/mnt")
    out = td.out("run", "c1", "sh", "-c", "for n in ipc uts net mnt; do readlink /proc/self/ns/$n; done")
    assert set(out.split()).isdisjoint({host_ipc, host_uts, host_net, host_mnt})


def test_environment_as_docker_sets_it(td):
    env = dict(line.split("=", 1) for line in td.out("run", "envbox", "env").split("\n") if "=" in line)
    assert env["PATH"] == "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
    assert env["HOME"] == "/root"
    assert env["HOSTNAME"] == "envbox"
    assert "TERM" not in env


def test_env_option_and_host_passthrough(td):
    environ = dict(td.env, FROM_HOST="host value")
    out = td("run", "-e", "A=1", "-e", "B=with space", "-e", "FROM_HOST", "-e", "UNSET_ON_HOST",
             "-e", "PATH=/bin", "c1", "env", env=environ, check=True).stdout.decode()
    env = dict(line.split("=", 1) for line in out.split("\n") if "=" in line)
    assert env["A"] == "1" and env["B"] == "with space" and env["FROM_HOST"] == "host value"
    assert env["PATH"] == "/bin"
    assert "UNSET_ON_HOST" not in env


def test_workdir_is_created_and_entered(td):
    assert td.out("run", "-w", "/srv/app", "c1", "pwd") == "/srv/app\n"
    assert td.out("run", "c2", "pwd") == "/\n"


def test_no_descriptor_leaks_into_the_container(td):
    r, w = os.pipe()
    os.set_inheritable(r, True)  # a caller's inheritable descriptor, as shells hand them out
    try:
        res = td("run", "c1", "ls", "/proc/self/fd", pass_fds=(r,), check=True)
    finally:
        os.close(r)
        os.close(w)
    # 0, 1, 2, and the directory ls itself opened to list them
    assert res.stdout.decode().split() == ["0", "1", "2", "3"]


def test_binary_stdio_passes_unchanged(td):
    data = os.urandom(300_000) + b"\0\n\r\x04"
    res = td("run", "-i", "c1", "cat", input=data, check=True)
    assert res.stdout == data
    # stderr is kept apart from stdout
    res = td("run", "c2", "sh", "-c", "echo out; echo err >&2", check=True)
    assert res.stdout == b"out\n" and res.stderr == b"err\n"


def test_pipes_in_and_out(td):
    res = subprocess.run(f"echo hi | {' '.join(td.cmd)} run -i c1 cat | tr a-z A-Z",
                         shell=True, capture_output=True, env=td.env, timeout=60)
    assert res.stdout == b"HI\n"
    # without -i the container's stdin is empty, as docker's
    assert td("run", "c2", "cat", input=b"ignored\n", check=True).stdout == b""


def test_path_lookup_happens_inside(td, tmp_path):
    import tarfile

    # a command that exists only in the image, nowhere on the host
    td.out("image", "build", "busybox")
    rootfs = td.image_rootfs()
    tarball = tmp_path / "img.tar"
    with tarfile.open(tarball, "w") as tar:
        tar.add(rootfs, arcname=".")
        info = tarfile.TarInfo("opt/only-inside/hello-inside")
        script = b"#!/bin/sh\necho inside-only\n"
        info.size, info.mode = len(script), 0o755
        import io
        tar.addfile(info, io.BytesIO(script))
    td.out("import", str(tarball), "custom")
    out = td.out("run", "--image", "custom", "-e", "PATH=/opt/only-inside:/bin", "c1", "hello-inside")
    assert out == "inside-only\n"
