"""A data root as a whole: `system reset` takes everything of it off the machine, and
`system prune` takes down the bridges and rules of data roots deleted meanwhile."""

import os
import shutil
import subprocess
import sys
import tomllib

from tinydocker.network import netlink
from tinydocker.network.store import OWNERS


def _bridges(root) -> dict[str, str]:
    """bridge -> subnet of every network the root has recorded."""
    with open(root / "state" / "networks.toml", "rb") as f:
        return {n["bridge"]: n["subnet"] for n in tomllib.load(f)["networks"].values()}


def _subnets_in_nftables() -> str:
    return subprocess.run(["nft", "list", "set", "ip", "tinydocker", "subnets"], capture_output=True, text=True).stdout


def _assert_gone(bridges: dict[str, str]) -> None:
    links = {link["name"] for link in netlink.links()}
    listed = _subnets_in_nftables()
    for bridge, subnet in bridges.items():
        assert bridge not in links, f"bridge {bridge} left on the machine"
        assert subnet not in listed, f"subnet {subnet} left in nftables"
        assert not os.path.exists(os.path.join(OWNERS, bridge))


def _fill(td, tmp_path) -> dict[str, str]:
    """A root with a bit of everything: networks, running and stopped containers, a named
    and an anonymous volume, a published port, an imported image."""
    td.out("network", "create", "net1")
    td.out("run", "-d", "--network", "net1", "c1", "sleep", "600")
    td.out("run", "c2", "true")
    td.out("volume", "create", "v1")
    td.out("run", "-d", "-v", "v1:/data", "-v", "/anon", "-p", "127.0.0.1::80", "c3", "sleep", "600")
    rootfs = tmp_path / "rootfs.tar"
    subprocess.run(["tar", "-C", str(td.image_rootfs()), "-cf", str(rootfs), "."], check=True)
    td.out("import", str(rootfs), "mine:1")
    bridges = _bridges(td.root)
    assert len(bridges) == 2 and all(os.path.exists(os.path.join(OWNERS, b)) for b in bridges)
    return bridges


def test_system_reset_takes_everything_of_the_root_off_the_machine(td, tmp_path):
    bridges = _fill(td, tmp_path)
    res = td("system", "reset", input=b"n\n")
    assert res.returncode == 1 and b"Are you sure" in res.stdout
    assert len(td.out("ps", "-aq").split()) == 3
    td.out("system", "reset", "-f")
    assert not td.root.exists()  # a root of its own goes whole
    _assert_gone(bridges)
    # and it is a data root again from scratch
    assert td.out("run", "--rm", "--network", "none", "c1", "echo", "again") == "again\n"


def test_system_reset_of_a_checkout_keeps_its_readmes_and_recipes(td, tmp_path):
    for name in ("state/README.md", "images/README.md", "images/mine.toml"):
        (td.root / name).parent.mkdir(parents=True, exist_ok=True)
        (td.root / name).write_text("kept\n")
    bridges = _fill(td, tmp_path)
    td.out("system", "reset", "-f")
    left = sorted(str(p.relative_to(td.root)) for p in td.root.rglob("*"))
    assert left == ["images", "images/README.md", "images/mine.toml", "state", "state/README.md"]
    _assert_gone(bridges)


def test_system_prune_takes_down_the_bridges_of_a_deleted_root(td, tmp_path):
    other = tmp_path / "other-root"
    cli = [sys.executable, "-m", "tinydocker", "--root", str(other)]
    subprocess.run(cli + ["run", "--rm", "c1", "true"], check=True, env=td.env, capture_output=True)
    bridges = _bridges(other)
    shutil.rmtree(other)  # as a user deletes a --root /tmp/x, or a test its throwaway root
    assert set(bridges) <= {link["name"] for link in netlink.links()}
    out = td.out("system", "prune", "-f")
    assert "Deleted bridges of removed data roots:\n" + "\n".join(bridges) in out
    _assert_gone(bridges)
    # a live root's bridges stay
    td.out("run", "--rm", "c1", "true")
    td.out("system", "prune", "-f")
    mine = _bridges(td.root)
    assert set(mine) <= {link["name"] for link in netlink.links()}
