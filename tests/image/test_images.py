"""Images: the busybox recipe, safe import of tarballs, listing, tags and removal."""

import io
import os
import subprocess
import tarfile

import pytest

from fixtures import tar_member


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
    assert listing.splitlines()[0].split() == ["REPOSITORY", "TAG", "IMAGE", "ID", "CREATED", "SIZE"]
    assert listing.splitlines()[1].split()[:2] == ["busybox", "latest"]


def test_image_is_built_on_first_run(td):
    assert not (td.root / "images" / "index.toml").exists()
    assert td.out("run", "c1", "echo", "built") == "built\n"
    assert td.image_rootfs().is_dir()


def test_import_and_run(td, tmp_path):
    tarball = _busybox_tar(td, tmp_path / "rootfs.tar")
    image_id = td.out("import", str(tarball), "mine").strip()
    assert image_id.startswith("sha256:") and len(image_id) == 71
    assert td.out("run", "--image", "mine", "c1", "cat", "/etc/passwd").startswith("root:")
    assert ["mine", "latest", image_id[7:19]] in [line.split()[:3] for line in td.out("images").splitlines()]
    # the same layer, imported again, is stored once (beside busybox's own)
    # a gzipped tarball, and one read from stdin
    gz = tmp_path / "rootfs.tar.gz"
    subprocess.run(["gzip", "-k", str(tarball)], check=True)
    td.out("import", str(gz), "mine-gz")
    td.out("import", "-", "mine-stdin", input=tarball.read_bytes())
    assert td.out("run", "--image", "mine-stdin", "c2", "echo", "ok") == "ok\n"
    assert len(os.listdir(td.root / "images" / "layers")) == 2


@pytest.mark.parametrize("members, reason", [
    ([tar_member("../escape")], "outside the image"),
    ([tar_member("a/../../escape")], "outside the image"),
    ([tar_member("/abs/file")], "absolute path"),
    ([tar_member("passwd-link", tarfile.LNKTYPE, "/etc/passwd")], "hard link"),
    ([tar_member("up-link", tarfile.LNKTYPE, "../../etc/passwd")], "hard link"),
    ([tar_member("rel-sym", tarfile.SYMTYPE, "../../../etc")], "symlink"),
    ([tar_member("etc-sym", tarfile.SYMTYPE, "/etc"), tar_member("etc-sym/evil")], "through a symlink"),
])
def test_unsafe_tarballs_are_refused_and_leave_nothing(td, tmp_path, members, reason):
    tarball = _busybox_tar(td, tmp_path / "bad.tar", extra=members)
    host_etc = sorted(os.listdir("/etc"))
    res = td("import", str(tarball), "bad")
    assert res.returncode == 125
    err = res.stderr.decode()
    assert err.count("\n") == 1 and reason in err and "Traceback" not in err
    entries = os.listdir(td.root / "images")
    assert sorted(e for e in entries if not e.startswith(".")) == ["blobs", "index.toml", "layers"]
    assert not [e for e in entries if e.startswith(".tmp")]
    assert os.listdir(td.root / "images" / "layers") == [td.image_rootfs().name]
    assert sorted(os.listdir("/etc")) == host_etc
    assert not os.path.exists(tmp_path.parent / "escape")


def test_absolute_symlinks_inside_a_rootfs_are_fine(td, tmp_path):
    tarball = _busybox_tar(td, tmp_path / "ok.tar",
                           extra=[tar_member("usr/local/etc/users", tarfile.SYMTYPE, "/etc/passwd")])
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
    leftovers = [e for e in os.listdir(images) if e.startswith(".tmp")] if images.exists() else []
    assert leftovers == []  # no half-extracted .tmp-* directory
    assert not (images / "layers").exists() or os.listdir(images / "layers") == []


def test_import_onto_a_name_moves_it_and_the_old_image_is_left_nameless(td, tmp_path):
    tarball = _busybox_tar(td, tmp_path / "a.tar")
    first = td.out("import", str(tarball), "one").strip()
    second = td.out("import", str(tarball), "one").strip()
    assert first != second  # another config (its creation time), the same layer
    rows = [line.split()[:3] for line in td.out("images").splitlines()[1:]]
    assert ["one", "latest", second[7:19]] in rows and ["<none>", "<none>", first[7:19]] in rows
    td.out("image", "prune", "-f")
    assert first[7:19] not in td.out("images")


def test_rmi_refuses_while_used_then_removes_what_nothing_else_holds(td):
    td.out("run", "c1", "true")
    layer = td.image_rootfs()
    res = td("rmi", "busybox")
    assert res.returncode == 1 and b"c1" in res.stderr and res.stderr.count(b"\n") == 1
    td.out("tag", "busybox", "other:v1")
    assert td.out("rmi", "other:v1") == "Untagged: other:v1\n"
    td.out("rm", "c1")
    out = td.out("rmi", "busybox")
    assert out.startswith("Untagged: busybox:latest\nDeleted: sha256:")
    assert not layer.exists() and os.listdir(td.root / "images" / "blobs" / "sha256") == []
    assert td("rmi", "busybox").returncode == 1


def test_rmi_force_leaves_a_used_image_nameless_until_its_container_goes(td):
    td.out("run", "c1", "true")
    layer = td.image_rootfs()
    assert td.out("rmi", "-f", "busybox") == "Untagged: busybox:latest\n"
    assert td.out("images").splitlines()[1].split()[:2] == ["<none>", "<none>"]
    assert td("start", "-a", "c1").returncode == 0  # its layers are still there
    td.out("image", "prune", "-f")
    assert layer.exists()  # still used by c1
    td.out("rm", "c1")
    td.out("image", "prune", "-f")
    assert not layer.exists() and td.out("images", "-q") == ""


def test_image_inspect_and_history(td):
    td.out("image", "build", "busybox")
    import json

    doc = json.loads(td.out("image", "inspect", "busybox"))[0]
    assert doc["RepoTags"] == ["busybox:latest"] and doc["Id"].startswith("sha256:")
    assert doc["Config"]["Cmd"] == ["sh"] and len(doc["RootFS"]["Layers"]) == 1
    assert doc["Os"] == "linux" and doc["Size"] > 1_000_000
    assert td.out("images", "-q") == doc["Id"][7:19] + "\n"
    history = td.out("history", "busybox").splitlines()
    assert history[0].split() == ["IMAGE", "CREATED", "CREATED", "BY", "SIZE", "COMMENT"]
    assert "tinydocker recipe busybox" in history[1]
    res = td("image", "inspect", "nope")
    assert res.returncode == 1 and b"No such image: nope" in res.stderr


def test_images_lists_only_images_beside_recipes_and_readmes(td):
    """A source checkout's images/ holds recipes and a README next to the store."""
    images = td.root / "images"
    images.mkdir(parents=True)
    (images / "README.md").write_text("recipes live here\n")
    (images / "busybox.toml").write_text("# a recipe, not an image\n")
    (images / "notes").mkdir()  # a directory that is no image either
    res = td("images")
    assert res.returncode == 0 and res.stderr == b"", res.stderr
    assert res.stdout.decode().splitlines() == ["REPOSITORY   TAG   IMAGE ID   CREATED   SIZE"]
    td.out("image", "build", "busybox")
    names = [line.split()[0] for line in td.out("images").splitlines()[1:]]
    assert names == ["busybox"]
    assert td("image", "rm", "notes").returncode == 1
    assert (images / "README.md").exists() and (images / "notes").is_dir()


@pytest.mark.parametrize("fmt", ["docker-archive", "oci-archive"])
def test_saved_by_id_loads_without_a_name(td, tmp_path, fmt):
    """podman's system test: `save <id>`, `rmi`, `load` gives <none>:<none>, as docker's: an
    archive saved by id carries no name. Saved by name, it keeps the name."""
    td.out("image", "build", "busybox")
    image_id = td.out("image", "inspect", "--format", "{{.Id}}", "busybox").strip()
    by_id, by_name = tmp_path / "by-id.tar", tmp_path / "by-name.tar"
    td.out("save", "--format", fmt, "-o", str(by_id), image_id[7:19])
    td.out("save", "--format", fmt, "-o", str(by_name), "busybox")
    with tarfile.open(by_id) as tar:
        text = b"".join(tar.extractfile(n).read() for n in ("manifest.json", "index.json") if n in tar.getnames())
    assert b"busybox" not in text
    td.out("rmi", "busybox")
    assert td.out("load", "-i", str(by_id)).strip() == f"Loaded image ID: {image_id}"
    assert [line.split()[:3] for line in td.out("images").splitlines()[1:]] == [["<none>", "<none>", image_id[7:19]]]
    assert td.out("load", "-i", str(by_name)).strip() == "Loaded image: busybox:latest"
    assert td.out("images", "--format", "{{.Repository}}:{{.Tag}}").split() == ["busybox:latest"]
