"""The same Containerfiles built by tinydocker and by buildah (`buildah bud`, what podman
build runs): the same file tree (types, modes, owners, link targets, contents, xattrs)
and the same config.

buildah works in a throwaway store of its own (vfs) and runs its RUN steps with chroot
isolation; both builds start from the same busybox image, saved by tinydocker as an OCI
archive for buildah to read."""

import hashlib
import io
import json
import os
import shutil
import subprocess
import tarfile

import pytest

pytestmark = pytest.mark.skipif(shutil.which("buildah") is None, reason="buildah is not installed")

# what either builder adds of its own: buildah leaves the mount point of /etc/hostname
# behind, and labels its images with its version
IGNORED_PATHS = {"etc/hostname"}
IGNORED_LABELS = {"io.buildah.version"}


class Buildah:
    def __init__(self, tmp):
        self.args = ["buildah", "--storage-driver", "vfs", "--root", str(tmp / "root"), "--runroot", str(tmp / "run")]

    def __call__(self, *args, input=None) -> str:
        res = subprocess.run(self.args + list(args), capture_output=True, timeout=300, input=input)
        assert res.returncode == 0, f"buildah {args}: {res.stderr.decode()}"
        return res.stdout.decode()

    def tree(self, image: str) -> dict:
        container = self("from", "--pull-never", image).strip().splitlines()[-1]
        try:
            return _walk(self("mount", container).strip())
        finally:
            self("umount", container)
            self("rm", container)

    def config(self, image: str) -> dict:
        return json.loads(self("inspect", "--type", "image", image))["OCIv1"]["config"]


@pytest.fixture
def buildah(td, tmp_path):
    where = tmp_path / "buildah"
    where.mkdir()
    tool = Buildah(where)
    td.out("image", "build", "busybox")
    td.out("save", "--format", "oci-archive", "-o", str(where / "busybox.tar"), "busybox")
    tool.base = f"oci-archive:{where / 'busybox.tar'}"
    yield tool
    subprocess.run(tool.args + ["rm", "--all"], capture_output=True)
    subprocess.run(tool.args + ["rmi", "--all", "--force"], capture_output=True)
    # vfs' directories are plain; a mount of a container removed above is gone with it
    subprocess.run(["umount", "-R", str(where / "root")], capture_output=True)
    shutil.rmtree(where, ignore_errors=True)


def _describe(kind: str, mode: int, uid: int, gid: int, link: str, digest: str, xattrs: dict) -> tuple:
    return (kind, oct(mode), uid, gid, link, digest, tuple(sorted(xattrs.items())))


def _walk(top: str) -> dict:
    tree = {}
    for directory, dirs, files in os.walk(top):
        for name in dirs + files:
            path = os.path.join(directory, name)
            rel = os.path.relpath(path, top)
            st = os.lstat(path)
            kind = {0o040000: "dir", 0o100000: "file", 0o120000: "link", 0o010000: "fifo"}.get(
                st.st_mode & 0o170000, "other")
            digest = ""
            if kind == "file":
                with open(path, "rb") as f:
                    digest = hashlib.sha256(f.read()).hexdigest()
            xattrs = {k: os.getxattr(path, k, follow_symlinks=False).decode(errors="replace")
                      for k in os.listxattr(path, follow_symlinks=False) if not k.startswith("security.")}
            tree[rel] = _describe(kind, st.st_mode & 0o7777, st.st_uid, st.st_gid,
                                  os.readlink(path) if kind == "link" else "", digest, xattrs)
    return {k: v for k, v in tree.items() if k not in IGNORED_PATHS}


def _tinydocker_tree(td, image: str) -> dict:
    name = "cmp-" + hashlib.sha256(image.encode()).hexdigest()[:8]
    td.out("create", "--network", "none", "--entrypoint", "true", "--image", image, name)
    try:
        data = td("export", name, check=True).stdout
    finally:
        td.out("rm", name)
    tree = {}
    with tarfile.open(fileobj=io.BytesIO(data)) as tar:
        for member in tar:
            rel = member.name.lstrip("./").rstrip("/")
            if not rel:
                continue
            kind = "dir" if member.isdir() else "file" if member.isreg() else "link" if member.issym() else \
                "file" if member.islnk() else "fifo" if member.isfifo() else "other"
            digest = ""
            if member.isreg():
                digest = hashlib.sha256(tar.extractfile(member).read()).hexdigest()
            elif member.islnk():
                digest = tree[member.linkname.lstrip("./")][5]
            xattrs = {k[len("SCHILY.xattr."):]: v for k, v in member.pax_headers.items()
                      if k.startswith("SCHILY.xattr.") and not k.startswith("SCHILY.xattr.security.")}
            tree[rel] = _describe(kind, member.mode, member.uid, member.gid,
                                  member.linkname if member.issym() else "", digest, xattrs)
    return {k: v for k, v in tree.items() if k not in IGNORED_PATHS}


def _same(td, buildah, context, tag: str, *build_args: str):
    built = td("build", "--network", "none", "-t", tag, "--build-arg", "BASE=busybox", *build_args, str(context),
               timeout=300)
    assert built.returncode == 0, built.stderr.decode() + built.stdout.decode()
    buildah("bud", "--isolation", "chroot", "--build-arg", f"BASE={buildah.base}", *build_args, "-t", tag,
            str(context))
    ours, theirs = _tinydocker_tree(td, tag), buildah.tree(tag)
    differing = {k: (ours.get(k), theirs.get(k)) for k in set(ours) | set(theirs) if ours.get(k) != theirs.get(k)}
    assert not differing, "\n".join(f"{k}: tinydocker {a} buildah {b}" for k, (a, b) in sorted(differing.items()))
    our_config = json.loads(td.out("image", "inspect", tag))[0]["Config"]
    their_config = buildah.config(tag)
    for key in ("Env", "Entrypoint", "Cmd", "WorkingDir", "User", "ExposedPorts", "Volumes", "StopSignal"):
        assert (our_config.get(key) or None) == (their_config.get(key) or None), key
    theirs_labels = {k: v for k, v in (their_config.get("Labels") or {}).items() if k not in IGNORED_LABELS}
    assert (our_config.get("Labels") or {}) == theirs_labels


def _context(tmp_path, files: dict):
    ctx = tmp_path / "ctx"
    ctx.mkdir()
    for rel, content in files.items():
        path = ctx / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        if isinstance(content, tuple):  # (text, mode)
            path.write_text(content[0])
            os.chmod(path, content[1])
        else:
            path.write_text(content)
    return ctx


def test_files_copied_from_the_context_land_as_buildah_puts_them(td, buildah, tmp_path):
    ctx = _context(tmp_path, {
        "Containerfile": """\
ARG BASE
FROM ${BASE}
COPY app/ /srv/app/
COPY app /srv/again
COPY --chown=5:6 --chmod=640 app/conf.ini /etc/app/
COPY run.sh notes.txt /usr/local/bin/
COPY link /srv/
WORKDIR /srv/work/deeper
COPY notes.txt relative.txt
ENV HOME=/srv LEVEL="a b"
LABEL com.example.a=1 com.example.b="two words"
EXPOSE 80 443/tcp
VOLUME ["/data"]
ENTRYPOINT ["/usr/local/bin/run.sh"]
CMD ["--flag"]
STOPSIGNAL SIGTERM
USER 5:6
""",
        "app/conf.ini": ("x=1\n", 0o600),
        # sticky, not setuid or setgid: buildah 1.28 chowns after it sets the mode, which clears those
        # (docker keeps them: test_build.py checks a setuid file)
        "app/bin/tool": ("#!/bin/sh\necho tool\n", 0o1755),
        "app/empty/.keep": "",
        "run.sh": ("#!/bin/sh\necho run\n", 0o750),
        "notes.txt": ("notes\n", 0o644),
    })
    os.symlink("app/conf.ini", ctx / "link")
    os.setxattr(ctx / "notes.txt", "user.origin", b"context")
    os.chown(ctx / "run.sh", 1234, 5678)  # the context's owners do not reach the image
    _same(td, buildah, ctx, "cmp-copy")


def test_run_steps_that_add_change_and_delete_files_give_buildah_s_tree(td, buildah, tmp_path):
    ctx = _context(tmp_path, {"Containerfile": """\
ARG BASE
FROM ${BASE}
RUN mkdir -p /opt/a/b && echo one > /opt/a/b/f && chmod 1777 /opt/a && ln -s b/f /opt/a/l && ln /opt/a/b/f /opt/a/h
RUN rm -rf /opt/a/b /var && echo changed >> /etc/passwd && chown 9:9 /opt/a && mkfifo /opt/p
RUN mkdir /opt/a/b && touch /opt/a/b/new
"""})
    _same(td, buildah, ctx, "cmp-run")


def test_multi_stage_copies_and_an_added_archive_give_buildah_s_tree(td, buildah, tmp_path):
    archive = io.BytesIO()
    with tarfile.open(fileobj=archive, mode="w:gz") as tar:
        for name, owner, mode in (("pkg/", (3, 4), 0o750), ("pkg/data", (5, 6), 0o640)):
            info = tarfile.TarInfo(name.rstrip("/"))
            info.uid, info.gid, info.mode = owner[0], owner[1], mode
            if name.endswith("/"):
                info.type = tarfile.DIRTYPE
                tar.addfile(info)
            else:
                info.size = 5
                tar.addfile(info, io.BytesIO(b"data\n"))
    ctx = _context(tmp_path, {"Containerfile": """\
ARG BASE
FROM ${BASE} AS build
RUN mkdir /out && echo made > /out/made && chown 7:8 /out/made && chmod 604 /out/made

FROM ${BASE}
COPY --from=build /out/made /copied/
COPY --from=build /out /tree
ADD pkg.tgz /opt/
"""})
    (ctx / "pkg.tgz").write_bytes(archive.getvalue())
    _same(td, buildah, ctx, "cmp-stages")


def test_users_working_directories_and_replaced_directories_give_buildah_s_tree(td, buildah, tmp_path):
    ctx = _context(tmp_path, {
        "Containerfile": """\
ARG BASE
FROM ${BASE}
RUN echo 'app:x:1001:1002::/home/app:/bin/sh' >> /etc/passwd && echo 'grp:x:1002:' >> /etc/group
COPY --chown=app:grp conf/ /home/app/conf/
COPY --chown=app conf/a.ini /owned-by-name
COPY --chown=1001:tty conf/a.ini /mixed
USER app
WORKDIR /home/app/work
RUN touch made-as-app && mkdir sub
USER root
RUN rm -rf /var && mkdir -p /var/new && echo replaced > /var/new/f
COPY conf/a.ini /var/new/f
COPY conf /usr/bin/
""",
        "conf/a.ini": "a\n",
        "conf/deeper/b.ini": "b\n",
    })
    _same(td, buildah, ctx, "cmp-users")
