"""The Python API: what the CLI calls and what scripts import.

    import tinydocker
    code = tinydocker.run("c1", ["/bin/echo", "hi"])
    done = tinydocker.run("c2", ["/bin/echo", "hi"], capture_output=True, remove=True)
    done.exit_code, done.stdout          # 0, b"hi\\n"
    [c.name for c in tinydocker.ps(all=True)]
    tinydocker.remove("c1")

Every function takes `root=` (a data root directory); the default is resolved as the
CLI does (TINYDOCKER_ROOT, the source checkout, /var/lib/tinydocker). Errors are raised
as TinydockerError, whose `code` is the exit status the CLI uses.
"""

import os
import time
from collections.abc import Sequence

from . import paths
from .errors import ContainerRunning, TinydockerError
from .spec import DEFAULT_IMAGE, ContainerSpec


def run(name: str, command: Sequence[str] | None = None, *, image: str = DEFAULT_IMAGE,
        env: Sequence[str] = (), workdir: str = "/", hostname: str | None = None,
        interactive: bool = False, tty: bool = False, remove: bool = False,
        capture_output: bool = False, input: bytes | None = None, root=None):
    """Run COMMAND in a new container NAME and wait for it.

    Returns the exit code; with capture_output=True a Completed(exit_code, stdout, stderr).
    `input` (bytes) is fed to the container's stdin.
    """
    from .runtime import run as realise

    spec = ContainerSpec(name=name, argv=list(command or []), image=image, env=list(env),
                         workdir=workdir, hostname=hostname or "", interactive=interactive,
                         tty=tty, remove=remove)
    return realise(spec, paths.resolve(root), capture_output=capture_output, input=input)


def ps(all: bool = False, root=None):
    """Containers as they truly stand (running ones only unless all=True), newest first."""
    from .state import RUNNING, Store

    store = Store(paths.resolve(root))
    records = [store.observe(r) for r in store.all()]
    records.sort(key=lambda r: r.created, reverse=True)
    return [r for r in records if all or r.status == RUNNING]


def inspect(ref: str, root=None):
    from .state import Store

    store = Store(paths.resolve(root))
    return store.observe(store.lookup(ref))


def remove(ref: str, force: bool = False, root=None) -> None:
    """Remove a container by name or id prefix; a running one only with force (it is killed)."""
    from .state import RUNNING, Store

    store = Store(paths.resolve(root))
    store.sweep()
    record = store.observe(store.lookup(ref))
    if record.status == RUNNING:
        if not force:
            raise ContainerRunning(
                f'cannot remove container "/{record.name}": container is running: '
                "stop the container before removing or force remove")
        _kill(record)
    store.remove(record)


def _kill(record) -> None:
    """SIGKILL the container's PID 1 (the kernel then ends the rest of its PID namespace)."""
    import signal

    if record.container_alive():
        try:
            os.kill(record.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
    deadline = time.monotonic() + 10
    while record.container_alive():
        if time.monotonic() > deadline:
            raise TinydockerError(f"container {record.name} (pid {record.pid}) did not die after SIGKILL")
        time.sleep(0.005)


def images(root=None) -> list[dict]:
    from .images import ImageStore

    return ImageStore(paths.resolve(root)).all()


def build_image(name: str = DEFAULT_IMAGE, root=None) -> None:
    from .images import ImageStore

    ImageStore(paths.resolve(root)).build(name)


def import_image(tarball: str, name: str, root=None) -> None:
    from .images import ImageStore

    ImageStore(paths.resolve(root)).import_tar(tarball, name)


def remove_image(name: str, root=None) -> None:
    from .images import ImageStore
    from .state import Store

    root = paths.resolve(root)
    users = [r.name for r in Store(root).all() if r.image == name]
    ImageStore(root).remove(name, users)


def info(root=None) -> dict:
    from .features import probe

    return {"root": str(paths.resolve(root).root), **probe()}
