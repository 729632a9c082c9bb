"""Commit of a stopped container promotes its upper directory to the new image's layer:
hard links, not copies; the container moves onto that layer with an empty upper; and a
commit SIGKILLed at any step leaves a container that starts with its files, an image whole
or absent, and no layer that shares files with a writable upper."""

import os
import subprocess
import sys

import pytest

from conftest import wait_for


def make_changes(td, name="c1"):
    td.out("run", name, "sh", "-c",
           "mkdir -p /data/sub && echo one > /data/a && echo two > /data/sub/b && "
           "rm -f /bin/ls && ln -sf /data/a /data/link && dd if=/dev/zero of=/data/big bs=1k count=512 2>/dev/null")


def upper(td, name="c1"):
    return td.containers / name / "upper"


def layer_links(td, name="c1") -> list[str]:
    links = td.containers / name / "layers"
    return [os.readlink(links / str(i)) for i in range(len(os.listdir(links)))]


CHECK = "cat /data/a /data/sub/b; readlink /data/link; wc -c < /data/big; ls /bin/ls 2>/dev/null || echo no-ls"
EXPECTED = ["one", "two", "/data/a", "524288", "no-ls"]


def test_a_stopped_container_is_promoted_not_copied(td):
    make_changes(td)
    big = os.stat(upper(td) / "data" / "big")
    below = layer_links(td)
    image_id = td.out("commit", "c1", "mine:1").strip()
    # the container now stands on the new layer, with an empty upper of the same mode
    links = layer_links(td)
    assert links[1:] == below and len(links) == len(below) + 1
    assert os.listdir(upper(td)) == []
    layer = links[0]
    # the layer holds the very files the upper held: the same inodes, nothing copied
    moved = os.stat(os.path.join(layer, "data", "big"))
    assert (moved.st_ino, moved.st_dev) == (big.st_ino, big.st_dev)
    assert os.path.isdir(os.path.join(layer, "data", "sub"))
    # a whiteout is kept in overlay's own form in the layer
    assert os.stat(os.path.join(layer, "bin", "ls")).st_rdev == 0
    # the container is still of the image it was made from, as docker's
    assert td.record("c1")["spec"]["image_id"] != image_id
    # the container sees its files, and writes to them go to its new upper, not the image's layer
    assert td.out("start", "-a", "c1").strip() == ""
    out = td.out("run", "--rm", "--image", "mine:1", "c2", "sh", "-c", CHECK)
    assert out.split() == EXPECTED
    td.out("run", "--image", "mine:1", "c3", "sh", "-c", "echo changed > /data/a")
    td.out("commit", "c3")  # a second promotion, over the first
    assert open(os.path.join(layer, "data", "a")).read() == "one\n"
    assert td.out("run", "--rm", "--image", "mine:1", "c4", "cat", "/data/a").strip() == "one"
    # the original image can go: the committed one holds the layers beneath its own
    td.out("rm", "c1", "c3")
    td.out("rmi", "busybox")
    assert td.out("run", "--rm", "--image", "mine:1", "c5", "sh", "-c", CHECK).split() == EXPECTED


def test_the_committed_image_can_be_removed_and_its_layer_goes_with_the_container(td):
    """podman's system test: `commit C I`, then `rmi I` (docker allows it). The container
    still stands on the layer its upper became, which goes when the container does."""
    make_changes(td)
    image_id = td.out("commit", "c1", "mine:1").strip()
    layer = layer_links(td)[0]
    assert td.out("rmi", "mine:1").split() == ["Untagged:", "mine:1", "Deleted:", image_id]
    assert "mine" not in td.out("images")
    td.out("image", "prune", "-f")  # an image change keeps what containers stand on
    assert os.path.isdir(layer)
    assert td.out("start", "-a", "c1") == ""
    td.out("commit", "c1", "again:1")  # its tree is whole: the layer under its new upper
    assert td.out("run", "--rm", "--image", "again:1", "c2", "sh", "-c", CHECK).split() == EXPECTED
    td.out("rmi", "again:1")
    assert td.out("start", "-a", "c1") == ""
    td.out("rm", "c1")
    assert not os.path.exists(layer)
    assert sorted(os.listdir(td.root / "images" / "layers")) == sorted(
        x[7:] for x in image_layers(td, "busybox"))


def test_a_running_container_is_copied_and_keeps_its_upper(td):
    p = td.popen("run", "c1", "sh", "-c", "echo one > /f; sleep 30")
    td.wait_running("c1")
    try:
        wait_for(lambda: (upper(td) / "f").exists() and (upper(td) / "f").read_text() == "one\n", what="/f written")
        td.out("commit", "c1", "live:1")
        assert os.listdir(upper(td))  # still its own upper: the image got a copy
        layer = layer_links(td)  # and the same layers as before
        assert len(layer) == 1
        assert td.out("run", "--rm", "--image", "live:1", "c2", "cat", "/f").strip() == "one"
    finally:
        td.out("rm", "-f", "c1")
        p.wait(30)


# Each point is where a commit's process is SIGKILLed: inside its own code, at an exact step.
KILL_POINTS = {
    # the layer and image are noted, nothing is published yet
    "before publish": "patch(Store, 'note_commit', after=lambda facts: 'layer' in facts)",
    # the image is published; the container has not moved
    "after publish": "patch(Store, 'note_commit', after=lambda facts: 'published' in facts)",
    # the links are exchanged; the upper (sharing the layer's files) is still there
    "between the exchanges": "patch(stack, 'empty_upper', before=True)",
    # the upper is exchanged too, but the old one's names are not yet deleted
    "before the old upper goes": "patch(stack, 'rename_exchange', after=lambda *a: calls.append(1) or len(calls) == 2)",
}

SCRIPT = """
import os, signal, sys, time
import tinydocker
from tinydocker.state import stack
from tinydocker.state.store import Store
calls = []

def patch(owner, name, before=False, after=None):
    original = getattr(owner, name)

    def wrapper(*args, **kwargs):
        if before:
            stop()
        result = original(*args, **kwargs)
        if after(kwargs) if name == 'note_commit' else after(*args):
            stop()
        return result
    setattr(owner, name, wrapper)

def stop():
    if os.environ.get("PAUSE"):  # the test looks, then kills us
        print("paused", flush=True)
        time.sleep(60)
    os.kill(os.getpid(), signal.SIGKILL)
    setattr(owner, name, wrapper)

%s
tinydocker.commit("c1", "killed:1", root=sys.argv[1])
"""


def commit_stopped_at(td, point: str, pause: bool = False) -> subprocess.Popen:
    env = dict(td.env, PAUSE="1" if pause else "")
    return subprocess.Popen([sys.executable, "-c", SCRIPT % KILL_POINTS[point], str(td.root)], env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE)


def inodes(tree) -> set:
    found = set()
    for directory, dirs, files in os.walk(tree):
        for name in files:
            st = os.lstat(os.path.join(directory, name))
            found.add((st.st_dev, st.st_ino))
    return found


def test_start_is_refused_while_a_commit_holds_the_container(td):
    make_changes(td)
    p = commit_stopped_at(td, "between the exchanges", pause=True)
    try:
        assert p.stdout.readline() == b"paused\n", p.stderr.read()
        res = td("start", "c1")
        assert res.returncode == 1 and b"is being committed by another command" in res.stderr, res.stderr
        res = td("commit", "c1")
        assert res.returncode == 1 and b"is being committed by another command" in res.stderr, res.stderr
    finally:
        p.kill()
        p.wait()
    assert td.out("start", "-a", "c1") == ""  # the committer is gone: start finishes its work
    assert os.listdir(upper(td))  # (and ran the command again, into the new upper)
    assert td.out("run", "--rm", "--image", "killed:1", "c2", "sh", "-c", CHECK).split() == EXPECTED


@pytest.mark.parametrize("point", list(KILL_POINTS))
def test_a_commit_killed_at_any_step_is_recovered(td, point):
    make_changes(td)
    p = commit_stopped_at(td, point)
    assert p.wait(60) == -9, p.stderr.read().decode()
    published = td("image", "inspect", "killed:1").returncode == 0
    assert published == (point != "before publish")
    # the next start finishes (or forgets) the move and runs on the container's own files
    assert td.out("start", "-a", "c1") == ""
    record = td.record("c1")
    assert "committing" not in record
    assert not (td.containers / "c1" / "layers.next").exists()
    assert not (td.containers / "c1" / "upper.next").exists()
    if published:
        # the container stands on the killed commit's layer, and its upper shares no file
        # with it: the start's writes (copy-ups) left the image as it was
        layer = td.root / "images" / "layers" / image_layers(td, "killed:1")[-1][7:]
        assert layer_links(td)[0] == str(layer)
        assert not inodes(layer) & inodes(upper(td))
        assert td.out("run", "--rm", "--image", "killed:1", "c3", "sh", "-c", CHECK).split() == EXPECTED
    else:
        assert len(layer_links(td)) == 1
    td.out("commit", "c1", "after:1")  # commit again: the container's tree is whole
    assert td.out("run", "--rm", "--image", "after:1", "c2", "sh", "-c", CHECK).split() == EXPECTED
    td.out("rm", "c1")
    td.out("image", "prune", "-af")
    assert not os.listdir(td.root / "images" / "layers")
    assert not [e for e in os.listdir(td.root / "images") if e.startswith(".tmp")]


def image_layers(td, ref) -> list[str]:
    import json

    return json.loads(td.out("image", "inspect", ref))[0]["RootFS"]["Layers"]
