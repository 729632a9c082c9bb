"""The CLI imports the module of the top-level command (or group command) it is given only,
and builds click's command for that command only (cli._app_for): that command must be the
one the whole application would have built."""

import subprocess
from pathlib import Path
import sys

import click
import pytest
from typer.main import get_command, get_command_name

from tinydocker import cli

# the checkout (these unit tests run without tests/conftest.py: README, --confcutdir)
REPO = Path(__file__).resolve().parents[2]


def _shape(command: click.Command) -> list:
    return [(p.name, p.opts, p.secondary_opts, p.required, p.multiple, p.nargs, repr(p.default), p.hidden)
            for p in command.params]


_WHOLE = get_command(cli.whole())
_TOP = sorted(name for name, c in _WHOLE.commands.items() if not isinstance(c, click.Group))


def test_the_table_of_modules_names_the_module_registering_each_command():
    registered = {info.name or get_command_name(info.callback.__name__): info.callback.__module__
                  for info in cli.app.registered_commands}
    assert {name: f"tinydocker.cli.{module}" for name, module in cli._MODULE_OF.items()} == registered
    groups = {info.name for info in cli.app.registered_groups}
    assert groups == {"image", "container", "system", "network", "volume", "builder"}
    assert set(cli._MODULES) == {m.rsplit(".", 1)[1] for m in registered.values()} | {"volumes"}


@pytest.mark.parametrize("argv, loaded", [
    (["ps", "-a"], {"containers"}),
    (["--root", "/x", "images"], {"images"}),
    (["pull", "x"], {"registry"}),
    (["info"], {"system"}),
    (["container", "ls"], {"containers"}),
    (["image", "ls"], {"images"}),
    (["system", "events"], {"system", "events"}),
    (["container", "commit", "x"], {"containers", "images"}),
    (["image", "lss"], set(cli._MODULES)),
    (["--help"], set(cli._MODULES)),
    (["pul"], set(cli._MODULES)),
])
def test_a_command_imports_the_module_it_is_in_and_no_other(argv, loaded):
    probe = ("import sys; from tinydocker import cli; cli._app_for(sys.argv[1:]); "
             "print(' '.join(sorted(m.rsplit('.', 1)[1] for m in sys.modules if m.startswith('tinydocker.cli.'))))")
    res = subprocess.run([sys.executable, "-c", probe, *argv], capture_output=True, text=True, cwd=REPO, timeout=60)
    assert res.returncode == 0, res.stderr
    assert set(res.stdout.split()) & set(cli._MODULES) == loaded


@pytest.mark.parametrize("name", _TOP)
def test_the_one_command_built_is_the_one_of_the_whole(name):
    one = get_command(cli._app_for(["--root", "/x", name, "arg", "--flag"]))
    assert list(one.commands) == [name]
    built, whole = one.commands[name], _WHOLE.commands[name]
    assert type(built) is type(whole) and _shape(built) == _shape(whole)
    assert built.help == whole.help and built.context_settings == whole.context_settings
    assert _shape(one) == _shape(_WHOLE)  # --root and the completion options


@pytest.mark.parametrize("argv", [[], ["--help"], ["-h", "pull"], ["image"], ["image", "--help"], ["container", "lss"],
                                  ["--root", "/x"], ["pul", "x"], ["--install-completion"]])
def test_help_groups_and_unknown_words_get_the_whole_application(argv):
    assert cli._app_for(argv) is cli.whole()


_GROUPS = sorted((group, verb) for group, g in _WHOLE.commands.items() if isinstance(g, click.Group)
                 for verb in g.commands)


@pytest.mark.parametrize("group, verb", _GROUPS)
def test_the_one_group_command_built_is_the_one_of_the_whole(group, verb):
    one = get_command(cli._app_for(["--root", "/x", group, verb, "arg", "--flag"]))
    assert list(one.commands) == [group] and list(one.commands[group].commands) == [verb]
    built, whole = one.commands[group].commands[verb], _WHOLE.commands[group].commands[verb]
    assert type(built) is type(whole) and _shape(built) == _shape(whole)
    assert built.help == whole.help and built.hidden == whole.hidden
    assert one.commands[group].help == _WHOLE.commands[group].help


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


@pytest.mark.parametrize("argv, used", [
    (["ps", "-a"], "tinydocker.api.observe"),
    (["images"], "tinydocker.image.describe"),
    (["logs", "nothing"], "tinydocker.api.observe"),
])
def test_a_listing_imports_neither_what_run_needs_nor_the_template_engine(argv, used, tmp_path):
    probe = ("import atexit, sys\n"
             "atexit.register(lambda: print(*[m for m in sys.modules if m.startswith('tinydocker')], file=sys.stderr))\n"
             "from tinydocker.cli import main\n"
             "main()")
    res = subprocess.run([sys.executable, "-c", probe, "--root", str(tmp_path), *argv],
                         capture_output=True, text=True, cwd=REPO, timeout=60)
    loaded = set(res.stderr.split())
    assert used in loaded, res.stderr
    assert not loaded & {"tinydocker.spec", "tinydocker.api.create", "tinydocker.container.runtime",
                         "tinydocker.state.stack", "tinydocker.cli.template", "tinydocker.cli.images"
                         if argv[0] != "images" else "tinydocker.cli.containers"}
