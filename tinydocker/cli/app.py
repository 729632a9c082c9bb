"""The typer application, its global options, and how every command speaks: one-line errors."""

import sys
from typing import List, Optional

import typer

from ..errors import EXIT_TINYDOCKER, TinydockerError

app = typer.Typer(
    name="tinydocker",
    help="Daemonless containers on overlayfs: named containers, each with its own writable "
         "layer over a shared read-only image, in fresh namespaces.",
    add_completion=True,  # --install-completion, --show-completion; names: cli/completion.py
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    suggest_commands=False,  # click suggests already: typer's own would say it twice
    context_settings={"help_option_names": ["-h", "--help"]},
)
image_app = typer.Typer(help="Manage images.", no_args_is_help=True, suggest_commands=False)
app.add_typer(image_app, name="image")
system_app = typer.Typer(help="Manage tinydocker's data.", no_args_is_help=True, suggest_commands=False)
app.add_typer(system_app, name="system")
container_app = typer.Typer(help="Manage containers.", no_args_is_help=True, suggest_commands=False)
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
        help="Data root holding state/ and images/ (default: the source checkout, else /var/lib/tinydocker; "
             "a user who is not root: $XDG_DATA_HOME/tinydocker).")):
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


FORMAT_HELP = "'table' (default), 'json' (one object per line), or a Go template: '{{.Names}}', 'table {{.ID}}\\t{{.Status}}'."
INSPECT_FORMAT_HELP = "A Go template for each object ('{{.State.Status}}', '{{json .Config}}'); default: a JSON array."


def check_format(format: Optional[str]) -> None:
    """A listing's --format: the table, json or a Go template; refused before anything is read."""
    if format in (None, "table", "json"):
        return
    if "{{" not in format:
        raise fail(f"unsupported format {format!r}: use 'table', 'json' or a template such as '{{{{.Names}}}}'")
    from .template import Template

    Template(format)  # a template tinydocker cannot follow is an error now, not a wrong answer


def show_listing(format: Optional[str], rows: List[dict], table, ids: Optional[List[str]] = None,
                 titles: Optional[dict] = None) -> None:
    """What a listing command prints: `ids` (given with -q), or one JSON object per row with
    --format json, or each row through a Go template (`titles`: a table's column titles),
    or table() (built only when shown)."""
    out = "\n".join(ids) if ids is not None else listing_text(format, rows, table, titles)
    if out:
        print(out)


def listing_text(format: Optional[str], rows: List[dict], table, titles: Optional[dict] = None) -> str:
    """Rows as --format asks: one JSON object per row, a Go template, or table()."""
    if format == "json":
        from .display import json_lines

        return json_lines(rows)
    if format and "{{" in format:
        from .template import render_rows

        return render_rows(format, rows, titles)
    return table()


def show_object(data: dict, format: Optional[str]) -> None:
    """One object (info, version) as --format json (one line) or a Go template asks."""
    from .text import go_json

    check_format(format)
    print(go_json(data) if format == "json" else _template(format).render(data))


def _template(format: str):
    from .template import Template

    return Template(format)


def print_documents(docs: List[dict], format: Optional[str]) -> None:
    """inspect's output: a JSON array, or each document through a Go template."""
    import json

    if format and format != "json":
        template = _template(format)
        for doc in docs:
            print(template.render(doc))
    else:
        print(json.dumps(docs, indent=4))


def inspect_each(refs: List[str], document, format: Optional[str] = None) -> None:
    """Print document(ref) of every ref (as one JSON array, or through `format`), then say
    what was not found; exits 1 if anything was not, as docker's inspect commands do."""
    if format and format != "json":
        check_format(format)
    docs, missing = [], []
    for ref in refs:
        try:
            docs.append(document(ref))
        except TinydockerError as e:
            missing.append(e)
    print_documents(docs, format)
    for error in missing:
        say(error)
    raise typer.Exit(1 if missing else 0)


def confirm(warning: str) -> bool:
    print(f"{warning}\nAre you sure you want to continue? [y/N] ", end="", flush=True)
    if sys.stdin.readline().strip().lower() in ("y", "yes"):
        return True
    print()
    return False
