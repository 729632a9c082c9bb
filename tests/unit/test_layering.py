"""The package's layering, read from its source: no circle between its parts, at the level
of subpackages and top-level modules, counting imports inside functions too (a lazy import
still ties two parts together); and the record store knows nothing above it."""

import ast
from pathlib import Path

PACKAGE = Path(__file__).resolve().parents[2] / "tinydocker"


def _imports():
    """(importing module, imported module) for every tinydocker import in the package."""
    for path in PACKAGE.rglob("*.py"):
        parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
        module = ".".join(parts[:-1] if parts[-1] == "__init__" else parts)
        package = module if path.name == "__init__.py" else module.rpartition(".")[0]
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            if isinstance(node, ast.ImportFrom):
                if node.level:
                    base = package.split(".")[:len(package.split(".")) - node.level + 1]
                    target = ".".join(base + ([node.module] if node.module else []))
                else:
                    target = node.module or ""
                for alias in node.names:  # `from . import x` names a module of its own
                    sub = f"{target}.{alias.name}"
                    yield module, sub if _exists(sub) else target
            elif isinstance(node, ast.Import):
                for alias in node.names:
                    yield module, alias.name


def _exists(module: str) -> bool:
    path = PACKAGE.parent.joinpath(*module.split("."))
    return path.with_suffix(".py").exists() or path.is_dir()


def _part(module: str) -> str:
    """tinydocker.image.store -> image; tinydocker.spec -> spec; tinydocker -> (package)"""
    parts = module.split(".")
    return parts[1] if len(parts) > 1 else "(package)"


def _edges() -> dict[str, dict[str, str]]:
    edges: dict[str, dict[str, str]] = {}
    for source, target in _imports():
        if target.split(".")[0] == "tinydocker" and _part(source) != _part(target):
            edges.setdefault(_part(source), {}).setdefault(_part(target), f"{source} -> {target}")
    return edges


def _circle(edges) -> list[str] | None:
    """One circle between parts, as the imports that make it, or None."""
    state: dict[str, str] = {}
    path: list[str] = []

    def visit(node):
        state[node] = "open"
        path.append(node)
        for nxt in edges.get(node, {}):
            if state.get(nxt) == "open":
                ring = path[path.index(nxt):] + [nxt]
                return [edges[a][b] for a, b in zip(ring, ring[1:])]
            if nxt not in state and (found := visit(nxt)):
                return found
        path.pop()
        state[node] = "done"
        return None

    for node in list(edges):
        if node not in state and (found := visit(node)):
            return found
    return None


def test_no_circle_between_the_packages_parts():
    assert _circle(_edges()) is None


def test_the_finder_sees_a_circle():
    assert _circle({"a": {"b": "a.x -> b.y"}, "b": {"a": "b.y -> a.z"}}) == ["a.x -> b.y", "b.y -> a.z"]


def test_state_and_network_import_nothing_above_them():
    above = {"api", "cli", "spec", "container", "__main__", "(package)"}
    edges = _edges()
    for part in ("state", "network", "volume", "image", "cgroups", "security", "linux"):
        assert not above & set(edges.get(part, {})), {t: edges[part][t] for t in above & set(edges.get(part, {}))}
