"""The config's hooks, run as the runtime-spec says (and runc does):

    prestart, createRuntime   during create, once the init's namespaces exist and before it
                              pivots into the rootfs; a failure fails create
    createContainer           by the init, in the container's namespaces, before pivot_root
                              (so its path is the host's); a failure fails create
    startContainer            by the init once released, in the container (its path is the
                              container's), before the program; a failure stops it
    poststart                 by start, once the init is released; a failure is a warning
    poststop                  by delete, once the container is gone; a failure is a warning,
                              and the hooks after it still run

Each hook is path, args (args[0] is its argv[0]), env, an optional timeout in seconds, and
gets the container's state JSON on its stdin.
"""

import json
import os
import signal

from ..plain import as_dict
from .config import Hook
from .state import RuntimeError_


def run_one(hook: Hook, state: dict, point: str) -> None:
    """One hook; RuntimeError_ naming it if it fails, times out or cannot be started."""
    import subprocess  # only with hooks: its import is a tenth of a verb's start

    argv = list(hook.args) or [hook.path]
    env = dict(item.partition("=")[::2] for item in hook.env)
    # a hook may exit without reading its stdin: the broken pipe is an EPIPE (communicate
    # ignores it), not a signal to die of (the init catches SIGPIPE to die of it); the hook
    # itself gets SIGPIPE's default back (restore_signals)
    previous = signal.signal(signal.SIGPIPE, signal.SIG_IGN)
    try:
        done = subprocess.run(argv, executable=hook.path, env=env, input=json.dumps(state).encode(),
                              stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, timeout=hook.timeout,
                              close_fds=True, cwd=state.get("bundle") if os.path.isdir(state.get("bundle") or "") else "/")
    except subprocess.TimeoutExpired:
        raise RuntimeError_(f"{point} hook {hook.path} timed out after {hook.timeout} s") from None
    except OSError as e:
        raise RuntimeError_(f"{point} hook {hook.path} could not run: {e.strerror}") from None
    finally:
        signal.signal(signal.SIGPIPE, previous)
    if done.returncode != 0:
        said = done.stderr.decode(errors="replace").strip().splitlines()
        why = f": {said[-1]}" if said else ""
        raise RuntimeError_(f"{point} hook {hook.path} failed with status {done.returncode}{why}")


def saved(hooks) -> list[dict]:
    """Hooks as state.json keeps them (start and delete read them back with `loaded`)."""
    return [as_dict(h) for h in hooks]


def loaded(items) -> list[Hook]:
    return [Hook(path=h["path"], args=tuple(h["args"]), env=tuple(h["env"]), timeout=h["timeout"]) for h in items]


def run_all(hooks, state: dict, point: str, warn=None) -> None:
    """The hooks of one point in order: the first failure raises, or with `warn` (a function
    taking the message) each failure is told and the rest still run."""
    for hook in hooks:
        try:
            run_one(hook, state, point)
        except RuntimeError_ as e:
            if warn is None:
                raise
            warn(str(e))

