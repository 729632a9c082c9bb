"""A build's RUN: its command in a container over the stack so far, whose upper directory
becomes the step's layer (commit's promotion: hard links, no copy), then the container
goes. The container carries its build's process in a label, for builder.sweep."""

from __future__ import annotations

import os
import stat

from ..container.changes import OWN_MOUNT_POINTS, below
from ..errors import TinydockerError
from ..linux import proc


def run_step(builder, state, argv: list[str], args_env: list[str], network: str, created_by: str, key: str,
             script: bytes | None = None):
    """Run the step; its image (BuildError if the command failed). `script`: the input of
    argv (a heredoc with its own interpreter), its output then shown once it has ended."""
    from ..container.oci import chosen
    from ..container.removal import discard
    from ..container.runtime import run
    from ..spec import ContainerSpec
    from ..state.store import Store
    from .build import OWNER_LABEL, BuildError

    if state.image is None:
        raise BuildError("RUN needs an image with a shell: this stage is FROM scratch with no files yet")
    config = state.config
    me = os.getpid()
    short = os.urandom(6).hex()
    spec = ContainerSpec(name=f"build-{short}", argv=argv, image=state.image.id, image_id=state.image.id,
                         env=list(config.get("Env") or []) + args_env, workdir=config.get("WorkingDir") or "/",
                         user=config.get("User") or "", labels={OWNER_LABEL: f"{me}:{proc.start_ticks(me)}"},
                         network=network, log_driver="none", runtime=chosen(None, builder.root))
    store = Store(builder.root)
    layers = builder.store.layer_dirs(state.image)
    builder.say(f" ---> Running in {short}")
    record = None
    try:
        capture = builder.options.quiet or script is not None
        outcome = run(spec, builder.root, layers, capture_output=capture, input=script, killed_by_signals=True)
        record = store.lookup(spec.name)
        code = outcome if isinstance(outcome, int) else outcome.exit_code
        if capture and not builder.options.quiet:
            os.write(1, outcome.stdout)
            os.write(2, outcome.stderr)
        if code != 0:
            if builder.options.quiet:
                os.write(2, outcome.stdout + outcome.stderr)
            raise BuildError(f"The command '{' '.join(argv)}' returned a non-zero code: {code}")
        upper = store.container_dir(spec.name) / "upper"
        lower = [str(d) for d in layers]
        _drop_mount_points(str(upper), lower)
        changed = bool(os.listdir(upper))  # anything left is the step's: a file, a whiteout, a mode
        image = builder._publish(state, upper if changed else None, dict(config), created_by, key)
    finally:
        try:
            record = record or store.lookup(spec.name)
        except TinydockerError:  # never made: the run failed before its record
            record = None
        if record is not None:
            held, _ = store.hold_for_removal(store.observe(record), force=True)
            discard(store, held)
    builder.say(f"Removing intermediate container {short}")
    builder.say(f" ---> {image.hex[:12]}")
    return image


def _drop_mount_points(upper: str, lower: list[str]) -> None:
    """The files the container's /etc/hosts, hostname and resolv.conf were bound on, made
    in the upper when the image lacks them, are the container's, not the step's; and so
    is /etc itself when that was all it held."""
    for path in OWN_MOUNT_POINTS:
        here = os.path.join(upper, path.lstrip("/"))
        try:
            st = os.lstat(here)
        except FileNotFoundError:
            continue
        if stat.S_ISREG(st.st_mode) and st.st_size == 0 and below(lower, path) is None:
            os.unlink(here)
    etc = os.path.join(upper, "etc")
    try:
        if not os.listdir(etc):
            before, now = below(lower, "/etc"), os.lstat(etc)
            if before is not None and (before.st_mode, before.st_uid, before.st_gid) == \
                    (now.st_mode, now.st_uid, now.st_gid) and not os.listxattr(etc):
                os.rmdir(etc)
    except (FileNotFoundError, NotADirectoryError):
        pass

