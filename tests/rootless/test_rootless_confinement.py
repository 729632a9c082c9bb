"""An ordinary user's container is confined as root's is (issue 23): the same seccomp filter,
capability sets, masked and read-only paths, side by side with a root container; and its
root cannot do on the host what the user could not."""

import os

from rootless_fixtures import user, user_python  # noqa: F401 - the fixtures

LOOK = ("grep -E '^(Seccomp|Seccomp_filters|NoNewPrivs|CapInh|CapPrm|CapEff|CapBnd|CapAmb):' /proc/self/status; "
        "for p in /proc/kcore /proc/keys /proc/timer_list /sys/firmware /proc/acpi; do "
        "  [ -e $p ] && echo \"$p $(cat $p 2>/dev/null | wc -c) $(ls $p 2>/dev/null | wc -l)\"; done; "
        "echo 1 > /proc/sys/kernel/domainname 2>/dev/null && echo sys-writable || echo sys-read-only; "
        "mount -t tmpfs none /mnt 2>/dev/null && echo mounted || echo mount-refused; "
        "unshare -U true 2>/dev/null && echo userns || echo userns-refused; "
        "mknod /tmp/null c 1 3 2>/dev/null && echo mknod || echo mknod-refused")


def test_the_same_confinement_as_root_s(user, td):  # noqa: F811
    td.out("image", "build", "busybox")
    as_root = td("run", "--rm", "--network", "none", "c", "sh", "-c", LOOK)
    assert as_root.returncode == 0, as_root.stderr
    assert user.td("image", "build", "busybox").returncode == 0
    as_user = user.td("run", "--rm", "--network", "none", "c", "sh", "-c", LOOK)
    assert as_user.returncode == 0, as_user.stderr
    root_lines, user_lines = as_root.stdout.decode().split("\n"), as_user.stdout.decode().split("\n")
    assert user_lines == root_lines
    assert "Seccomp:\t2" in user_lines and "NoNewPrivs:\t0" in user_lines
    assert {"sys-read-only", "mount-refused", "userns-refused"} <= set(user_lines)


def test_the_container_s_root_cannot_write_what_the_user_cannot(user):  # noqa: F811
    u = user
    assert u.td("image", "build", "busybox").returncode == 0
    theirs = u.home / "roots"
    theirs.mkdir(mode=0o755)  # root's directory in the user's home: not the user's to write
    res = u.td("run", "--rm", "--network", "none", "-v", f"{theirs}:/theirs", "-v", "/etc:/hostetc:ro",
               "c", "sh", "-c", "touch /theirs/x 2>/dev/null && echo wrote || echo refused; "
                                "cat /hostetc/shadow >/dev/null 2>&1 && echo read || echo unreadable; "
                                "stat -c %u /theirs")
    assert res.returncode == 0, res.stderr
    assert res.stdout.decode().split("\n")[:3] == ["refused", "unreadable", "65534"]  # unmapped: the overflow id
    assert os.listdir(theirs) == []


def test_privileged_is_every_capability_of_the_user_namespace_and_nothing_of_the_host_s(user):  # noqa: F811
    u = user
    assert u.td("image", "build", "busybox").returncode == 0
    res = u.td("run", "--rm", "--network", "none", "--privileged", "c", "sh", "-c",
               "grep -E '^Cap(Eff|Bnd)' /proc/self/status | cut -f2; mkdir -p /m && mount -t tmpfs none /m && "
               "echo mounted; ls /dev/null /dev/zero >/dev/null && echo devices; "
               "echo 1 > /proc/sys/kernel/domainname 2>/dev/null && echo wrote-host-sysctl || echo refused")
    assert res.returncode == 0, res.stderr
    effective, bounding, *rest = res.stdout.decode().split("\n")
    assert effective == bounding and int(effective, 16) >> 21 & 1  # every one, CAP_SYS_ADMIN too
    assert rest[:3] == ["mounted", "devices", "refused"]  # the host's sysctls stay the host's
