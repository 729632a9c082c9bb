"""Docker's word rules for Dockerfile arguments (quotes, escapes, ${VAR...} substitution),
as docker documents them and buildah's `bud` applies them."""

import pytest

from tinydocker.builder import words
from tinydocker.builder.words import ExpandError, arg_decl, expand, expand_words, key_values
from tinydocker.errors import TinydockerError

ENV = {"A": "x", "EMPTY": "", "P": "/usr/local/bin/app.tar.gz", "SP": "a b"}
lookup = ENV.get


@pytest.mark.parametrize("word, expected", [
    ("plain", "plain"),
    ("$A", "x"),
    ("${A}", "x"),
    ("$A$A", "xx"),
    ("${A}y", "xy"),
    ("$Ay", ""),                     # the name runs on: $Ay is unset
    ("$UNSET", ""),
    ("pre${UNSET}post", "prepost"),
    ('"$A y"', "x y"),
    ("'$A'", "$A"),                  # single quotes: literal
    ("\\$A", "$A"),                  # the escape character escapes $
    ('"\\$A"', "$A"),
    ('"a\\"b"', 'a"b'),
    ('"a\\b"', "a\\b"),              # inside double quotes \ escapes only $ " and itself
    ('"a\\\\b"', "a\\b"),
    ("a\\ b", "a b"),
    ("a\\", "a"),                    # a lone escape at the end is dropped
    ("'a \"b\"'", 'a "b"'),
    ("$", "$"),
    ("a$", "a$"),
    ("$1x", "x"),                    # positional names are digits only
    ("${A:-z}", "x"),
    ("${UNSET:-z}", "z"),
    ("${EMPTY:-z}", "z"),
    ("${EMPTY-z}", ""),              # without the colon, set-but-empty counts as set
    ("${UNSET-z}", "z"),
    ("${A:+w}", "w"),
    ("${UNSET:+w}", ""),
    ("${EMPTY:+w}", ""),
    ("${EMPTY+w}", "w"),
    ("${UNSET+w}", ""),
    ("${A:?boom}", "x"),
    ("${EMPTY?boom}", ""),
    ("${UNSET:-$A}", "x"),           # the word part is expanded too
    ("${UNSET:-${A}y}", "xy"),
    ('${UNSET:-"a b"}', "a b"),
    ("${UNSET:-'$A'}", "$A"),
    ("${UNSET:-a\\}b}", "a}b"),
    ("${P#*/}", "usr/local/bin/app.tar.gz"),
    ("${P##*/}", "app.tar.gz"),
    ("${P%.*}", "/usr/local/bin/app.tar"),
    ("${P%%.*}", "/usr/local/bin/app"),
    ("${P%nomatch}", "/usr/local/bin/app.tar.gz"),
    ("${P/l/L}", "/usr/Local/bin/app.tar.gz"),
    ("${P//l/L}", "/usr/LocaL/bin/app.tar.gz"),
    ("${P//?/.}", "." * 25),
])
def test_expand(word, expected):
    assert expand(word, lookup) == expected


@pytest.mark.parametrize("word, expected", [
    ("`$A", "$A"),
    ("a\\b", "a\\b"),                # backslash is an ordinary character then
    ('"a`"b"', 'a"b'),
    ("C:\\dir\\$A", "C:\\dir\\x"),
])
def test_expand_with_backtick_escape(word, expected):
    assert expand(word, lookup, "`") == expected


@pytest.mark.parametrize("word, message", [
    ("${", "missing '}'"),
    ("${A", "missing '}'"),
    ("${A:-x", "missing '}'"),
    ("${}", "bad substitution"),
    ("${:-x}", "bad substitution"),
    ("${{A}}", "bad substitution"),
    ("${A x}", r"unsupported modifier \( \) in substitution"),
    ("${A:x}", r"unsupported modifier \(:x\) in substitution"),
    ("${A:#x}", r"unsupported modifier \(:#\) in substitution"),
    ("${P/x", "missing '/'"),
    ("${P/x/y", "missing '}'"),
    ("${UNSET?}", "UNSET: is not allowed to be unset"),
    ("${UNSET:?}", "UNSET: is not allowed to be unset"),
    ("${EMPTY:?}", "EMPTY: is not allowed to be empty"),
    ("${EMPTY:?say why}", "EMPTY: say why"),
    ('"abc', "matching double-quote"),
    ("'abc", "matching single-quote"),
    ("${P#\\x}", "invalid escape"),
])
def test_bad_substitutions_are_one_line_errors(word, message):
    with pytest.raises(ExpandError, match=message) as info:
        expand(word, lookup)
    assert isinstance(info.value, TinydockerError) and info.value.code == 1
    assert "\n" not in str(info.value) and str(info.value).startswith("failed to process")


def test_lookup_sees_names_not_values_and_none_is_unset():
    seen = []

    def record(name):
        seen.append(name)
        return None

    assert expand("$A ${B:-c} ${D+e} $", record) == " c  $"
    assert seen == ["A", "B", "D"]


@pytest.mark.parametrize("text, expected", [
    ("a b  c", ["a", "b", "c"]),
    ('"a b" c', ["a b", "c"]),
    ("'a b' c", ["a b", "c"]),
    ("a\\ b c", ["a b", "c"]),
    ("$SP /dst", ["a b", "/dst"]),   # a value is not split again
    ("${UNSET:-a b} /dst", ["a b", "/dst"]),
    ("pre$A\"q r\" /d", ["prexq r", "/d"]),
    ("$UNSET /d", ["", "/d"]),
    ("", []),
    ("  \t ", []),
])
def test_expand_words(text, expected):
    assert expand_words(text, lookup) == expected


@pytest.mark.parametrize("text, expected", [
    ("A=1", [("A", "1")]),
    ('A=x B="$A y" C=${A:-z}', [("A", "x"), ("B", "x y"), ("C", "x")]),
    ("K=${UNSET:+w}E F=\\$A G='$A' H=\"a\\\"b\"", [("K", "E"), ("F", "$A"), ("G", "$A"), ("H", 'a"b')]),
    ("E=", [("E", "")]),
    ('E=""', [("E", "")]),
    ("${A}K=1", [("xK", "1")]),      # keys are expanded too (buildah and docker do)
    ("K value with  spaces $A", [("K", "value with  spaces x")]),  # legacy one-pair form
    ('K "quoted value"', [("K", "quoted value")]),
    ("A=a\\ b", [("A", "a b")]),
    ("A=1 \\\n B=2".replace("\\\n", ""), [("A", "1"), ("B", "2")]),
])
def test_key_values(text, expected):
    assert key_values(text, lookup) == expected


@pytest.mark.parametrize("text, keyword, message", [
    ("", "ENV", "ENV requires at least one argument"),
    ("K", "ENV", "ENV must have two arguments"),
    ("=x", "ENV", "ENV names can not be blank"),
    ("=x", "LABEL", "LABEL names can not be blank"),
    ("A=1 B", "ENV", 'Syntax error - can\'t find = in "B". Must be of the form: name=value'),
    ("$UNSET=1", "ENV", "ENV names can not be blank"),
    ('A="x', "ENV", "matching double-quote"),
])
def test_key_value_errors(text, keyword, message):
    with pytest.raises(ExpandError, match=message.replace("(", r"\(").replace(")", r"\)")) as info:
        key_values(text, lookup, keyword=keyword)
    assert info.value.code == 1


@pytest.mark.parametrize("text, expected", [
    ("A", [("A", None)]),
    ("A=1", [("A", "1")]),
    ("A=", [("A", "")]),
    ("A B=2 C", [("A", None), ("B", "2"), ("C", None)]),
    ("D=$A E=${UNSET:-dflt}", [("D", "x"), ("E", "dflt")]),
    ('F="a b"', [("F", "a b")]),
])
def test_arg_decl(text, expected):
    assert arg_decl(text, lookup) == expected


@pytest.mark.parametrize("text, message", [
    ("", "ARG requires at least one argument"),
    ("=1", "ARG names can not be blank"),
])
def test_arg_decl_errors(text, message):
    with pytest.raises(ExpandError, match=message):
        arg_decl(text, lookup)


def test_split_keeps_words_as_written():
    assert words.split("a \"b c\" '$d e' ${X:-f g} \\ h") == ["a", '"b c"', "'$d e'", "${X:-f g}", "\\ h"]
    assert words.split("a`  b", "`") == ["a` ", "b"]


def test_a_build_sees_what_buildah_bud_gives():
    """These instructions, each expanded against the variables set before it (as a builder
    does), give what `buildah bud` 1.28 printed from a RUN env after them."""
    dockerfile = [
        ("ARG", "A=x B=\"$A y\" C"),
        ("ARG", "D=${A:-q}z E= F='$A'"),
        ("ENV", 'K "quoted value"'),
        ("ENV", 'L=a\\ b M="a\\\\b" N="\\$A" O=$A$A P=\'x\'"y"'),
        ("ENV", 'Q=pre${UNSET:-"a b"}post'),
        ("ENV", "R4=\"a\\b\" R6=a\\ b R7=$1x R8=${UNSET:-'$A'} R9=${UNSET:-a\\}b} R10=$Ay R11=$ R12=a$"),
        ("ENV", "S=${UNSET:+w}E T=${A:+set} ${A}K=1"),
    ]
    seen: dict[str, str | None] = {}
    for keyword, text in dockerfile:
        before = dict(seen)
        if keyword == "ARG":
            seen.update(arg_decl(text, before.get))
        else:
            seen.update(key_values(text, before.get))
    env = {k: v for k, v in seen.items() if v is not None}
    assert env == {
        "A": "x", "B": " y", "D": "xz", "E": "", "F": "$A", "K": "quoted value", "L": "a b", "M": "a\\b",
        "N": "$A", "O": "xx", "P": "xy", "Q": "prea bpost", "R4": "a\\b", "R6": "a b", "R7": "x", "R8": "$A",
        "R9": "a}b", "R10": "", "R11": "$", "R12": "a$", "S": "E", "T": "set", "xK": "1"}
