"""The package's import structure, as docs/architecture.md describes it: no module imports one that imports it
back (at any depth, lazy and type-checking imports included), and each part imports only its own layer or
the layers below."""

from __future__ import annotations

import ast
from collections import defaultdict
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
PACKAGE = REPO / "src" / "slicevlm"
#: The folders whose command lines must all be built by `slicevlm.command_line` (jsonargparse).
COMMAND_LINE_FOLDERS: tuple[str, ...] = ("src", "scripts", "lightning_app")

#: The layers, bottom first: a top-level module or subpackage of slicevlm may import from its own
#: layer and the layers below, never from a layer above (docs/architecture.md, "Layers").
LAYERS: tuple[tuple[str, ...], ...] = (
    ("slicevlm", "errors", "hub", "lazy_exports", "console", "command_line", "config_record",
     "trusted_classes", "shipped_configs", "build_marker", "architectures", "checkpoint_sources"),
    ("io",),
    ("data", "store", "metrics", "testbed"),
    ("vision", "llm"),
    ("model", "toy", "checkpoint"),
    ("training", "callbacks"),
    ("cli", "inference", "tiny"),
    ("serve", "hub_upload", "demo_targets", "synthetic_twin"),
    ("bench", "rehearsal", "reproduction", "tools", "__main__"),
)


def _module_name(path: Path) -> str:
    name = ".".join(("slicevlm", *path.relative_to(PACKAGE).with_suffix("").parts))
    return name.removesuffix(".__init__")


def _modules() -> dict[str, Path]:
    return {_module_name(path): path for path in PACKAGE.rglob("*.py")}


def _imports(path: Path, modules: dict[str, Path]) -> set[str]:
    """The package modules `path` imports, wherever the import statement sits."""
    found = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.ImportFrom) and node.module and node.level == 0 and node.module.startswith("slicevlm"):
            for alias in node.names:
                full = f"{node.module}.{alias.name}"
                found.add(full if full in modules else node.module)
        elif isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names if alias.name.startswith("slicevlm"))
    return {name for name in found if name in modules}


def _part(module: str) -> str:
    parts = module.split(".")
    return parts[1] if len(parts) > 1 else "slicevlm"


@pytest.fixture(scope="module")
def graph() -> dict[str, set[str]]:
    modules = _modules()
    return {name: _imports(path, modules) - {name} for name, path in modules.items()}


def _cycle_from(start: str, graph: dict[str, set[str]]) -> list[str] | None:
    """A path start -> ... -> start through the import graph, or None."""
    stack, seen = [(start, [start])], set()
    while stack:
        node, path = stack.pop()
        for nxt in sorted(graph.get(node, ())):
            if nxt == start:
                return [*path, start]
            if nxt not in seen:
                seen.add(nxt)
                stack.append((nxt, [*path, nxt]))
    return None


def _is_package_reexport(a: str, b: str) -> bool:
    """A package's ``__init__`` naming its own submodules (lazily or not) is how a package exports them."""
    return b.startswith(a + ".") or a.startswith(b + ".")


def test_no_import_circles(graph: dict[str, set[str]]) -> None:
    pruned = {a: {b for b in targets if not _is_package_reexport(a, b)} for a, targets in graph.items()}
    circles = {" -> ".join(cycle) for module in sorted(pruned) if (cycle := _cycle_from(module, pruned))}
    assert not circles, "import circles:\n" + "\n".join(sorted(circles))


def test_every_part_has_a_layer() -> None:
    parts = {_part(name) for name in _modules()}
    placed = {part for layer in LAYERS for part in layer}
    assert parts <= placed, f"place these in LAYERS (and docs/architecture.md): {sorted(parts - placed)}"
    assert not placed - parts, f"LAYERS names parts that no longer exist: {sorted(placed - parts)}"


def test_parts_import_only_their_layer_and_below(graph: dict[str, set[str]]) -> None:
    level = {part: index for index, layer in enumerate(LAYERS) for part in layer}
    upward = defaultdict(set)
    for module, targets in graph.items():
        for target in targets:
            if level[_part(target)] > level[_part(module)]:
                upward[module].add(target)
    assert not upward, "imports of a higher layer:\n" + "\n".join(f"{m} -> {sorted(t)}" for m, t in sorted(upward.items()))


def test_the_checks_see_a_circle_and_an_upward_import() -> None:
    assert _cycle_from("a", {"a": {"b"}, "b": {"c"}, "c": {"a"}}) == ["a", "b", "c", "a"]
    assert _cycle_from("a", {"a": {"b"}, "b": {"c"}, "c": set()}) is None
    imports = _imports(PACKAGE / "training" / "module.py", _modules())
    assert "slicevlm.training.zero" in imports and "slicevlm.checkpoint" in imports


def _plain_argparse_parsers(source: str) -> list[int]:
    """Lines of `source` that build (or subclass) ``argparse.ArgumentParser``, however it was imported."""
    tree = ast.parse(source)
    modules, classes = set(), set()  # names bound to the argparse module / to its ArgumentParser
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            modules.update(alias.asname or alias.name for alias in node.names if alias.name == "argparse")
        elif isinstance(node, ast.ImportFrom) and node.module == "argparse" and node.level == 0:
            classes.update(alias.asname or alias.name for alias in node.names if alias.name == "ArgumentParser")

    def is_plain_parser(expr: ast.expr) -> bool:
        if isinstance(expr, ast.Attribute):
            return expr.attr == "ArgumentParser" and isinstance(expr.value, ast.Name) and expr.value.id in modules
        return isinstance(expr, ast.Name) and expr.id in classes

    lines = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Call) and is_plain_parser(node.func):
            lines.append(node.lineno)
        elif isinstance(node, ast.ClassDef) and any(is_plain_parser(base) for base in node.bases):
            lines.append(node.lineno)
    return sorted(lines)


def test_every_command_line_is_built_with_jsonargparse() -> None:
    """One mechanism for command lines: `slicevlm.command_line` (a typed function or options dataclass,
    or a jsonargparse parser with its help formatter); a plain argparse parser would have other help
    and error conventions. (`argparse.ArgumentTypeError` and annotations stay fine.)"""
    found = [
        f"{path.relative_to(REPO)}:{line}"
        for folder in COMMAND_LINE_FOLDERS
        for path in sorted((REPO / folder).rglob("*.py"))
        for line in _plain_argparse_parsers(path.read_text(encoding="utf-8"))
    ]
    assert not found, "argparse.ArgumentParser built here; use slicevlm.command_line (jsonargparse):\n" + "\n".join(found)


def test_the_check_sees_a_plain_argparse_parser_however_imported() -> None:
    assert _plain_argparse_parsers("import argparse\np = argparse.ArgumentParser(prog='x')\n") == [2]
    assert _plain_argparse_parsers("import argparse as ap\n\n\nclass P(ap.ArgumentParser):\n    pass\n") == [4]
    assert _plain_argparse_parsers("from argparse import ArgumentParser as AP\nAP()\n") == [2]
    allowed = "import argparse\nfrom jsonargparse import ArgumentParser\nArgumentParser()\nraise argparse.ArgumentTypeError('x')\n"
    assert _plain_argparse_parsers(allowed) == []
