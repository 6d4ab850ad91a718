"""The architecture a folder listing promises: layers import downwards, never in a circle.

Every ``import`` of a pocketbench module is read from the source (at any
depth, deferred ones and ``if TYPE_CHECKING:`` blocks included: an import
made only for an annotation still says the module depends on the other).
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
#: Folder -> package, as pyproject.toml maps them.
ROOTS = {
    "core/public": "pocketbench",
    "core/testing": "pocketbench.testing",
    "core": "pocketbench.core",
    "backends": "pocketbench.backends",
    "reporters": "pocketbench.reporters",
}
#: core's layers, lowest first: a layer imports only from itself and those below it.
LAYERS = ("api", "kit", "devices", "results", "engine", "analysis", "cli")


def module_name(path: Path) -> str:
    rel = path.relative_to(REPO).with_suffix("")
    for folder, package in ROOTS.items():
        if rel.is_relative_to(folder):
            parts = rel.relative_to(folder).parts
            parts = parts[:-1] if parts[-1] == "__init__" else parts
            return ".".join((package, *parts))
    raise AssertionError(path)


def modules() -> dict[str, Path]:
    found = {}
    for folder in ("core", "backends", "reporters"):
        for path in (REPO / folder).rglob("*.py"):
            found[module_name(path)] = path
    return found


def imports_of(name: str, path: Path, known: set[str]) -> set[str]:
    """The pocketbench modules ``name`` imports, resolved to modules that exist."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    out: set[str] = set()

    def resolve(target: str) -> None:
        while target and target not in known:
            target = target.rpartition(".")[0]
        if target and target != name:
            out.add(target)

    def visit(node: ast.AST) -> None:
        if isinstance(node, ast.Import):
            for alias in node.names:
                if alias.name.startswith("pocketbench"):
                    resolve(alias.name)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = package.split(".")
                anchor = anchor[: len(anchor) - node.level + 1]
                base = ".".join([*anchor, base] if base else anchor)
            if base.startswith("pocketbench"):
                for alias in node.names:
                    resolve(f"{base}.{alias.name}")
        for child in ast.iter_child_nodes(node):
            visit(child)

    visit(tree)
    return out


@pytest.fixture(scope="module")
def graph() -> dict[str, set[str]]:
    found = modules()
    return {name: imports_of(name, path, set(found)) for name, path in found.items()}


def test_no_module_imports_one_that_imports_it_back(graph: dict[str, set[str]]) -> None:
    # Tarjan's strongly connected components: any component of two or more is a cycle.
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    cycles: list[list[str]] = []

    def connect(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        for w in graph.get(v, ()):
            if w not in index:
                connect(w)
                low[v] = min(low[v], low[w])
            elif w in stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            component = []
            while True:
                w = stack.pop()
                component.append(w)
                if w == v:
                    break
            if len(component) > 1:
                cycles.append(sorted(component))

    for v in sorted(graph):
        if v not in index:
            connect(v)
    assert cycles == []


def layer(name: str) -> str | None:
    parts = name.split(".")
    if parts[:2] == ["pocketbench", "core"] and len(parts) > 2 and parts[2] in LAYERS:
        return parts[2]
    return None


def test_core_layers_import_downwards(graph: dict[str, set[str]]) -> None:
    upward = []
    for name, targets in graph.items():
        mine = layer(name)
        if mine is None:
            continue
        for target in targets:
            theirs = layer(target)
            if (
                target.startswith(("pocketbench.backends", "pocketbench.reporters"))
                or theirs is not None
                and LAYERS.index(theirs) > LAYERS.index(mine)
            ):
                upward.append((name, target))
    assert upward == []


def test_backends_use_only_the_public_api(graph: dict[str, set[str]]) -> None:
    private = [
        (name, target)
        for name, targets in graph.items()
        if name.startswith("pocketbench.backends")
        for target in targets
        if not target.startswith(("pocketbench.plugin", "pocketbench.backends"))
    ]
    assert private == []


def test_core_names_no_backend(graph: dict[str, set[str]]) -> None:
    named = [
        (name, target)
        for name, targets in graph.items()
        if name.startswith(("pocketbench.core", "pocketbench.testing"))
        for target in targets
        if target.startswith("pocketbench.backends")
    ]
    assert named == []


def test_reporters_use_only_the_public_api(graph: dict[str, set[str]]) -> None:
    # Reporters are plugins too: what a built-in reporter needs, a third-party one can
    # import, from pocketbench.report (a backend's pocketbench.plugin is not theirs).
    private = [
        (name, target)
        for name, targets in graph.items()
        if name.startswith("pocketbench.reporters")
        for target in targets
        if not target.startswith(("pocketbench.report", "pocketbench.reporters"))
    ]
    assert private == []


def _documented() -> dict[str, set[str]]:
    """Public module -> the names docs/api.md documents (scripts/apidoc.py decides both)."""
    import importlib
    import importlib.util

    spec = importlib.util.spec_from_file_location("apidoc", REPO / "scripts" / "apidoc.py")
    assert spec is not None and spec.loader is not None
    apidoc = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(apidoc)
    return {
        name: set(apidoc.public_names(importlib.import_module(name))) for name in apidoc.MODULES
    }


def _ours(module: str) -> bool:
    return module == "pocketbench" or module.startswith("pocketbench.")


def test_the_example_backend_and_its_tests_use_only_the_documented_api() -> None:
    documented = _documented()
    undocumented = []
    for path in (REPO / "examples" / "pocketbench-numpy-backend").rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Import):
                undocumented += [
                    (path.name, a.name)
                    for a in node.names
                    if _ours(a.name) and a.name not in documented
                ]
            elif isinstance(node, ast.ImportFrom) and _ours(node.module or ""):
                names = documented.get(node.module or "", set())
                undocumented += [
                    (path.name, f"{node.module}.{a.name}")
                    for a in node.names
                    if a.name not in names
                ]
    assert undocumented == []
