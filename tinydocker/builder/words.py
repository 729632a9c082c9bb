"""Docker's shell-word rules for Dockerfile arguments: quotes, the escape character and
variable substitution, as buildkit's shell lexer applies them (no command substitution,
no globbing: the builder never runs a shell to read its own instructions).

`lookup(name)` answers a variable's value, or None when it is unset; what it sees is the
caller's business (docker expands an instruction against the environment *before* it,
so `ENV A=1 B=$A` gives B the previous A).
"""

import re

from tinydocker.errors import TinydockerError


class ExpandError(TinydockerError):
    """A word docker could not expand, or key=value arguments it would refuse
    (docker build exits 1 for a bad Dockerfile)."""

    code = 1


_SPECIAL_PARAMS = "@*#?-$!0"
# ENV's legacy `ENV key value` form splits the key off at the first run of these (docker's)
_WHITESPACE = re.compile(r"[\t\v\f\r ]+")


class _Unterminated(Exception):
    """The input ended before the character a construct needs."""


class _Lexer:
    """One pass over one word; `raw_escapes` keeps the escape character in the output (the
    pattern of ${VAR#pattern} needs to see what was escaped)."""

    def __init__(self, text: str, lookup, escape: str):
        self.text, self.lookup, self.escape = text, lookup, escape
        self.pos = 0
        self.raw_escapes = False

    def until(self, stop: str | None, raw_escapes: bool = False) -> str:
        """The expansion up to `stop` (consumed) or, when stop is None, the end."""
        saved, self.raw_escapes = self.raw_escapes, raw_escapes
        try:
            return self._until(stop)
        finally:
            self.raw_escapes = saved

    def _until(self, stop: str | None) -> str:
        text, n, out = self.text, len(self.text), []
        while self.pos < n:
            ch = text[self.pos]
            if ch == stop:
                self.pos += 1
                return "".join(out)
            if ch == "'":
                out.append(self._single_quoted())
            elif ch == '"':
                out.append(self._double_quoted())
            elif ch == "$":
                out.append(self._dollar())
            else:
                self.pos += 1
                if ch == self.escape:
                    if self.raw_escapes:
                        out.append(ch)
                    if self.pos >= n:
                        break  # a lone escape at the very end is dropped
                    ch = text[self.pos]
                    self.pos += 1
                out.append(ch)
        if stop is not None:
            raise _Unterminated(stop)
        return "".join(out)

    def _single_quoted(self) -> str:
        end = self.text.find("'", self.pos + 1)
        if end < 0:
            raise ExpandError("unexpected end of statement while looking for matching single-quote")
        value = self.text[self.pos + 1:end]
        self.pos = end + 1
        return value

    def _double_quoted(self) -> str:
        # only $, " and the escape character itself are special inside double quotes
        text, n, out = self.text, len(self.text), []
        self.pos += 1
        while True:
            if self.pos >= n:
                raise ExpandError("unexpected end of statement while looking for matching double-quote")
            ch = text[self.pos]
            if ch == '"':
                self.pos += 1
                return "".join(out)
            if ch == "$":
                out.append(self._dollar())
                continue
            self.pos += 1
            if ch == self.escape:
                if self.raw_escapes:
                    out.append(ch)
                if self.pos >= n:
                    continue
                if text[self.pos] in ('"', "$", self.escape):
                    ch = text[self.pos]
                    self.pos += 1
            out.append(ch)

    def _name(self) -> str:
        text, n, start = self.text, len(self.text), self.pos
        if start < n and text[start].isdecimal():
            while self.pos < n and text[self.pos].isdecimal():
                self.pos += 1
            return text[start:self.pos]
        if start < n and text[start] in _SPECIAL_PARAMS:
            self.pos += 1
            return text[start]
        while self.pos < n and (text[self.pos].isalpha() or text[self.pos].isdecimal() or text[self.pos] == "_"):
            self.pos += 1
        return text[start:self.pos]

    def _value(self, name: str) -> str | None:
        return self.lookup(name)

    def _next(self) -> str:
        if self.pos >= len(self.text):
            raise ExpandError("syntax error: missing '}'")
        ch = self.text[self.pos]
        self.pos += 1
        return ch

    def _dollar(self) -> str:
        self.pos += 1
        if self.pos >= len(self.text) or self.text[self.pos] != "{":
            name = self._name()
            if not name:
                return "$"  # a lone $ (or $ before a non-name) is literal
            return self._value(name) or ""
        self.pos += 1
        if self.pos >= len(self.text):
            raise ExpandError("syntax error: missing '}'")
        if self.text[self.pos] in "{}:":
            raise ExpandError("syntax error: bad substitution")
        name = self._name()
        op = self._next()
        if op == "}":
            return self._value(name) or ""
        colon = op == ":"
        if colon:
            op = self._next()
        modifier = (":" if colon else "") + op
        if op == "/" and not colon:
            return self._replace(name)
        if not colon and op not in "+-?#%":
            raise ExpandError(f"unsupported modifier ({modifier}) in substitution")
        pattern = op in "#%"
        if colon and pattern:
            raise ExpandError(f"unsupported modifier ({modifier}) in substitution")
        try:
            word = self.until("}", raw_escapes=pattern)
        except _Unterminated:
            raise ExpandError("syntax error: missing '}'") from None
        value = self._value(name)
        empty = value is None or (colon and value == "")
        if op == "-":
            return word if empty else value
        if op == "+":
            return "" if empty else word
        if op == "?":
            if empty:
                why = "is not allowed to be unset" if value is None else "is not allowed to be empty"
                raise ExpandError(f"{name}: {word or why}")
            return value
        if op in "#%":
            greedy = word.startswith(op)
            if greedy:
                word = word[1:]
            return _trim(value or "", word, greedy, suffix=op == "%")
        raise ExpandError(f"unsupported modifier ({modifier}) in substitution")

    def _replace(self, name: str) -> str:
        everywhere = self.pos < len(self.text) and self.text[self.pos] == "/"
        if everywhere:
            self.pos += 1
        try:
            pattern = self.until("/", raw_escapes=True)
        except _Unterminated:
            raise ExpandError("syntax error: missing '/' in ${}") from None
        try:
            replacement = self.until("}", raw_escapes=True)
        except _Unterminated:
            raise ExpandError("syntax error: missing '}'") from None
        regex = _pattern(pattern, greedy=True, anchored=False)
        return regex.sub(lambda _m: replacement, self._value(name) or "", count=0 if everywhere else 1)


def _pattern(pattern: str, greedy: bool, anchored: bool) -> re.Pattern:
    """A shell pattern (* any string, ? one character, \\ quotes the next) as a regex."""
    out, i, n = ["^"] if anchored else [], 0, len(pattern)
    while i < n:
        ch = pattern[i]
        i += 1
        if ch == "*":
            out.append(".*" if greedy else ".*?")
        elif ch == "?":
            out.append(".")
        elif ch == "\\":
            if i < n and pattern[i] in "}/":
                continue  # escaped only to get it past ${...}'s own parsing
            if i >= n or pattern[i] not in "*?\\":
                raise ExpandError(f"invalid pattern ({pattern}) in substitution: "
                                  f"invalid escape '\\{pattern[i] if i < n else ''}'")
            out.append(re.escape(pattern[i]))
            i += 1
        else:
            out.append(re.escape(ch))
    return re.compile("".join(out), re.DOTALL)


def _reverse_pattern(pattern: str) -> str:
    # reversed, but an escape stays in front of what it escapes
    tokens, i = [], 0
    while i < len(pattern):
        step = 2 if pattern[i] == "\\" and i + 1 < len(pattern) else 1
        tokens.append(pattern[i:i + step])
        i += step
    return "".join(reversed(tokens))


def _trim(value: str, pattern: str, greedy: bool, suffix: bool) -> str:
    if suffix:
        # the shortest match at the end is the shortest match at the start of the reversal
        return _trim(value[::-1], _reverse_pattern(pattern), greedy, False)[::-1]
    match = _pattern(pattern, greedy, anchored=True).match(value)
    return value[match.end():] if match else value


def _quote(word: str) -> str:
    return '"' + word.replace("\\", "\\\\").replace('"', '\\"') + '"'


def expand(word: str, lookup, escape: str = "\\") -> str:
    """One word with its quotes removed, escapes applied and variables substituted:
    '...' literal; "..." with $ expansion and the escape character escaping only $ " and
    itself; $VAR ${VAR} ${VAR:-w} ${VAR-w} ${VAR:+w} ${VAR+w} ${VAR:?msg} ${VAR?msg},
    and docker's ${VAR#p} ${VAR##p} ${VAR%p} ${VAR%%p} ${VAR/p/r} ${VAR//p/r}.
    An unset variable is "". ExpandError for what docker refuses."""
    if "$" not in word and "'" not in word and '"' not in word and escape not in word:
        return word  # the common case: nothing to do
    lexer = _Lexer(word, lookup, escape)
    try:
        return lexer.until(None)
    except ExpandError as e:
        raise ExpandError(f"failed to process {_quote(word)}: {e}") from None


def split(text: str, escape: str = "\\") -> list[str]:
    """`text` cut into words at whitespace outside quotes, each word still as written
    (quotes, escapes and $ kept). Like docker's own splitting, plus ${...} kept whole
    (docker would cut `${A:-a b}` in two and then fail on both halves)."""
    words, word, quote, braces = [], [], None, 0
    i, n = 0, len(text)
    while i < n:
        ch = text[i]
        if quote is None:
            if ch.isspace() and not braces:
                if word:
                    words.append("".join(word))
                    word = []
                i += 1
                continue
            if ch in "'\"":
                quote = ch
            elif ch == escape:
                if i + 1 == n:
                    break  # an escape at the very end is dropped, as docker does
                word.append(ch)
                i += 1
                ch = text[i]
            elif ch == "$" and i + 1 < n and text[i + 1] == "{":
                braces += 1
                word.append(ch)
                i += 1
                ch = "{"
            elif ch == "}" and braces:
                braces -= 1
        elif ch == quote:
            quote = None
        elif ch == escape and quote == '"' and i + 1 < n:
            word.append(ch)
            i += 1
            ch = text[i]
        word.append(ch)
        i += 1
    if word:
        words.append("".join(word))
    return words


def expand_words(text: str, lookup, escape: str = "\\") -> list[str]:
    """Shell-form arguments as words: split at unquoted whitespace, then each word
    expanded. A variable's value is not split again, and a word that expands to nothing
    stays, as "" (the caller decides whether an empty word is an error)."""
    return [expand(word, lookup, escape) for word in split(text, escape)]


def pairs(text: str, escape: str = "\\", keyword: str = "ENV") -> list[tuple[str, str]]:
    """ENV/LABEL arguments as (key, value) pairs still as written, unexpanded: either
    `K=V K2="a b"` or the legacy one-pair `K some value`. ExpandError names what docker
    refuses; used by the parser to refuse a bad line before any build starts."""
    words = split(text, escape)
    if not words:
        raise ExpandError(f"{keyword} requires at least one argument")
    if "=" not in words[0]:
        parts = _WHITESPACE.split(text.strip(), maxsplit=1)
        if len(parts) < 2:
            raise ExpandError(f"{keyword} must have two arguments")
        return [(parts[0], parts[1])]
    result = []
    for word in words:
        key, sep, value = word.partition("=")
        if not sep:
            raise ExpandError(f"Syntax error - can't find = in {_quote(word)}. Must be of the form: name=value")
        if not key:
            raise ExpandError(f"{keyword} names can not be blank")
        result.append((key, value))
    return result


def key_values(text: str, lookup, escape: str = "\\", keyword: str = "ENV") -> list[tuple[str, str]]:
    """ENV/LABEL arguments as (key, value) pairs, keys and values expanded (docker expands
    both, for ENV as for LABEL), all against the same `lookup`."""
    result = []
    for key, value in pairs(text, escape, keyword):
        name = expand(key, lookup, escape)
        if not name:
            raise ExpandError(f"{keyword} names can not be blank")
        result.append((name, expand(value, lookup, escape)))
    return result


def arg_names(text: str, escape: str = "\\") -> list[tuple[str, str | None]]:
    """ARG's declarations as written: NAME or NAME=default, several per line."""
    words = split(text, escape)
    if not words:
        raise ExpandError("ARG requires at least one argument")
    result = []
    for word in words:
        name, sep, default = word.partition("=")
        if not name:
            raise ExpandError("ARG names can not be blank")
        result.append((name, default if sep else None))
    return result


def arg_decl(text: str, lookup, escape: str = "\\") -> list[tuple[str, str | None]]:
    """ARG NAME / ARG NAME=default (several per line): (name, default or None), the name
    and the default expanded as docker does. `ARG A=` declares A with the default ""."""
    result = []
    for name, default in arg_names(text, escape):
        expanded = expand(name, lookup, escape)
        if not expanded:
            raise ExpandError("ARG names can not be blank")
        result.append((expanded, None if default is None else expand(default, lookup, escape)))
    return result
