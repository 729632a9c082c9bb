"""An ordinary user's images (issue 23): layers unpacked as root of the user's namespace, so a
file keeps its owner inside (1000:2000 stays 1000:2000) and is shifted into the user's
subordinate range on disk; commit and save write the owners as seen inside; a user with its
own id alone gets every file as root's; an owner beyond the user's range is refused in one
line; rmi leaves nothing of the layers behind."""

import glob
import io
import json
import os
import tarfile

import fixtures
from fixtures import APP_UID, EXTRA_GID
from image_fixtures import base_image, layered_image, oci_images_dir, registry  # noqa: F401 - the fixtures
from rootless_fixtures import bare_user, user, user_python  # noqa: F401 - the fixtures

STAT = "stat -c '%n %u:%g %a %F' /data/owned /data/suid /data/sticky /data/fifo /bin/busybox; " \
       "ls /data/dir; ls -a /data | tr '\\n' ' '"


def _load(u, archive) -> None:
    res = u.td("load", input=archive.read_bytes(), timeout=120)
    assert res.returncode == 0, res.stderr


def _layers(u) -> str:
    return str(u.home / ".local/share/tinydocker/images/layers")


def _inside(res) -> dict:
    assert res.returncode == 0, res.stderr
    lines = res.stdout.decode().strip().split("\n")
    found = {}
    for line in lines[:5]:
        name, owner, mode, *kind = line.split()
        found[name] = (owner, mode, " ".join(kind))
    return {"stat": found, "dir": lines[5:-1], "data": lines[-1].split()}


def test_a_loaded_image_keeps_its_owners_inside_and_shifts_them_outside(user, layered_image):  # noqa: F811
    u = user
    _load(u, layered_image.docker_archive)
    seen = _inside(u.td("run", "--rm", "--network", "none", "--user", "0", "--entrypoint", "sh",
                        "--image", layered_image.repo_tag, "look", "-c", STAT))
    assert seen["stat"]["/data/owned"][:2] == (f"{APP_UID}:{EXTRA_GID}", "644")
    assert seen["stat"]["/data/suid"][:2] == ("0:0", "4755")  # chown clears setuid: set again after it
    assert seen["stat"]["/data/sticky"][:2] == ("0:0", "1777")
    assert seen["stat"]["/data/fifo"][2] == "fifo"
    assert seen["stat"]["/bin/busybox"][0] == "0:0"
    # the third layer's whiteout and opaque directory, in an ordinary user's xattrs
    assert seen["dir"] == ["y"] and "a" not in seen["data"]
    # no device node in a user namespace: the layer's /data/null is left out, as podman does
    assert "null" not in seen["data"]

    # on disk: root inside is the user, uid 1000 inside the range's 1000th id
    owned = glob.glob(f"{_layers(u)}/*/data/owned")
    assert len(owned) == 1
    st = os.stat(owned[0])
    assert (st.st_uid, st.st_gid) == (u.subuid + APP_UID - 1, u.subgid + EXTRA_GID - 1)
    busybox = glob.glob(f"{_layers(u)}/*/bin/busybox")[0]
    assert (os.stat(busybox).st_uid, os.stat(busybox).st_gid) == (u.uid, u.gid)
    opaque = glob.glob(f"{_layers(u)}/*/data/dir/y")[0]
    assert os.getxattr(os.path.dirname(opaque), "user.overlay.opaque") == b"y"

    # the image's own user (app, 1000) runs as 1000 and owns what it owned
    res = u.td("run", "--rm", "--network", "none", "--image", layered_image.repo_tag, "as-app",
               "id -u; echo more >> /data/owned && echo ok")
    assert res.returncode == 0, res.stderr
    assert res.stdout.decode().split("\n")[-3:-1] == [str(APP_UID), "ok"]

    # rmi takes the layers, files of subordinate ids too
    assert u.td("rmi", layered_image.repo_tag).returncode == 0
    assert u.td("images", "-q").stdout == b""
    assert os.listdir(_layers(u)) == []


def test_commit_and_save_write_the_owners_as_seen_inside(user, layered_image):  # noqa: F811
    u = user
    _load(u, layered_image.docker_archive)
    res = u.td("run", "--network", "none", "--user", "0", "--entrypoint", "sh", "--image",
               layered_image.repo_tag, "maker", "-c",
               "echo secret > /data/secret && chown 1000:2000 /data/secret && chmod 600 /data/secret && "
               "rm /data/b && mkdir -p /data/dir && rm -rf /data/dir/* && touch /data/dir/new")
    assert res.returncode == 0, res.stderr
    res = u.td("commit", "maker", "mine:1")
    assert res.returncode == 0, res.stderr
    seen = u.td("run", "--rm", "--network", "none", "--user", "0", "--entrypoint", "sh", "--image", "mine:1",
                "look", "-c",
                "stat -c '%u:%g %a' /data/secret; cat /data/secret; ls /data/dir; ls /data")
    assert seen.returncode == 0, seen.stderr
    lines = seen.stdout.decode().split("\n")
    assert lines[:3] == [f"{APP_UID}:{EXTRA_GID} 600", "secret", "new"]
    assert "b" not in lines[3:]

    out = u.home / "mine.tar"
    res = u.td("save", "-o", str(out), "mine:1")
    assert res.returncode == 0, res.stderr
    with tarfile.open(out) as archive:
        manifest = json.load(archive.extractfile("manifest.json"))
        top = archive.extractfile(manifest[0]["Layers"][-1]).read()
    with tarfile.open(fileobj=io.BytesIO(top)) as layer:
        members = {m.name.lstrip("./"): m for m in layer.getmembers()}
    secret = members["data/secret"]
    assert (secret.uid, secret.gid, secret.mode) == (APP_UID, EXTRA_GID, 0o600)
    assert "data/.wh.b" in members
    assert members["data/dir/new"].uid == 0  # root inside, however the user's id reads outside
    assert u.td("rm", "maker").returncode == 0


def test_pull_and_push_through_a_local_registry(user, layered_image, registry):  # noqa: F811
    u = user
    fixtures.push_to_registry(registry, layered_image, "rootless/layered:1")
    res = u.td("pull", f"{registry}/rootless/layered:1", timeout=120)
    assert res.returncode == 0, res.stderr
    res = u.td("run", "--rm", "--network", "none", "--user", "0", "--entrypoint", "sh",
               "--image", f"{registry}/rootless/layered:1", "look", "-c", "stat -c '%u:%g' /data/owned")
    assert res.returncode == 0, res.stderr
    assert res.stdout.decode().strip() == f"{APP_UID}:{EXTRA_GID}"
    assert u.td("tag", f"{registry}/rootless/layered:1", f"{registry}/rootless/again:2").returncode == 0
    res = u.td("push", f"{registry}/rootless/again:2", timeout=120)
    assert res.returncode == 0, res.stderr
    assert u.td("rmi", f"{registry}/rootless/layered:1", f"{registry}/rootless/again:2").returncode == 0
    res = u.td("pull", f"{registry}/rootless/again:2", timeout=120)
    assert res.returncode == 0, res.stderr
    assert glob.glob(f"{_layers(u)}/*/data/owned")


def _odd_owner_archive(where) -> bytes:
    """A one-layer docker archive whose /odd is owned by uid 70000, beyond a 65536-id range."""
    odd = tarfile.TarInfo("odd")
    odd.size, odd.uid, odd.gid, odd.mode = 3, 70000, 70000, 0o644
    layout = fixtures._Layout(where / "odd")
    tar = fixtures._tar_layer([(odd, b"odd"), fixtures._file("plain", b"plain")])
    diff_id = "sha256:" + __import__("hashlib").sha256(tar).hexdigest()
    layer = layout.blob(tar, "application/vnd.oci.image.layer.v1.tar")
    config = {"architecture": fixtures.host_arch(), "os": "linux", "config": {},
              "rootfs": {"type": "layers", "diff_ids": [diff_id]}}
    manifest = {"schemaVersion": 2, "mediaType": fixtures.OCI_MANIFEST,
                "config": layout.json_blob(config, fixtures.OCI_CONFIG), "layers": [layer]}
    layout.write_index([(layout.json_blob(manifest, fixtures.OCI_MANIFEST), "odd")])
    image = fixtures.Image(where / "odd", "odd")
    return fixtures.docker_archive(image.layout, image.tag, where / "odd.tar", "odd:latest").read_bytes()


def test_an_owner_beyond_the_range_is_refused_and_one_id_alone_is_squashed(user, bare_user, tmp_path):  # noqa: F811
    archive = _odd_owner_archive(tmp_path)
    res = user.td("load", input=archive)
    assert res.returncode == 125
    said = res.stderr.decode().strip()
    assert "\n" not in said and "Traceback" not in said
    assert "uid 70000" in said and "/etc/subuid" in said
    assert os.listdir(_layers(user)) == [] if os.path.isdir(_layers(user)) else True

    res = bare_user.td("load", input=archive)
    assert res.returncode == 0, res.stderr
    odd = glob.glob(f"{_layers(bare_user)}/*/odd")[0]
    assert (os.stat(odd).st_uid, os.stat(odd).st_gid) == (bare_user.uid, bare_user.gid)


def test_layers_unpacked_under_other_ranges_are_refused_until_reset(user):  # noqa: F811
    u = user
    assert u.td("image", "build", "busybox").returncode == 0
    assert u.td("run", "--rm", "--network", "none", "c", "true").returncode == 0
    for path in ("/etc/subuid", "/etc/subgid"):  # the administrator moves the user's range
        with open(path) as f:
            lines = f.read().replace(f"{u.name}:{u.subuid}:", f"{u.name}:{u.subuid + 65536 * 4}:")
        with open(path, "w") as f:
            f.write(lines)
    for args in (("run", "--rm", "--network", "none", "c", "true"), ("image", "build", "busybox")):
        res = u.td(*args)
        said = res.stderr.decode().strip()
        assert res.returncode == 125 and "\n" not in said and "subordinate ids" in said and "system reset" in said, said
    assert u.td("system", "reset", "-f").returncode == 0
    assert u.td("image", "build", "busybox").returncode == 0
    res = u.td("run", "--rm", "--network", "none", "c", "cat", "/proc/self/uid_map")
    assert res.returncode == 0, res.stderr
    assert res.stdout.decode().split("\n")[1].split()[1] == str(u.subuid + 65536 * 4)
