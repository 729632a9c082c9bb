""".dockerignore patterns as docker documents them (and moby/patternmatcher matches them):
Go's filepath.Match globs plus `**`, cleaned paths, a pattern excluding what is below a
directory it matches, the last matching line deciding, `!` exceptions."""

import pytest

from tinydocker.builder.ignore import Patterns, glob_regex, go_clean, has_wildcards
from tinydocker.errors import TinydockerError


def _table(text, expected):
    patterns = Patterns.parse(text)
    got = {path: patterns.ignored(path) for path in expected}
    assert got == expected


def test_docs_example_of_wildcards():
    text = "# comment\n*/temp*\n*/*/temp*\ntemp?\n"
    _table(text, {
        "somedir/temporary.txt": True, "somedir/temp": True, "somedir/temp/below": True,
        "somedir/subdir/temporary.txt": True, "tempa": True, "tempb": True,
        "temp": False, "tempab": False, "temporary.txt": False, "a/b/c/temp": False, "# comment": False,
    })


def test_double_star_is_any_number_of_directories_including_none():
    _table("**/*.go\n", {"main.go": True, "a/main.go": True, "a/b/c/x.go": True, "main.goo": False,
                         "a/main.c": False})
    _table("a/**/b\n", {"a/b": True, "a/x/b": True, "a/x/y/b": True, "a/x/y/b/c": True, "a/xb": False,
                        "b": False})
    _table("a/**\n", {"a/x": True, "a/x/y": True, "a": False, "ab": False})
    _table("**\n", {"x": True, "a/b/c": True})
    # zero or more directories, then the name: not a suffix of a name (buildah agrees;
    # docker's own shortcut for a leading ** would say afoo)
    _table("**foo\n", {"foo": True, "d/foo": True, "afoo": False})


def test_single_star_and_question_mark_stop_at_a_slash():
    _table("*\n", {"a": True, "a/b": True, ".hidden": True})  # `a/b` through its parent a
    _table("a*b\n", {"ab": True, "axxb": True, "a/b": False, "ax/yb": False})
    _table("a?c\n", {"abc": True, "a/c": False, "ac": False})


def test_docs_examples_of_exceptions_where_the_last_match_wins():
    _table("*.md\n!README.md\n", {"a.md": True, "README.md": False, "d/a.md": False})
    _table("*.md\n!README*.md\nREADME-secret.md\n",
           {"a.md": True, "README.md": False, "README-x.md": False, "README-secret.md": True})
    _table("*.md\nREADME-secret.md\n!README*.md\n",
           {"a.md": True, "README.md": False, "README-secret.md": False})


def test_a_directory_excludes_what_is_below_it_and_an_exception_re_includes():
    text = "node_modules\nbuild\n!build/keep\n!build/keep-dir\nbuild/keep-dir/tmp\n"
    _table(text, {
        "node_modules": True, "node_modules/a/b.js": True, "node_modulesx": False,
        "build": True, "build/out.o": True, "build/keep": False, "build/keep-dir/x": False,
        "build/keep-dir/tmp": True, "build/keep-dir/tmp/x": True,
    })
    # everything but a few: docker's documented way to list what goes in
    _table("*\n!src\n!Dockerfile\nsrc/*.tmp\n",
           {"x": True, "src": False, "src/a.py": False, "src/a.tmp": True, "Dockerfile": False})


def test_may_include_under_says_which_excluded_directories_need_no_walk():
    patterns = Patterns.parse("build\n!build/keep\ncache\n!cache/*/x\n")
    assert patterns.may_include_under("src")  # not excluded at all
    assert patterns.may_include_under("build")  # build/keep may be below
    assert not patterns.may_include_under("build/sub")  # nothing re-includes below it
    anywhere = Patterns.parse("logs\n!**/important\n")
    assert anywhere.may_include_under("logs") and anywhere.may_include_under("logs/a/b")  # ** reaches any depth
    assert anywhere.ignored("logs/a/important") is False and anywhere.ignored("logs/a/other") is True
    assert patterns.may_include_under("cache") and patterns.may_include_under("cache/v1")
    assert not patterns.may_include_under("cache/v1/y")
    assert patterns.ignored("cache/v1/x") is False
    only = Patterns.parse("tmp\n")
    assert not only.may_include_under("tmp") and only.may_include_under("src")


@pytest.mark.parametrize("line, path", [
    ("./a/../b", "b"), ("/foo/bar", "foo/bar"), ("foo/bar/", "foo/bar"), ("  spaced  ", "spaced"),
    ("a//b", "a/b"), ("/", None), (".", None), ("#not-a-comment-here", None),
])
def test_patterns_are_cleaned_as_go_cleans_them(line, path):
    patterns = Patterns.parse(line + "\n")
    if path is None:  # matches nothing in the context ("." is ignored, for history's sake)
        assert not any(patterns.ignored(p) for p in ("a", "foo/bar", "spaced"))
    else:
        assert patterns.ignored(path) and patterns.ignored(path + "/below")


def test_comments_only_in_column_one_and_the_file_s_dressing():
    patterns = Patterns.parse("\ufeff# a comment\r\n #x\r\n\r\n\t\n! kept \n*.log\n!keep.log\n")
    assert patterns.ignored("#x")  # "#" after a blank is a pattern: docker trims after the comment test
    assert not patterns.ignored("# a comment")
    assert patterns.ignored("x.log") and not patterns.ignored("keep.log")
    first = Patterns.parse("\ufeffa\n")
    assert first.ignored("a")  # the byte-order mark is not part of the first pattern


@pytest.mark.parametrize("pattern, yes, no", [
    ("[abc]", ["a", "c"], ["d", "ab"]),
    ("[a-c]x", ["bx"], ["dx"]),
    ("[^a-c]", ["d", "!"], ["a", "b"]),
    ("[!a]", ["!", "a"], ["b"]),  # filepath.Match negates with ^ only: ! is a member (as buildah)
    ("[\\]]", ["]"], ["\\"]),
    ("\\*", ["*"], ["a"]),
    ("a\\?", ["a?"], ["ab"]),
    ("[*]", ["*"], ["a"]),
    ("x.y+(z)", ["x.y+(z)"], ["xxy+(z)"]),  # regexp's metacharacters are plain here
])
def test_character_classes_and_escapes(pattern, yes, no):
    patterns = Patterns.parse(pattern + "\n")
    assert all(patterns.ignored(p) for p in yes)
    assert not any(patterns.ignored(p) for p in no)


@pytest.mark.parametrize("line", ["[", "a[", "[]", "[]a]", "[a-]", "[z-a]", "a\\", "!", "! ", "!/", "[^]"])
def test_bad_patterns_are_one_error_naming_them(line):
    with pytest.raises(TinydockerError) as raised:
        Patterns.parse(f"ok\n{line}\n", "Containerfile.dockerignore")
    assert raised.value.code == 1
    message = str(raised.value)
    assert message.startswith("Containerfile.dockerignore: ") and "\n" not in message
    assert line.strip().lstrip("!") in message or "exclusion" in message


def test_no_patterns_ignore_nothing():
    empty = Patterns.parse("# only a comment\n\n")
    assert not empty and not empty.ignored("a") and empty.may_include_under("a")


def test_helpers():
    assert go_clean("") == "." and go_clean("a/./b/../../..") == ".." and go_clean("//a/../../b") == "/b"
    assert has_wildcards("a*") and has_wildcards("[x]") and not has_wildcards("a\\*b") and not has_wildcards("ab")
    assert glob_regex("a**b", double_star=False) == "a[^/]*b"
