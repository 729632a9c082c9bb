"""What listings are made of, with a template or without: docker's padded columns, its
compact JSON, and ps's Labels value (apart from template.py, which a plain listing does not
load)."""


def table(headers: list[str], rows: list[list[str]]) -> str:
    """Columns padded as docker's tabwriter does: at least three spaces between them."""
    widths = [max([len(h)] + [len(row[i]) for row in rows]) for i, h in enumerate(headers)]
    lines = []
    for row in [headers] + rows:
        cells = [cell.ljust(w) for cell, w in zip(row[:-1], widths)] + [row[-1]]
        lines.append("   ".join(cells).rstrip())
    return "\n".join(lines)


def go_json(value) -> str:
    """JSON as docker's --format json and {{json}} write it: compact, not HTML-escaped,
    UTF-8 as it is."""
    import json

    return json.dumps(value, separators=(",", ":"), ensure_ascii=False)


class LabelText(str):
    """ps's Labels column, "k=v,k2=v2", that keeps the labels themselves for {{.Label "k"}}:
    a value may hold a comma, so the text cannot be split back into them."""

    def __new__(cls, labels: dict):
        text = super().__new__(cls, ",".join(f"{k}={v}" for k, v in sorted(labels.items())))
        text.labels = labels
        return text
