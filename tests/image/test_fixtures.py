"""The image fixtures are what fixtures.py says they are, read back by hand and by skopeo/umoci."""

import json
import shutil
import stat
import subprocess
import tarfile

import pytest

import fixtures
from fixtures import push_to_registry, skopeo


def layer_members(image: fixtures.Image, index: int) -> dict[str, tarfile.TarInfo]:
    with tarfile.open(image.blob(image.layer_digests()[index])) as tar:
        return {m.name: m for m in tar.getmembers()}


def perms(member: tarfile.TarInfo) -> int:
    # Go's archive/tar, which buildah uses, keeps the file type bits in the mode field
    return stat.S_IMODE(member.mode)


def layer_bytes(image: fixtures.Image, index: int, name: str) -> bytes:
    with tarfile.open(image.blob(image.layer_digests()[index])) as tar:
        return tar.extractfile(name).read()


def test_builds_leave_no_storage_behind(base_image, layered_image, shared_images, multiarch_image,
                                        oci_images_dir):
    assert not list(oci_images_dir.glob(".buildah-*"))
    assert not fixtures._mounts_under(oci_images_dir)


def test_base_is_one_layer_of_busybox_users_and_groups(base_image):
    assert len(base_image.layer_digests()) == 1
    members = layer_members(base_image, 0)
    busybox = members["bin/busybox"]
    assert busybox.isreg() and perms(busybox) == 0o755
    for applet in ("sh", "ls", "cat", "echo", "id", "sleep", "stat", "readlink", "test"):
        assert members[f"bin/{applet}"].issym() and members[f"bin/{applet}"].linkname == "/bin/busybox"
    assert layer_bytes(base_image, 0, "etc/passwd").decode() == fixtures.PASSWD
    assert "extra:x:2000:app" in layer_bytes(base_image, 0, "etc/group").decode()
    home = members["home/app"]
    assert home.isdir() and (home.uid, home.gid) == (1000, 1000)
    assert members["tmp"].isdir() and perms(members["tmp"]) == 0o1777
    config = base_image.config()
    assert config["config"]["Cmd"] == ["/bin/sh"]
    assert config["architecture"] == fixtures.host_arch() and config["os"] == "linux"


def test_layered_has_three_layers_on_the_base_layer(layered_image, base_image):
    digests = layered_image.layer_digests()
    assert len(digests) == 3
    # pulled from base's layout and pushed again: the same bytes, so the same blob
    assert digests[0] == base_image.layer_digests()[0]
    assert len(layered_image.config()["rootfs"]["diff_ids"]) == 3


def test_layered_second_layer_holds_every_kind_of_entry(layered_image):
    m = layer_members(layered_image, 1)
    assert m["data/a"].isreg() and m["data/b"].isreg()
    assert m["data/h"].islnk() and m["data/h"].linkname == "data/b"
    assert {"data/dir/x", "data/dir/sub/z"} <= m.keys()
    assert m["data/link"].issym() and m["data/link"].linkname == "b"
    assert perms(m["data/suid"]) == 0o4755
    assert m["data/sticky"].isdir() and perms(m["data/sticky"]) == 0o1777
    assert (m["data/owned"].uid, m["data/owned"].gid) == (1000, 2000)
    assert m["data/xattr"].pax_headers.get("SCHILY.xattr.user.tinydocker") == "kept"
    assert not any("trusted" in key for key in m["data/xattr"].pax_headers)  # containers-storage drops it
    null = m["data/null"]
    assert null.ischr() and (null.devmajor, null.devminor) == (1, 3) and perms(null) == 0o666
    assert m["data/fifo"].isfifo()


def test_layered_third_layer_is_a_whiteout_and_an_opaque_directory(layered_image):
    m = layer_members(layered_image, 2)
    assert sorted(m) == ["data", "data/.wh.a", "data/dir", "data/dir/.wh..wh..opq", "data/dir/y"]
    assert m["data/.wh.a"].isreg() and m["data/.wh.a"].size == 0
    assert m["data/dir/.wh..wh..opq"].isreg() and m["data/dir/.wh..wh..opq"].size == 0


def test_layered_config(layered_image):
    # skopeo reads it, so it is also a well-formed image
    config = json.loads(skopeo("inspect", "--config", layered_image.oci))["config"]
    assert config["User"] == "app"
    assert config["Entrypoint"] == ["/bin/sh", "-c"]
    assert config["Cmd"] == ["echo hello from cmd; id"]
    assert "FOO=bar" in config["Env"] and fixtures.PATH_ENV in config["Env"]
    assert config["WorkingDir"] == "/data"
    assert config["StopSignal"] == "SIGUSR1"
    assert config["ExposedPorts"] == {"8080/tcp": {}}
    assert config["Labels"]["a"] == "b"


def test_layered_archives(layered_image):
    with tarfile.open(layered_image.docker_archive) as tar:
        manifest = json.load(tar.extractfile("manifest.json"))
    # skopeo writes the fully qualified name, where `docker save` writes "layered:latest"
    assert manifest[0]["RepoTags"] == ["docker.io/library/layered:latest"]
    assert len(manifest[0]["Layers"]) == 3
    diff_ids = layered_image.config()["rootfs"]["diff_ids"]
    for archive in (f"docker-archive:{layered_image.docker_archive}",
                    f"oci-archive:{layered_image.oci_archive}:layered"):
        assert json.loads(skopeo("inspect", "--config", archive))["rootfs"]["diff_ids"] == diff_ids


def test_shared_images_share_their_first_layer(shared_images, base_image):
    one, two = shared_images
    assert one.layout == two.layout
    assert one.layer_digests()[0] == two.layer_digests()[0] == base_image.layer_digests()[0]
    assert one.layer_digests()[1] != two.layer_digests()[1]
    assert layer_bytes(one, 1, "one") == b"one\n" and layer_bytes(two, 1, "two") == b"two\n"
    for image in (one, two):
        inspected = json.loads(skopeo("inspect", f"docker-archive:{image.docker_archive}"))
        assert len(inspected["Layers"]) == 2


@pytest.mark.parametrize("kind, media_type, magic", [
    ("gzip", "application/vnd.oci.image.layer.v1.tar+gzip", b"\x1f\x8b"),
    ("zstd", "application/vnd.oci.image.layer.v1.tar+zstd", b"\x28\xb5\x2f\xfd"),
    ("none", "application/vnd.oci.image.layer.v1.tar", None),
])
def test_compressed_variants(compressed_images, layered_image, kind, media_type, magic):
    variant = compressed_images[kind]
    layers = variant.manifest()["layers"]
    assert [layer["mediaType"] for layer in layers] == [media_type] * 3
    assert variant.config()["rootfs"]["diff_ids"] == layered_image.config()["rootfs"]["diff_ids"]
    for layer in layers:
        head = variant.blob(layer["digest"]).read_bytes()[:512]
        if magic:
            assert head.startswith(magic)
        else:
            assert head[257:262] == b"ustar"
    if kind == "none":  # a plain layer's digest is its diff_id
        assert [layer["digest"] for layer in layers] == variant.config()["rootfs"]["diff_ids"]


def test_many_layers(many_layers_image, tmp_path):
    image = many_layers_image
    assert len(image.layer_digests()) == 100
    assert len(image.config()["history"]) == 100
    assert len(json.loads(skopeo("inspect", image.oci))["Layers"]) == 100
    # umoci is a second, independent reader of the layout
    if shutil.which("umoci") is None:
        pytest.fail("umoci not found: apt-get install umoci", pytrace=False)
    subprocess.run(["umoci", "unpack", "--image", f"{image.layout}:{image.tag}", str(tmp_path / "bundle")],
                   check=True, capture_output=True)
    rootfs = tmp_path / "bundle" / "rootfs"
    assert sorted(int(p.name) for p in (rootfs / "layers").iterdir()) == list(range(1, 101))
    assert (rootfs / "layers" / "57").read_text() == "57"
    assert (rootfs / "bin" / "busybox").is_file()


def test_many_layers_is_reproducible(many_layers_image, tmp_path):
    three = fixtures.many_layers(tmp_path / "once", n=3)
    assert fixtures.many_layers(tmp_path / "twice", n=3).manifest() == three.manifest()
    # layer i's bytes depend on i alone
    assert three.layer_digests() == many_layers_image.layer_digests()[:3]


def test_manifest_list_has_two_platforms(multiarch_image):
    index = json.loads(skopeo("inspect", "--raw", multiarch_image.oci))
    assert index["mediaType"] == fixtures.OCI_INDEX
    platforms = {(m["platform"]["os"], m["platform"]["architecture"]): m for m in index["manifests"]}
    assert set(platforms) == {("linux", "amd64"), ("linux", "arm64")}
    for (_, arch), entry in platforms.items():
        manifest = json.loads(multiarch_image.blob(entry["digest"]).read_bytes())
        config = json.loads(multiarch_image.blob(manifest["config"]["digest"]).read_bytes())
        assert config["architecture"] == arch
        with tarfile.open(multiarch_image.blob(manifest["layers"][-1]["digest"])) as tar:
            assert tar.extractfile("arch").read() == f"{arch}\n".encode()
        assert len(manifest["layers"]) == (2 if arch == fixtures.host_arch() else 1)


def test_registry_round_trip(registry, layered_image, multiarch_image):
    ref = push_to_registry(registry, layered_image, "tinydocker/layered:v1")
    assert ref == f"{registry}/tinydocker/layered:v1"
    inspected = json.loads(skopeo("inspect", "--tls-verify=false", f"docker://{ref}"))
    assert inspected["Layers"] == layered_image.layer_digests()
    assert inspected["Labels"]["a"] == "b"
    # a list, pushed whole, both as an OCI index and converted to a docker manifest list
    for fmt, media_type in (("oci", fixtures.OCI_INDEX),
                            ("v2s2", "application/vnd.docker.distribution.manifest.list.v2+json")):
        ref = push_to_registry(registry, multiarch_image, f"tinydocker/multi:{fmt}", all_platforms=True,
                               manifest_format=fmt)
        raw = json.loads(skopeo("inspect", "--raw", "--tls-verify=false", f"docker://{ref}"))
        assert raw["mediaType"] == media_type and len(raw["manifests"]) == 2


def test_auth_registry_wants_credentials(auth_registry, base_image):
    creds = f"{fixtures.AUTH_USER}:{fixtures.AUTH_PASSWORD}"
    with pytest.raises(fixtures.ToolError, match="(?i)unauthorized|authentication required"):
        push_to_registry(auth_registry, base_image, "tinydocker/base:v1")
    with pytest.raises(fixtures.ToolError, match="(?i)unauthorized|authentication required"):
        push_to_registry(auth_registry, base_image, "tinydocker/base:v1", creds=f"{fixtures.AUTH_USER}:wrong")
    ref = push_to_registry(auth_registry, base_image, "tinydocker/base:v1", creds=creds)
    url = f"docker://{ref}"
    with pytest.raises(fixtures.ToolError, match="(?i)unauthorized|authentication required"):
        skopeo("inspect", "--tls-verify=false", url)
    inspected = json.loads(skopeo("inspect", "--tls-verify=false", "--creds", creds, url))
    assert inspected["Layers"] == base_image.layer_digests()
