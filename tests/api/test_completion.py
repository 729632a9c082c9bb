"""Shell completion: typer's --show-completion/--install-completion and tinydocker's names
(containers, images, networks, volumes), through a real bash on a pseudo-terminal and
through the completion protocol itself (_TINYDOCKER_COMPLETE, as the scripts call it)."""

import fcntl
import os
import re
import select
import shlex
import signal
import struct
import subprocess
import sys
import termios
import time

from conftest import REPO

PROMPT = "READY$ "
_ESCAPES = re.compile(r"\x1b\[[0-9;?]*[A-Za-z]|\x1b[()][A-Z0-9]|\r|\x07")


class Terminal:
    """An interactive bash on a pseudo-terminal, read until the text a step expects."""

    def __init__(self, env: dict, cwd):
        self.master, slave = os.openpty()
        # wide, so bash lists candidates on one line and never wraps what is typed
        fcntl.ioctl(slave, termios.TIOCSWINSZ, struct.pack("HHHH", 50, 250, 0, 0))
        self.proc = subprocess.Popen(["bash", "--norc", "--noprofile", "-i"], stdin=slave, stdout=slave,
                                     stderr=slave, env=env, cwd=cwd, start_new_session=True)
        os.close(slave)
        self.raw = ""

    def send(self, keys: str) -> None:
        os.write(self.master, keys.encode())

    def expect(self, pattern: str, timeout: float = 30) -> re.Match:
        """Read until `pattern` shows (escape sequences and CRs left out); what was read up
        to here is then dropped, so the next step sees only what follows."""
        deadline = time.monotonic() + timeout
        while True:
            match = re.search(pattern, _ESCAPES.sub("", self.raw))
            if match:
                self.raw = ""
                return match
            left = deadline - time.monotonic()
            if left <= 0:
                raise AssertionError(f"no {pattern!r} on the terminal within {timeout}s; "
                                     f"it showed: {_ESCAPES.sub('', self.raw)[-1500:]!r}")
            if select.select([self.master], [], [], left)[0]:
                try:
                    data = os.read(self.master, 65536)
                except OSError:  # EIO: bash has gone, and the terminal with it
                    data = b""
                if not data:
                    raise AssertionError(f"bash ended; the terminal showed: {_ESCAPES.sub('', self.raw)[-1500:]!r}")
                self.raw += data.decode(errors="replace")

    def run(self, command: str, timeout: float = 30) -> str:
        """Run a command, wait for it to end and return what the terminal showed meanwhile
        (the typed line too). The end is a marker bash computes, which the echo of the
        typed line cannot show."""
        self.send(f"{command}; echo DONE$((6*7))\r")
        return self.expect(r"([\s\S]*)DONE42\n" + re.escape(PROMPT), timeout).group(1)

    def completed(self, typed: str, keys: str = "\t") -> list:
        """Type `typed` and TAB, then make bash show the words of the line it became
        (^A goes to the line's start, where printf is put in front of it)."""
        self.send(typed + keys + "\x01printf '<%s>' \r")
        line = self.expect(r"((?:<[^<>\n]*>)+)" + re.escape(PROMPT)).group(1)
        return re.findall(r"<([^<>]*)>", line)

    def listed(self, typed: str, names: list) -> str:
        """Type `typed` and TAB TAB: bash lists the candidates; then the line is cleared (^U)."""
        self.send(typed + "\t\t")
        try:
            return self.expect(r"\n(.*(?:" + "|".join(map(re.escape, names)) + r").*)\n").group(1)
        finally:
            self.send("\x15")
            self.run("true")

    def close(self) -> None:
        try:
            os.killpg(self.proc.pid, signal.SIGKILL)  # bash leads its own session: it and what it started
        except ProcessLookupError:
            pass
        self.proc.wait(timeout=10)
        os.close(self.master)


def _bash_env(td, tmp_path) -> dict:
    """`tinydocker` on PATH runs this checkout against td's data root (TINYDOCKER_ROOT)."""
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    wrapper = bin_dir / "tinydocker"
    wrapper.write_text(f"#!/bin/sh\nPYTHONPATH={shlex.quote(str(REPO))} exec {shlex.quote(sys.executable)} "
                       f"-m tinydocker \"$@\"\n")
    wrapper.chmod(0o755)
    inputrc = tmp_path / "inputrc"
    inputrc.write_text("set bell-style none\nset enable-bracketed-paste off\nset completion-query-items 0\n"
                       "set page-completions off\n")
    env = {k: v for k, v in os.environ.items() if not k.startswith(("_TINYDOCKER", "BASH_", "COMP_"))}
    env.update(PATH=f"{bin_dir}:{os.environ.get('PATH', '/usr/bin:/bin')}", HOME=str(tmp_path), TERM="dumb",
               INPUTRC=str(inputrc), PS1=PROMPT, HISTFILE="/dev/null", TINYDOCKER_ROOT=str(td.root))
    env.pop("PROMPT_COMMAND", None)
    return env


def test_bash_completes_names_on_a_terminal(td, tmp_path):
    for name in ("hello1", "hello2", "other"):
        td.out("create", name, "true")  # also puts the busybox image in td's root
    td.out("volume", "create", "datavol")
    td.out("tag", "busybox", "mine:1")
    elsewhere = tmp_path / "root2"  # another data root, named with --root on the line
    (elsewhere / "state" / "containers" / "faraway").mkdir(parents=True)

    term = Terminal(_bash_env(td, tmp_path), cwd=tmp_path)
    try:
        term.expect(re.escape(PROMPT))
        # the script as a user takes it: typer finds the shell (bash) from the process tree
        term.run('eval "$(tinydocker --show-completion)"')
        assert "-F _tinydocker_completion tinydocker" in term.run("complete -p tinydocker")

        assert term.completed("tinydocker rm hel", "\t") == ["tinydocker", "rm", "hello"]  # common prefix
        assert term.completed("tinydocker rm hello2 ot") == ["tinydocker", "rm", "hello2", "other"]
        assert term.completed("tinydocker container logs oth") == ["tinydocker", "container", "logs", "other"]
        listing = term.listed("tinydocker stop ", ["hello1", "hello2", "other"])
        assert {"hello1", "hello2", "other"} <= set(listing.split()), listing
        assert "faraway" not in listing
        # --root on the line wins over TINYDOCKER_ROOT
        assert term.completed(f"tinydocker --root {elsewhere} stop far") == [
            "tinydocker", "--root", str(elsewhere), "stop", "faraway"]

        assert term.completed("tinydocker volume rm dat") == ["tinydocker", "volume", "rm", "datavol"]
        assert term.completed("tinydocker run --network ho") == ["tinydocker", "run", "--network", "host"]
        assert term.completed("tinydocker rmi mi") == ["tinydocker", "rmi", "mine:1"]
        assert term.completed("tinydocker run --image busyb") == ["tinydocker", "run", "--image", "busybox"]

        # --install-completion writes the same script where bash reads it (HOME is tmp_path)
        term.run("tinydocker --install-completion")
        script = (tmp_path / ".bash_completions" / "tinydocker.sh").read_text()
        assert "_TINYDOCKER_COMPLETE=complete_bash" in script
        assert "tinydocker.sh" in (tmp_path / ".bashrc").read_text()
    finally:
        term.close()


def _complete(td, *words: str, env: dict = None) -> subprocess.CompletedProcess:
    """What bash's completion function asks: the words so far, the last one being completed."""
    env = {**td.env, **(env or {}), "_TINYDOCKER_COMPLETE": "complete_bash",
           "COMP_WORDS": " ".join(("tinydocker",) + words), "COMP_CWORD": str(len(words))}
    return subprocess.run(td.cmd[:3], env=env, capture_output=True, text=True, timeout=60)


def test_the_completion_protocol(td):
    td.out("create", "hello1", "true")
    td.out("create", "hello2", "true")
    root = ("--root", str(td.root))

    res = _complete(td, *root, "rm", "hello1", "")
    assert res.returncode == 0 and res.stdout.split() == ["hello2"] and res.stderr == ""  # hello1 is given already
    image_id = td.out("images", "-q").split()[0]
    assert image_id in _complete(td, *root, "history", image_id[:4]).stdout.split()
    assert {"busybox", "busybox:latest"} <= set(_complete(td, *root, "image", "inspect", "b").stdout.split())
    assert _complete(td, *root, "network", "rm", "").stdout.split()[:3] == ["bridge", "host", "none"]
    # TINYDOCKER_ROOT counts, as for every command
    assert _complete(td, "stop", "hello", env={"TINYDOCKER_ROOT": str(td.root)}).stdout.split() == ["hello1", "hello2"]

    # nothing to offer, or a data root that is not there or not usable: no output, no error
    for args in [("--root", "/nonexistent", "rm", ""), ("--root", "/tmp/a,b", "rm", ""), (*root, "ps", "--format", ""),
                 (*root, "cp", "hel")]:
        res = _complete(td, *args)
        assert (res.returncode, res.stdout.strip(), res.stderr) == (0, "", ""), args
    (td.root / "images" / "index.toml").write_text("not [ toml")
    res = _complete(td, *root, "rmi", "")
    assert (res.returncode, res.stdout.strip(), res.stderr) == (0, "", "")

    # zsh's script asks through the same variable
    res = subprocess.run(td.cmd[:3], capture_output=True, text=True, timeout=60, env={
        **td.env, "_TINYDOCKER_COMPLETE": "complete_zsh", "_TYPER_COMPLETE_ARGS": f"tinydocker --root {td.root} logs hello"})
    assert '"hello1"' in res.stdout and '"hello2"' in res.stdout


def test_help_shows_the_options_and_commands_do_not_load_completion(td):
    out = td.out("--help")
    assert "--install-completion" in out and "--show-completion" in out
    res = subprocess.run([sys.executable, "-X", "importtime", "-m", "tinydocker", "--root", str(td.root), "ps"],
                         env=td.env, capture_output=True, text=True, timeout=60)
    assert res.returncode == 0
    assert "tinydocker.cli.completion" not in res.stderr
