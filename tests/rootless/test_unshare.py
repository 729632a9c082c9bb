"""Issue 23's first steps: an ordinary user's data root (XDG), `info` saying rootless with the
mapping, and `tinydocker unshare` into the user's namespace, with and without subordinate
ranges; run as throwaway local users, never as root."""

import os

from rootless_fixtures import bare_user, user, user_python  # noqa: F401 - the fixtures


def _owned_by(path, uid: int) -> list[str]:
    """Paths under `path` not owned by `uid`."""
    wrong = []
    for top, dirs, files in os.walk(path):
        for name in dirs + files:
            full = os.path.join(top, name)
            if os.lstat(full).st_uid != uid:
                wrong.append(full)
    return wrong


def test_unshare_maps_root_to_the_user_and_ids_above_to_its_ranges(user):  # noqa: F811
    res = user.td("unshare", "sh", "-c", "id -u; id -g; cat /proc/self/uid_map; mkdir -p d/sub; touch d/sub/f; chown -R 1:1 d/sub")
    assert res.returncode == 0, res.stderr
    lines = res.stdout.decode().split("\n")
    assert lines[:2] == ["0", "0"]
    assert lines[2].split() == ["0", str(user.uid), "1"] and lines[3].split() == ["1", str(user.subuid), "65536"]
    # on the host: root inside is the user; id 1 inside is the first id of its range
    assert (os.stat(user.home / "d").st_uid, os.stat(user.home / "d").st_gid) == (user.uid, user.gid)
    assert (os.stat(user.home / "d/sub/f").st_uid, os.stat(user.home / "d/sub/f").st_gid) == (user.subuid, user.subgid)
    # what the user cannot remove itself, it removes in its namespace
    assert user("rm", "-rf", "d").returncode != 0
    assert user.td("unshare", "rm", "-rf", "d").returncode == 0 and not (user.home / "d").exists()


def test_unshare_without_ranges_maps_the_user_alone(bare_user):  # noqa: F811
    res = bare_user.td("unshare", "sh", "-c", "id -u; cat /proc/self/uid_map; touch f; chown 1 f")
    assert res.returncode != 0  # no other id to give a file to
    lines = res.stdout.decode().split("\n")
    assert lines[0] == "0" and lines[1].split() == ["0", str(bare_user.uid), "1"] and lines[2] == ""
    assert os.stat(bare_user.home / "f").st_uid == bare_user.uid


def test_unshare_s_exit_codes_and_errors_are_docker_s(user):  # noqa: F811
    assert user.td("unshare", "sh", "-c", "exit 3").returncode == 3
    res = user.td("unshare", "nosuchcommand")
    assert (res.returncode, res.stderr) == (127, b"tinydocker: nosuchcommand: command not found\n")
    res = user.td("unshare", "/etc/passwd")
    assert (res.returncode, res.stderr) == (126, b"tinydocker: /etc/passwd: permission denied\n")
    res = user.td("unshare", "sh", "-c", "kill -TERM $$")
    assert res.returncode == 128 + 15


def test_root_is_told_unshare_is_for_ordinary_users(td):
    res = td("unshare", "true")
    assert res.returncode == 125 and res.stderr.decode().count("\n") == 1 and b"not root" in res.stderr


def test_an_ordinary_user_s_data_root_is_its_own_and_info_says_rootless(user, bare_user):  # noqa: F811
    res = user.td("info")
    assert res.returncode == 0, res.stderr
    out = res.stdout.decode()
    assert f"Data root:      {user.home}/.local/share/tinydocker\n" in out
    assert "Rootless:       yes\n" in out
    # no subtree is delegated to a throwaway user (this host is hybrid; the VM's users sit in root's cgroup)
    assert "(none delegated to this user: no limits, pause or stats)\n" in out
    assert f"UIDs mapped:    0->{user.uid} (1), 1->{user.subuid} (65536)" in out
    res = user.td("info", "--format", "{{.root}} {{.rootless}}", env={"XDG_DATA_HOME": f"{user.home}/data"})
    assert res.stdout.decode() == f"{user.home}/data/tinydocker true\n"
    res = bare_user.td("info", "--format", "json")
    assert '"uidmap":[{"container_id":0,"host_id":%d,"size":1}]' % bare_user.uid in res.stdout.decode()
    # nothing in a user's home is ever root's
    for u in (user, bare_user):
        assert _owned_by(u.home, u.uid) == []


def test_the_service_listens_on_the_user_s_socket(user):  # noqa: F811
    # the user's socket under XDG_RUNTIME_DIR, none without it, and a place it may not listen
    res = user.td("system", "service", "-t", "1")
    assert res.returncode == 125 and b"XDG_RUNTIME_DIR is not set" in res.stderr and res.stderr.count(b"\n") == 1
    res = user.td("system", "service", "-t", "1", "unix:///run/tinydocker/user.sock")
    assert res.returncode == 125 and res.stderr.count(b"\n") == 1 and b"cannot listen on" in res.stderr, res.stderr
    runtime_dir = user.home / "run"
    runtime_dir.mkdir(mode=0o700)
    os.chown(runtime_dir, user.uid, user.gid)
    res = user.td("system", "service", "-t", "1", env={"XDG_RUNTIME_DIR": str(runtime_dir)})
    assert res.returncode == 0, res.stderr  # it listened, then left after a second without a request
    assert (runtime_dir / "tinydocker").is_dir() and not (runtime_dir / "tinydocker" / "docker.sock").exists()
    assert _owned_by(user.home, user.uid) == []
