"""tinydocker works however it was installed: a wheel (`pip install .`), setuptools' editable
modes (the default, an import hook; `strict`, a tree of links; `compat`, a path entry) and
`python -m tinydocker` from the checkout (what every other test uses).

Each mode gets a fresh venv and a fresh copy of the source. The detached container's
monitor is the part that cares: it runs in a fresh `python -S` and must find the package
from its own location, whatever the install mode made of the caller's sys.path.
"""

import io
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path
import sysconfig
import tarfile
import venv

import pytest

from conftest import REPO, container_cgroups, wait_for

pytestmark = pytest.mark.slow

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

    # every module of the source is installed and imports (a package missing from pyproject's
    # list is absent from a wheel, though the checkout and the editable modes still find it)
    modules = [".".join(p.relative_to(REPO).with_suffix("").parts).removesuffix(".__init__")
               for p in (REPO / "tinydocker").rglob("*.py") if p.name != "__main__.py"]
    res = subprocess.run([env_dir / "bin" / "python", "-c", "import importlib, sys\n"
                          "for m in sys.argv[1:]: importlib.import_module(m)", *modules],
                         capture_output=True, text=True, cwd="/", timeout=120)
    assert res.returncode == 0, res.stderr[-2000:]
    cid = run("run", "-d", "c1", "sh", "-c", "exit 3").strip()
    assert run("wait", "c1") == "3\n"
    state = json.loads(run("inspect", "c1"))[0]["State"]
    assert (state["ExitCode"], state["Error"]) == (3, "")
    wait_for(lambda: not any(cid in c for c in container_cgroups()), what="the cgroup removed")
    run("run", "-d", "--rm", "c2", "true")
    wait_for(lambda: not (td.containers / "c2").exists(), what="--rm removing c2")
    run("rm", "c1")


def _pythons() -> dict[str, str]:
    """Each Python version on this machine that a user could install tinydocker with:
    Debian's own (/usr/bin/python3, 3.11.2 on Debian 12: no tarfile extraction filters), the
    python3 first on PATH, and the one running the suite."""
    found = {}
    for exe in ("/usr/bin/python3", shutil.which("python3"), getattr(sys, "_base_executable", None)):
        if exe and os.path.exists(exe):
            version = subprocess.run([exe, "-c", "import platform; print(platform.python_version())"],
                                     capture_output=True, text=True).stdout.strip()
            if version and tuple(map(int, version.split(".")[:2])) >= (3, 11):
                found.setdefault(version, exe)
    return found


PYTHONS = sorted(_pythons().items())


@pytest.mark.parametrize("python", [exe for _, exe in PYTHONS], ids=[version for version, _ in PYTHONS])
def test_a_wheel_on_each_python_here_imports_and_runs_an_image(td, tmp_path, python):
    """A wheel with its pinned dependencies (from the package index, as a user gets them) on
    each Python version: a layer is unpacked (the tarfile path that needs care on 3.11.2),
    then run, and the unsafe member is still refused."""
    src = tmp_path / "src"
    shutil.copytree(REPO, src, ignore=shutil.ignore_patterns("__pycache__", ".venv", ".git", "tests", "*.egg-info", "build"))
    env_dir = tmp_path / "venv"
    subprocess.run([python, "-m", "venv", str(env_dir)], check=True, capture_output=True, timeout=120)
    res = subprocess.run([env_dir / "bin" / "pip", "install", "-q", "."], cwd=src, capture_output=True, timeout=600)
    assert res.returncode == 0, res.stderr.decode()[-2000:]
    cli = [str(env_dir / "bin" / "tinydocker"), "--root", str(td.root)]

    def run(*args, input=None):
        return subprocess.run(cli + list(args), capture_output=True, env=td.env, timeout=120, cwd="/", input=input)

    assert run("image", "build", "busybox").returncode == 0
    rootfs = tmp_path / "rootfs.tar"
    with tarfile.open(rootfs, "w") as tar:
        tar.add(td.image_rootfs(), arcname=".")
    res = run("import", str(rootfs), "mine")
    assert res.returncode == 0, res.stderr
    res = run("run", "--rm", "--image", "mine", "c1", "cat", "/etc/passwd")
    assert (res.returncode, res.stdout[:5]) == (0, b"root:"), res.stderr
    bad = io.BytesIO()
    with tarfile.open(fileobj=bad, mode="w") as tar:
        escape = tarfile.TarInfo("../escape")
        tar.addfile(escape, io.BytesIO(b""))
    res = run("import", "-", "bad", input=bad.getvalue())
    assert res.returncode == 125 and b"outside the image" in res.stderr and b"Traceback" not in res.stderr, res.stderr
    assert not (td.root.parent / "escape").exists()
