"""tinydocker works however it was installed: a wheel (`pip install .`), setuptools' editable
modes (the default, an import hook; `strict`, a tree of links; `compat`, a path entry) and
`python -m tinydocker` from the checkout (what every other test uses).

Each mode gets a fresh venv and a fresh copy of the source. The detached container's
supervisor is the part that cares: it runs in a fresh `python -S` and must find the package
from its own location, whatever the install mode made of the caller's sys.path.
"""

import json
import shutil
import subprocess
from pathlib import Path
import sysconfig
import venv

import pytest

from conftest import REPO, container_cgroups, wait_for

SOURCES = ("tinydocker", "images", "pyproject.toml", "README.md", "LICENSE")


def _install(tmp_path, pip_args) -> Path:
    src = tmp_path / "src"
    src.mkdir()
    for name in SOURCES:
        if (REPO / name).is_dir():
            shutil.copytree(REPO / name, src / name, ignore=shutil.ignore_patterns("__pycache__"))
        else:
            shutil.copy2(REPO / name, src / name)
    env_dir = tmp_path / "venv"
    venv.create(env_dir, with_pip=True)
    # the dependencies are those this suite runs with; only tinydocker itself is installed anew
    site = subprocess.run([env_dir / "bin" / "python", "-c", "import sysconfig; print(sysconfig.get_path('purelib'))"],
                          capture_output=True, text=True, check=True).stdout.strip()
    with open(f"{site}/test-deps.pth", "w") as f:
        f.write(sysconfig.get_path("purelib") + "\n")
    subprocess.run([env_dir / "bin" / "pip", "install", "-q", "--no-deps", *pip_args],
                   cwd=src, check=True, capture_output=True, timeout=300)
    return env_dir


@pytest.mark.parametrize("pip_args", [
    ["."],                                                           # a wheel, built and installed
    ["-e", "."],                                                     # the default editable mode
    ["-e", ".", "--config-settings", "editable_mode=strict"],
    ["-e", ".", "--config-settings", "editable_mode=compat"],
], ids=["wheel", "editable", "editable-strict", "editable-compat"])
def test_detached_containers_end_properly_in_every_install_mode(td, tmp_path, pip_args):
    env_dir = _install(tmp_path, pip_args)
    cli = [str(env_dir / "bin" / "tinydocker"), "--root", str(td.root)]

    def run(*args):
        res = subprocess.run(cli + list(args), capture_output=True, env=td.env, timeout=60, cwd="/")
        assert res.returncode == 0, (args, res.stderr)
        return res.stdout.decode()

    cid = run("run", "-d", "c1", "sh", "-c", "exit 3").strip()
    assert run("wait", "c1") == "3\n"
    state = json.loads(run("inspect", "c1"))[0]["State"]
    assert (state["ExitCode"], state["Error"]) == (3, "")
    wait_for(lambda: not any(cid in c for c in container_cgroups()), what="the cgroup removed")
    run("run", "-d", "--rm", "c2", "true")
    wait_for(lambda: not (td.containers / "c2").exists(), what="--rm removing c2")
    run("rm", "c1")
