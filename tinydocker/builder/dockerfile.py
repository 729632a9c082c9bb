"""A Dockerfile's bytes as instructions, by docker's parsing rules (buildkit's parser is the
reference): parser directives, comments, line continuations, JSON and shell forms, builder
flags and heredocs. Nothing here expands variables or reads anything but the bytes given:
the engine expands each instruction's words (words.py) when it gets to it.
"""

import dataclasses
import json
import re
from dataclasses import dataclass

from . import words
from tinydocker.errors import TinydockerError


class DockerfileError(TinydockerError):
    """A Dockerfile docker would refuse; the message names the line (docker build exits 1)."""

    code = 1

    def __init__(self, message: str, line: int | None = None):
        super().__init__(f"dockerfile parse error on line {line}: {message}" if line else message)
        self.line = line


@dataclass(frozen=True)
class Heredoc:
    name: str      # the delimiter word, e.g. "EOF", or the file name of COPY <<file.txt
    content: str   # the body, each line ending with "\n"
    expand: bool   # False when the delimiter was quoted (<<"EOF" / <<'EOF'): no expansion
    chomp: bool    # <<- : leading tabs were stripped from the body's lines (already in content)


@dataclass(frozen=True)
class Instruction:
    """One instruction, unexpanded. `args` is the JSON array's strings, or for the shell form
    one string: the rest of the line after the flags. Two keywords differ: HEALTHCHECK's args
    are ("NONE",) or ("CMD", *the command in either form); ONBUILD's are (the wrapped
    instruction's text,), the wrapped instruction parsed in `onbuild`. Heredocs of an
    ONBUILD trigger are on both."""

    keyword: str                                # upper case: "RUN", "COPY", ...
    flags: tuple[tuple[str, str | None], ...]   # (("from", "builder"), ("link", None)), in order
    args: tuple[str, ...]                       # JSON form: its strings; shell form: ONE string
    json: bool                                  # written in JSON form
    heredocs: tuple[Heredoc, ...]               # RUN/COPY/ADD heredocs, in order
    text: str                                   # what docker prints after "Step N/M : "
    line: int                                   # 1-based line where it starts
    onbuild: "Instruction | None" = None        # ONBUILD's wrapped instruction


@dataclass(frozen=True)
class Dockerfile:
    instructions: tuple[Instruction, ...]
    escape: str                 # "\\" or "`"
    syntax: str | None          # the `# syntax=` directive's value (the engine ignores it)
    warnings: tuple[str, ...]   # one line each: empty continuation lines, misplaced directives...


@dataclass(frozen=True)
class Stage:
    index: int
    name: str | None            # from FROM ... AS name, lower-cased as docker does
    base: str                   # the image as written (may hold ${ARG})
    platform: str | None        # FROM --platform=...
    instructions: tuple[Instruction, ...]
    source: Instruction         # the FROM itself


_BOM = b"\xef\xbb\xbf"
_DIRECTIVE = re.compile(r"^#\s*([a-zA-Z][a-zA-Z0-9]*)\s*=\s*(.+?)\s*$", re.ASCII)
_KNOWN_DIRECTIVES = ("escape", "syntax")
# the escape character ends a line to continue it, unless it is itself escaped
_CONTINUATION = {e: re.compile(rf"(?:(?<=[^{re.escape(e)}])|^){re.escape(e)}[ \t]*$") for e in ("\\", "`")}
_SPLIT_KEYWORD = re.compile(r"[\t\v\f\r ]+")
_HEREDOC = re.compile(r"^(\d*)<<(-?)([^<]*)$")
_SURROGATE = re.compile("[\ud800-\udfff]")
_STAGE_NAME = re.compile(r"^[a-z][a-z0-9\-_.]*$")

# builder flags each instruction takes: "str" needs =value, "bool" may have one, "list" repeats
_FLAGS = {
    "FROM": {"platform": "str"},
    "RUN": {"network": "str", "mount": "list", "security": "str"},
    "COPY": {"from": "str", "chown": "str", "chmod": "str", "link": "bool", "parents": "bool",
             "exclude": "list"},
    "ADD": {"chown": "str", "chmod": "str", "link": "bool", "checksum": "str", "keep-git-dir": "bool",
            "exclude": "list"},
    "HEALTHCHECK": {"interval": "str", "timeout": "str", "start-period": "str", "start-interval": "str",
                    "retries": "str"},
}
KEYWORDS = ("FROM", "RUN", "CMD", "LABEL", "MAINTAINER", "EXPOSE", "ENV", "ADD", "COPY", "ENTRYPOINT",
            "VOLUME", "USER", "WORKDIR", "ARG", "ONBUILD", "STOPSIGNAL", "HEALTHCHECK", "SHELL")
_MAYBE_JSON = ("RUN", "CMD", "ENTRYPOINT", "SHELL", "COPY", "ADD", "VOLUME")
_HEREDOC_KEYWORDS = ("RUN", "COPY", "ADD")
_EXACTLY_ONE = ("USER", "WORKDIR", "MAINTAINER", "STOPSIGNAL")
_AT_LEAST_ONE = ("RUN", "EXPOSE", "ENV", "LABEL", "ARG", "ONBUILD", "HEALTHCHECK", "VOLUME")


def _not_text(why: str) -> DockerfileError:
    return DockerfileError(f"the Dockerfile is not text ({why})")


def _lines(data: bytes) -> list[str]:
    if b"\0" in data:
        line = data[:data.index(b"\0")].count(b"\n") + 1
        raise _not_text(f"a NUL byte on line {line}")
    if data.startswith(_BOM):
        data = data[len(_BOM):]
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as e:
        line = data[:e.start].count(b"\n") + 1
        raise _not_text(f"not UTF-8 on line {line}") from None
    lines = text.split("\n")
    if lines[-1] == "":
        lines.pop()
    return lines


def parse(data: bytes) -> Dockerfile:
    """The instructions of a Dockerfile; DockerfileError for what docker would refuse."""
    lines = _lines(data)
    escape, syntax, seen, directives_done = "\\", None, set(), False
    instructions, warnings = [], []
    i, n = 0, len(lines)
    while i < n:
        number = i + 1
        first = lines[i].rstrip("\r\n").lstrip()
        i += 1
        match = _DIRECTIVE.match(first)
        key = match[1].lower() if match else None
        if not directives_done:
            # directives only at the very top: the first line that is not one ends them
            if key in _KNOWN_DIRECTIVES:
                if key in seen:
                    raise DockerfileError(f"only one {key} parser directive can be used", number)
                seen.add(key)
                if key == "escape":
                    if match[2] not in ("\\", "`"):
                        raise DockerfileError(f"invalid escape token '{match[2]}' does not match ` or \\",
                                              number)
                    escape = match[2]
                else:
                    syntax = match[2]
                continue
            directives_done = True
        elif key in _KNOWN_DIRECTIVES:
            warnings.append(f"line {number}: the {key} directive is taken as a comment: parser directives "
                            "must come before any instruction, comment or empty line")
        if first.startswith("#") or not first:
            continue
        continuation = _CONTINUATION[escape]
        line, continued = _cut_continuation(first, continuation)
        empty_continuation = False
        while continued and i < n:
            raw = lines[i].rstrip("\r\n")
            i += 1
            stripped = raw.lstrip()
            if stripped.startswith("#"):
                continue  # a comment inside a continued instruction is dropped
            if not stripped:
                empty_continuation = True
                continue
            piece, continued = _cut_continuation(raw, continuation)
            line += piece
        if empty_continuation:
            warnings.append(f"line {number}: empty continuation line found in: {line.strip()} "
                            "(docker: empty continuation lines will become errors in a future release)")
        instruction = _instruction(line, number, escape, warnings)
        target = instruction.onbuild or instruction
        if target.keyword in _HEREDOC_KEYWORDS and not target.json and "<<" in line:
            heredocs, i = _read_heredocs(line, lines, i, number)
            if heredocs:
                if target is not instruction:
                    target = dataclasses.replace(target, heredocs=heredocs)
                    instruction = dataclasses.replace(instruction, onbuild=target)
                instruction = dataclasses.replace(instruction, heredocs=heredocs)
                _check_copy_heredocs(target)
        instructions.append(instruction)
    if not instructions:
        raise DockerfileError("the Dockerfile has no instructions")
    return Dockerfile(tuple(instructions), escape, syntax, tuple(warnings))


def _read_heredocs(line: str, lines: list[str], i: int, number: int) -> tuple[tuple[Heredoc, ...], int]:
    """The bodies of the heredocs `line` opens, read from lines[i:] one after the other, and
    the index of the line after the last delimiter."""
    heredocs = []
    for name, expand, chomp in _heredoc_words(line):
        body, terminated = [], False
        while i < len(lines):
            raw = lines[i][:-1] if lines[i].endswith("\r") else lines[i]
            i += 1
            if chomp:
                raw = raw.lstrip("\t")
            if raw.rstrip("\r") == name:
                terminated = True
                break
            body.append(raw + "\n")
        if not terminated:
            raise DockerfileError("unterminated heredoc", number)
        heredocs.append(Heredoc(name, "".join(body), expand, chomp))
    return tuple(heredocs), i


def _cut_continuation(line: str, continuation: re.Pattern) -> tuple[str, bool]:
    match = continuation.search(line)
    if match is None:
        return line, False
    return line[:match.start()], True


def _split_flags(rest: str) -> tuple[list[str], str]:
    """The `--name[=value]` words at the start of `rest` (quotes and backslashes in them
    applied, as docker does) and what follows them; a bare `--` ends the flags."""
    flags, i, n = [], 0, len(rest)
    while True:
        while i < n and rest[i].isspace():
            i += 1
        if not rest.startswith("--", i):
            return flags, rest[i:]
        word, quote = [], None
        while i < n:
            ch = rest[i]
            i += 1
            if quote is None and ch.isspace():
                break
            if ch == quote:
                quote = None
                continue
            if quote is None and ch in "'\"":
                quote = ch
                continue
            if ch == "\\":
                if i >= n:
                    continue
                ch = rest[i]
                i += 1
            word.append(ch)
        word = "".join(word)
        if word == "--":
            return flags, rest[i:]
        flags.append(word)


def _check_flags(keyword: str, raw: list[str], line: int) -> tuple[tuple[str, str | None], ...]:
    known, used, flags = _FLAGS.get(keyword, {}), set(), []
    for word in raw:
        name, sep, value = word[2:].partition("=")
        kind = known.get(name)
        if kind is None:
            takes = ", ".join(f"--{f}" for f in known) if known else "no flags"
            raise DockerfileError(f"unknown flag: --{name} ({keyword} takes {takes})", line)
        if name in used and kind != "list":
            raise DockerfileError(f"Duplicate flag specified: --{name}", line)
        used.add(name)
        if kind == "bool":
            if sep and not value:
                raise DockerfileError(f"Missing a value on flag: --{name}", line)
            if sep and value.lower() not in ("true", "false"):
                raise DockerfileError(f"expecting boolean value for flag --{name}, not: {value}", line)
        elif not sep:
            raise DockerfileError(f"Missing a value on flag: --{name}", line)
        flags.append((name, value if sep else None))
    return tuple(flags)


def _json_args(text: str, line: int) -> list[str] | None:
    """The strings of a JSON array, or None when `text` is not one (then it is shell form)."""
    text = text.lstrip()
    if not text.startswith("["):
        return None
    try:
        value = json.loads(text, parse_constant=_no_constant)
    except ValueError:
        return None
    if not all(isinstance(v, str) for v in value):
        raise DockerfileError("when using JSON array syntax, arrays must be comprised of strings only", line)
    if any("\0" in v for v in value):
        raise DockerfileError("a JSON argument holds a NUL character (\\u0000), which no command can take", line)
    # a lone surrogate (\ud800) is no character: docker's JSON reader makes it U+FFFD
    return [_SURROGATE.sub("\ufffd", v) for v in value]


def _no_constant(name: str):
    raise ValueError(name)  # NaN and Infinity are not JSON to docker


def _unknown(keyword: str, line: int) -> DockerfileError:
    import difflib  # only on this error path
    close = difflib.get_close_matches(keyword.upper(), KEYWORDS, n=1, cutoff=0.7)
    hint = f" (did you mean {close[0]}?)" if close else ""
    return DockerfileError(f"unknown instruction: {keyword}{hint}", line)


def _instruction(line: str, number: int, escape: str, warnings: list, nested: bool = False) -> Instruction:
    """One instruction from its logical line (continuations joined), checked as docker checks
    it before building; `nested` for the instruction an ONBUILD wraps."""
    parts = _SPLIT_KEYWORD.split(line.strip(), maxsplit=1)
    written, rest = parts[0], (parts[1].strip() if len(parts) > 1 else "")
    keyword = written.upper()
    if keyword not in KEYWORDS:
        raise _unknown(written, number)
    raw_flags, text = _split_flags(rest)
    text = text.strip()
    flags = _check_flags(keyword, raw_flags, number)
    args, is_json, onbuild = (text,) if text else (), False, None
    if keyword in _MAYBE_JSON:
        listed = _json_args(text, number)
        if listed is not None:
            args, is_json = tuple(listed), True
    if not args and keyword in _AT_LEAST_ONE:
        raise DockerfileError(f"{keyword} requires at least one argument", number)
    if not args and keyword in _EXACTLY_ONE:
        raise DockerfileError(f"{keyword} requires exactly one argument", number)
    if keyword == "SHELL":
        if not is_json:
            raise DockerfileError("SHELL requires the arguments to be in JSON form", number)
        if not args:
            raise DockerfileError("SHELL requires at least one argument", number)
    elif keyword in ("COPY", "ADD"):
        operands = list(args) if is_json else words.split(text, escape)
        if len(operands) < 2:
            raise DockerfileError(f"{keyword} requires at least two arguments, but only one was provided. "
                                  "Destination could not be determined", number)
    elif keyword == "VOLUME" and is_json and any(not v.strip() for v in args):
        raise DockerfileError("VOLUME specified can not be an empty string", number)
    elif keyword == "FROM":
        _from_words(text, number)
    elif keyword in ("ENV", "LABEL", "ARG"):
        try:
            if keyword == "ARG":
                words.arg_names(text, escape)
            elif words.pairs(text, escape, keyword) and "=" not in words.split(text, escape)[0]:
                warnings.append(f"line {number}: legacy \"{keyword} key value\" form: docker recommends "
                                f"\"{keyword} key=value\"")
        except words.ExpandError as e:
            raise DockerfileError(str(e), number) from None
    elif keyword == "HEALTHCHECK":
        args, is_json = _healthcheck(text, number)
    elif keyword == "ONBUILD":
        if nested:
            raise DockerfileError("Chaining ONBUILD via `ONBUILD ONBUILD` isn't allowed", number)
        onbuild = _instruction(text, number, escape, warnings, nested=True)
        if onbuild.keyword in ("FROM", "MAINTAINER"):
            raise DockerfileError(f"{onbuild.keyword} isn't allowed as an ONBUILD trigger", number)
    return Instruction(keyword=keyword, flags=flags, args=args, json=is_json, heredocs=(),
                       text=f"{written} {rest}" if rest else written, line=number, onbuild=onbuild)


def _healthcheck(text: str, number: int) -> tuple[tuple[str, ...], bool]:
    """HEALTHCHECK's arguments: ("NONE",), or ("CMD", the command as JSON strings or one
    shell string)."""
    parts = text.split(None, 1)
    kind, command = parts[0].upper(), (parts[1] if len(parts) > 1 else "")
    if kind == "NONE":
        if command:
            raise DockerfileError("HEALTHCHECK NONE takes no arguments", number)
        return ("NONE",), False
    if kind != "CMD":
        raise DockerfileError(f'Unknown type "{parts[0]}" in HEALTHCHECK (try CMD)', number)
    listed = _json_args(command, number)
    if listed is not None:
        if not listed:
            raise DockerfileError("Missing command after HEALTHCHECK CMD", number)
        return ("CMD", *listed), True
    if not command:
        raise DockerfileError("Missing command after HEALTHCHECK CMD", number)
    return ("CMD", command), False


def _from_words(text: str, number: int) -> tuple[str, str | None]:
    parts = _SPLIT_KEYWORD.split(text) if text else []
    if len(parts) == 3 and parts[1].lower() == "as":
        name = parts[2].lower()
        if not _STAGE_NAME.match(name):
            raise DockerfileError(f'invalid name for build stage: "{parts[2]}", name can\'t start with a '
                                  "number or contain symbols", number)
        return parts[0], name
    if len(parts) != 1:
        raise DockerfileError("FROM requires either one or three arguments (FROM image [AS name])", number)
    return parts[0], None


def _heredoc_words(line: str) -> list[tuple[str, bool, bool]]:
    """(name, expand, chomp) of each heredoc a RUN/COPY/ADD line opens, in order: its words
    of the form [n]<<[-]WORD, WORD's quotes saying whether the body is expanded."""
    found = []
    for word in words.split(line, "\\"):
        match = _HEREDOC.match(word)
        if match and match[3]:
            name = _unquote(match[3])
            if name:
                # any quote in the delimiter turns expansion off, as in a shell
                quotes = sum(match[3].count(q) for q in "'\"") != sum(name.count(q) for q in "'\"")
                found.append((name, not quotes, match[2] == "-"))
    return found


def _unquote(word: str) -> str:
    """`word` with its quotes and backslash escapes applied, and nothing expanded."""
    out, quote, i = [], None, 0
    while i < len(word):
        ch = word[i]
        i += 1
        if ch == quote:
            quote = None
            continue
        if quote is None and ch in "'\"":
            quote = ch
            continue
        if ch == "\\" and quote != "'" and i < len(word) and (quote is None or word[i] in '"$\\'):
            ch = word[i]
            i += 1
        out.append(ch)
    return "".join(out)


def _check_copy_heredocs(instruction: Instruction) -> None:
    if instruction.keyword in ("COPY", "ADD") and instruction.args:
        destination = words.split(instruction.args[0], "\\")[-1]
        match = _HEREDOC.match(destination)
        if match and match[3]:
            raise DockerfileError(f"{instruction.keyword} cannot accept a heredoc as a destination",
                                  instruction.line)


def stages(df: Dockerfile) -> tuple[tuple[Instruction, ...], tuple[Stage, ...]]:
    """(the ARG instructions before the first FROM, the stages). DockerfileError for an
    instruction other than ARG before the first FROM, no FROM at all, or a stage name used
    twice."""
    meta, found, names = [], [], set()
    for instruction in df.instructions:
        if instruction.keyword == "FROM":
            base, name = _from_words(instruction.args[0] if instruction.args else "", instruction.line)
            if name is not None:
                if name in names:
                    raise DockerfileError(f'duplicate stage name "{name}"', instruction.line)
                names.add(name)
            platform = dict(instruction.flags).get("platform")
            found.append((instruction, base, name, platform, []))
        elif found:
            found[-1][4].append(instruction)
        elif instruction.keyword == "ARG":
            meta.append(instruction)
        else:
            raise DockerfileError(f"{instruction.keyword} before the first FROM: no build stage in current "
                                  "context (only ARG may come before FROM)", instruction.line)
    if not found:
        raise DockerfileError("the Dockerfile has no FROM: it contains no stages to build")
    return tuple(meta), tuple(Stage(index, name, base, platform, tuple(body), source)
                              for index, (source, base, name, platform, body) in enumerate(found))
