"""The CLI builds click's command for the top-level command it is given only (cli._app_for):
that command must be the one the whole application would have built."""

import click
import pytest
from typer.main import get_command

from tinydocker import cli


def _shape(command: click.Command) -> list:
    return [(p.name, p.opts, p.secondary_opts, p.required, p.multiple, p.nargs, repr(p.default), p.hidden)
            for p in command.params]


_WHOLE = get_command(cli.app)
_TOP = sorted(name for name, c in _WHOLE.commands.items() if not isinstance(c, click.Group))


@pytest.mark.parametrize("name", _TOP)
def test_the_one_command_built_is_the_one_of_the_whole(name):
    one = get_command(cli._app_for(["--root", "/x", name, "arg", "--flag"]))
    assert list(one.commands) == [name]
    built, whole = one.commands[name], _WHOLE.commands[name]
    assert type(built) is type(whole) and _shape(built) == _shape(whole)
    assert built.help == whole.help and built.context_settings == whole.context_settings
    assert _shape(one) == _shape(_WHOLE)  # --root and the completion options


@pytest.mark.parametrize("argv", [[], ["--help"], ["-h", "pull"], ["image", "ls"], ["container", "run"],
                                  ["--root", "/x"], ["pul", "x"], ["--install-completion"]])
def test_help_groups_and_unknown_words_get_the_whole_application(argv):
    assert cli._app_for(argv) is cli.app


def test_a_root_given_with_equals_is_passed_over():
    one = get_command(cli._app_for(["--root=/x", "ps", "-a"]))
    assert list(one.commands) == ["ps"]


@pytest.mark.parametrize("argv, said", [
    (["pul"], "No such command 'pul'. Did you mean 'pull'? (see 'tinydocker --help')"),
    (["image", "lss"], "No such command 'lss'. Did you mean 'ls'? (see 'tinydocker image --help')"),
    (["volume", "lss"], "No such command 'lss'. Did you mean 'ls'? (see 'tinydocker volume --help')"),
])
def test_a_mistyped_command_is_told_once_what_was_meant(argv, said, capsys):
    with pytest.raises(SystemExit) as done:
        cli.main(argv)
    assert done.value.code == 125 and capsys.readouterr().err == f"tinydocker: {said}\n"
