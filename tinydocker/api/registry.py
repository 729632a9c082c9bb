"""The API for registries: pull, push, login, logout.

Plain HTTP is used for loopback registries (127.0.0.1, ::1, localhost); any other is
HTTPS, verified unless tls_verify=False. Credentials stored by login() are used by
pull() and push() for that registry.
"""

from __future__ import annotations

from ..state import root as paths


def _images(root):
    from ..image.store import ImageStore

    return ImageStore(paths.resolve(root))


def pull(ref: str, platform: str | None = None, tls_verify: bool = True, quiet: bool = True, root=None,
         out=None, auth: tuple[str, str] | None = None, cancel=None) -> str:
    """Pull NAME[:TAG] or NAME@DIGEST (from a multi-platform index, this host's platform,
    or `platform` "OS/ARCH[/VARIANT]"); the image's id. quiet=False prints docker's lines
    (and on a terminal the progress of each layer) to `out` (default stdout). auth:
    (user, password) for this pull instead of the stored credentials. Nothing is stored
    if any part is bad. cancel: a threading.Event that, once set, stops the pull (another
    thread's way to give up on it: the service's, when its client has gone)."""
    import sys

    return pulled(_images(root), ref, None if quiet else (out or sys.stdout), platform, tls_verify, auth,
                  cancel).id


def pulled(images, ref: str, out, platform: str | None = None, tls_verify: bool = True, auth=None,
           cancel=None):
    """Pull `ref` into the store `images`, docker's lines to `out` (None: silent), and say so
    in the events; the Image."""
    from ..image.pull import pull as pull_image

    image = pull_image(images, ref, platform=platform, tls_verify=tls_verify, out=out, creds=auth, cancel=cancel)
    _event(images.root, "pull", ref)
    return image


def push(ref: str, tls_verify: bool = True, quiet: bool = True, root=None, out=None,
         auth: tuple[str, str] | None = None) -> str:
    """Push the image NAME[:TAG] to its registry; the digest of the manifest pushed.
    quiet=False prints docker's lines to `out` (default stdout); auth: (user, password)
    for this push instead of the stored credentials."""
    import sys

    from ..image.push import push as push_image

    out = None if quiet else (out or sys.stdout)
    digest = push_image(_images(root), ref, tls_verify=tls_verify, out=out, creds=auth)
    _event(root, "push", ref)
    return digest


def _event(root, action: str, ref: str) -> None:
    """docker's pull and push events name the reference, not the image's id."""
    from ..state import events

    events.emit(paths.resolve(root), "image", action, ref, {"name": ref})


def login(server: str, username: str, password: str, tls_verify: bool = True, root=None,
          keep: bool = True) -> None:
    """Check the credentials against the registry `server` (HOST[:PORT]), then store them
    (in DATA_ROOT/auth.json, or $REGISTRY_AUTH_FILE, mode 0600); keep=False only checks
    them (the service's /auth: docker's client keeps them itself)."""
    from ..image.registry import login as login_registry

    login_registry(_images(root), server, username, password, tls_verify=tls_verify, keep=keep)


def logout(server: str, root=None) -> str:
    """Forget the credentials for `server`; the host they were stored for. Not logged in:
    TinydockerError with code 1."""
    from ..image.credentials import remove

    return remove(paths.resolve(root), server)
