"""The package's shape: no import cycles among mushin's modules, no oversized file.

The import graph is read from the source (the AST of every module), not by
importing it: an edge is an import statement at module level (inside a
``try`` or ``if`` at the top too, but not inside a function), so a cycle
broken by a function-local import is not one here, while one hidden in a
``try`` at the top is.
"""
from __future__ import annotations

import ast
from pathlib import Path
from typing import Dict, List, Optional, Set

import pytest

PACKAGE = Path(__file__).resolve().parent.parent / "mushin"
MAX_LINES = 800


def _module_name(path: Path, root: Path) -> str:
    parts = list(path.relative_to(root.parent).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def _modules(root: Path = PACKAGE) -> Dict[str, Path]:
    return {_module_name(p, root): p for p in sorted(root.rglob("*.py"))}


def _extension_modules(root: Path) -> Set[str]:
    """Compiled modules (``mushin._core``): ``from . import _core`` names one, not the package."""
    found = set()
    for stub in root.rglob("*.pyi"):
        found.add(_module_name(stub, root))
    for binary in list(root.rglob("*.so")) + list(root.rglob("*.pyd")):
        found.add(_module_name(binary.with_name(binary.name.split(".")[0] + ".py"), root))
    return found


def _top_level_imports(tree: ast.Module) -> List[ast.stmt]:
    """Import statements run when the module is imported (not those inside functions or classes)."""
    found: List[ast.stmt] = []
    stack: List[ast.stmt] = list(tree.body)
    while stack:
        node = stack.pop()
        if isinstance(node, (ast.Import, ast.ImportFrom)):
            found.append(node)
        elif isinstance(node, (ast.If, ast.Try, ast.With)):
            for field in ("body", "orelse", "finalbody", "handlers"):
                for child in getattr(node, field, []):
                    if isinstance(child, ast.ExceptHandler):
                        stack.extend(child.body)
                    else:
                        stack.append(child)
    return found


def _resolve(module: str, is_package: bool, node: ast.ImportFrom) -> str:
    """The absolute name an ``ImportFrom`` reads from."""
    if node.level == 0:
        return node.module or ""
    base = module.split(".") if is_package else module.split(".")[:-1]
    base = base[: len(base) - (node.level - 1)]
    return ".".join(base + ([node.module] if node.module else []))


def import_graph(root: Path = PACKAGE) -> Dict[str, Set[str]]:
    """``{module: modules of this package it imports at module level}``."""
    modules = _modules(root)
    known = set(modules) | _extension_modules(root)
    graph: Dict[str, Set[str]] = {name: set() for name in modules}
    for name, path in modules.items():
        tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
        is_package = path.name == "__init__.py"
        for node in _top_level_imports(tree):
            if isinstance(node, ast.Import):
                targets = [alias.name for alias in node.names]
            else:
                source = _resolve(name, is_package, node)
                # ``from pkg import sub`` imports the submodule when there is one
                targets = [
                    f"{source}.{alias.name}" if f"{source}.{alias.name}" in known else source
                    for alias in node.names
                ]
            graph[name].update(t for t in targets if t in modules and t != name)
    return graph


def find_cycle(graph: Dict[str, Set[str]]) -> Optional[List[str]]:
    """One import cycle as ``[a, b, ..., a]``, or None."""
    state: Dict[str, int] = {}  # 1: on the current path, 2: finished
    path: List[str] = []

    def visit(node: str) -> Optional[List[str]]:
        state[node] = 1
        path.append(node)
        for nxt in sorted(graph[node]):
            if state.get(nxt) == 1:
                return path[path.index(nxt):] + [nxt]
            if nxt not in state:
                cycle = visit(nxt)
                if cycle:
                    return cycle
        path.pop()
        state[node] = 2
        return None

    for node in sorted(graph):
        if node not in state:
            cycle = visit(node)
            if cycle:
                return cycle
    return None


def test_no_import_cycles_among_mushin_modules():
    graph = import_graph()
    assert "mushin.result.core" in graph and graph["mushin.result.core"], "the graph reads no imports"
    cycle = find_cycle(graph)
    assert cycle is None, "import cycle: " + " -> ".join(cycle)


def test_renderers_do_not_import_the_result_class():
    # dependencies run one way: the shared facts and the views never import core
    graph = import_graph()
    for name in ("facts", "tables", "plots", "files", "loading", "per_class"):
        assert "mushin.result.core" not in graph[f"mushin.result.{name}"], name
    assert not graph["mushin.result.facts"] & {f"mushin.result.{n}" for n in ("tables", "plots", "files", "loading")}


@pytest.mark.parametrize("path", sorted(PACKAGE.rglob("*.py")), ids=lambda p: str(p.relative_to(PACKAGE)))
def test_no_module_is_over_the_line_limit(path):
    lines = len(path.read_text(encoding="utf-8").splitlines())
    assert lines <= MAX_LINES, f"{path.relative_to(PACKAGE.parent)} has {lines} lines (limit {MAX_LINES}); split it by concern"


def test_cycle_finder_finds_a_cycle_through_relative_imports(tmp_path):
    package = tmp_path / "pkg"
    (package / "sub").mkdir(parents=True)
    (package / "__init__.py").write_text("")
    (package / "a.py").write_text("from .sub import b\n")
    (package / "sub" / "__init__.py").write_text("")
    (package / "sub" / "b.py").write_text("from .. import c\n")
    (package / "c.py").write_text("from . import _ext\ndef f():\n    from . import a  # function-local: no edge\n")
    (package / "_ext.pyi").write_text("")
    graph = import_graph(package)
    assert graph["pkg.a"] == {"pkg.sub.b"} and graph["pkg.sub.b"] == {"pkg.c"} and graph["pkg.c"] == set()
    assert find_cycle(graph) is None
    (package / "c.py").write_text("try:\n    from .a import x\nexcept ImportError:\n    pass\n")
    assert find_cycle(import_graph(package)) == ["pkg.a", "pkg.sub.b", "pkg.c", "pkg.a"]
