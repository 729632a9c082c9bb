"""Images: the busybox recipe, safe import of tarballs, listing."""

import io
import os
import subprocess
import tarfile

import pytest


def _busybox_tar(td, path, extra=()):
    td.out("image", "build", "busybox")
    with tarfile.open(path, "w") as tar:
        tar.add(td.image_rootfs(), arcname=".")
        for member, data in extra:
            tar.addfile(member, io.BytesIO(data) if data is not None else None)
    return path


def test_busybox_image_links_every_applet(td):
    td.out("image", "build", "busybox")
    rootfs = td.image_rootfs()
    applets = subprocess.run(["/bin/busybox", "--list"], capture_output=True, text=True).stdout.split()
    assert "busybox" in applets
    assert os.path.isfile(rootfs / "bin" / "busybox") and not os.path.islink(rootfs / "bin" / "busybox")
    for applet in applets:
        if applet != "busybox":
            assert os.readlink(rootfs / "bin" / applet) == "/bin/busybox"
    listing = td.out("images")
    assert listing.splitlines()[0].split() == ["IMAGE", "CREATED", "SIZE", "SOURCE"]
    assert listing.splitlines()[1].startswith("busybox ")


def test_image_is_built_on_first_run(td):
    assert not td.image_rootfs().exists()
    assert td.out("run", "c1", "echo", "built") == "built\n"
    assert td.image_rootfs().is_dir()


def test_import_and_run(td, tmp_path):
    tarball = _busybox_tar(td, tmp_path / "rootfs.tar")
    assert td.out("import", str(tarball), "mine") == "mine\n"
    assert td.out("run", "--image", "mine", "c1", "cat", "/etc/passwd").startswith("root:")
    assert "mine" in td.out("images")
    # a gzipped tarball, and one read from stdin
    gz = tmp_path / "rootfs.tar.gz"
    subprocess.run(["gzip", "-k", str(tarball)], check=True)
    td.out("import", str(gz), "mine-gz")
    td.out("import", "-", "mine-stdin", input=tarball.read_bytes())
    assert td.out("run", "--image", "mine-stdin", "c2", "echo", "ok") == "ok\n"


def _member(name, kind=tarfile.REGTYPE, linkname="", data=b"x"):
    info = tarfile.TarInfo(name)
    info.type = kind
    info.linkname = linkname
    if kind == tarfile.REGTYPE:
        info.size = len(data)
        return info, data
    return info, None


@pytest.mark.parametrize("members, reason", [
    ([_member("../escape")], "outside the image"),
    ([_member("a/../../escape")], "outside the image"),
    ([_member("/abs/file")], "absolute path"),
    ([_member("passwd-link", tarfile.LNKTYPE, "/etc/passwd")], "hard link"),
    ([_member("up-link", tarfile.LNKTYPE, "../../etc/passwd")], "hard link"),
    ([_member("rel-sym", tarfile.SYMTYPE, "../../../etc")], "symlink"),
    ([_member("etc-sym", tarfile.SYMTYPE, "/etc"), _member("etc-sym/evil")], "through a symlink"),
])
def test_unsafe_tarballs_are_refused_and_leave_nothing(td, tmp_path, members, reason):
    tarball = _busybox_tar(td, tmp_path / "bad.tar", extra=members)
    host_etc = sorted(os.listdir("/etc"))
    res = td("import", str(tarball), "bad")
    assert res.returncode == 125
    err = res.stderr.decode()
    assert err.count("\n") == 1 and reason in err and "Traceback" not in err
    assert sorted(os.listdir(td.root / "images")) == [".lock", "busybox"]
    assert sorted(os.listdir("/etc")) == host_etc
    assert not os.path.exists(tmp_path.parent / "escape")


def test_absolute_symlinks_inside_a_rootfs_are_fine(td, tmp_path):
    tarball = _busybox_tar(td, tmp_path / "ok.tar",
                           extra=[_member("usr/local/etc/users", tarfile.SYMTYPE, "/etc/passwd")])
    td.out("import", str(tarball), "abs")
    assert td.out("run", "--image", "abs", "c1", "cat", "/usr/local/etc/users").startswith("root:x:0:0")


def test_unreadable_or_missing_tarball(td, tmp_path):
    junk = tmp_path / "junk.tar"
    junk.write_bytes(os.urandom(4096))
    for path in (junk, tmp_path / "missing.tar"):
        res = td("import", str(path), "img")
        assert res.returncode == 125
        assert res.stderr.decode().count("\n") == 1 and str(path) in res.stderr.decode()
    images = td.root / "images"
    leftovers = [e for e in os.listdir(images) if e != ".lock"] if images.exists() else []
    assert leftovers == []  # no image, no half-extracted .tmp-* directory


def test_import_refuses_to_replace_an_image(td, tmp_path):
    tarball = _busybox_tar(td, tmp_path / "a.tar")
    td.out("import", str(tarball), "one")
    res = td("import", str(tarball), "one")
    assert res.returncode == 125 and b"already exists" in res.stderr


def test_image_rm_refuses_while_used(td):
    td.out("run", "c1", "true")
    res = td("image", "rm", "busybox")
    assert res.returncode == 125 and b"c1" in res.stderr
    td.out("rm", "c1")
    td.out("image", "rm", "busybox")
    assert not (td.root / "images" / "busybox").exists()


def test_images_lists_only_images_beside_recipes_and_readmes(td):
    """A source checkout's images/ holds recipes and a README next to the built images."""
    images = td.root / "images"
    images.mkdir(parents=True)
    (images / "README.md").write_text("recipes live here\n")
    (images / "busybox.toml").write_text("# a recipe, not an image\n")
    (images / "notes").mkdir()  # a directory that is no image either
    res = td("images")
    assert res.returncode == 0 and res.stderr == b"", res.stderr
    assert res.stdout.decode().splitlines() == ["IMAGE   CREATED   SIZE   SOURCE"]
    td.out("image", "build", "busybox")
    names = [line.split()[0] for line in td.out("images").splitlines()[1:]]
    assert names == ["busybox"]
    assert td("image", "rm", "notes").returncode == 1
