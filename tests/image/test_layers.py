"""Layered images: load (docker archive, OCI layout and archive, gzip and zstd layers, a
manifest list), the overlay stack and its whiteouts, the image config honoured by run,
save that skopeo, umoci and podman read, commit, export, and bad archives refused."""

import json
import os
from pathlib import Path
import shutil
import signal
import stat
import subprocess
import tarfile

import pytest

import fixtures
from fixtures import skopeo, tar_member

# the container's own mount points, made in its upper directory when the image lacks them
MOUNT_POINTS = {"proc", "sys", "dev"}
ETC_FILES = {"etc/hosts", "etc/hostname", "etc/resolv.conf"}  # bound in, made when missing


def mount_point(rel: str) -> bool:
    return rel.split("/")[0] in MOUNT_POINTS or rel in ETC_FILES


def index(td) -> dict:
    import tomllib

    with open(td.root / "images" / "index.toml", "rb") as f:
        return tomllib.load(f)


def layer_dirs(td) -> list[str]:
    return sorted(os.listdir(td.root / "images" / "layers"))


def image_entry(td, name: str) -> dict:
    full = f"docker.io/library/{name}" if "/" not in name else name
    full = full if ":" in full.rsplit("/", 1)[-1] else f"{full}:latest"
    return next(v for v in index(td)["images"].values() if full in v["names"])


def listing_of_dir(top: Path) -> dict:
    """path -> (kind, permissions, uid, gid, size or link target or device)"""
    out = {}
    for directory, dirs, files in os.walk(top):
        for name in dirs + files:
            path = Path(directory) / name
            rel = str(path.relative_to(top))
            if mount_point(rel):
                continue
            st = os.lstat(path)
            out[rel] = _describe(st.st_mode, st.st_uid, st.st_gid, st.st_size,
                                 os.readlink(path) if stat.S_ISLNK(st.st_mode) else "", st.st_rdev)
    return out


def listing_of_tar(path: Path) -> dict:
    out, by_name = {}, {}
    with tarfile.open(path) as tar:
        for m in tar.getmembers():
            by_name[os.path.normpath(m.name)] = m
    for name, m in by_name.items():
        if name == "." or mount_point(name):
            continue
        if m.islnk():  # a hard link: the file it names
            m = by_name[os.path.normpath(m.linkname)]
        kind = {tarfile.REGTYPE: stat.S_IFREG, tarfile.AREGTYPE: stat.S_IFREG, tarfile.DIRTYPE: stat.S_IFDIR,
                tarfile.SYMTYPE: stat.S_IFLNK, tarfile.CHRTYPE: stat.S_IFCHR, tarfile.BLKTYPE: stat.S_IFBLK,
                tarfile.FIFOTYPE: stat.S_IFIFO}[m.type]
        out[name] = _describe(kind | stat.S_IMODE(m.mode), m.uid, m.gid, m.size, m.linkname if m.issym() else "",
                              os.makedev(m.devmajor, m.devminor))
    return out


def _describe(mode, uid, gid, size, target, rdev):
    kind = stat.S_IFMT(mode)
    detail = size if kind == stat.S_IFREG else target if kind == stat.S_IFLNK else \
        rdev if kind in (stat.S_IFCHR, stat.S_IFBLK) else None
    return (kind, stat.S_IMODE(mode), uid, gid, detail)


def umoci_rootfs(image: fixtures.Image, where: Path) -> Path:
    """The image's tree as umoci (a peer) unpacks it from the OCI layout."""
    layout = where / "layout"
    shutil.copytree(image.layout, layout)
    subprocess.run(["umoci", "unpack", "--image", f"{layout}:{image.tag}", str(where / "bundle")],
                   check=True, capture_output=True)
    return where / "bundle" / "rootfs"


def test_layered_image_runs_with_its_config_and_its_whiteouts(td, layered_image):
    assert td.out("load", "-i", str(layered_image.docker_archive)) == "Loaded image: layered:latest\n"
    # Entrypoint ["/bin/sh", "-c"] + Cmd, as user app with its supplementary group
    out = td.out("run", "--image", "layered", "c1")
    assert out == "hello from cmd\nuid=1000(app) gid=1000(app) groups=1000(app),2000(extra)\n"
    # a command after NAME replaces Cmd (the entrypoint stays); Env, WorkingDir, HOME
    out = td.out("run", "--image", "layered", "c2", "echo $FOO $HOME; pwd; ls /data; ls /data/dir")
    assert out.splitlines() == ["bar /home/app", "/data", "b", "dir", "fifo", "h", "link", "null", "owned",
                                "sticky", "suid", "xattr", "y"]  # a: whited out; dir: opaque, only y
    # --entrypoint replaces it (and drops Cmd); --user, -w and -e override the image's
    out = td.out("run", "--image", "layered", "--entrypoint", "id", "-u", "0:2000", "c3")
    assert out == "uid=0(root) gid=2000(extra) groups=2000(extra)\n"
    out = td.out("run", "--image", "layered", "-u", "app", "-w", "/tmp", "-e", "FOO=mine", "c4", "echo $FOO; pwd")
    assert out == "mine\n/tmp\n"
    res = td("run", "--image", "layered", "-u", "nobody-here", "c5", "true")
    assert res.returncode == 125 and b"unable to find user nobody-here" in res.stderr
    # modes, owners, links and special files came through the layers as they were
    out = td.out("run", "--image", "layered", "c6",
                 "stat -c '%n %a %u:%g %F %h' /data/suid /data/sticky /data/owned /data/null /data/fifo /data/b; "
                 "readlink /data/link; stat -c %i /data/b /data/h | uniq | wc -l")
    assert out.splitlines() == [
        "/data/suid 4755 0:0 regular file 1", "/data/sticky 1777 0:0 directory 2",
        "/data/owned 644 1000:2000 regular file 1", "/data/null 666 0:0 character special file 1",
        "/data/fifo 644 0:0 fifo 1", "/data/b 644 0:0 regular file 2", "b", "1"]
    doc = json.loads(td.out("inspect", "c1"))[0]
    assert doc["Config"]["Labels"]["a"] == "b" and doc["Config"]["ExposedPorts"] == {"8080/tcp": {}}
    assert doc["Config"]["StopSignal"] == "SIGUSR1" and doc["Config"]["User"] == "app"
    assert doc["Config"]["Entrypoint"] == ["/bin/sh", "-c"] and doc["Image"].startswith("sha256:")
    assert len(doc["GraphDriver"]["Data"]["LowerDir"].split(":")) == 3


def test_layers_hold_overlay_whiteouts_and_are_stacked_top_first(td, layered_image):
    td.out("load", "-i", str(layered_image.docker_archive))
    entry = image_entry(td, "layered")
    assert len(entry["layers"]) == 3 and len(layer_dirs(td)) == 3
    top = td.root / "images" / "layers" / entry["layers"][2][7:]
    st = os.lstat(top / "data" / "a")  # OCI's data/.wh.a as overlayfs' own whiteout
    assert stat.S_ISCHR(st.st_mode) and st.st_rdev == 0
    assert os.getxattr(top / "data" / "dir", "trusted.overlay.opaque") == b"y"
    assert not (top / "data" / ".wh.a").exists() and not (top / "data" / "dir" / ".wh..wh..opq").exists()
    middle = td.root / "images" / "layers" / entry["layers"][1][7:]
    assert os.getxattr(middle / "data" / "xattr", "user.tinydocker") == b"kept"
    td.out("run", "--image", "layered", "c1", "true")
    links = [os.readlink(td.containers / "c1" / "layers" / str(i)) for i in range(3)]
    assert links == [str(td.root / "images" / "layers" / d[7:]) for d in reversed(entry["layers"])]


def test_stop_sends_the_images_stop_signal(td, layered_image):
    td.out("load", "-i", str(layered_image.docker_archive))
    td.out("run", "-d", "--image", "layered", "c1", "trap 'exit 7' USR1; while :; do sleep 0.1; done")
    td.wait_trap("c1", signal.SIGUSR1)
    td.out("stop", "-t", "20", "c1")
    assert td.out("wait", "c1") == "7\n"  # SIGUSR1 ended it, not the SIGKILL after the timeout


def test_a_shared_base_layer_is_stored_once_and_kept_while_used(td, shared_images, base_image):
    one, two = shared_images
    td.out("load", "-i", str(one.docker_archive))
    td.out("load", "-i", str(two.docker_archive))
    base_layer = image_entry(td, "shared-one")["layers"][0]
    assert image_entry(td, "shared-two")["layers"][0] == base_layer
    assert len(layer_dirs(td)) == 3  # the base once, and one layer of each
    td.out("rmi", "shared-one")
    assert base_layer[7:] in layer_dirs(td) and len(layer_dirs(td)) == 2
    assert td.out("run", "--image", "shared-two", "c1", "cat", "/two") == "two\n"


@pytest.mark.parametrize("variant", ["gzip", "zstd", "none"])
def test_compressed_layers_give_the_same_image(td, compressed_images, layered_image, variant):
    td.out("load", "-i", str(compressed_images[variant].layout))
    td.out("load", "-i", str(layered_image.docker_archive))
    assert len(index(td)["images"]) == 1  # one config, one image, whatever the compression
    assert td.out("run", "--image", "layered", "c1", "cat /data/dir/y") == "y\n"


def test_a_hundred_layers_stack(td, many_layers_image):
    td.out("load", "-i", str(many_layers_image.oci_archive))
    out = td.out("run", "--image", "many-100", "c1", "sh", "-c",
                 "ls /layers | wc -l; cat /layers/1 /layers/50 /layers/100; echo; grep ' / / ' /proc/self/mountinfo")
    lines = out.splitlines()
    assert lines[0].strip() == "100" and lines[1] == "150100"
    assert "lowerdir=layers/0:layers/1:" in lines[2] and "layers/99," in lines[2]


def test_a_manifest_list_gives_the_hosts_platform_or_the_one_asked_for(td, multiarch_image):
    out = td.out("load", "-i", str(multiarch_image.layout))
    assert td.out("run", "--image", out.split(": ", 1)[1].strip(), "c1", "cat", "/arch") == "amd64\n"
    other = tdroot_of(td, "arm")
    other.out("load", "--platform", "linux/arm64", "-i", str(multiarch_image.layout))
    doc = json.loads(other.out("image", "inspect", out.split(": ", 1)[1].strip()))[0]
    assert doc["Architecture"] == "arm64"


def tdroot_of(td, suffix):
    """A second data root beside td's (removed with td's parent)."""
    import conftest

    root = td.root.parent / f"{td.root.name}-{suffix}"
    return conftest.TD(root)


def test_save_is_read_by_skopeo_umoci_and_podman_with_the_same_tree(td, layered_image, tmp_path):
    td.out("load", "-i", str(layered_image.oci_archive))
    expected = listing_of_dir(umoci_rootfs(layered_image, tmp_path / "peer"))
    entry = image_entry(td, "layered")
    for fmt, transport in (("docker-archive", "docker-archive"), ("oci-archive", "oci-archive")):
        archive = tmp_path / f"saved.{fmt}.tar"
        td.out("save", "--format", fmt, "-o", str(archive), "layered")
        seen = json.loads(skopeo("inspect", f"{transport}:{archive}"))
        assert seen["Layers"] == entry["layers"] or fmt == "oci-archive"
        oci_dir = tmp_path / f"copy-{fmt}"
        skopeo("copy", f"{transport}:{archive}", f"oci:{oci_dir}:back")
        unpacked = umoci_rootfs(fixtures.Image(oci_dir, "back"), tmp_path / f"unpack-{fmt}")
        assert listing_of_dir(unpacked) == expected, fmt
    # podman loads what we saved, under its name
    import tempfile

    storage = Path(tempfile.mkdtemp(prefix="td-podman-"))  # podman wants a runroot under 50 characters
    podman = ["podman", "--root", str(storage / "root"), "--runroot", str(storage / "run"), "--storage-driver", "vfs"]
    try:
        done = subprocess.run(podman + ["load", "-i", str(tmp_path / "saved.docker-archive.tar")],
                              capture_output=True, text=True)
        assert done.returncode == 0 and "layered:latest" in done.stdout, done.stderr
        images = json.loads(subprocess.run(podman + ["images", "--format", "json"], capture_output=True,
                                           text=True, check=True).stdout)
        assert images[0]["Id"] == entry_id(td, "layered")
    finally:
        subprocess.run(podman + ["system", "reset", "-f"], capture_output=True)
        shutil.rmtree(storage, ignore_errors=True)


def entry_id(td, name):
    return json.loads(td.out("image", "inspect", name))[0]["Id"][7:]


def test_what_peers_wrote_loads_with_the_same_tree(td, layered_image, tmp_path):
    expected = listing_of_dir(umoci_rootfs(layered_image, tmp_path / "peer"))
    td.out("load", "-i", str(layered_image.layout))  # skopeo's OCI layout directory
    td.out("run", "--image", "layered", "c1", "true")
    td.out("export", "c1", "-o", str(tmp_path / "c1.tar"))
    assert listing_of_tar(tmp_path / "c1.tar") == expected


def test_commit_turns_the_upper_layer_into_an_image(td, layered_image, tmp_path):
    td.out("load", "-i", str(layered_image.docker_archive))
    td.out("run", "-u", "0", "--image", "layered", "c1",
           "rm /data/b; rm -rf /data/sticky; mkdir /data/dir; echo n > /data/dir/n; rm /data/dir/y; "
           "echo new > /new; chmod 4711 /new")
    image_id = td.out("commit", "-m", "changed", "c1", "mine:v1").strip()
    assert image_id.startswith("sha256:")
    entry = image_entry(td, "mine:v1")
    assert entry["layers"][:3] == image_entry(td, "layered")["layers"] and len(entry["layers"]) == 4
    # the new layer's tar speaks OCI: whiteouts as .wh. entries
    with tarfile.open(td.root / "images" / "blobs" / "sha256" / entry["layers"][3][7:]) as tar:
        names = set(tar.getnames())
    assert {"data/.wh.b", "data/.wh.sticky", "data/dir/.wh.y", "new"} <= names
    out = td.out("run", "--image", "mine:v1", "c2", "ls /data; ls /data/dir; stat -c %a /new; id -u")
    # the container's settings came along: it ran as -u 0, so the image's User is now 0
    assert out.splitlines() == ["dir", "fifo", "h", "link", "null", "owned", "suid", "xattr", "n", "4711", "0"]
    history = td.out("history", "mine:v1").splitlines()
    assert "tinydocker commit c1" in history[1] and "changed" in history[1]
    # what commit made, export shows the same way
    td.out("export", "c1", "-o", str(tmp_path / "c1.tar"))
    td.out("run", "--image", "mine:v1", "c3", "true")
    td.out("export", "c3", "-o", str(tmp_path / "c3.tar"))
    assert listing_of_tar(tmp_path / "c1.tar") == listing_of_tar(tmp_path / "c3.tar")


def _bad(td, args, needle):
    res = td(*args)
    err = res.stderr.decode()
    assert res.returncode == 125 and err.count("\n") == 1 and needle in err and "Traceback" not in err, err
    images = td.root / "images"
    assert not [e for e in os.listdir(images) if e.startswith(".tmp")] if images.exists() else True
    assert not (images / "layers").exists() or os.listdir(images / "layers") == []
    assert not (images / "index.toml").exists() or index(td)["images"] == {}


def test_bad_archives_are_refused_in_one_line_and_store_nothing(td, layered_image, tmp_path):
    data = layered_image.docker_archive.read_bytes()
    truncated = tmp_path / "truncated.tar"
    truncated.write_bytes(data[: len(data) // 2])
    _bad(td, ["load", "-i", str(truncated)], "truncated.tar")
    _bad(td, ["load", "-i", str(tmp_path / "missing.tar")], "no such file")
    # a layer whose bytes are not those its config's diff id names
    layout = tmp_path / "tampered"
    shutil.copytree(layered_image.layout, layout)
    manifest = fixtures.Image(layout, layered_image.tag).manifest()
    blob = layout / "blobs" / "sha256" / manifest["layers"][1]["digest"][7:]
    raw = bytearray(blob.read_bytes())
    raw[len(raw) // 2] ^= 0xFF
    blob.write_bytes(bytes(raw))
    _bad(td, ["load", "-i", str(layout)], "does not match its digest")


def _archive_with_layer(tmp_path: Path, name: str, members) -> Path:
    """A docker archive of one hostile layer, its config naming the layer's true diff id."""
    import hashlib
    import io

    layer = io.BytesIO()
    with tarfile.open(fileobj=layer, mode="w") as tar:
        for info, data in members:
            tar.addfile(info, io.BytesIO(data) if data is not None else None)
    layer_bytes = layer.getvalue()
    diff_id = "sha256:" + hashlib.sha256(layer_bytes).hexdigest()
    config = json.dumps({"architecture": "amd64", "os": "linux", "config": {"Cmd": ["sh"]},
                         "rootfs": {"type": "layers", "diff_ids": [diff_id]}}).encode()
    path = tmp_path / f"{name}.tar"
    with tarfile.open(path, "w") as tar:
        for arcname, payload in (("layer.tar", layer_bytes), ("config.json", config),
                                 ("manifest.json", json.dumps([{"Config": "config.json", "RepoTags": [f"{name}:1"],
                                                                "Layers": ["layer.tar"]}]).encode())):
            info = tarfile.TarInfo(arcname)
            info.size = len(payload)
            tar.addfile(info, io.BytesIO(payload))
    return path


@pytest.mark.parametrize("members, needle", [
    ([tar_member("../escape")], "outside the image"),
    ([tar_member("etc-sym", tarfile.SYMTYPE, "/etc"), tar_member("etc-sym/evil")], "through a symlink"),
    ([tar_member("passwd-link", tarfile.LNKTYPE, "/etc/passwd")], "hard link"),
    ([tar_member("a/.wh.."), ], "whiteout of nothing"),
    ([tar_member("x", tarfile.SYMTYPE, "/etc/passwd"), tar_member("x", data=b"pwned")], None),
])
def test_hostile_layers_are_refused_or_harmless(td, tmp_path, members, needle):
    host_passwd = Path("/etc/passwd").read_bytes()
    archive = _archive_with_layer(tmp_path, "hostile", members)
    if needle is None:
        # a later member replaces an earlier one; it never writes through it
        td.out("load", "-i", str(archive))
        layer = td.root / "images" / "layers" / layer_dirs(td)[0]
        assert (layer / "x").read_bytes() == b"pwned" and not (layer / "x").is_symlink()
    else:
        _bad(td, ["load", "-i", str(archive)], needle)
    assert Path("/etc/passwd").read_bytes() == host_passwd
    assert not (tmp_path.parent / "escape").exists()


def test_a_name_climbing_back_through_a_symlink_lands_in_the_layer(td, tmp_path):
    # "a/../pwned" once went to dest/a/../pwned, which the kernel resolves through the symlink
    # a: outside the tree. The name is cleaned first, as docker and containerd do: ./pwned
    outside = tmp_path / "outside"
    (outside / "sub").mkdir(parents=True)
    archive = _archive_with_layer(tmp_path, "climber", [
        tar_member("a", tarfile.SYMTYPE, str(outside / "sub")),
        tar_member("a/../pwned", data=b"pwned"),
        tar_member("hard", tarfile.LNKTYPE, "a/../pwned"),  # cleaned too: ./pwned, not outside/pwned
    ])
    td.out("load", "-i", str(archive))
    assert os.listdir(outside) == ["sub"]
    layer = td.root / "images" / "layers" / layer_dirs(td)[0]
    assert (layer / "pwned").read_bytes() == b"pwned" and (layer / "hard").read_bytes() == b"pwned"
    assert (layer / "a").is_symlink()


@pytest.mark.parametrize("members", [
    # a directory seen (d/f, d/g: the first makes it, the second finds it), then replaced by
    # a symlink out, then written through
    [("d", tarfile.DIRTYPE, ""), ("d/f", tarfile.REGTYPE, ""), ("d", tarfile.SYMTYPE, "OUT"),
     ("d/evil", tarfile.REGTYPE, "")],
    # the same one level down: what was known below the replaced directory is forgotten too
    [("a/b/f", tarfile.REGTYPE, ""), ("a/b/g", tarfile.REGTYPE, ""), ("a", tarfile.SYMTYPE, "OUT"),
     ("a/b/evil", tarfile.REGTYPE, "")],
    # a whiteout removes the directory, a symlink takes its place
    [("w/f", tarfile.REGTYPE, ""), ("w/g", tarfile.REGTYPE, ""), (".wh.w", tarfile.REGTYPE, ""),
     ("w", tarfile.SYMTYPE, "OUT"), ("w/evil", tarfile.REGTYPE, "")],
    # the directory named with ./ and // in it
    [("./x//y/f", tarfile.REGTYPE, ""), ("x/./y/g", tarfile.REGTYPE, ""), ("x/y", tarfile.SYMTYPE, "OUT"),
     ("x/./y//evil", tarfile.REGTYPE, "")],
], ids=["replaced", "ancestor", "whiteout", "spelling"])
def test_a_directory_replaced_by_a_symlink_is_never_written_through(td, tmp_path, members):
    outside = tmp_path / "outside"
    (outside / "b").mkdir(parents=True)
    archive = _archive_with_layer(tmp_path, "replacer", [
        tar_member(name, kind, str(outside) if link == "OUT" else link) for name, kind, link in members])
    _bad(td, ["load", "-i", str(archive)], "through a symlink")
    assert os.listdir(outside) == ["b"] and os.listdir(outside / "b") == []


def test_symlinks_keep_their_target_and_owner_wherever_they_are(td, tmp_path):
    def owned(info_data, uid):
        info, data = info_data
        info.uid = info.gid = uid
        return info, data

    archive = _archive_with_layer(tmp_path, "links", [
        owned(tar_member("unlisted/deep/ls", tarfile.SYMTYPE, "/bin/busybox"), 1000),  # parents not in the tar
        tar_member("file", data=b"first"),
        owned(tar_member("file", tarfile.SYMTYPE, "unlisted"), 7),  # a later member replaces an earlier one
        owned(tar_member("dangling", tarfile.SYMTYPE, "nowhere/at/all"), 0),
    ])
    td.out("load", "-i", str(archive))
    layer = td.root / "images" / "layers" / layer_dirs(td)[0]
    for name, target, uid in (("unlisted/deep/ls", "/bin/busybox", 1000), ("file", "unlisted", 7),
                              ("dangling", "nowhere/at/all", 0)):
        st = os.lstat(layer / name)
        assert stat.S_ISLNK(st.st_mode) and os.readlink(layer / name) == target and (st.st_uid, st.st_gid) == (uid, uid)
    assert stat.S_ISDIR(os.lstat(layer / "unlisted" / "deep").st_mode)


def test_a_killed_load_leaves_nothing_half_made(td, many_layers_image):
    import time

    for delay in (0.05, 0.2, 0.4):
        p = td.popen("load", "-i", str(many_layers_image.oci_archive))
        time.sleep(delay)
        os.kill(p.pid, signal.SIGKILL)
        p.wait()
        listed = td("images", "-q").stdout.decode().split()
        assert len(listed) <= 1  # the image is there whole, or not at all
        td.out("image", "prune", "-f")  # any change first sweeps what the killed load left
        images = td.root / "images"
        assert not [e for e in os.listdir(images) if e.startswith(".tmp")]
        wanted = {d[7:] for v in index(td)["images"].values() for d in v["layers"]} if \
            (images / "index.toml").exists() else set()
        assert set(layer_dirs(td) if (images / "layers").exists() else []) == wanted
        if listed:
            assert td.out("run", "--rm", "--image", "many-100", "c1", "cat", "/layers/100") == "100"
            td.out("rmi", "many-100")


def test_save_and_export_never_write_through_a_planted_link(td, tmp_path):
    """save -o and export -o write beside a path the user chose (often /tmp, which anyone
    can write): the temporary file there is created anew (O_EXCL|O_NOFOLLOW), never opened
    through a link planted at a name someone could guess (it was PATH.tmp-PID)."""
    import tinydocker

    tinydocker.build_image(root=td.root)
    td.out("create", "c1", "true")
    victim = tmp_path / "victim"
    victim.write_bytes(b"precious")
    for name in ("out.tar", "tree.tar"):
        (tmp_path / f"{name}.tmp-{os.getpid()}").symlink_to(victim)
    tinydocker.save("busybox", str(tmp_path / "out.tar"), root=td.root)
    tinydocker.export("c1", str(tmp_path / "tree.tar"), root=td.root)
    assert victim.read_bytes() == b"precious"
    for name in ("out.tar", "tree.tar"):
        with tarfile.open(tmp_path / name) as tar:
            assert tar.getnames()
