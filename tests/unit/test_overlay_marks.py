"""linux/overlay.py: the overlay's mount options and marks for root, and which kernels mount
it in a user namespace (an ordinary user's containers)."""

import os

from tinydocker.linux import overlay


def test_root_s_options_and_marks_are_trusted_ones():
    assert os.geteuid() == 0  # the unit tests run as root, in the machine's own user namespace
    assert overlay.in_initial_namespace()
    assert overlay.opaque_xattr() == "trusted.overlay.opaque"
    assert overlay.options("a:b", "up", "wk") == \
        "lowerdir=a:b,upperdir=up,workdir=wk,index=off,metacopy=off,redirect_dir=off"
    assert overlay.options("up:a") == "lowerdir=up:a"
    assert set(overlay.OWN_PREFIXES) == {"trusted.overlay.", "user.overlay."}


def test_overlayfs_mounts_in_a_user_namespace_from_5_11():
    for release, able in (("5.10.0-28-amd64", False), ("5.11.0", True), ("6.1.0-18-amd64", True),
                          ("4.19.0-26-amd64", False), ("6.18.0", True), ("10.0", True), ("5.4", False), ("x", False)):
        assert overlay.mountable_in_user_namespace(release) is able, release
    assert overlay.mountable_in_user_namespace()  # this machine's
