"""An ordinary user's container files (issue 23): cp in and out of a running and a stopped
container, diff and export, for files the container gave ids of the user's range (which the
user outside may not even read): all done as root of the user's namespace."""

import io
import os
import tarfile

from rootless_fixtures import user, user_python  # noqa: F401 - the fixtures


def test_cp_diff_and_export_of_files_only_the_container_s_ids_may_read(user):  # noqa: F811
    u = user
    assert u.td("image", "build", "busybox").returncode == 0
    res = u.td("run", "-d", "--network", "none", "files", "sh", "-c",
               "mkdir -p /srv/locked && echo secret > /srv/locked/secret && chown -R 1000:2000 /srv/locked && "
               "chmod 700 /srv/locked && chmod 600 /srv/locked/secret && rm /bin/vi && exec sleep 600")
    assert res.returncode == 0, res.stderr
    res = u.td("exec", "files", "sh", "-c", "while [ ! -e /srv/locked/secret ]; do sleep 0.1; done; echo ok")
    assert res.stdout == b"ok\n", res.stderr

    out = u.home / "out"
    res = u.td("cp", "files:/srv/locked/secret", str(out))
    assert res.returncode == 0, res.stderr
    assert out.read_bytes() == b"secret\n"
    assert os.stat(out).st_uid == u.uid  # copied out: the user's own

    given = u.home / "given"
    given.write_text("given\n")
    os.chown(given, u.uid, u.gid)
    res = u.td("cp", str(given), "files:/srv/locked/")
    assert res.returncode == 0, res.stderr
    res = u.td("exec", "files", "stat", "-c", "%u:%g %n", "/srv/locked/given", "/srv/locked/secret")
    assert res.stdout.decode().split("\n")[:2] == ["0:0 /srv/locked/given", "1000:2000 /srv/locked/secret"]

    res = u.td("diff", "files")
    assert res.returncode == 0, res.stderr
    changed = res.stdout.decode().split("\n")
    assert {"A /srv/locked", "A /srv/locked/secret", "A /srv/locked/given", "D /bin/vi"} <= set(changed)

    assert u.td("stop", "-t", "1", "files").returncode == 0
    res = u.td("cp", "files:/srv/locked/secret", str(u.home / "again"))
    assert res.returncode == 0, res.stderr
    assert (u.home / "again").read_bytes() == b"secret\n"

    res = u.td("export", "files")
    assert res.returncode == 0, res.stderr
    with tarfile.open(fileobj=io.BytesIO(res.stdout)) as tar:
        members = {m.name.lstrip("./"): m for m in tar.getmembers()}
        assert tar.extractfile(members["srv/locked/secret"]).read() == b"secret\n"
    secret = members["srv/locked/secret"]
    assert (secret.uid, secret.gid, secret.mode) == (1000, 2000, 0o600)
    assert members["bin/busybox"].uid == 0 and "bin/vi" not in members
    assert u.td("rm", "files").returncode == 0


def test_volumes_named_filled_from_the_image_and_tmpfs(user):  # noqa: F811
    u = user
    assert u.td("image", "build", "busybox").returncode == 0
    res = u.td("run", "--rm", "--network", "none", "-v", "conf:/etc", "--tmpfs", "/scratch:size=1m", "vols",
               "sh", "-c", "stat -c '%u:%g' /etc/passwd; grep -c root /etc/passwd; "
                           "chown 1000:1000 /etc/passwd; grep /scratch /proc/mounts | cut -d' ' -f3; "
                           "echo x > /scratch/x && cat /scratch/x")
    assert res.returncode == 0, res.stderr
    assert res.stdout.decode().split("\n")[:4] == ["0:0", "1", "tmpfs", "x"]
    # the named volume is the user's store's, and keeps what the container did to it
    res = u.td("run", "--rm", "--network", "none", "-v", "conf:/etc", "again", "stat", "-c", "%u:%g", "/etc/passwd")
    assert res.stdout == b"1000:1000\n", res.stderr
    path = u.td("volume", "inspect", "-f", "{{.Mountpoint}}", "conf").stdout.decode().strip()
    assert path.startswith(str(u.home)) and os.stat(os.path.join(path, "passwd")).st_uid == u.subuid + 999
    assert u.td("volume", "rm", "conf").returncode == 0
    assert not os.path.exists(path)
