"""gittrack's own modules import each other without a cycle.

The graph is built with ``ast`` from the source of every module under ``gittrack/``,
not by importing anything, and it counts every import statement wherever it sits:
at module level, inside a function or method, inside ``try``. A function-level import
hides a cycle from Python's import machinery but not from the design: two modules
that need each other are one idea split badly, and the shared piece belongs in the
lower layer.

Excluded on purpose: imports under ``if TYPE_CHECKING:`` (also ``typing.TYPE_CHECKING``).
They never run; they exist only for annotations, which ``from __future__ import
annotations`` keeps as strings.

Edges are explicit only: importing ``gittrack.a.b`` also runs ``gittrack/a/__init__.py``,
but that implicit edge is not counted, so a package ``__init__`` that re-exports its own
submodules is not reported as a cycle. ``from gittrack.a import b`` is an edge to the
submodule ``gittrack.a.b`` when ``b`` is one, otherwise to the package ``gittrack.a``.
"""

from __future__ import annotations

import ast
from pathlib import Path

PACKAGE = Path(__file__).resolve().parent.parent / "gittrack"


def _module_names() -> dict[str, Path]:
    """Return dotted module name -> source path for every module of the package."""
    modules: dict[str, Path] = {}
    for path in sorted(PACKAGE.rglob("*.py")):
        parts = list(path.relative_to(PACKAGE.parent).with_suffix("").parts)
        if parts[-1] == "__init__":
            parts.pop()
        modules[".".join(parts)] = path
    return modules


def _is_type_checking(test: ast.expr) -> bool:
    """Return True for the test of ``if TYPE_CHECKING:`` / ``if typing.TYPE_CHECKING:``."""
    if isinstance(test, ast.Name):
        return test.id == "TYPE_CHECKING"
    return isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING"


def _imports(tree: ast.AST) -> list[tuple[ast.Import | ast.ImportFrom, int]]:
    """Return every import node with its line, skipping ``if TYPE_CHECKING:`` bodies."""
    found: list[tuple[ast.Import | ast.ImportFrom, int]] = []

    def visit(node: ast.AST) -> None:
        if isinstance(node, ast.If) and _is_type_checking(node.test):
            for child in node.orelse:
                visit(child)
            return
        if isinstance(node, ast.Import | ast.ImportFrom):
            found.append((node, node.lineno))
        for child in ast.iter_child_nodes(node):
            visit(child)

    visit(tree)
    return found


def _targets(
    node: ast.Import | ast.ImportFrom, module: str, is_package: bool, known: set[str]
) -> list[str]:
    """Return the gittrack modules one import statement names."""
    if isinstance(node, ast.Import):
        names = [alias.name for alias in node.names]
        return [name for name in names if name in known]
    if node.level:
        base = module.split(".")
        base = base if is_package else base[:-1]
        base = base[: len(base) - (node.level - 1)]
        parent = ".".join(base + ([node.module] if node.module else []))
    else:
        parent = node.module or ""
    out = []
    for alias in node.names:
        child = f"{parent}.{alias.name}"
        if child in known:
            out.append(child)
        elif parent in known:
            out.append(parent)
    return out


def import_graph() -> dict[str, dict[str, int]]:
    """Return module -> {imported gittrack module: line of the first such import}."""
    modules = _module_names()
    known = set(modules)
    graph: dict[str, dict[str, int]] = {}
    for name, path in modules.items():
        tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
        edges: dict[str, int] = {}
        for node, line in _imports(tree):
            for target in _targets(node, name, path.name == "__init__.py", known):
                if target != name:
                    edges.setdefault(target, line)
        graph[name] = edges
    return graph


def find_cycles(graph: dict[str, dict[str, int]]) -> list[list[str]]:
    """Return one cycle (a closed path of module names) per strongly connected component."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    components: list[list[str]] = []

    def strongconnect(start: str) -> None:
        # iterative Tarjan: (node, iterator over its successors)
        work = [(start, iter(sorted(graph[start])))]
        index[start] = low[start] = len(index)
        stack.append(start)
        on_stack.add(start)
        while work:
            node, successors = work[-1]
            advanced = False
            for succ in successors:
                if succ not in index:
                    index[succ] = low[succ] = len(index)
                    stack.append(succ)
                    on_stack.add(succ)
                    work.append((succ, iter(sorted(graph[succ]))))
                    advanced = True
                    break
                if succ in on_stack:
                    low[node] = min(low[node], index[succ])
            if advanced:
                continue
            work.pop()
            if work:
                low[work[-1][0]] = min(low[work[-1][0]], low[node])
            if low[node] == index[node]:
                component = []
                while True:
                    member = stack.pop()
                    on_stack.discard(member)
                    component.append(member)
                    if member == node:
                        break
                if len(component) > 1:
                    components.append(sorted(component))

    for name in sorted(graph):
        if name not in index:
            strongconnect(name)
    return [_cycle_in(graph, set(component)) for component in components]


def _cycle_in(graph: dict[str, dict[str, int]], members: set[str]) -> list[str]:
    """Return a shortest closed path through the first member of a strongly connected set."""
    start = min(members)
    previous: dict[str, str] = {}
    frontier = [start]
    while frontier:
        nxt = []
        for node in frontier:
            for succ in sorted(graph[node]):
                if succ not in members:
                    continue
                if succ == start:
                    path = [node]
                    while path[-1] != start:
                        path.append(previous[path[-1]])
                    return [start, *reversed(path[:-1]), start]
                if succ not in previous:
                    previous[succ] = node
                    nxt.append(succ)
        frontier = nxt
    raise AssertionError(f"no cycle through {start}")  # pragma: no cover


def _describe(graph: dict[str, dict[str, int]], cycle: list[str]) -> str:
    steps = [f"{a} (line {graph[a][b]}) -> {b}" for a, b in zip(cycle, cycle[1:], strict=False)]
    return " | ".join(steps)


def test_graph_sees_function_level_imports() -> None:
    """The scanner finds imports inside functions and skips TYPE_CHECKING blocks."""
    source = (
        "from typing import TYPE_CHECKING\n"
        "if TYPE_CHECKING:\n"
        "    from gittrack.core import reader\n"
        "def f():\n"
        "    from gittrack.core.writer import RunWriter\n"
        "    from . import locks\n"
        "    import gittrack.errors\n"
    )
    known = {
        "gittrack.core.reader",
        "gittrack.core.writer",
        "gittrack.core.locks",
        "gittrack.errors",
    }
    known |= {"gittrack", "gittrack.core"}
    found = [
        target
        for node, _ in _imports(ast.parse(source))
        for target in _targets(node, "gittrack.core.repo", False, known)
    ]
    assert found == ["gittrack.core.writer", "gittrack.core.locks", "gittrack.errors"]


def test_find_cycles_names_the_cycle() -> None:
    graph = {"a": {"b": 1}, "b": {"c": 2}, "c": {"a": 3}, "d": {"a": 4}}
    assert find_cycles(graph) == [["a", "b", "c", "a"]]
    assert (
        _describe(graph, ["a", "b", "c", "a"])
        == "a (line 1) -> b | b (line 2) -> c | c (line 3) -> a"
    )


def test_no_import_cycle() -> None:
    """No gittrack module reaches itself through imports, function-level ones included."""
    graph = import_graph()
    assert "gittrack.core.reader" in graph and graph["gittrack.api.fluent"]
    cycles = find_cycles(graph)
    assert not cycles, "import cycles:\n" + "\n".join(_describe(graph, c) for c in cycles)


# packages the library below them must never import (the faces and what builds on core)
ABOVE_CORE = (
    "api",
    "artifacts",
    "cli",
    "mirror",
    "models",
    "query",
    "remote",
    "rest",
    "server",
    "ui",
)


def _package(module: str) -> str:
    parts = module.split(".")
    return parts[1] if len(parts) > 1 else ""


def test_only_the_cli_imports_the_cli() -> None:
    """Library code never reaches into the command line (its helpers belong below it)."""
    graph = import_graph()
    offenders = [
        f"{module} (line {line}) -> {target}"
        for module, edges in sorted(graph.items())
        if _package(module) not in ("cli", "__main__")
        for target, line in edges.items()
        if _package(target) == "cli"
    ]
    assert offenders == []


def test_core_imports_nothing_built_on_it() -> None:
    """``gittrack.core`` (reading and writing runs) imports none of the layers above it."""
    graph = import_graph()
    offenders = [
        f"{module} (line {line}) -> {target}"
        for module, edges in sorted(graph.items())
        if _package(module) == "core"
        for target, line in edges.items()
        if _package(target) in ABOVE_CORE
    ]
    assert offenders == []
