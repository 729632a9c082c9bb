"""Images that list a layer twice (docker's empty layer above all), and indexes whose
entries name no platform: loaded, pulled, run, committed, saved, pushed and exported."""

import json
import os
import tarfile

import pytest

import fixtures
from fixtures import push_to_registry, upload_layout

DATA = "cat /data/a /data/b /data/c"
EXPECTED = "two\nb\nc\n"  # see fixtures.repeated_layers


def layers_of(td, ref: str) -> list[str]:
    return json.loads(td.out("image", "inspect", ref))[0]["RootFS"]["Layers"]


def stored_layers(td) -> set[str]:
    return set(os.listdir(td.root / "images" / "layers"))


def source_of(image: fixtures.Image, kind: str) -> str:
    return {"docker-archive": str(image.docker_archive), "oci-layout": str(image.layout),
            "oci-archive": str(image.oci_archive)}[kind]


@pytest.mark.parametrize("kind", ["docker-archive", "oci-layout", "oci-archive"])
def test_an_image_with_a_layer_twice_loads_and_runs(td, repeated_image, kind):
    td.out("load", "-i", source_of(repeated_image, kind))
    ref = "repeated"
    layers = layers_of(td, ref)
    # the image keeps every layer it lists, repeats and all
    assert len(layers) == 6 and layers[1] == layers[3] == fixtures.EMPTY_DIFF_ID and layers[2] == layers[5]
    assert td.out("run", "--rm", "--image", ref, "c1", "sh", "-c", DATA) == EXPECTED
    # the stack mounts each layer once, the topmost copy, and no empty layer
    lower = json.loads(td.out("image", "inspect", ref))[0]["GraphDriver"]["Data"]["LowerDir"].split(":")
    assert [os.path.basename(d) for d in lower] == [layers[i][7:] for i in (5, 4, 0)]


def test_a_container_that_links_a_layer_twice_starts(td, repeated_image, tmp_path):
    """As an older tinydocker made it: one link per layer the image lists, repeats and all."""
    td.out("load", "-i", str(repeated_image.layout))
    td.out("create", "--image", "repeated", "c1", "sh", "-c", DATA)
    links = td.containers / "c1" / "layers"
    for entry in os.listdir(links):
        os.unlink(links / entry)
    for i, diff_id in enumerate(reversed(layers_of(td, "repeated"))):
        os.symlink(td.root / "images" / "layers" / diff_id[7:], links / str(i))
    assert td.out("start", "-a", "c1") == EXPECTED
    td.out("export", "-o", str(tmp_path / "fs.tar"), "c1")
    with tarfile.open(tmp_path / "fs.tar") as tar:
        assert tar.extractfile("data/a").read() == b"two\n"


def test_pulled_from_a_registry(td, registry, repeated_image):
    ref = push_to_registry(registry, repeated_image, "test/repeated:v1")
    td.out("pull", "--tls-verify=false", ref)
    assert len(layers_of(td, ref)) == 6
    assert td.out("run", "--rm", "--image", ref, "c1", "sh", "-c", DATA) == EXPECTED


def test_removal_counts_a_repeated_layer_once_per_image(td, repeated_image):
    td.out("load", "-i", str(repeated_image.layout))
    full = set(x[7:] for x in layers_of(td, "repeated"))
    shares = set(x[7:] for x in layers_of(td, "shares"))
    assert stored_layers(td) == full and shares < full
    td.out("tag", "repeated", "again:1")
    td.out("rmi", "repeated")  # one name of two: nothing goes
    assert stored_layers(td) == full
    td.out("rmi", "again:1")
    assert stored_layers(td) == shares  # the layers the other image has stay
    assert td.out("run", "--rm", "--image", "shares", "c1", "cat", "/data/a") == "one\n"
    td.out("load", "-i", str(repeated_image.layout))
    td.out("run", "--image", "repeated", "c2", "true")
    td.out("rmi", "-f", "repeated")  # a container holds it: kept, nameless
    td.out("image", "prune", "-f")
    assert stored_layers(td) == full
    assert td.out("start", "-a", "c2") == ""
    td.out("rm", "c2")
    td.out("image", "prune", "-af")
    assert stored_layers(td) == set()


@pytest.mark.parametrize("stopped", [True, False])
def test_commit_save_push_export_and_back(td, registry, repeated_image, tmp_path, stopped):
    td.out("load", "-i", str(repeated_image.docker_archive))
    if stopped:  # a stopped container's upper is promoted to the layer
        td.out("run", "--image", "repeated", "c1", "sh", "-c", "echo d > /data/d")
    else:  # a running one's is copied
        running = td.popen("run", "--image", "repeated", "c1", "sh", "-c", "echo d > /data/d; exec sleep 60")
        wait_written(td, "c1")
    committed = td.out("commit", "c1", "mine:1").strip()
    assert len(layers_of(td, "mine:1")) == 7
    check = DATA + " /data/d"
    want = EXPECTED + "d\n"
    assert td.out("run", "--rm", "--image", "mine:1", "c2", "sh", "-c", check) == want
    if stopped:
        assert td.out("start", "-a", "c1") == ""  # on its promoted layer, over the repeats
    # export: the container's whole tree
    td.out("export", "-o", str(tmp_path / "fs.tar"), "c1")
    with tarfile.open(tmp_path / "fs.tar") as tar:
        assert tar.extractfile("data/a").read() == b"two\n" and tar.extractfile("data/d").read() == b"d\n"
        assert "data/b" in tar.getnames() and "bin/busybox" in tar.getnames()
    td.out("rm", "-f", "c1")
    if not stopped:
        running.wait(30)
    # save in either format, remove, load back
    for fmt in ("docker-archive", "oci-archive"):
        path = tmp_path / f"mine.{fmt}.tar"
        td.out("save", "--format", fmt, "-o", str(path), "mine:1")
        td.out("rmi", "mine:1")
        td.out("load", "-i", str(path))
        assert layers_of(td, "mine:1")[1] == layers_of(td, "mine:1")[3] == fixtures.EMPTY_DIFF_ID
        assert td.out("run", "--rm", "--image", "mine:1", "c3", "sh", "-c", check) == want
    # push, remove everything, pull back
    ref = f"{registry}/test/mine:1"
    td.out("tag", "mine:1", ref)
    td.out("push", "--tls-verify=false", ref)
    td.out("rmi", "-f", committed)
    td.out("rmi", "repeated")
    td.out("image", "prune", "-af")
    assert stored_layers(td) == set()
    td.out("pull", "--tls-verify=false", ref)
    assert td.out("image", "inspect", "--format", "{{.Id}}", ref).strip() == committed
    assert td.out("run", "--rm", "--image", ref, "c4", "sh", "-c", check) == want


def wait_written(td, name):
    from conftest import wait_for

    td.wait_running(name)
    upper = td.containers / name / "upper" / "data" / "d"
    wait_for(lambda: upper.exists() and upper.read_text() == "d\n", what="the container's write")


def test_commit_of_an_unchanged_container_twice(td, repeated_image):
    """A commit with no change adds an empty layer (the same one each time): the stack of a
    container on the result mounts it once, or not at all."""
    td.out("load", "-i", str(repeated_image.layout))
    td.out("create", "--image", "repeated", "c1", "sh", "-c", DATA)
    td.out("commit", "c1", "same:1")
    td.out("commit", "c1", "same:2")
    assert td.out("start", "-a", "c1") == EXPECTED
    td.out("create", "--image", "same:2", "c2", "sh", "-c", DATA)
    td.out("commit", "c2", "same:3")
    assert td.out("start", "-a", "c2") == EXPECTED
    assert td.out("run", "--rm", "--image", "same:3", "c3", "sh", "-c", DATA) == EXPECTED


# -- indexes without a platform ---------------------------------------------------------------

def test_indexes_without_a_platform_from_a_layout(td, platformless_image):
    loaded = td.out("load", "-i", str(platformless_image.layout))
    assert loaded.count("Loaded image") == 3, loaded
    for tag in ("single", "loose", "nested"):
        assert td.out("run", "--rm", "--image", tag, "c1", "sh", "-c", DATA) == EXPECTED


@pytest.mark.parametrize("tag", ["single", "nested"])
def test_indexes_without_a_platform_from_a_registry(td, registry, platformless_image, tag):
    index = json.loads((platformless_image.layout / "index.json").read_text())
    entry = next(e for e in index["manifests"] if e["annotations"][fixtures.REF_NAME] == tag)
    ref = upload_layout(registry, platformless_image.layout, "test/indexes", tag, entry)
    td.out("pull", "--tls-verify=false", ref)
    assert td.out("run", "--rm", "--image", ref, "c1", "sh", "-c", DATA) == EXPECTED


def test_an_entry_for_the_platform_comes_before_one_naming_none():
    from tinydocker.image import oci

    here = oci.host_platform()
    none, exact = {"digest": "sha256:" + "1" * 64}, {"digest": "sha256:" + "2" * 64, "platform": dict(here)}
    attestation = {"digest": "sha256:" + "3" * 64,
                   "annotations": {"vnd.docker.reference.type": "attestation-manifest"}}
    assert oci.pick({"manifests": [none, exact]}, here) == exact
    assert oci.pick({"manifests": [attestation, none]}, here) == none
    assert oci.pick({"manifests": [attestation]}, here) is None
