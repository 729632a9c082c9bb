"""The `tinydocker` command: a thin typer layer over tinydocker.api, one module per noun.

Errors print one line and exit with docker's codes: 125 for tinydocker's own failures and
bad usage, the container's code for `run`, 1 for `rm` of an unknown container.
"""

import sys
from typing import List, Optional

import typer

from . import containers, images, system  # noqa: F401 - importing them registers their commands
from ..errors import EXIT_TINYDOCKER, TinydockerError
from .app import app, say


def main(argv: Optional[List[str]] = None) -> None:
    """Entry point: click's usage errors become one line and exit 125, like docker's."""
    from click.exceptions import NoArgsIsHelpError, UsageError

    try:
        rv = app(args=argv, prog_name="tinydocker", standalone_mode=False)
    except NoArgsIsHelpError:
        sys.exit(0)  # typer has printed the help already; bare `tinydocker` is not an error
    except UsageError as e:
        hint = f" (see '{e.ctx.command_path} --help')" if e.ctx else ""
        say(f"{e.format_message().rstrip('.')}{hint}")
        sys.exit(EXIT_TINYDOCKER)
    except typer.Abort:
        sys.exit(130)
    except TinydockerError as e:
        say(e)
        sys.exit(e.code)
    except Exception as e:  # a bug or an unforeseen failure: still one line, unless debugging
        import os

        if os.environ.get("TINYDOCKER_DEBUG"):
            raise
        say(f"{type(e).__name__}: {e} (TINYDOCKER_DEBUG=1 shows where)")
        sys.exit(EXIT_TINYDOCKER)
    sys.exit(rv if isinstance(rv, int) else 0)
