"""docker's --format: Go's text/template, as docker's documentation writes templates.

    {{.Names}}  {{.State.Status}}  {{.}}  {{$.Name}}          fields, nested, the object, the top
    {{if .State.Running}}up{{else if .X}}…{{else}}down{{end}}  {{with .Config}}…{{end}}
    {{range .NetworkSettings.Networks}}{{.IPAddress}}{{end}}    lists, and maps in key order
    {{range $i, $v := .Args}}…{{else}}none{{end}}  {{break}} {{continue}}
    {{$x := .Name}}{{$x = "y"}}  {{(index .Args 0).Name}}  {{.Name | printf "%-10s"}}
    {{- trims the text before   -}} trims the text after   {{/* a comment */}}
    Go's functions: and or not len index slice print printf println eq ne lt le gt ge
        html js urlquery call
    docker's: json join split upper lower title pad truncate, and `table` in front
    {{.Label "app"}}                                          ps's one method: a label's value

Values print as Go prints them: map[k:v], [a b], true, <nil>, 1e+06. A template is parsed
(and refused, in one line) before anything runs: define/template/block are not supported.
"""

import json
import re

from ..errors import TinydockerError
from .text import LabelText, go_json, table

_SPACE = " \t\r\n"
_KEYWORDS = {"if", "else", "end", "range", "with", "define", "template", "block", "break", "continue"}


class _ParseError(Exception):
    def __init__(self, message: str, pos: int):
        super().__init__(message)
        self.pos = pos


class _ExecError(Exception):
    def __init__(self, node, message: str):
        super().__init__(message)
        self.node = node


class _FuncError(Exception):
    """A function's own failure: reported as "error calling <name>: <message>"."""


class _Break(Exception):
    pass


class _Continue(Exception):
    pass


# ---- the lexer: text and the tokens inside {{ }} ----

class _Tok:
    __slots__ = ("kind", "value", "pos", "end")

    def __init__(self, kind: str, value: str, pos: int, end: int):
        self.kind, self.value, self.pos, self.end = kind, value, pos, end

    def __str__(self):  # as Go's parse errors name it
        if self.kind == "eof":
            return "EOF"
        return f"<{self.value}>" if self.kind == "keyword" else json.dumps(self.value, ensure_ascii=False)


def _right_delim(src: str, i: int) -> tuple[bool, bool]:
    """Whether `}}` (or ` -}}`, which trims the text after it) starts at i."""
    if src[i:i + 1] in tuple(_SPACE) and src.startswith("-}}", i + 1):
        return True, True
    return src.startswith("}}", i), False


def _lex(src: str) -> list:
    toks, pos, trim_next = [], 0, False
    while True:
        start = src.find("{{", pos)
        text = src[pos:] if start < 0 else src[pos:start]
        if trim_next:
            text = text.lstrip(_SPACE)
        if start < 0:
            if text:
                toks.append(_Tok("text", text, pos, len(src)))
            toks.append(_Tok("eof", "", len(src), len(src)))
            return toks
        trim_left = src.startswith("-", start + 2) and src[start + 3:start + 4] in tuple(_SPACE)
        if trim_left:
            text = text.rstrip(_SPACE)
        if text:
            toks.append(_Tok("text", text, pos, start))
        i = start + (4 if trim_left else 2)
        if src.startswith("/*", i):
            end = src.find("*/", i + 2)
            if end < 0:
                raise _ParseError("unclosed comment", start)
            delim, trim_next = _right_delim(src, end + 2)
            if not delim:
                raise _ParseError("comment ends before closing delimiter", start)
            pos = end + (6 if trim_next else 4)
            continue
        toks.append(_Tok("left", "{{", start, i))
        pos, trim_next = _lex_action(src, i, toks)


def _alnum(c: str) -> bool:
    return c == "_" or c.isalnum()


def _closing(src: str, i: int, unterminated: str) -> int:
    """Where the quote opened at src[i] closes, skipping backslash escapes (a "string" or a
    'c' character constant, as Go scans both)."""
    j = i + 1
    while j < len(src) and src[j] != src[i]:
        j += 2 if src[j] == "\\" else 1
    if j >= len(src):
        raise _ParseError(unterminated, i)
    return j


def _lex_action(src: str, i: int, toks: list) -> tuple[int, bool]:
    """The tokens of one action, up to and with its `}}`: where the text goes on, and whether
    it is to be trimmed."""
    n, depth = len(src), 0

    def add(kind, start, end):
        toks.append(_Tok(kind, src[start:end], start, end))

    def word_end(j):  # a field's, variable's or identifier's name
        while j < n and _alnum(src[j]):
            j += 1
        if j < n and src[j] not in _SPACE + ".,|:()" and not _right_delim(src, j)[0] and src[j] != "=":
            raise _ParseError(f"bad character {src[j]!r}", j)
        return j

    while True:
        delim, trim = _right_delim(src, i)
        if delim:
            if depth:
                raise _ParseError("unclosed left paren", i)
            end = i + (4 if trim else 2)
            add("right", i, end)
            return end, trim
        if i >= n:
            raise _ParseError("unclosed action", i)
        c = src[i]
        if c in _SPACE:  # (not " -}}": that is the delimiter, seen above)
            j = i
            while j < n and src[j] in _SPACE and not _right_delim(src, j)[1]:
                j += 1
            add("space", i, j)
            i = j
        elif c == "=":
            add("assign", i, i + 1)
            i += 1
        elif c == ":":
            if not src.startswith(":=", i):
                raise _ParseError("expected :=", i)
            add("declare", i, i + 2)
            i += 2
        elif c == "|":
            add("pipe", i, i + 1)
            i += 1
        elif c == '"':
            j = _closing(src, i, "unterminated quoted string")
            add("string", i, j + 1)
            i = j + 1
        elif c == "`":
            j = src.find("`", i + 1)
            if j < 0:
                raise _ParseError("unterminated raw quoted string", i)
            add("raw", i, j + 1)
            i = j + 1
        elif c == "'":
            j = _closing(src, i, "unterminated character constant")
            add("char", i, j + 1)
            i = j + 1
        elif c == "$":
            j = word_end(i + 1)
            add("var", i, j)
            i = j
        elif c == "." and not src[i + 1:i + 2].isdigit():
            j = word_end(i + 1)
            add("dot" if j == i + 1 else "field", i, j)
            i = j
        elif c in "+-." or c.isdigit():
            j = i + 1
            hexa = src.startswith(("0x", "0X"), j - 1) or src.startswith(("0x", "0X"), j)
            while j < n and (_alnum(src[j]) or src[j] == "." or
                             (src[j] in "+-" and src[j - 1] in ("pP" if hexa else "eEpP"))):
                j += 1
            add("number", i, j)
            i = j
        elif _alnum(c):
            j = word_end(i)
            word = src[i:j]
            kind = ("keyword" if word in _KEYWORDS else "bool" if word in ("true", "false")
                    else "nil" if word == "nil" else "ident")
            add(kind, i, j)
            i = j
        elif c == "(":
            depth += 1
            add("lparen", i, i + 1)
            i += 1
        elif c == ")":
            depth -= 1
            if depth < 0:
                raise _ParseError("unexpected right paren", i)
            add("rparen", i, i + 1)
            i += 1
        elif c == ",":
            add("comma", i, i + 1)
            i += 1
        else:
            raise _ParseError(f"unrecognized character in action: {c!r}", i)


# ---- literals ----

_ESCAPE = re.compile(r"\\(?:([abfnrtv\\'\"])|x([0-9a-fA-F]{2})|([0-7]{3})|u([0-9a-fA-F]{4})|U([0-9a-fA-F]{8}))")
_SIMPLE = {"a": "\a", "b": "\b", "f": "\f", "n": "\n", "r": "\r", "t": "\t", "v": "\v", "\\": "\\", "'": "'", '"': '"'}


def _unquote(raw: str, pos: int) -> str:
    """A Go string or character literal's value (its \\x and octal escapes are bytes)."""
    if raw.startswith("`"):
        return raw[1:-1]
    body, out, at = raw[1:-1], bytearray(), 0
    for m in _ESCAPE.finditer(body):
        if "\\" in body[at:m.start()]:
            break
        out += body[at:m.start()].encode()
        simple, hexa, octal, u4, u8 = m.groups()
        if simple:
            out += _SIMPLE[simple].encode()
        elif hexa or octal:
            value = int(hexa, 16) if hexa else int(octal, 8)
            if value > 255:
                raise _ParseError(f"invalid syntax: {raw}", pos)
            out.append(value)
        else:
            code = int(u4 or u8, 16)
            if code > 0x10FFFF or 0xD800 <= code < 0xE000:
                raise _ParseError(f"invalid syntax: {raw}", pos)
            out += chr(code).encode()
        at = m.end()
    if "\\" in body[at:]:
        raise _ParseError(f"invalid syntax: {raw}", pos)
    out += body[at:].encode()
    return out.decode("utf-8", "replace")


def _number(raw: str, pos: int):
    """A Go number literal: int, unless it has a point or an exponent (then float64)."""
    text = raw.replace("_", "")
    try:
        if re.fullmatch(r"[+-]?0[0-7]+", text):
            return int(text, 8)
        if re.fullmatch(r"[+-]?(0[xX][0-9a-fA-F]+|0[bB][01]+|0[oO][0-7]+|[1-9][0-9]*|0)", text):
            return int(text, 0)
        if re.fullmatch(r"[+-]?0[xX][0-9a-fA-F.]+[pP][+-]?[0-9]+", text):
            return float.fromhex(text)
        if re.fullmatch(r"[+-]?([0-9]+\.?[0-9]*|\.[0-9]+)([eE][+-]?[0-9]+)?", text):
            return float(text)
    except ValueError:
        pass
    raise _ParseError(f"bad number syntax: {raw!r}", pos)


# ---- the tree ----

class _Node:
    pos = end = 0


class _Text(_Node):
    def __init__(self, text):
        self.text = text


class _Action(_Node):
    def __init__(self, pipe):
        self.pipe, self.pos, self.end = pipe, pipe.pos, pipe.end


class _Control(_Node):
    """if, with, range: its pipeline, its list, and the list after {{else}} (or None)."""

    def __init__(self, kind, pipe, body, orelse):
        self.kind, self.pipe, self.body, self.orelse = kind, pipe, body, orelse
        self.pos, self.end = pipe.pos, pipe.end


class _Jump(_Node):  # {{break}}, {{continue}}
    def __init__(self, kind, pos):
        self.kind, self.pos, self.end = kind, pos, pos


class _Pipe(_Node):
    def __init__(self, pos):
        self.pos = self.end = pos
        self.decl, self.assign, self.cmds = [], False, []


class _Command(_Node):
    def __init__(self, args):
        self.args, self.pos, self.end = args, args[0].pos, args[-1].end


class _Operand(_Node):
    """A term: kind is field, var, chain, pipe (parenthesised), ident, dot, nil or literal;
    `names` are the fields after it (.A.B, $x.A, (…).A)."""

    def __init__(self, kind, tok, value=None, names=()):
        self.kind, self.value, self.names = kind, value, tuple(names)
        self.pos, self.end = tok.pos, tok.end


_ELSE, _END = "else", "end"


class _Parser:
    def __init__(self, src: str):
        self.src, self.toks, self.i = src, _lex(src), 0
        self.vars = ["$"]
        self.range_depth = 0

    def next(self):
        tok = self.toks[self.i]
        self.i += 1
        return tok

    def next_non_space(self):
        tok = self.next()
        while tok.kind == "space":
            tok = self.next()
        return tok

    def peek_non_space(self):
        tok = self.next_non_space()
        self.i -= 1
        return tok

    def expect(self, kind, context):
        tok = self.next_non_space()
        if tok.kind != kind:
            raise _ParseError(f"unexpected {tok} in {context}", tok.pos)
        return tok

    def parse(self) -> list:
        nodes = []
        while self.toks[self.i].kind != "eof":
            node = self.text_or_action()
            if node in (_ELSE, _END):
                raise _ParseError(f"unexpected {{{{{node}}}}}", self.toks[self.i - 1].pos)
            nodes.append(node)
        return nodes

    def item_list(self):
        nodes = []
        while True:
            if self.toks[self.i].kind == "eof":
                raise _ParseError("unexpected EOF", self.toks[self.i].pos)
            node = self.text_or_action()
            if node in (_ELSE, _END):
                return nodes, node
            nodes.append(node)

    def text_or_action(self):
        tok = self.next()
        if tok.kind == "text":
            return _Text(tok.value)
        if tok.kind != "left":
            raise _ParseError(f"unexpected {tok} in input", tok.pos)
        tok = self.next_non_space()
        if tok.kind == "keyword":
            word = tok.value
            if word in ("if", "with", "range"):
                return self.control(word)
            if word == "end":
                self.expect("right", "end")
                return _END
            if word == "else":
                after = self.peek_non_space()
                if after.kind != "keyword" or after.value not in ("if", "with"):
                    self.expect("right", "else")
                return _ELSE
            if word in ("break", "continue"):
                if not self.range_depth:
                    raise _ParseError(f"{{{{{word}}}}} outside {{{{range}}}}", tok.pos)
                self.expect("right", word)
                return _Jump(word, tok.pos)
            raise _ParseError(f"{{{{{word}}}}} is not supported by tinydocker's templates", tok.pos)
        self.i -= 1
        return _Action(self.pipeline("command", "right"))

    def control(self, kind):
        scope = len(self.vars)
        pipe = self.pipeline(kind, "right")
        self.range_depth += kind == "range"
        body, last = self.item_list()
        self.range_depth -= kind == "range"
        orelse = None
        if last == _ELSE:
            nxt = self.toks[self.i]  # (the spaces after else are behind us)
            if kind in ("if", "with") and nxt.kind == "keyword" and nxt.value == kind:
                # {{else if …}} is {{else}}{{if …}}…{{end}} whose {{end}} is this one's
                self.next_non_space()
                orelse = [self.control(kind)]
            else:
                orelse, last = self.item_list()
                if last != _END:
                    raise _ParseError("expected end; found {{else}}", self.toks[self.i - 1].pos)
        del self.vars[scope:]
        return _Control(kind, pipe, body, orelse)

    def pipeline(self, context, end):
        pipe = _Pipe(self.peek_non_space().pos)
        while self.peek_non_space().kind == "var":  # declarations: $x :=, $x =, range $i, $v :=
            back = self.i
            var = self.next_non_space()
            after = self.next_non_space()
            if after.kind in ("declare", "assign"):
                pipe.assign = after.kind == "assign"
                if pipe.assign and var.value not in self.vars:
                    raise _ParseError(f'undefined variable "{var.value}"', var.pos)
                pipe.decl.append(var.value)
                break
            if after.kind == "comma":
                pipe.decl.append(var.value)
                if context == "range" and len(pipe.decl) < 2:
                    if self.peek_non_space().kind in ("var", "right", "rparen"):
                        continue
                    raise _ParseError("range can only initialize variables", after.pos)
                raise _ParseError(f"too many declarations in {context}", after.pos)
            self.i = back  # a variable used, not declared
            break
        self.vars.extend(v for v in pipe.decl if v not in self.vars or not pipe.assign)
        while True:
            tok = self.next_non_space()
            if tok.kind == end:
                break
            if tok.kind not in ("bool", "char", "dot", "field", "ident", "number", "nil", "raw", "string", "var",
                                "lparen"):
                raise _ParseError(f"unexpected {tok} in {context}", tok.pos)
            self.i -= 1
            pipe.cmds.append(self.command())
            if self.toks[self.i - 1].kind == "pipe" and self.peek_non_space().kind == end:
                raise _ParseError("missing command after |", self.toks[self.i - 1].pos)
        if not pipe.cmds:
            raise _ParseError(f"missing value for {context}", tok.pos)
        for stage, cmd in enumerate(pipe.cmds):
            head = cmd.args[0]
            if stage and head.kind in ("dot", "nil", "literal"):
                raise _ParseError(f"non executable command in pipeline stage {stage + 1}", head.pos)
            if head.names and head.names[-1] not in METHODS and (stage or len(cmd.args) > 1):
                raise _ParseError(f"{'.' + '.'.join(head.names)} is a field, not a function: it takes no "
                                  "arguments", head.pos)
        pipe.end = pipe.cmds[-1].end
        return pipe

    def command(self):
        args = []
        while True:
            self.peek_non_space()
            operand = self.operand()
            if operand is not None:
                args.append(operand)
            tok = self.next()
            if tok.kind == "space":
                continue
            if tok.kind in ("right", "rparen"):
                self.i -= 1
            elif tok.kind != "pipe":
                raise _ParseError(f"unexpected {tok} in operand", tok.pos)
            break
        if not args:
            raise _ParseError("empty command", self.toks[self.i - 1].pos)
        return _Command(args)

    def operand(self):
        node = self.term()
        if node is None or self.toks[self.i].kind != "field":
            return node
        if node.kind in ("dot", "nil", "literal"):
            raise _ParseError(f"unexpected . after term {json.dumps(self.src[node.pos:node.end])}", node.pos)
        names = []
        while self.toks[self.i].kind == "field":
            tok = self.next()
            names.append(tok.value[1:])
            node.end = tok.end
        if node.kind in ("field", "var"):
            node.names += tuple(names)
            return node
        chain = _Operand("chain", node, node, names)
        chain.pos, chain.end = node.pos, node.end
        return chain

    def term(self):
        tok = self.next_non_space()
        kind = tok.kind
        if kind == "ident":
            if tok.value not in FUNCTIONS:
                raise _ParseError(f'function "{tok.value}" not defined', tok.pos)
            return _Operand("ident", tok, tok.value)
        if kind in ("dot", "nil"):
            return _Operand(kind, tok)
        if kind == "var":
            if tok.value not in self.vars:
                raise _ParseError(f'undefined variable "{tok.value}"', tok.pos)
            return _Operand("var", tok, tok.value)
        if kind == "field":
            return _Operand("field", tok, None, [tok.value[1:]])
        if kind == "bool":
            return _Operand("literal", tok, tok.value == "true")
        if kind == "number":
            return _Operand("literal", tok, _number(tok.value, tok.pos))
        if kind == "char":
            text = _unquote(tok.value, tok.pos)
            if len(text) != 1:
                raise _ParseError(f"malformed character constant: {tok.value}", tok.pos)
            return _Operand("literal", tok, ord(text))
        if kind in ("string", "raw"):
            return _Operand("literal", tok, _unquote(tok.value, tok.pos))
        if kind == "lparen":
            pipe = self.pipeline("parenthesized pipeline", "rparen")
            node = _Operand("pipe", tok, pipe)
            node.end = self.toks[self.i - 1].end  # its )
            return node
        self.i -= 1
        return None


# ---- execution ----

_MISSING = object()  # no value piped in from a previous command


class _Title(str):
    """A table's column title, where a row's value would be: its fields are titles too, and
    docker's string functions give it back as it is."""


def _truth(value) -> bool:
    """Go's truth: false, 0, nil and empty strings, lists and maps are false."""
    if value is None or value is False:
        return False
    if isinstance(value, (str, list, dict, int, float)):
        return bool(value)
    return True


class _State:
    def __init__(self, src, data, titles=None):
        self.src = src
        self.vars = [("$", data)]
        self.titles = titles  # a table's title row is being made
        self.out = []

    def walk(self, dot, nodes):
        for node in nodes:
            if isinstance(node, _Text):
                self.out.append(node.text)
            elif self.titles is not None and isinstance(node, (_Action, _Control)):
                mark = len(self.out)
                try:
                    self.walk_node(dot, node)
                except _ExecError:  # a title where a value is meaningless: an empty one
                    del self.out[mark:]
            else:
                self.walk_node(dot, node)

    def walk_node(self, dot, node):
        if isinstance(node, _Action):
            value = self.pipeline(dot, node.pipe)
            if not node.pipe.decl:
                self.out.append(_text(value))
        elif isinstance(node, _Jump):
            raise _Break() if node.kind == "break" else _Continue()
        else:
            mark = len(self.vars)  # what the control declares ends with it
            try:
                value = self.pipeline(dot, node.pipe)
                if node.kind == "range":
                    self.range(dot, node, value)
                elif _truth(value):
                    self.walk(value if node.kind == "with" else dot, node.body)
                elif node.orelse is not None:
                    self.walk(dot, node.orelse)
            finally:
                del self.vars[mark:]

    def range(self, dot, node, value):
        if isinstance(value, list):
            items = list(enumerate(value))
        elif isinstance(value, dict):
            items = [(k, value[k]) for k in sorted(value)]
        elif isinstance(value, int) and not isinstance(value, bool):  # Go 1.22's range over an int
            if len(node.pipe.decl) > 1:
                raise _ExecError(node, f"can't use {value} to iterate over more than one variable")
            items = [(i, i) for i in range(value)]
        elif value is None:
            items = []
        elif isinstance(value, _Title):
            items = [(value, value)]
        else:
            raise _ExecError(node, f"range can't iterate over {_text(value)}")
        if not items:
            if node.orelse is not None:
                self.walk(dot, node.orelse)
            return
        mark = len(self.vars)
        decl = node.pipe.decl
        for index, elem in items:
            if node.pipe.assign:
                self.set_var(decl[0], index if len(decl) > 1 else elem)
                if len(decl) > 1:
                    self.set_var(decl[1], elem)
            elif decl:
                self.vars[mark - 1] = (decl[-1], elem)
                if len(decl) > 1:
                    self.vars[mark - 2] = (decl[0], index)
            try:
                self.walk(elem, node.body)
            except _Continue:
                pass
            except _Break:
                break
            finally:
                del self.vars[mark:]

    def set_var(self, name, value):
        for i in range(len(self.vars) - 1, -1, -1):
            if self.vars[i][0] == name:
                self.vars[i] = (name, value)
                return

    def var(self, node):
        for name, value in reversed(self.vars):
            if name == node.value:
                return value
        raise _ExecError(node, f"undefined variable: {node.value}")

    def pipeline(self, dot, pipe):
        value = _MISSING
        for cmd in pipe.cmds:
            value = self.command(dot, cmd, value)
        for name in pipe.decl:
            if pipe.assign:
                self.set_var(name, value)
            else:
                self.vars.append((name, value))
        return value

    def command(self, dot, cmd, final):
        head = cmd.args[0]
        if head.kind == "ident":
            return self.function(dot, head, cmd, final)
        if head.names:
            return self.fields(dot, self.receiver(dot, head), head, cmd.args, final)
        if len(cmd.args) > 1 or final is not _MISSING:
            raise _ExecError(head, f"can't give argument to non-function {self.source(head)}")
        if head.kind == "nil":
            raise _ExecError(head, "nil is not a command")
        return self.arg(dot, head)

    def source(self, node) -> str:
        return self.src[node.pos:node.end]

    def receiver(self, dot, node):
        """What a field path starts from: dot, a variable, or the value of a term."""
        if node.kind == "field":
            return dot
        if node.kind == "var":
            return self.var(node)
        if node.value.kind == "nil":
            raise _ExecError(node, f"indirection through explicit nil in {self.source(node)}")
        return self.arg(dot, node.value)

    def arg(self, dot, node):
        """An operand's value as a function's argument."""
        if node.names:
            return self.fields(dot, self.receiver(dot, node), node, [node], _MISSING)
        kind = node.kind
        if kind == "dot":
            return dot
        if kind == "var":
            return self.var(node)
        if kind == "pipe":
            return self.pipeline(dot, node.value)
        if kind == "ident":
            return self.function(dot, node, _Command([node]), _MISSING)
        return node.value  # a literal, or nil

    def fields(self, dot, receiver, node, args, final):
        for name in node.names[:-1]:
            receiver = self.field(dot, receiver, name, node, [node], _MISSING)
        return self.field(dot, receiver, node.names[-1], node, args, final)

    def field(self, dot, receiver, name, node, args, final):
        with_args = len(args) > 1 or final is not _MISSING
        if isinstance(receiver, _Title):
            return _Title(self.titles.get(name, _upper_words(name)))
        if isinstance(receiver, dict):
            if name in receiver:
                if with_args:
                    raise _ExecError(node, f"{name} is not a method but has arguments")
                return receiver[name]
            if name in METHODS:
                values = [self.arg(dot, a) for a in args[1:]] + ([final] if final is not _MISSING else [])
                params, variadic, method = METHODS[name]
                return self.call(node, name, (params, variadic, lambda *a: method(receiver, *a)), values)
            raise _ExecError(node, f"can't evaluate field {name}")
        raise _ExecError(node, f"can't evaluate field {name} in type {_gotype(receiver)}")

    def function(self, dot, ident, cmd, final):
        name = ident.value
        if name in ("and", "or"):  # their arguments are evaluated only as far as needed
            if len(cmd.args) == 1 and final is _MISSING:
                raise _ExecError(cmd, f"wrong number of args for {name}: want at least 1 got 0")
            value = None
            for node in cmd.args[1:]:
                value = self.arg(dot, node)
                if _truth(value) == (name == "or"):
                    return value
            return final if final is not _MISSING else value
        values = [self.arg(dot, a) for a in cmd.args[1:]] + ([final] if final is not _MISSING else [])
        if self.titles is not None and name in _HEADER_AS_IS and values and isinstance(values[0], _Title):
            return values[0]  # docker's header functions: the title as it is
        if self.titles is not None and name in ("index", "slice") and values and isinstance(values[0], _Title):
            return values[0]
        return self.call(cmd, name, FUNCTIONS[name], values)

    @staticmethod
    def call(node, name, func, values):
        """A function on its arguments, checked first as Go checks them (count and type)."""
        params, variadic, fn = func
        if len(values) < len(params) or (variadic is None and len(values) > len(params)):
            want = f"at least {len(params)}" if variadic else str(len(params))
            raise _ExecError(node, f"wrong number of args for {name}: want {want} got {len(values)}")
        for value, kind in zip(values, params + [variadic] * (len(values) - len(params))):
            bad = {"string": not isinstance(value, str),
                   "int": not isinstance(value, int) or isinstance(value, bool),
                   "list": not isinstance(value, list)}.get(kind, False)
            if bad:
                expected = {"list": "[]string"}.get(kind, kind)
                raise _ExecError(node, f"wrong type for value; expected {expected}; got {_gotype(value)}")
        try:
            return fn(*values)
        except _FuncError as e:
            raise _ExecError(node, f"error calling {name}: {e}") from None
        except TinydockerError:
            raise
        except Exception as e:  # a value the function cannot take: Go recovers its panics likewise
            raise _ExecError(node, f"error calling {name}: {e}") from None


def _upper_words(name: str) -> str:
    return re.sub(r"(?<=[a-z])(?=[A-Z])", " ", name).upper()


# ---- the template ----

class Template:
    def __init__(self, text: str):
        text = text.replace("\\t", "\t").replace("\\n", "\n")
        self.table = text.startswith("table ") or text == "table"
        self.text = text[len("table"):].lstrip(" ") if self.table else text
        try:
            self.tree = _Parser(self.text).parse()
        except _ParseError as e:
            line = self.text.count("\n", 0, e.pos) + 1
            raise TinydockerError(f"template parsing error: template: :{line}: {e}") from None
        except RecursionError:
            raise TinydockerError("template parsing error: template: nested too deeply") from None

    def render(self, obj) -> str:
        return self._execute(obj, None)

    def headers(self, titles: dict) -> str:
        """The table's title row: each field's docker title (its name upper-cased if unknown)."""
        return self._execute(_Title(""), titles)

    def _execute(self, data, titles) -> str:
        state = _State(self.text, data, titles)
        try:
            state.walk(data, self.tree)
        except _ExecError as e:
            pos = e.node.pos
            line_start = self.text.rfind("\n", 0, pos) + 1
            line = self.text.count("\n", 0, pos) + 1
            column = len(self.text[line_start:pos].encode())
            where = state.source(e.node)
            where = where if len(where) <= 20 else where[:20] + "..."
            raise TinydockerError(f'template: :{line}:{column}: executing "" at <{where}>: {e}') from None
        except RecursionError:
            raise TinydockerError("template: nested too deeply") from None
        return "".join(state.out)


# ---- values as Go prints them ----

def _gotype(value) -> str:
    if value is None:
        return "<nil>"
    for kind, name in ((bool, "bool"), (int, "int"), (float, "float64"), (str, "string"),
                       (list, "[]interface {}"), (dict, "map[string]interface {}")):
        if isinstance(value, kind):
            return name
    return type(value).__name__


def _go_float(value: float) -> str:
    """%v of a float64: the shortest digits that read back, in e-notation from 1e+06 or below 1e-04."""
    if value != value:
        return "NaN"
    if value in (float("inf"), float("-inf")):
        return "+Inf" if value > 0 else "-Inf"
    sign = "-" if str(value).startswith("-") else ""
    if value == 0:
        return sign + "0"
    mantissa, _, exp = repr(abs(value)).partition("e")
    whole, _, frac = mantissa.partition(".")
    digits, point = whole + frac, len(whole) + int(exp or 0)
    stripped = digits.lstrip("0")
    point -= len(digits) - len(stripped)
    digits = stripped.rstrip("0") or "0"
    exponent = point - 1
    if exponent < -4 or exponent >= 6:
        text = digits[0] + ("." + digits[1:] if len(digits) > 1 else "")
        return f"{sign}{text}e{'-' if exponent < 0 else '+'}{abs(exponent):02d}"
    if point <= 0:
        return f"{sign}0.{'0' * -point}{digits}"
    if point >= len(digits):
        return sign + digits + "0" * (point - len(digits))
    return f"{sign}{digits[:point]}.{digits[point:]}"


def _text(value) -> str:
    """A value as Go's fmt prints it (%v)."""
    if value is None:
        return "<nil>"
    if value is _MISSING:
        return "<no value>"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float):
        return _go_float(value)
    if isinstance(value, dict):
        return "map[" + " ".join(f"{_text(k)}:{_text(v)}" for k, v in sorted(value.items())) + "]"
    if isinstance(value, list):
        return "[" + " ".join(_text(v) for v in value) + "]"
    return str(value)


def _go_quote(text: str) -> str:
    """strconv.Quote: a double-quoted Go string literal."""
    out = []
    for c in text:
        if c in '"\\':
            out.append("\\" + c)
        elif c in "\a\b\f\n\r\t\v":
            out.append("\\" + "abfnrtv"["\a\b\f\n\r\t\v".index(c)])
        elif c.isprintable():
            out.append(c)
        elif ord(c) < 0x80:
            out.append(f"\\x{ord(c):02x}")
        elif ord(c) < 0x10000:
            out.append(f"\\u{ord(c):04x}")
        else:
            out.append(f"\\U{ord(c):08x}")
    return '"' + "".join(out) + '"'


_VERB = re.compile(r"%([-+# 0]*)(\*|[0-9]+)?(\.(\*|[0-9]+)?)?(.?)", re.S)


def _sprintf(form: str, *args) -> str:
    """Go's fmt.Sprintf: flags, width, precision (or *), and the verbs v s d q x X o b c e f g t T %."""
    out, at, used = [], 0, 0
    while True:
        i = form.find("%", at)
        if i < 0:
            out.append(form[at:])
            break
        out.append(form[at:i])
        m = _VERB.match(form, i)
        flags, width, has_precision, precision, verb = m.groups()
        at = m.end()
        sizes = []
        for size in (width, precision):
            if size == "*":
                if used < len(args) and isinstance(args[used], int) and not isinstance(args[used], bool):
                    size = args[used]
                else:
                    out.append("%!(BADWIDTH)" if size is width else "%!(BADPREC)")
                    size = None
                used += 1
            elif size is not None:
                size = int(size)
            sizes.append(size)
        width, precision = sizes
        if width is not None and width < 0:
            flags, width = flags + "-", -width
        if has_precision and precision is None:
            precision = 0
        if not verb:
            out.append("%!(NOVERB)")
            break
        if verb == "%":
            out.append("%")
            continue
        if used >= len(args):
            out.append(f"%!{verb}(MISSING)")
            continue
        out.append(_format(verb, args[used], flags, width, precision))
        used += 1
    if used < len(args):
        out.append("%!(EXTRA " + ", ".join(f"{_gotype(a)}={_text(a)}" for a in args[used:]) + ")")
    return "".join(out)


def _pad(text: str, flags: str, width, numeric: bool = False) -> str:
    if width is None or len(text) >= width:
        return text
    if "-" in flags:
        return text.ljust(width)
    if "0" in flags:
        if numeric and text[:1] in "+- ":
            return text[0] + text[1:].rjust(width - 1, "0")
        return text.rjust(width, "0")
    return text.rjust(width)


def _format(verb: str, value, flags: str, width, precision) -> str:
    """One value through one verb, as Go's fmt does it (lists and maps element by element)."""
    if verb == "T":
        return _pad(_gotype(value), flags, width)
    if isinstance(value, list):
        return "[" + " ".join(_format(verb, v, flags, width, precision) for v in value) + "]"
    if isinstance(value, dict):
        return "map[" + " ".join(f"{_format(verb, k, flags, width, precision)}:"
                                 f"{_format(verb, v, flags, width, precision)}"
                                 for k, v in sorted(value.items())) + "]"
    bad = f"%!{verb}({_gotype(value)}={_text(value)})" if value is not None else f"%!{verb}(<nil>)"
    if value is None:
        return _pad("<nil>", flags, width) if verb == "v" else bad
    if isinstance(value, bool):
        return _pad(_text(value), flags, width) if verb in "vt" else bad
    if isinstance(value, int):
        return _format_int(verb, value, flags, width, precision) or bad
    if isinstance(value, float):
        return _format_float(verb, value, flags, width, precision) or bad
    if isinstance(value, str):
        if verb in "vs":
            return _pad(value[:precision] if precision is not None else value, flags, width)
        if verb == "q":
            value = value[:precision] if precision is not None else value
            if "#" in flags and "`" not in value and value.isprintable():
                return _pad(f"`{value}`", flags, width)
            return _pad(_go_quote(value), flags, width)
        if verb in "xX":
            data = value.encode()[:precision] if precision is not None else value.encode()
            digits = ["%02x" % b for b in data]
            prefix = "0x" if "#" in flags else ""
            if " " in flags:  # % x: the bytes apart, each with its 0x
                text = " ".join(prefix + d for d in digits)
            else:
                text = prefix * bool(digits) + "".join(digits)
            return _pad(text.upper() if verb == "X" else text, flags, width)
        return bad
    return _pad(_text(value), flags, width) if verb in "vs" else bad


def _format_int(verb, value, flags, width, precision):
    if verb == "c":
        return _pad(chr(value), flags, width) if 0 <= value <= 0x10FFFF else None
    if verb == "q":  # strconv.QuoteRune
        if not 0 <= value <= 0x10FFFF:
            return None
        c = chr(value)
        body = "\\'" if c == "'" else '"' if c == '"' else _go_quote(c)[1:-1]
        return _pad(f"'{body}'", flags, width)
    if verb == "U":
        return _pad(f"U+{value:04X}", flags, width)
    bases = {"v": (10, ""), "d": (10, ""), "b": (2, "0b"), "o": (8, "0"), "O": (8, "0o"), "x": (16, "0x"),
             "X": (16, "0X")}
    if verb not in bases:
        return None
    base, prefix = bases[verb]
    digits = format(abs(value), {10: "d", 2: "b", 8: "o", 16: "x"}[base])
    if verb == "X":
        digits = digits.upper()
    if precision is not None:
        digits = digits.rjust(precision, "0") if precision or value else ""
    if "#" in flags and verb in "bxXo" or verb == "O":
        digits = prefix + digits
    sign = "-" if value < 0 else "+" if "+" in flags else " " if " " in flags else ""
    return _pad(sign + digits, flags if precision is None else flags.replace("0", ""), width, numeric=True)


def _format_float(verb, value, flags, width, precision):
    if verb in "vgG" and precision is None:
        text = _go_float(value)
        text = text.upper() if verb == "G" else text
    elif verb in "eEfFgG":
        text = ("%." + str(6 if precision is None else precision) + verb.replace("F", "f")) % value
        text = {"inf": "+Inf", "-inf": "-Inf", "nan": "NaN", "INF": "+Inf", "-INF": "-Inf", "NAN": "NaN"}.get(
            text, text)
    else:
        return None
    if text[0] not in "+-" and ("+" in flags or " " in flags):
        text = ("+" if "+" in flags else " ") + text
    return _pad(text, flags, width, numeric=True)


def _sprint(*args) -> str:
    """fmt.Sprint: spaces between operands when neither is a string."""
    out = []
    for i, value in enumerate(args):
        if i and not isinstance(value, str) and not isinstance(args[i - 1], str):
            out.append(" ")
        out.append(_text(value))
    return "".join(out)


def _sprintln(*args) -> str:
    return " ".join(_text(v) for v in args) + "\n"


def _args_text(args) -> str:
    return args[0] if len(args) == 1 and isinstance(args[0], str) else _sprint(*args)


def _html(*args) -> str:
    text = _args_text(args)
    for c, escaped in (("&", "&amp;"), ("'", "&#39;"), ("<", "&lt;"), (">", "&gt;"), ('"', "&#34;"),
                       ("\0", "\ufffd")):
        text = text.replace(c, escaped)
    return text


def _js(*args) -> str:
    out = []
    for c in _args_text(args):
        if c in "\\'\"":
            out.append("\\" + c)
        elif c in "<>&=`":
            out.append(f"\\u{ord(c):04X}")
        elif c < " " or not c.isprintable():
            out.append(f"\\u{ord(c):04X}")
        else:
            out.append(c)
    return "".join(out)


def _urlquery(*args) -> str:
    from urllib.parse import quote_plus

    return quote_plus(_args_text(args), safe="")


# comparisons, as Go's eq, lt… compare: basic values of one kind (int, float, string, bool)

def _kind(value) -> str:
    for kind, name in ((bool, "bool"), (int, "int"), (float, "float"), (str, "string")):
        if isinstance(value, kind):
            return name
    return "other"


def _eq(first, *others) -> bool:
    """eq a b c…: whether a equals any of the others."""
    if not others:
        raise _FuncError("missing argument for comparison")
    for other in others:
        if _kind(first) != _kind(other):
            if first is not None and other is not None:
                raise _FuncError("incompatible types for comparison")
            same = False
        elif _kind(first) == "other":
            if first is not None and other is not None:
                raise _FuncError(f"non-comparable type {_text(other)}: {_gotype(other)}")
            same = first is None and other is None
        else:
            same = first == other
        if same:
            return True
    return False


def _lt(a, b) -> bool:
    if "other" in (_kind(a), _kind(b)) or _kind(a) == "bool":
        raise _FuncError("invalid type for comparison")
    if _kind(a) != _kind(b):
        raise _FuncError("incompatible types for comparison")
    return a < b


def _index(item, *keys):
    """index x 1 2: x[1][2] of a list (string: a byte) or a map."""
    if item is None:
        raise _FuncError("index of untyped nil")
    for key in keys:
        if item is None:
            raise _FuncError("index of nil pointer")
        if isinstance(item, (list, str)):
            if not isinstance(key, int) or isinstance(key, bool):
                raise _FuncError(f"cannot index slice/array with type {_gotype(key)}")
            sequence = item.encode() if isinstance(item, str) else item
            if not 0 <= key < len(sequence):
                raise _FuncError(f"index out of range: {key}")
            item = sequence[key]
        elif isinstance(item, dict):
            if not isinstance(key, str):
                raise _FuncError(f"value has type {_gotype(key)}; should be string")
            if key in item:
                item = item[key]
            else:
                # Go's map index gives the value type's zero value: "" for docker's string maps
                # (labels, options), nil for the others
                item = "" if all(isinstance(v, str) for v in item.values()) else None
        else:
            raise _FuncError(f"can't index item of type {_gotype(item)}")
    return item


def _slice(item, *indexes):
    """slice x 1 2: x[1:2] of a list or a string (in bytes, as Go's)."""
    if item is None:
        raise _FuncError("slice of untyped nil")
    if len(indexes) > 3:
        raise _FuncError(f"too many slice indexes: {len(indexes)}")
    if isinstance(item, str):
        if len(indexes) == 3:
            raise _FuncError("cannot 3-index slice a string")
        sequence = item.encode()
    elif isinstance(item, list):
        sequence = item
    else:
        raise _FuncError(f"can't slice item of type {_gotype(item)}")
    bounds = [0, len(sequence), len(sequence)]
    for i, index in enumerate(indexes):
        if not isinstance(index, int) or isinstance(index, bool):
            raise _FuncError(f"cannot index slice/array with type {_gotype(index)}")
        if not 0 <= index <= len(sequence):
            raise _FuncError(f"index out of range: {index}")
        bounds[i] = index
    for low, high in zip(bounds[:len(indexes)], bounds[1:len(indexes)]):
        if low > high:
            raise _FuncError(f"invalid slice index: {low} > {high}")
    part = sequence[bounds[0]:bounds[1]]
    return part.decode("utf-8", "replace") if isinstance(item, str) else part


def _len(value) -> int:
    if isinstance(value, str):
        return len(value.encode())  # Go's len of a string counts bytes
    if isinstance(value, (list, dict)):
        return len(value)
    raise _FuncError(f"len of type {_gotype(value)}" if value is not None else "len of nil pointer")


def _call(fn, *args):
    raise _FuncError("call of nil" if fn is None else f"non-function of type {_gotype(fn)}")


# docker's functions

def _join(items, sep):
    return sep.join(_text(i) for i in items)


def _split(text, sep):
    return list(text) if sep == "" else text.split(sep)


def _title(text):
    """strings.Title: the first letter of each word in upper case, the rest as it is."""
    out, previous = [], " "
    for c in text:
        if c.isascii():
            separator = not (_alnum(previous) and previous.isascii())
        else:
            separator = previous.isspace() if not previous.isascii() else not _alnum(previous)
        out.append(c.upper() if separator else c)
        previous = c
    return "".join(out)


def _truncate(text, length):
    data = text.encode()
    if len(data) < length:
        return text
    if length < 0:
        raise _FuncError(f"slice bounds out of range [:{length}]")
    return data[:length].decode("utf-8", "ignore")


def _pad_with_space(text, prefix, suffix):
    return text if text == "" else " " * prefix + text + " " * suffix


def _label(row, key):
    labels = row.get("Labels")
    if not isinstance(labels, LabelText):
        raise _FuncError("Label is a method of ps's rows only")
    return labels.labels.get(key, "")


# name: (parameter types, type of any further ones (None: no more), function)
METHODS = {"Label": (["string"], None, _label)}  # called with the row first

FUNCTIONS = {
    "and": ([], "any", None),  # and, or: evaluated by _State.function
    "or": ([], "any", None),
    "not": (["any"], None, lambda v: not _truth(v)),
    "len": (["any"], None, _len),
    "index": (["any"], "any", _index),
    "slice": (["any"], "any", _slice),
    "print": ([], "any", _sprint),
    "printf": (["string"], "any", _sprintf),
    "println": ([], "any", _sprintln),
    "eq": (["any"], "any", _eq),
    "ne": (["any", "any"], None, lambda a, b: not _eq(a, b)),
    "lt": (["any", "any"], None, _lt),
    "le": (["any", "any"], None, lambda a, b: _lt(a, b) or _eq(a, b)),
    "gt": (["any", "any"], None, lambda a, b: not (_lt(a, b) or _eq(a, b))),
    "ge": (["any", "any"], None, lambda a, b: not _lt(a, b)),
    "html": ([], "any", _html),
    "js": ([], "any", _js),
    "urlquery": ([], "any", _urlquery),
    "call": (["any"], "any", _call),
    "json": (["any"], None, go_json),
    "join": (["list", "string"], None, _join),
    "split": (["string", "string"], None, _split),
    "upper": (["string"], None, str.upper),
    "lower": (["string"], None, str.lower),
    "title": (["string"], None, _title),
    "pad": (["string", "int", "int"], None, _pad_with_space),
    "truncate": (["string", "int"], None, _truncate),
}

# docker's header functions: in a table's title row they give the title back as it is
_HEADER_AS_IS = {"json", "split", "join", "title", "lower", "upper", "pad", "truncate"}


def render_rows(text: str, rows: list, titles: dict | None = None) -> str:
    """Every row through the template; a table gets its title row and aligned columns."""
    template = Template(text)
    lines = [template.render(row) for row in rows]
    if not template.table:
        return "\n".join(lines)
    cells = [line.split("\t") for line in [template.headers(titles or {})] + lines]
    width = max(len(c) for c in cells)
    cells = [c + [""] * (width - len(c)) for c in cells]
    return table(cells[0], cells[1:])
