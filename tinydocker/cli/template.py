"""docker's --format: the part of Go's text/template that docker users write.

    {{.Names}}  {{.State.Status}}  {{.}}          fields, nested, or the whole object
    {{json .}}  {{json .Config}}                   JSON
    {{index .Labels "app"}}  {{index .Args 0}}     one entry of a map or a list
    {{join .Args ","}}  {{upper .Name}}  {{lower .Name}}  {{title .Name}}  {{len .Args}}
    {{.Names | upper}}                             a pipeline: the value is the last argument
    {{.Label "app"}}                               ps's one method: a label's value
    table {{.ID}}\t{{.Names}}                      a table with docker's column titles

Anything else ({{if}}, {{range}}, variables...) is refused with a clear error, never
printed wrong. Values print as Go prints them: map[k:v], [a b], true, <nil>.
"""

import json
import re

from ..errors import TinydockerError

_ACTION = re.compile(r"{{-?\s*(.*?)\s*-?}}", re.S)
_TOKEN = re.compile(r'"(?:[^"\\]|\\.)*"|`[^`]*`|[^\s|]+|\|')


def _error(message: str) -> TinydockerError:
    return TinydockerError(f"template parsing error: {message}")


class Template:
    def __init__(self, text: str):
        text = text.replace("\\t", "\t").replace("\\n", "\n")
        self.table = text.startswith("table ") or text == "table"
        self.text = text[len("table"):].lstrip(" ") if self.table else text
        self.parts = []  # literal strings and parsed actions, in order
        at = 0
        for m in _ACTION.finditer(self.text):
            self.parts.append(self.text[at:m.start()])
            self.parts.append(self._parse(m.group(1)))
            at = m.end()
        tail = self.text[at:]
        if "{{" in tail or "}}" in tail:
            raise _error(f"unclosed action in {text!r}")
        self.parts.append(tail)

    @staticmethod
    def _parse(action: str) -> list[list[str]]:
        """An action as a pipeline: a list of commands, each a list of tokens."""
        if not action or action.split()[0] in ("if", "else", "end", "range", "with", "define", "template",
                                                 "block") or action.startswith(("$", "/*")):
            raise _error(f"{{{{{action}}}}} is not supported by tinydocker's --format "
                         "(fields, json, index, join, upper, lower, title, len and | are)")
        commands, current = [], []
        for token in _TOKEN.findall(action):
            if token == "|":
                commands.append(current)
                current = []
            else:
                current.append(token)
        commands.append(current)
        for command in commands:
            if not command:
                raise _error(f"empty command in {{{{{action}}}}}")
            head = command[0]
            if head not in FUNCTIONS and not head.startswith("."):
                raise _error(f'function "{head}" not defined')
            if head.startswith(".") and len(command) > 1 and head.rsplit(".", 1)[-1] not in METHODS:
                raise _error(f"{head} is a field, not a function: {{{{{action}}}}}")
        return commands

    def render(self, obj) -> str:
        out = []
        for part in self.parts:
            out.append(part if isinstance(part, str) else _text(self._run(part, obj)))
        return "".join(out)

    def _run(self, commands, obj):
        value, first = None, True
        for command in commands:
            args = [self._arg(t, obj) for t in command[1:]]
            if not first:
                args.append(value)
            head = command[0]
            if not head.startswith("."):
                value = FUNCTIONS[head](*args)
            elif len(command) > 1:  # a method call on the object its path leads to
                owner, _, name = head.rpartition(".")
                value = METHODS[name](_field(obj, owner), *args)
            else:
                value = _field(obj, head)
            first = False
        return value

    @staticmethod
    def _arg(token: str, obj):
        if token.startswith('"'):
            return json.loads(token)
        if token.startswith("`"):
            return token[1:-1]
        if token.lstrip("-").isdigit():
            return int(token)
        if token.startswith("."):
            return _field(obj, token)
        raise _error(f"unexpected {token!r}")

    def headers(self, titles: dict) -> str:
        """The table's title row: each field's docker title (its name upper-cased if unknown)."""
        out = []
        for part in self.parts:
            if isinstance(part, str):
                out.append(part)
            else:
                head = part[0][0] if part[0][0].startswith(".") else (part[0][1:] or [""])[-1]
                name = head.lstrip(".").split(".")[-1]
                out.append(titles.get(name, _upper_words(name)))
        return "".join(out)


def _upper_words(name: str) -> str:
    return re.sub(r"(?<=[a-z])(?=[A-Z])", " ", name).upper()


def _field(obj, path: str):
    value = obj
    for name in [p for p in path.split(".") if p]:
        if isinstance(value, dict) and name in value:
            value = value[name]
        else:
            raise TinydockerError(f"template: can't evaluate field {name} in {path}")
    return value


def _index(container, *keys):
    for key in keys:
        try:
            container = container[key]
        except (KeyError, IndexError, TypeError):
            if isinstance(container, dict):
                # Go's map index gives the value type's zero value: "" for docker's string maps
                # (labels, options), nil for the others
                return "" if all(isinstance(v, str) for v in container.values()) else None
            raise TinydockerError(f"template: error calling index: index {key!r} out of range") from None
    return container


def _join(items=None, sep=None):
    if sep is None or not isinstance(items, list):
        raise TinydockerError("template: join wants a list and a separator: {{join .Args \",\"}}")
    return sep.join(_text(i) for i in items)


def _label(row, key=None):
    if not isinstance(key, str):
        raise TinydockerError('template: Label wants a name: {{.Label "app"}}')
    labels = row.get("Labels") if isinstance(row, dict) else None
    if not isinstance(labels, LabelText):
        raise TinydockerError("template: can't evaluate field Label: it is a method of ps's rows")
    return labels.labels.get(key, "")


class LabelText(str):
    """ps's Labels column, "k=v,k2=v2", that keeps the labels themselves for {{.Label "k"}}:
    a value may hold a comma, so the text cannot be split back into them."""

    def __new__(cls, labels: dict):
        text = super().__new__(cls, ",".join(f"{k}={v}" for k, v in sorted(labels.items())))
        text.labels = labels
        return text


METHODS = {"Label": _label}


def go_json(value) -> str:
    """JSON as docker's --format json and {{json}} write it: compact, not HTML-escaped,
    UTF-8 as it is."""
    return json.dumps(value, separators=(",", ":"), ensure_ascii=False)


FUNCTIONS = {
    "json": go_json,
    "index": _index,
    "join": _join,
    "upper": lambda v: _text(v).upper(),
    "lower": lambda v: _text(v).lower(),
    "title": lambda v: _text(v).title(),
    "len": lambda v: len(v),
    "println": lambda *a: " ".join(_text(v) for v in a) + "\n",
}


def _text(value) -> str:
    """A value as Go's fmt prints it."""
    if value is None:
        return "<nil>"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, dict):
        return "map[" + " ".join(f"{k}:{_text(v)}" for k, v in sorted(value.items())) + "]"
    if isinstance(value, list):
        return "[" + " ".join(_text(v) for v in value) + "]"
    return str(value)


def table(headers: list[str], rows: list[list[str]]) -> str:
    """Columns padded as docker's tabwriter does: at least three spaces between them."""
    widths = [max([len(h)] + [len(row[i]) for row in rows]) for i, h in enumerate(headers)]
    lines = []
    for row in [headers] + rows:
        cells = [cell.ljust(w) for cell, w in zip(row[:-1], widths)] + [row[-1]]
        lines.append("   ".join(cells).rstrip())
    return "\n".join(lines)


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
