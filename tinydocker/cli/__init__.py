"""The `tinydocker` command: a thin typer layer over tinydocker.api, one module per noun.

A module registers its commands on the application when it is imported; a command imports
only the module that owns it (_MODULE_OF; a group's command, its group's: _GROUP_MODULES),
and help, completion and unknown words import them all (whole()).

Errors print one line and exit with docker's codes: 125 for tinydocker's own failures and
bad usage, the container's code for `run`, 1 for `rm` of an unknown container.
"""

import importlib
import os
import sys
from typing import List, Optional

import typer

from ..errors import EXIT_TINYDOCKER, TinydockerError, describe
from .app import app, container_app, options, say

# The module that registers each top-level command (tests/unit/test_cli_dispatch.py checks
# this against what the modules register, so a command added or moved cannot be missed)
_MODULE_OF = {
    **dict.fromkeys(["run", "create", "start", "stop", "kill", "restart", "update", "pause", "unpause", "rename",
                     "top", "cp", "diff", "wait", "logs", "attach", "exec", "ps", "rm", "inspect", "stats"],
                    "containers"),
    **dict.fromkeys(["images", "import", "rmi", "tag", "history", "load", "save", "commit", "export"], "images"),
    **dict.fromkeys(["pull", "push", "login", "logout"], "registry"),
    **dict.fromkeys(["info", "version", "unshare"], "system"),
    "events": "events",
    "port": "networks",
    "build": "build",
}
# every module with commands; the groups' own (network, volume, `system events`) among them
_MODULES = ("build", "containers", "events", "images", "networks", "registry", "system", "volumes")
# the modules that register a group's own commands (`container VERB` is mostly aliases of
# top-level commands: their modules come from _MODULE_OF)
_GROUP_MODULES = {"image": ("images",), "builder": ("build",), "network": ("networks",), "volume": ("volumes",),
                  "system": ("system", "events"), "container": ("containers",)}

# docker's `container VERB` spellings of top-level commands: VERB -> the command (ls, and
# the hidden list and ps, for ps)
_CONTAINER_ALIASES = {verb: verb for verb in (
    "run", "create", "start", "stop", "kill", "restart", "wait", "logs", "exec", "rm", "inspect", "stats", "pause",
    "unpause", "rename", "top", "port", "export", "commit", "diff", "cp", "update", "attach")} | dict.fromkeys(
    ("ls", "list", "ps"), "ps")
_HIDDEN_ALIASES = ("list", "ps")

_whole = False


def whole() -> typer.Typer:
    """The application with every command and group registered."""
    global _whole
    if not _whole:
        for module in _MODULES:
            importlib.import_module(f".{module}", __name__)
        _alias_container_verbs()
        _whole = True
    return app


def _alias_container_verbs() -> None:
    for verb, command in _CONTAINER_ALIASES.items():
        container_app.registered_commands.append(_twin(_named(app.registered_commands, command), verb))


def _twin(info, verb: str):
    """A top-level command's registration under the container group's VERB."""
    import copy

    twin = copy.copy(info)
    twin.name, twin.hidden = verb, verb in _HIDDEN_ALIASES
    return twin


def _named(infos, name: str):
    """The registration among `infos` of the command NAME, or None."""
    from typer.main import get_command_name

    return next((i for i in infos if (i.name or get_command_name(i.callback.__name__)) == name), None)


def main(argv: Optional[List[str]] = None) -> None:
    """Entry point: click's usage errors become one line and exit 125, like docker's."""
    import gc

    if os.environ.get("_TINYDOCKER_COMPLETE"):  # a shell asking for completions (typer's scripts)
        from .completion import complete

        complete(whole(), argv)  # exits
    from click.exceptions import NoArgsIsHelpError, UsageError

    from ..linux.machine import unsupported

    if unsupported():
        say(unsupported())
        sys.exit(EXIT_TINYDOCKER)
    try:
        chosen = _app_for(sys.argv[1:] if argv is None else argv)
        # What exists by now (the modules, the application) lives until the process ends:
        # frozen, the collector no longer walks it in the command's collections nor in the
        # last one at exit (some 13 ms of a short command); what the command makes is
        # collected as ever
        gc.freeze()
        rv = chosen(args=argv, prog_name="tinydocker", standalone_mode=False)
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
        if os.environ.get("TINYDOCKER_DEBUG"):
            raise
        if type(e).__name__ == "ShellDetectionFailure":  # --show/--install-completion run outside any shell
            say("cannot tell which shell this is: run it from bash, zsh or fish, "
                "or take the script from _TINYDOCKER_COMPLETE=source_bash tinydocker (or source_zsh, source_fish)")
            sys.exit(1)
        message, code = describe(e, _operation(sys.argv[1:] if argv is None else argv), _data_root())
        say(message)
        sys.exit(code)
    sys.exit(rv if isinstance(rv, int) else 0)


def _app_for(argv: List[str]) -> typer.Typer:
    """The application to parse `argv` with. Typer turns every command of an application
    into click's at each start (some 20 ms for about 90 commands), and the modules holding
    them import much of tinydocker, so when the first word names a top-level command, its
    module alone is imported and a copy of the application holding that command alone
    parses (the same callback, global options and errors); anything else (help, a group
    such as `image`, a word that is no command) gets the whole."""
    words = iter(argv)
    for word in words:
        if word == "--root":
            next(words, None)
        elif word.startswith("--root="):
            continue
        elif word in _GROUP_MODULES:
            return _group_for(word, next(words, ""))
        elif word.startswith("-") or word not in _MODULE_OF:
            return whole()  # --help, --install-completion, a mistyped command...
        else:
            importlib.import_module(f".{_MODULE_OF[word]}", __name__)
            return _holding([_named(app.registered_commands, word)], [])
    return whole()


def _group_for(group: str, verb: str) -> typer.Typer:
    """For `GROUP VERB` (docker's `image ls`, `container ls`...): a copy of the application
    holding that group with VERB's command alone, as _app_for does for a top-level command;
    the whole application if VERB is none of the group's (help, a mistyped verb)."""
    import copy

    for module in _GROUP_MODULES[group]:
        importlib.import_module(f".{module}", __name__)
    info = next(i for i in app.registered_groups if i.name == group)
    chosen = _named(info.typer_instance.registered_commands, verb)
    if chosen is None and group == "container" and verb in _CONTAINER_ALIASES:
        command = _CONTAINER_ALIASES[verb]
        importlib.import_module(f".{_MODULE_OF[command]}", __name__)
        chosen = _twin(_named(app.registered_commands, command), verb)
    if chosen is None or verb.startswith("-"):
        return whole()
    sub = copy.copy(info.typer_instance)
    sub.registered_commands, sub.registered_groups = [chosen], []
    one_group = copy.copy(info)
    one_group.typer_instance = sub
    return _holding([], [one_group])


def _holding(commands: list, groups: list) -> typer.Typer:
    """A copy of the application (its callback, global options and errors) holding these
    commands and groups only."""
    import copy

    one = copy.copy(app)
    one.registered_commands, one.registered_groups = commands, groups
    return one


def _operation(argv: List[str]) -> str:
    """The command a failure happened in, as the user typed it: 'rm', 'image build'."""
    words = iter(argv)
    for word in words:
        if word == "--root":
            next(words, None)
        elif not word.startswith("-"):
            following = next(words, "")
            return f"{word} {following}" if word in _GROUP_MODULES else word
    return "tinydocker"


def _data_root() -> Optional[str]:
    from ..state.root import resolve

    try:
        return str(resolve(options.root).root)
    except TinydockerError:
        return None
