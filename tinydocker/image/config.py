"""What an image's config says about running it, merged with the user's options by
docker's rules."""

from __future__ import annotations

from ..errors import TinydockerError


def process(config: dict, command: list[str] | None, entrypoint: list[str] | None, env: list[str],
            workdir: str | None, user: str | None) -> dict:
    """The container's process from the image config (its "config" object) and the user's
    options (None: not given):

    - a command after NAME replaces the image's Cmd; --entrypoint replaces its Entrypoint
      and, as in docker, drops its Cmd too (an empty --entrypoint clears both);
    - the image's Env first, the user's -e values over it;
    - -w over WorkingDir over /; --user over User over root.
    """
    settings = config.get("config") or {}
    if entrypoint is not None:
        chosen_entrypoint = list(entrypoint)
        cmd = list(command or [])
    else:
        chosen_entrypoint = list(settings.get("Entrypoint") or [])
        cmd = list(command) if command else list(settings.get("Cmd") or [])
    argv = chosen_entrypoint + cmd
    if not argv:
        raise TinydockerError("No command specified: the image has no Cmd or Entrypoint; give a command after NAME")
    return {
        "argv": argv,
        "entrypoint": chosen_entrypoint,
        "env": list(settings.get("Env") or []) + list(env),
        "workdir": workdir or settings.get("WorkingDir") or "/",
        "user": user if user is not None else (settings.get("User") or ""),
        "stop_signal": settings.get("StopSignal") or "",
        "labels": dict(settings.get("Labels") or {}),
        "exposed_ports": sorted(settings.get("ExposedPorts") or {}),
        "volumes": sorted(settings.get("Volumes") or {}),  # each an anonymous volume unless mounted over
    }
