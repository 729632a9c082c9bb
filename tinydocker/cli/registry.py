"""The commands for registries: pull, push, login, logout."""

from typing import Optional

import typer

from .. import api
from .app import app, fail, options

_TRUE = ("true", "1", "yes", "on")
_FALSE = ("false", "0", "no", "off")

# podman's spelling, `--tls-verify=false`, is the one that matters: an option with a value
# (a click flag refuses `=false`); `--tls-verify true` and `--tls-verify=true` work as well
_TLS_HELP = "Require HTTPS and verify the registry's certificate (--tls-verify=false: don't)."


def _tls(value: str) -> bool:
    text = value.strip().lower()
    if text in _TRUE:
        return True
    if text in _FALSE:
        return False
    raise fail(f"invalid value {value!r} for --tls-verify: write --tls-verify=true or --tls-verify=false")


def _tls_option():
    return typer.Option("true", "--tls-verify", metavar="BOOL", help=_TLS_HELP)


@app.command()
def pull(
    name: str = typer.Argument(..., metavar="NAME[:TAG|@DIGEST]"),
    platform: Optional[str] = typer.Option(None, "--platform", metavar="OS/ARCH[/VARIANT]",
                                           help="Which image of a multi-platform index (default: this host's)."),
    quiet: bool = typer.Option(False, "-q", "--quiet", help="Print only the image's name."),
    tls_verify: str = _tls_option(),
):
    """Pull an image from a registry; prints its full name."""
    from ..image import reference, registries_conf

    api.pull(name, platform=platform, tls_verify=_tls(tls_verify), quiet=quiet, root=options.root)
    print(str(reference.parse(registries_conf.resolve_alias(name))))  # a short name's alias: what was pulled


@app.command()
def push(
    name: str = typer.Argument(..., metavar="NAME[:TAG]"),
    quiet: bool = typer.Option(False, "-q", "--quiet", help="Say nothing but errors."),
    tls_verify: str = _tls_option(),
):
    """Push an image to its registry (the one its name starts with)."""
    api.push(name, tls_verify=_tls(tls_verify), quiet=quiet, root=options.root)


@app.command()
def login(
    server: str = typer.Argument(..., metavar="SERVER", help="The registry, HOST[:PORT]."),
    username: Optional[str] = typer.Option(None, "-u", "--username"),
    password: Optional[str] = typer.Option(None, "-p", "--password", help="Visible to other users' ps: "
                                           "prefer --password-stdin."),
    password_stdin: bool = typer.Option(False, "--password-stdin", help="Read the password from stdin."),
    tls_verify: str = _tls_option(),
):
    """Log in to a registry: the credentials are checked, then stored for pull and push."""
    import getpass
    import sys

    verify = _tls(tls_verify)
    if password is not None and password_stdin:
        raise fail("--password and --password-stdin are mutually exclusive")
    if password_stdin:
        if not username:
            raise fail("Must provide --username with --password-stdin")
        password = sys.stdin.read()
        password = password[:-1] if password.endswith("\n") else password
        password = password[:-1] if password.endswith("\r") else password
    elif password is not None:
        print("WARNING! Using --password via the CLI is insecure. Use --password-stdin.", file=sys.stderr)
    if username is None or password is None:
        if not sys.stdin.isatty():
            raise fail("Cannot perform an interactive login from a non TTY device: give -u and --password-stdin")
        if username is None:
            username = input("Username: ").strip()
        if password is None:
            password = getpass.getpass("Password: ")
    if not username:
        raise fail("Username is required")
    if not password:
        raise fail("Password is required")
    api.login(server, username, password, tls_verify=verify, root=options.root)
    print("Login Succeeded")


@app.command()
def logout(server: str = typer.Argument(..., metavar="SERVER")):
    """Forget the credentials stored for a registry."""
    print(f"Removing login credentials for {api.logout(server, root=options.root)}")
