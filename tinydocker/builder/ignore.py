"""`.dockerignore` patterns, matched as docker matches them (moby/patternmatcher).

A pattern is Go's filepath.Match glob (`*` and `?` stop at `/`, `[...]` and `[^...]`
classes, `\\` escapes) plus `**`, any number of directories including none. Each is
cleaned as Go's filepath.Clean cleans it, with a leading `/` dropped: the context root is
both the working and the root directory. A pattern also matches everything below a
directory it matches, and the last pattern that matches a path decides, so a later `!`
pattern re-includes what an earlier one excluded.

Where docker's implementation and its documentation part (its regexp translation mangles
`*` inside a class; its shortcut for a leading `**` lets `**foo` match `afoo`), this
follows the documentation and Go's filepath.Match, as buildah does for `**foo`.
"""

from __future__ import annotations

import re

from tinydocker.errors import TinydockerError

# Go's strings.TrimSpace (unicode.IsSpace), not str.strip: that would also eat \x1c-\x1f
_SPACE = " \t\n\v\f\r\x85\xa0\u1680\u2000\u2001\u2002\u2003\u2004\u2005\u2006\u2007\u2008\u2009\u200a" \
         "\u2028\u2029\u202f\u205f\u3000"
_BOM = "\ufeff"


class BadPattern(ValueError):
    """A glob Go's filepath.Match would refuse; says why."""


def go_clean(path: str) -> str:
    """Go's path.Clean: one slash between elements, no `.`, `..` eating what precedes it
    (and nothing at the root), "" -> "."."""
    rooted = path.startswith("/")
    parts: list[str] = []
    for part in path.split("/"):
        if part in ("", "."):
            continue
        if part == "..":
            if parts and parts[-1] != "..":
                parts.pop()
            elif not rooted:
                parts.append("..")
            continue
        parts.append(part)
    joined = "/".join(parts)
    if rooted:
        return "/" + joined
    return joined or "."


def has_wildcards(pattern: str) -> bool:
    """Does the glob hold an unescaped `*`, `?` or `[` (docker's containsWildcards)?"""
    escaped = False
    for ch in pattern:
        if escaped:
            escaped = False
        elif ch == "\\":
            escaped = True
        elif ch in "*?[":
            return True
    return False


def glob_regex(pattern: str, double_star: bool = True) -> str:
    """The regular expression (for re.fullmatch) of a glob. With double_star, `**` is
    docker's any-number-of-directories; without, it is two `*` (plain filepath.Match,
    as COPY's sources are matched). Raises BadPattern."""
    out: list[str] = []
    i, n = 0, len(pattern)
    while i < n:
        ch = pattern[i]
        if ch == "*":
            if double_star and pattern.startswith("**", i):
                i += 2
                if i < n and pattern[i] == "/":
                    i += 1  # "**/" is "**": zero directories too
                out.append(".*" if i >= n else "(?:.*/)?")
                continue
            while i < n and pattern[i] == "*":  # one, with double_star; a run of them is one
                i += 1
            out.append("[^/]*")
        elif ch == "?":
            out.append("[^/]")
            i += 1
        elif ch == "\\":
            if i + 1 >= n:
                raise BadPattern("trailing backslash")
            out.append(re.escape(pattern[i + 1]))
            i += 2
        elif ch == "[":
            cls, i = _char_class(pattern, i + 1)
            out.append(cls)
        else:
            out.append(re.escape(ch))
            i += 1
    return "".join(out)


def _char_class(pattern: str, i: int) -> tuple[str, int]:
    """The class opened just before `i`, as filepath.Match reads it: `^` negates (`!` is
    a member, as in docker's regexp), `\\` escapes, ranges run forwards, it must close."""
    negated = i < len(pattern) and pattern[i] == "^"
    if negated:
        i += 1
    members: list[str] = []
    while True:
        if i < len(pattern) and pattern[i] == "]" and members:
            return ("[^" if negated else "[") + "".join(members) + "]", i + 1
        lo, i = _class_char(pattern, i)
        hi = lo
        if pattern[i] == "-":
            hi, i = _class_char(pattern, i + 1)
        if hi < lo:
            raise BadPattern(f"character class range {lo}-{hi} runs backwards")
        members.append(re.escape(lo) if lo == hi else f"{re.escape(lo)}-{re.escape(hi)}")


def _class_char(pattern: str, i: int) -> tuple[str, int]:
    if i >= len(pattern) or pattern[i] in "-]":
        raise BadPattern("character class is empty, unterminated or has a stray '-' or ']'")
    if pattern[i] == "\\":
        i += 1
        if i >= len(pattern):
            raise BadPattern("trailing backslash")
    if i + 1 >= len(pattern):
        raise BadPattern("character class is not closed")
    return pattern[i], i + 1


class _Pattern:
    __slots__ = ("text", "exclusion", "literal", "regex", "elements")

    def __init__(self, text: str, exclusion: bool):
        self.text = text
        self.exclusion = exclusion
        self.literal = not any(c in text for c in "*?[\\")  # matched by equality
        self.regex = None if self.literal else re.compile(glob_regex(text), re.DOTALL)
        self.elements = text.split("/")

    def match(self, path: str) -> bool:
        if self.literal:
            return path == self.text
        return self.regex.fullmatch(path) is not None

    def may_match_below(self, parts: list[str]) -> bool:
        """Could this pattern match some path strictly below the directory `parts`? True
        when unsure: `**` spans any depth, and a class or an escape may hold a `/`."""
        if "**" in self.text or "[" in self.text or "\\" in self.text:
            return True
        if len(self.elements) <= len(parts):
            return False  # without `**`, a pattern matches paths of its own depth only
        for element, part in zip(self.elements, parts):
            if not re.fullmatch(glob_regex(element), part, re.DOTALL):
                return False
        return True


class Patterns:
    """The patterns of one ignore file, in order."""

    def __init__(self, patterns: list[_Pattern] | None = None):
        self._patterns = patterns or []

    def __bool__(self) -> bool:
        return bool(self._patterns)

    @classmethod
    def parse(cls, text: str, source: str = ".dockerignore") -> "Patterns":
        """The patterns of an ignore file's text (`source` names the file in errors).
        A line whose first character is `#` is a comment; each line is trimmed; a
        blank one is skipped."""
        patterns = []
        for number, line in enumerate(text.split("\n")):
            line = line.removesuffix("\r")
            if number == 0:
                line = line.removeprefix(_BOM)
            if line.startswith("#"):
                continue
            pattern = line.strip(_SPACE)
            if not pattern:
                continue
            exclusion = pattern.startswith("!")
            if exclusion:
                pattern = pattern[1:].strip(_SPACE)
                if not pattern:
                    raise TinydockerError(f'{source}: illegal exclusion pattern: "!"', code=1)
            pattern = go_clean(pattern)
            if len(pattern) > 1 and pattern.startswith("/"):
                pattern = pattern[1:]
            elif exclusion and pattern == "/":  # docker cleans "!/" to "!" too
                raise TinydockerError(f'{source}: illegal exclusion pattern: "!"', code=1)
            try:
                patterns.append(_Pattern(pattern, exclusion))
            except (BadPattern, re.error) as e:
                raise TinydockerError(f"{source}: syntax error in pattern {line.strip(_SPACE)!r}: {e}",
                                      code=1) from None
        return cls(patterns)

    def ignored(self, rel: str) -> bool:
        """Is the path `rel` (relative to the context root, `/`-separated) excluded?"""
        rel = go_clean(rel).lstrip("/")
        if rel in ("", "."):
            return False  # the context itself: docker does not let a pattern exclude it
        parents = []
        end = rel.find("/")
        while end != -1:
            parents.append(rel[:end])
            end = rel.find("/", end + 1)
        matched = False
        for pattern in self._patterns:
            # an exclusion can only change an excluded path, an inclusion an included one
            if pattern.exclusion != matched:
                continue
            if pattern.match(rel) or any(pattern.match(parent) for parent in parents):
                matched = not pattern.exclusion
        return matched

    def may_include_under(self, rel_dir: str) -> bool:
        """False when nothing below the directory `rel_dir` can be included: it is
        excluded, and no `!` pattern could match anything below it (a path's verdict can
        only differ from its directory's through a pattern that matches below it)."""
        if not self.ignored(rel_dir):
            return True
        parts = go_clean(rel_dir).lstrip("/").split("/")
        return any(p.may_match_below(parts) for p in self._patterns if p.exclusion)
