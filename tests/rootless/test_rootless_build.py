"""An ordinary user's build (issue 23): a Containerfile's FROM, COPY --chown, RUN and USER, as
the user, the image's files owned as the Containerfile said, inside."""

import os

from rootless_fixtures import user, user_python  # noqa: F401 - the fixtures

CONTAINERFILE = """\
FROM busybox
COPY --chown=1000:2000 data.txt /srv/data.txt
RUN echo 'app:x:1001:1001::/:/bin/sh' >> /etc/passwd && mkdir /srv/app && chown app /srv/app && chmod 700 /srv/app
USER app
RUN echo made by app > /srv/app/made && id -u > /srv/app/id
"""


def test_an_ordinary_user_builds_an_image_with_owners_inside(user):  # noqa: F811
    u = user
    assert u.td("image", "build", "busybox").returncode == 0
    context = u.home / "ctx"
    context.mkdir()
    (context / "Containerfile").write_text(CONTAINERFILE)
    (context / "data.txt").write_text("data\n")
    for path in (context, context / "Containerfile", context / "data.txt"):
        os.chown(path, u.uid, u.gid)
    res = u.td("build", "--network", "none", "-t", "mine", str(context), timeout=180)
    assert res.returncode == 0, res.stderr + res.stdout
    res = u.td("run", "--rm", "--network", "none", "--user", "0", "--image", "mine", "look", "sh", "-c",
               "stat -c '%u:%g %a' /srv/data.txt /srv/app /srv/app/made; cat /srv/app/made /srv/app/id")
    assert res.returncode == 0, res.stderr
    assert res.stdout.decode().split("\n")[:5] == ["1000:2000 644", "1001:0 700", "1001:1001 644",
                                                   "made by app", "1001"]
    assert u.td("rmi", "mine").returncode == 0
    assert u.td("builder", "prune", "-a", "-f").returncode == 0
