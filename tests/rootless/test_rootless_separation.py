"""Two ordinary users (issue 23): each sees, signals and removes only its own containers,
images and volumes; one user's data root is closed to the other, in one line; nothing in a
user's home is ever root's."""

import os

from rootless_fixtures import bare_user, user, user_python  # noqa: F401 - the fixtures


def _owners(home) -> set[int]:
    found = set()
    for directory, dirnames, filenames in os.walk(home):
        for name in dirnames + filenames:
            found.add(os.lstat(os.path.join(directory, name)).st_uid)
    return found


def test_two_users_see_and_touch_only_their_own(user, bare_user):  # noqa: F811
    a, b = user, bare_user
    for u, name in ((a, "mine-a"), (b, "mine-b")):
        assert u.td("image", "build", "busybox").returncode == 0
        res = u.td("run", "-d", "--network", "none", "-v", "vol:/vol", name, "sleep", "600")
        assert res.returncode == 0, res.stderr
    a_id = a.td("inspect", "-f", "{{.Id}}", "mine-a").stdout.decode().strip()
    assert a.td("ps", "--format", "{{.Names}}").stdout == b"mine-a\n"
    assert b.td("ps", "--format", "{{.Names}}").stdout == b"mine-b\n"

    # b knows a's container by name and id, and still cannot reach it: b's store has no such thing
    for ref in ("mine-a", a_id):
        for verb in (("kill",), ("rm", "-f"), ("stop", "-t", "0"), ("exec",)):
            res = b.td(*verb, ref, *(["true"] if verb == ("exec",) else []))
            # docker's CLI forgives --force a missing container (exit 0), and says so
            assert (res.returncode == 0) == (verb == ("rm", "-f")), (verb, res.returncode)
            assert b"No such container" in res.stderr, (verb, res.stderr)
    assert b.td("volume", "ls", "-q").stdout == b"vol\n"  # its own "vol", not a's

    # a's data root is closed to b: one line, no traceback
    theirs = a.home / ".local/share/tinydocker"
    res = b.td("--root", str(theirs), "ps")
    said = res.stderr.decode().strip()
    assert res.returncode == 125 and "\n" not in said and "Traceback" not in said, said
    assert str(theirs) in said

    assert a.td("ps", "-q").stdout.decode().strip() == a_id[:12]  # a's still runs
    for u, name in ((a, "mine-a"), (b, "mine-b")):
        assert u.td("rm", "-f", name).returncode == 0
        assert u.td("volume", "rm", "vol").returncode == 0
        # the user's own id, or ids of its range: never root's
        assert 0 not in _owners(u.home)
