"""The package's layout keeps its design (docs/architecture.md): no import cycle between logreg's modules, the
library never imports the command line (logreg.cli), and what ``logreg convert`` loads stays free of torch.

The imports are read from the source (ast), so every import counts: module-level, inside functions (the lazy ones)
and under ``TYPE_CHECKING``. An import names the module it imports (``from logreg.report import plots`` is an
import of ``logreg.report.plots``); a package's ``__init__`` that imports its own submodule, which Python runs when
the submodule is imported, is not counted as an edge of that submodule.
"""

from __future__ import annotations

import ast
from pathlib import Path

import logreg

PACKAGE = Path(logreg.__file__).parent  # of the logreg under test (PYTHONPATH may point elsewhere)


def module_name(path: Path) -> str:
    parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


MODULES = {module_name(path): path for path in sorted(PACKAGE.rglob("*.py"))}


def is_type_checking(node: ast.If) -> bool:
    return isinstance(node.test, ast.Name | ast.Attribute) and ast.unparse(node.test).endswith("TYPE_CHECKING")


def imports(module: str, *, runtime_top_level: bool = False) -> dict[str, int]:
    """The modules ``module`` imports (any of them: third-party too), each with the line of its first import.

    ``runtime_top_level``: only what importing ``module`` runs (not inside functions, not under TYPE_CHECKING)."""
    path = MODULES[module]
    tree = ast.parse(path.read_text(), filename=str(path))
    package = module if path.name == "__init__.py" else module.rpartition(".")[0]
    found: dict[str, int] = {}

    def visit(node: ast.AST) -> None:
        for child in ast.iter_child_nodes(node):
            if runtime_top_level and isinstance(child, ast.FunctionDef | ast.AsyncFunctionDef | ast.Lambda):
                continue
            if runtime_top_level and isinstance(child, ast.If) and is_type_checking(child):
                for other in child.orelse:
                    visit(other)
                continue
            if isinstance(child, ast.Import):
                for alias in child.names:
                    found.setdefault(alias.name, child.lineno)
            elif isinstance(child, ast.ImportFrom):
                base = child.module or ""
                if child.level:  # relative: from the package, one level up per extra dot
                    anchor = package.split(".")[: len(package.split(".")) - child.level + 1]
                    base = ".".join([*anchor, *([base] if base else [])])
                for alias in child.names:
                    submodule = f"{base}.{alias.name}"
                    found.setdefault(submodule if submodule in MODULES else base, child.lineno)
            visit(child)

    visit(tree)
    return found


def logreg_imports(module: str) -> dict[str, int]:
    """The logreg modules ``module`` imports."""
    return {name: line for name, line in imports(module).items() if name in MODULES and name != module}


def find_cycle(graph: dict[str, dict[str, int]]) -> list[str] | None:
    """One cycle of ``graph`` (``[a, b, ..., a]``), or None."""
    state: dict[str, str] = {}  # "open" while on the current path, "done" after
    path: list[str] = []

    def walk(node: str) -> list[str] | None:
        state[node] = "open"
        path.append(node)
        for nxt in sorted(graph.get(node, {})):
            if state.get(nxt) == "open":
                return [*path[path.index(nxt) :], nxt]
            if nxt not in state and (cycle := walk(nxt)):
                return cycle
        path.pop()
        state[node] = "done"
        return None

    for start in sorted(graph):
        if start not in state and (cycle := walk(start)):
            return cycle
    return None


def test_the_walk_sees_every_kind_of_import():
    """The graph is read as the tests below need it: a function-level import (cli's lazy one of cli.lightning), a
    TYPE_CHECKING one (export's of checkpoint), and ``from package import module`` (figures' of plots)."""
    assert "logreg.cli.lightning" in logreg_imports("logreg.cli")
    assert "logreg.checkpoint" in logreg_imports("logreg.export")
    assert "logreg.report.plots" in logreg_imports("logreg.report.figures")
    assert "logreg.cli.lightning" not in imports("logreg.cli", runtime_top_level=True)


def test_no_import_cycle_between_logreg_modules():
    graph = {module: logreg_imports(module) for module in MODULES}
    assert find_cycle(graph) is None, "import cycle: " + " -> ".join(find_cycle(graph) or [])
    assert find_cycle({"a": {"b": 1}, "b": {"c": 1}, "c": {"a": 1}}) == ["a", "b", "c", "a"]  # the finder finds one


def test_the_library_never_imports_the_command_line():
    """Everything outside logreg/cli/ is the library: the estimator, export and the data modules work without it.
    (``logreg/__main__.py``, ``python -m logreg``, is the command's other entry point.)"""
    offenders = [
        f"{MODULES[module].relative_to(PACKAGE.parent)}:{line} imports {name}"
        for module in MODULES
        if module not in ("logreg.cli", "logreg.__main__") and not module.startswith("logreg.cli.")
        for name, line in logreg_imports(module).items()
        if name == "logreg.cli" or name.startswith("logreg.cli.")
    ]
    assert offenders == []


def test_logreg_convert_loads_neither_torch_nor_lightning():
    """What importing the command line and the readers runs (``logreg convert``'s whole import) reaches no torch.

    The static half of tests/test_cli.py::test_convert_runs_without_torch_or_lightning, which runs the command: this
    one names the module that brought torch in."""
    seen, todo, heavy = set(), ["logreg.cli", "logreg.data.readers"], []
    while todo:
        module = todo.pop()
        if module in seen:
            continue
        seen.add(module)
        parents = [".".join(module.split(".")[:i]) for i in range(1, module.count(".") + 1)]  # their __init__ runs
        for name in [*imports(module, runtime_top_level=True), *parents]:
            if name in MODULES:
                todo.append(name)
            elif name.split(".")[0] in {"torch", "lightning", "torchmetrics"}:
                heavy.append(f"{module} imports {name}")
    assert heavy == []


def test_the_lazy_top_level_names_and_their_type_checking_imports_agree():
    """``logreg.X`` is imported from ``_HOMES[X]`` on first use, and the API reference (mkdocstrings) resolves it
    through the ``TYPE_CHECKING`` imports: both must name the same module, the one that defines the class."""
    tree = ast.parse(MODULES["logreg"].read_text())
    checked = {
        alias.name: node.module
        for block in tree.body
        if isinstance(block, ast.If) and is_type_checking(block)
        for node in block.body
        if isinstance(node, ast.ImportFrom)
        for alias in node.names
    }
    assert checked == logreg._HOMES
    assert sorted(checked) == sorted(logreg.__all__)
    for name, module in checked.items():
        defined = {n.name for n in ast.parse(MODULES[module].read_text()).body if isinstance(n, ast.ClassDef)}
        assert name in defined, f"{module} does not define {name}"
