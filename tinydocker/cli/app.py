"""The typer application, its global options, and how every command speaks: one-line errors."""

import sys
from typing import List, Optional

import typer

from ..errors import EXIT_TINYDOCKER, TinydockerError

app = typer.Typer(
    name="tinydocker",
    help="Daemonless containers on overlayfs: named containers, each with its own writable "
         "layer over a shared read-only image, in fresh namespaces.",
    add_completion=False,
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    context_settings={"help_option_names": ["-h", "--help"]},
)
image_app = typer.Typer(help="Manage images.", no_args_is_help=True)
app.add_typer(image_app, name="image")
system_app = typer.Typer(help="Manage tinydocker's data.", no_args_is_help=True)
app.add_typer(system_app, name="system")
container_app = typer.Typer(help="Manage containers.", no_args_is_help=True)
app.add_typer(container_app, name="container")


class Options:
    """The global options (before the command's name), set by the callback below."""
    root: Optional[str] = None


options = Options()


def say(message) -> None:
    """An error is one line, whatever the text it carries."""
    print("tinydocker: " + " ".join(str(message).split("\n")), file=sys.stderr)


def fail(message: str, code: int = EXIT_TINYDOCKER) -> "typer.Exit":
    say(message)
    return typer.Exit(code)


@app.callback()
def _main(root: Optional[str] = typer.Option(
        None, "--root", metavar="DIR", envvar="TINYDOCKER_ROOT",
        help="Data root holding state/ and images/ (default: the source checkout, else /var/lib/tinydocker).")):
    options.root = root


def each(refs: List[str], action, report=None) -> None:
    """Apply action to each ref, then report(ref, result) (default: print the ref, as docker
    does); the exit status is 1 if any failed (125 for tinydocker's own failures)."""
    failed = 0
    for ref in refs:
        try:
            result = action(ref)
            if report is None:
                print(ref, flush=True)
            else:
                report(ref, result)
        except TinydockerError as e:
            say(e)
            failed = max(failed, 1 if e.code == 1 else e.code)
    raise typer.Exit(failed)


def check_format(format: Optional[str]) -> None:
    """A listing's --format: the table (default) or json; refused before anything is read."""
    if format not in (None, "table", "json"):
        raise fail(f"unsupported format {format!r}: use 'table' or 'json'")


def show_listing(format: Optional[str], rows: List[dict], table, ids: Optional[List[str]] = None) -> None:
    """What a listing command prints: `ids` (given with -q), or one JSON object per row with
    --format json, or table() (built only when shown)."""
    from .display import json_lines

    out = "\n".join(ids) if ids is not None else json_lines(rows) if format == "json" else table()
    if out:
        print(out)


def inspect_each(refs: List[str], document) -> None:
    """Print document(ref) of every ref as one JSON array, then say what was not found;
    exits 1 if anything was not, as docker's inspect commands do."""
    import json

    docs, missing = [], []
    for ref in refs:
        try:
            docs.append(document(ref))
        except TinydockerError as e:
            missing.append(e)
    print(json.dumps(docs, indent=4))
    for error in missing:
        say(error)
    raise typer.Exit(1 if missing else 0)


def confirm(warning: str) -> bool:
    print(f"{warning}\nAre you sure you want to continue? [y/N] ", end="", flush=True)
    if sys.stdin.readline().strip().lower() in ("y", "yes"):
        return True
    print()
    return False
