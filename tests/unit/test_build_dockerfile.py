"""The Dockerfile parser: docker's rules for directives, comments, continuations, JSON and
shell forms, flags, heredocs and ONBUILD, and every error as one line naming the line."""

from pathlib import Path

import pytest

from tinydocker.builder.dockerfile import DockerfileError, Heredoc, parse, stages
from tinydocker.errors import TinydockerError


def one(text: str):
    df = parse(text.encode())
    assert len(df.instructions) == 1, df.instructions
    return df.instructions[0]


def error(text: str | bytes) -> DockerfileError:
    with pytest.raises(DockerfileError) as info:
        df = parse(text.encode() if isinstance(text, str) else text)
        stages(df)
    e = info.value
    assert isinstance(e, TinydockerError) and e.code == 1 and "\n" not in str(e)
    return e


# --- forms -----------------------------------------------------------------------------

@pytest.mark.parametrize("text, keyword, args, is_json", [
    ("RUN echo hi", "RUN", ("echo hi",), False),
    ("run   echo  hi  ", "RUN", ("echo  hi",), False),
    ('RUN ["echo", "hi"]', "RUN", ("echo", "hi"), True),
    ('RUN   [ "a b" ,"c" ]  ', "RUN", ("a b", "c"), True),
    ('RUN ["unterminated"', "RUN", ('["unterminated"',), False),
    ("RUN [ 'single' ]", "RUN", ("[ 'single' ]",), False),   # not JSON: shell form
    ('RUN [1, NaN]', "RUN", ("[1, NaN]",), False),            # NaN is not JSON to docker
    ("CMD []", "CMD", (), True),
    ('CMD ["a"] extra', "CMD", ('["a"] extra',), False),
    ('CMD ["\\ud800", "\\ud83d\\ude00"]', "CMD", ("\ufffd", "\U0001f600"), True),
    ('ENTRYPOINT ["/bin/app", "-v"]', "ENTRYPOINT", ("/bin/app", "-v"), True),
    ("CMD", "CMD", (), False),                               # docker accepts an empty CMD
    ('SHELL ["/bin/bash", "-c"]', "SHELL", ("/bin/bash", "-c"), True),
    ('COPY ["a b", "/dst/"]', "COPY", ("a b", "/dst/"), True),
    ("COPY a b /dst/", "COPY", ("a b /dst/",), False),
    ('VOLUME ["/data"]', "VOLUME", ("/data",), True),
    ("VOLUME /a /b", "VOLUME", ("/a /b",), False),
    ('EXPOSE ["80"]', "EXPOSE", ('["80"]',), False),           # EXPOSE has no JSON form
    ('LABEL a="b c"', "LABEL", ('a="b c"',), False),
    ("ENV A=1 B=2", "ENV", ("A=1 B=2",), False),
    ("MAINTAINER Jane <j@example.com>", "MAINTAINER", ("Jane <j@example.com>",), False),
    ("WORKDIR /my dir", "WORKDIR", ("/my dir",), False),
    ("STOPSIGNAL SIGKILL", "STOPSIGNAL", ("SIGKILL",), False),
    ("USER 1000:1000", "USER", ("1000:1000",), False),
    ("ARG A B=1", "ARG", ("A B=1",), False),
    ('FROM busybox AS base', "FROM", ("busybox AS base",), False),
])
def test_forms(text, keyword, args, is_json):
    ins = one(text)
    assert (ins.keyword, ins.args, ins.json) == (keyword, args, is_json)


def test_instruction_text_is_what_docker_prints_after_step():
    df = parse(b"from busybox\n  RUN   echo a \\\n    b\nCOPY  --chown=1:1  a  /b\n")
    assert [i.text for i in df.instructions] == ["from busybox", "RUN echo a     b", "COPY --chown=1:1  a  /b"]
    assert [i.keyword for i in df.instructions] == ["FROM", "RUN", "COPY"]
    assert [i.line for i in df.instructions] == [1, 2, 4]


@pytest.mark.parametrize("text, kind_args, is_json", [
    ("HEALTHCHECK NONE", ("NONE",), False),
    ("HEALTHCHECK none", ("NONE",), False),
    ("HEALTHCHECK CMD curl -f http://localhost/", ("CMD", "curl -f http://localhost/"), False),
    ('HEALTHCHECK --interval=5s --retries=3 CMD ["curl", "-f", "x"]', ("CMD", "curl", "-f", "x"), True),
])
def test_healthcheck(text, kind_args, is_json):
    ins = one(text)
    assert (ins.args, ins.json) == (kind_args, is_json)


# --- lines, comments, continuations, directives ----------------------------------------

def test_comments_blank_lines_and_crlf():
    df = parse(b"# a comment\r\n\r\n   # indented comment\r\nFROM a\r\nRUN echo '#not a comment' # nor this\r\n")
    assert [i.args for i in df.instructions] == [("a",), ("echo '#not a comment' # nor this",)]
    assert [i.line for i in df.instructions] == [4, 5]


def test_continuations_join_lines_and_drop_comments_inside():
    df = parse(b"FROM a\nRUN echo one \\  \n  # a comment inside\n    two \\\n\tthree\nRUN next\n")
    run = df.instructions[1]
    assert run.args == ("echo one     two \tthree",)
    assert (run.line, df.instructions[2].line) == (2, 6)
    assert df.warnings == ()


def test_empty_continuation_lines_are_skipped_with_a_warning():
    df = parse(b"FROM a\nRUN a \\\n\n   \n  b\n")
    assert df.instructions[1].args == ("a   b",)
    assert len(df.warnings) == 1 and "empty continuation line" in df.warnings[0]
    assert df.warnings[0].startswith("line 2:") and "\n" not in df.warnings[0]


def test_continuation_at_end_of_file_and_escaped_escape():
    assert parse(b"FROM a\nRUN a \\").instructions[1].args == ("a",)
    # an escaped escape character at the end does not continue the line (docker's rule)
    df = parse(b"FROM a\nRUN echo a\\\\\nRUN echo b\n")
    assert [i.args for i in df.instructions[1:]] == [("echo a\\\\",), ("echo b",)]
    assert parse(b"FROM a\nRUN a\\\n\\\nb").instructions[1].args == ("ab",)


def test_directives():
    df = parse(b"# syntax=docker/dockerfile:1\n#ESCAPE = `\nFROM a\nRUN a `\n  b\nCOPY c:\\x\\ d\\\n")
    assert (df.escape, df.syntax) == ("`", "docker/dockerfile:1")
    assert [i.args for i in df.instructions[1:]] == [("a   b",), ("c:\\x\\ d\\",)]


@pytest.mark.parametrize("text", [
    "FROM a\n# escape=`\nRUN a `\nRUN b\n",          # after an instruction: a comment
    "# a comment\n# escape=`\nFROM a\nRUN a `\nRUN b\n",
    "\n# escape=`\nFROM a\nRUN a `\nRUN b\n",        # after an empty line
    "# unknown=x\n# escape=`\nFROM a\nRUN a `\nRUN b\n",  # an unknown directive ends them
])
def test_directives_only_at_the_very_top(text):
    df = parse(text.encode())
    assert df.escape == "\\" and len(df.instructions) == 3
    assert any("escape directive is taken as a comment" in w for w in df.warnings)


def test_unknown_directive_is_a_comment():
    df = parse(b"# check=skip=all\nFROM a\n")
    assert len(df.instructions) == 1 and df.escape == "\\"


def test_bom_is_dropped():
    assert parse(b"\xef\xbb\xbf# escape=`\nFROM a\n").escape == "`"


# --- flags -----------------------------------------------------------------------------

@pytest.mark.parametrize("text, flags, args", [
    ("COPY --from=builder --chown=1:1 --link a /b", (("from", "builder"), ("chown", "1:1"), ("link", None)),
     ("a /b",)),
    ('COPY --chown="app user" a /b', (("chown", "app user"),), ("a /b",)),
    ("COPY --link=false --chmod=0644 a /b", (("link", "false"), ("chmod", "0644")), ("a /b",)),
    ("COPY --exclude=*.md --exclude=*.txt . /b", (("exclude", "*.md"), ("exclude", "*.txt")), (". /b",)),
    ("COPY --parents a/b /c", (("parents", None),), ("a/b /c",)),
    ("ADD --checksum=sha256:abc --keep-git-dir https://x/y /z",
     (("checksum", "sha256:abc"), ("keep-git-dir", None)), ("https://x/y /z",)),
    ("RUN --network=none --mount=type=cache,target=/c --mount=type=tmpfs,target=/t make",
     (("network", "none"), ("mount", "type=cache,target=/c"), ("mount", "type=tmpfs,target=/t")), ("make",)),
    ('RUN --network=host ["a"]', (("network", "host"),), ("a",)),
    ("RUN -- --not-a-flag", (), ("--not-a-flag",)),
    ("RUN echo --not-a-flag", (), ("echo --not-a-flag",)),
    ("FROM --platform=linux/amd64 busybox", (("platform", "linux/amd64"),), ("busybox",)),
    ("HEALTHCHECK --interval=1s --timeout=2s --start-period=3s --start-interval=1s --retries=2 CMD true",
     (("interval", "1s"), ("timeout", "2s"), ("start-period", "3s"), ("start-interval", "1s"), ("retries", "2")),
     ("CMD", "true")),
])
def test_flags(text, flags, args):
    ins = one(text)
    assert (ins.flags, ins.args) == (flags, args)


# --- heredocs --------------------------------------------------------------------------

def test_heredocs():
    text = ("FROM a\n"
            "RUN <<EOF\n"
            "echo $HOME\n"
            "\n"
            "# not a comment\n"
            "EOF\n"
            "RUN <<-\"ONE\" cat && cat <<'TWO' > /out\n"
            "\t\tindented\n"
            "\tONE\n"
            "  kept $X\n"
            "TWO\n"
            "COPY <<file.txt <<other /dst/\n"
            "content\n"
            "file.txt\n"
            "other\n"
            "CMD done\n")
    df = parse(text.encode())
    run1, run2, copy, cmd = df.instructions[1:]
    assert run1.heredocs == (Heredoc("EOF", "echo $HOME\n\n# not a comment\n", True, False),)
    assert run1.args == ("<<EOF",)
    assert run2.heredocs == (Heredoc("ONE", "indented\n", False, True), Heredoc("TWO", "  kept $X\n", False, False))
    assert copy.heredocs == (Heredoc("file.txt", "content\n", True, False), Heredoc("other", "", True, False))
    assert (cmd.keyword, cmd.line) == ("CMD", 16)


def test_heredoc_crlf_and_not_heredocs():
    df = parse(b"FROM a\r\nRUN <<EOF\r\nx\r\nEOF\r\nRUN echo '<<EOF'\r\nRUN [\"<<EOF\"]\r\nENV A=<<EOF\r\n")
    assert df.instructions[1].heredocs == (Heredoc("EOF", "x\n", True, False),)
    assert all(not i.heredocs for i in df.instructions[2:])
    assert len(df.instructions) == 5


def test_onbuild_wraps_one_instruction_with_its_heredocs():
    df = parse(b"FROM a\nONBUILD COPY --from=b x /y\nonbuild RUN <<EOF\nhi\nEOF\n")
    copy, run = df.instructions[1:]
    assert copy.keyword == "ONBUILD" and copy.args == ("COPY --from=b x /y",)
    assert copy.onbuild.keyword == "COPY" and copy.onbuild.flags == (("from", "b"),)
    assert copy.onbuild.text == "COPY --from=b x /y"
    assert run.onbuild.heredocs == (Heredoc("EOF", "hi\n", True, False),) == run.heredocs


# --- stages ----------------------------------------------------------------------------

def test_stages():
    df = parse(b"ARG V=1\nARG BASE\nFROM --platform=linux/amd64 ${BASE}:$V AS Build\nRUN make\n"
               b"FROM scratch\nCOPY --from=build /a /a\nFROM build as final\n")
    meta, found = stages(df)
    assert [m.args for m in meta] == [("V=1",), ("BASE",)]
    assert [(s.index, s.name, s.base, s.platform) for s in found] == [
        (0, "build", "${BASE}:$V", "linux/amd64"), (1, None, "scratch", None), (2, "final", "build", None)]
    assert [len(s.instructions) for s in found] == [1, 1, 0]
    assert found[1].instructions[0].keyword == "COPY" and found[2].source.line == 7


# --- errors ----------------------------------------------------------------------------

@pytest.mark.parametrize("text, message", [
    ("FROM a\nFORM b\n", "dockerfile parse error on line 2: unknown instruction: FORM (did you mean FROM?)"),
    ("FROM a\nfoo bar\n", "dockerfile parse error on line 2: unknown instruction: foo"),
    ("FROM a\nONBUILD FOO x\n", "line 2: unknown instruction: FOO"),
    ("FROM a\nCOPY --bogus=1 a b\n", "line 2: unknown flag: --bogus"),
    ("FROM a\nCOPY --checksum=sha256:0 a b\n",
     "unknown flag: --checksum (COPY takes --from, --chown, --chmod, --link, --parents, --exclude)"),
    ("FROM a\nADD --from=x a b\n", "unknown flag: --from"),
    ("FROM a\nENV --x=1 A=1\n", "unknown flag: --x (ENV takes no flags)"),
    ("FROM a\nCMD --help\n", "unknown flag: --help"),
    ("FROM a\nONBUILD --x RUN a\n", "unknown flag: --x"),
    ("FROM --bogus a\n", "unknown flag: --bogus"),
    ("FROM a\nCOPY --from a b\n", "Missing a value on flag: --from"),
    ("FROM a\nCOPY --link= a b\n", "Missing a value on flag: --link"),
    ("FROM a\nCOPY --link=yes a b\n", "expecting boolean value for flag --link, not: yes"),
    ("FROM a\nCOPY --from=x --from=y a b\n", "Duplicate flag specified: --from"),
    ("FROM a\nRUN\n", "line 2: RUN requires at least one argument"),
    ("FROM a\nRUN --network=none\n", "RUN requires at least one argument"),
    ("FROM a\nEXPOSE\n", "EXPOSE requires at least one argument"),
    ("FROM a\nENV\n", "ENV requires at least one argument"),
    ("FROM a\nLABEL\n", "LABEL requires at least one argument"),
    ("FROM a\nARG\n", "ARG requires at least one argument"),
    ("FROM a\nVOLUME\n", "VOLUME requires at least one argument"),
    ("FROM a\nVOLUME []\n", "VOLUME requires at least one argument"),
    ('FROM a\nVOLUME ["/a", " "]\n', "VOLUME specified can not be an empty string"),
    ("FROM a\nONBUILD\n", "ONBUILD requires at least one argument"),
    ("FROM a\nHEALTHCHECK\n", "HEALTHCHECK requires at least one argument"),
    ("FROM a\nUSER\n", "USER requires exactly one argument"),
    ("FROM a\nWORKDIR\n", "WORKDIR requires exactly one argument"),
    ("FROM a\nMAINTAINER\n", "MAINTAINER requires exactly one argument"),
    ("FROM a\nSTOPSIGNAL\n", "STOPSIGNAL requires exactly one argument"),
    ("FROM a\nCOPY a\n", "COPY requires at least two arguments, but only one was provided"),
    ('FROM a\nADD ["a"]\n', "ADD requires at least two arguments"),
    ("FROM a\nCOPY <<EOF\nx\nEOF\n", "COPY requires at least two arguments"),
    ("FROM a\nCOPY a <<EOF\nx\nEOF\n", "COPY cannot accept a heredoc as a destination"),
    ("FROM a\nSHELL /bin/sh -c\n", "SHELL requires the arguments to be in JSON form"),
    ("FROM a\nSHELL []\n", "SHELL requires at least one argument"),
    ('FROM a\nRUN ["a", 1]\n', "arrays must be comprised of strings only"),
    ('FROM a\nCMD ["a", null]\n', "arrays must be comprised of strings only"),
    ('FROM a\nCMD ["a\\u0000b"]\n', "a JSON argument holds a NUL character"),
    ("FROM a\nHEALTHCHECK NONE x\n", "HEALTHCHECK NONE takes no arguments"),
    ("FROM a\nHEALTHCHECK CMD\n", "Missing command after HEALTHCHECK CMD"),
    ("FROM a\nHEALTHCHECK CMD []\n", "Missing command after HEALTHCHECK CMD"),
    ("FROM a\nHEALTHCHECK RUN x\n", 'Unknown type "RUN" in HEALTHCHECK (try CMD)'),
    ("FROM a\nONBUILD ONBUILD RUN x\n", "Chaining ONBUILD via `ONBUILD ONBUILD` isn't allowed"),
    ("FROM a\nONBUILD FROM b\n", "FROM isn't allowed as an ONBUILD trigger"),
    ("FROM a\nonbuild maintainer me\n", "MAINTAINER isn't allowed as an ONBUILD trigger"),
    ("FROM a\nENV A\n", "line 2: ENV must have two arguments"),
    ("FROM a\nENV =x\n", "ENV names can not be blank"),
    ("FROM a\nLABEL a=b c\n", 'Syntax error - can\'t find = in "c". Must be of the form: name=value'),
    ("FROM a\nARG =1\n", "ARG names can not be blank"),
    ("FROM a\nRUN <<EOF\nnever ends\n", "dockerfile parse error on line 2: unterminated heredoc"),
    ("FROM\n", "line 1: FROM requires either one or three arguments"),
    ("FROM a AS\n", "FROM requires either one or three arguments"),
    ("FROM a b c d\n", "FROM requires either one or three arguments"),
    ("FROM a NOTAS b\n", "FROM requires either one or three arguments"),
    ("FROM a AS 1st\n", 'invalid name for build stage: "1st", name can\'t start with a number or contain symbols'),
    ("FROM a AS x\nFROM b AS X\n", 'line 2: duplicate stage name "x"'),
    ("RUN x\nFROM a\n", "line 1: RUN before the first FROM"),
    ("ARG A\nENV B=1\nFROM a\n", "line 2: ENV before the first FROM"),
    ("ARG A\n", "the Dockerfile has no FROM"),
    ("# escape=`\n# escape=`\nFROM a\n", "line 2: only one escape parser directive can be used"),
    ("# syntax=a\n# SYNTAX=b\nFROM a\n", "only one syntax parser directive can be used"),
    ("# escape=x\nFROM a\n", "invalid escape token 'x' does not match ` or \\"),
    ("", "the Dockerfile has no instructions"),
    ("\n\n# only comments\n   \n", "the Dockerfile has no instructions"),
    ("# escape=`\n", "the Dockerfile has no instructions"),
])
def test_errors(text, message):
    assert message in str(error(text))


@pytest.mark.parametrize("data, where", [
    (b"FROM a\nRUN \x00\n", "a NUL byte on line 2"),
    (b"FROM a\n\nRUN \xff\xfe\n", "not UTF-8 on line 3"),
    (b"\xff\xfeF\x00R\x00O\x00M\x00", "a NUL byte"),   # UTF-16 is not what docker reads
])
def test_not_text(data, where):
    message = str(error(data))
    assert message.startswith("the Dockerfile is not text") and where in message


def test_warnings_are_single_lines():
    df = parse(b"FROM a\nENV K some value\nRUN a \\\n\nb\n# escape=`\n")
    assert len(df.warnings) == 3 and all("\n" not in w for w in df.warnings)
    assert df.warnings[0].startswith("line 2:") and "ENV key=value" in df.warnings[0]


# --- real Dockerfiles ------------------------------------------------------------------

REALISTIC = r"""# syntax=docker/dockerfile:1.7
ARG GO_VERSION=1.22
ARG ALPINE=3.19

FROM --platform=$BUILDPLATFORM golang:${GO_VERSION}-alpine${ALPINE} AS build
WORKDIR /src
ENV CGO_ENABLED=0 \
    GOFLAGS="-trimpath -mod=readonly"
COPY go.mod go.sum ./
RUN --mount=type=cache,target=/go/pkg/mod \
    go mod download
COPY . .
# build the binary
RUN --mount=type=cache,target=/root/.cache/go-build \
    go build -ldflags="-s -w" -o /out/app ./cmd/app

FROM alpine:${ALPINE} AS runtime
LABEL org.opencontainers.image.title="app" \
      org.opencontainers.image.source="https://example.com/app"
RUN apk add --no-cache ca-certificates tzdata && \
    addgroup -S app && adduser -S -G app app
COPY --from=build --chown=app:app /out/app /usr/local/bin/app
COPY <<EOF /etc/app.conf
listen = ":8080"
EOF
USER app
EXPOSE 8080/tcp
VOLUME ["/data"]
HEALTHCHECK --interval=30s --timeout=3s CMD ["app", "health"]
STOPSIGNAL SIGTERM
ENTRYPOINT ["/usr/local/bin/app"]
CMD ["serve"]
"""


def test_a_realistic_dockerfile():
    df = parse(REALISTIC.encode())
    meta, found = stages(df)
    assert df.syntax == "docker/dockerfile:1.7" and df.warnings == ()
    assert len(meta) == 2 and [s.name for s in found] == ["build", "runtime"]
    assert [i.keyword for i in found[1].instructions] == [
        "LABEL", "RUN", "COPY", "COPY", "USER", "EXPOSE", "VOLUME", "HEALTHCHECK", "STOPSIGNAL",
        "ENTRYPOINT", "CMD"]
    assert found[0].instructions[1].args == ('CGO_ENABLED=0     GOFLAGS="-trimpath -mod=readonly"',)


def test_every_dockerfile_under_tests_parses():
    tests = Path(__file__).resolve().parents[1]
    found = [p for pattern in ("Dockerfile*", "Containerfile*", "*.Dockerfile", "*.Containerfile")
             for p in tests.rglob(pattern) if p.is_file() and ".dockerignore" not in p.name]
    for path in found:
        parse(path.read_bytes())
