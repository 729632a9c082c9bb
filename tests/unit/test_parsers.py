"""The parsers and translators a user's words go through, without root or containers:
image references, -v and --mount, sizes and CPU lists, restart policies, labels, env."""

import pytest

from tinydocker.cgroups.limits import parse_bytes, parse_cpu_list
from tinydocker.errors import TinydockerError
from tinydocker.image import reference
from tinydocker.names import check_name
from tinydocker.spec import parse_env, parse_labels, parse_restart
from tinydocker.volume.mounts import parse_mount, parse_volume


@pytest.mark.parametrize("text, expected", [
    ("busybox", "docker.io/library/busybox:latest"),
    ("user/app:1.2", "docker.io/user/app:1.2"),
    ("127.0.0.1:5000/app", "127.0.0.1:5000/app:latest"),
    ("localhost/app:v", "localhost/app:v"),
    ("ghcr.io/o/r@sha256:" + "a" * 64, "ghcr.io/o/r@sha256:" + "a" * 64),
    ("[::1]:5000/x:t", "[::1]:5000/x:t"),
])
def test_references_normalise_as_docker_does(text, expected):
    assert str(reference.parse(text)) == expected


@pytest.mark.parametrize("text", ["Bad/Image", "app:", "app@sha256:abc", "a" * 256, "x:" + "t" * 129, "-x"])
def test_malformed_references_are_refused_saying_why(text):
    with pytest.raises(TinydockerError, match="invalid reference format"):
        reference.parse(text)


def test_familiar_names_drop_docker_hubs_prefixes():
    assert reference.parse("busybox").familiar == "busybox"
    assert reference.parse("user/app").familiar == "user/app"
    assert reference.parse("quay.io/a/b").familiar == "quay.io/a/b"
    assert reference.is_id_prefix("abc") and reference.is_id_prefix("sha256:" + "0" * 64)
    assert not reference.is_id_prefix("ab") and not reference.is_id_prefix("busybox")


def test_volume_flags():
    bind = parse_volume("/host/dir/../d:/data:ro")
    assert (bind["type"], bind["source"], bind["target"], bind["readonly"]) == ("bind", "/host/d", "/data", True)
    named = parse_volume("cache:/var/cache:nocopy")
    assert (named["type"], named["source"], named["nocopy"]) == ("volume", "cache", True)
    anonymous = parse_volume("/scratch")
    assert anonymous["type"] == "volume" and anonymous["anonymous"] and anonymous["target"] == "/scratch"
    for bad in ("", "a:b:c:d", "/h:/c:bogus", "/h:relative", "/h:/c:nocopy"):
        with pytest.raises(TinydockerError, match="invalid -v"):
            parse_volume(bad)


def test_mount_flags():
    tmpfs = parse_mount("type=tmpfs,target=/t,tmpfs-size=1m")
    assert isinstance(tmpfs, str) and tmpfs.startswith("/t")
    volume = parse_mount("type=volume,source=v1,target=/v,readonly,volume-nocopy")
    assert (volume["source"], volume["readonly"], volume["nocopy"]) == ("v1", True, True)
    for bad in ("type=nfs,target=/x", "type=volume,source=v1", "type=tmpfs,source=x,target=/t"):
        with pytest.raises(TinydockerError):
            parse_mount(bad)


@pytest.mark.parametrize("text, size", [("512", 512), ("64k", 65536), ("1.5g", 3 << 29), ("2m", 2 << 20)])
def test_sizes_are_dockers_binary_multiples(text, size):
    assert parse_bytes(text, "-m") == size


def test_cpu_lists_and_bad_sizes():
    assert parse_cpu_list("0,2-3") == {0, 2, 3} and parse_cpu_list("x") == set()
    with pytest.raises(TinydockerError, match="invalid size for -m"):
        parse_bytes("lots", "-m")


def test_restart_policies_names_labels_and_env():
    assert parse_restart("on-failure:3") == ("on-failure", 3)
    assert parse_restart("always") == ("always", 0)
    with pytest.raises(TinydockerError):
        parse_restart("sometimes")
    assert parse_labels(["a=1", "b", "c=x=y"]) == {"a": "1", "b": "", "c": "x=y"}
    assert check_name("web-1.a_b") == "web-1.a_b"
    for bad in ("-x", "a b", "", "a/b"):
        with pytest.raises(TinydockerError):
            check_name(bad)
    assert parse_env("K=V") == "K=V"
    with pytest.raises(TinydockerError, match="invalid environment variable"):
        parse_env("=x")
