"""The package's imports point down the flow (README "Architecture"), and no module imports itself back.

Read from the source with `ast`, so a new upward import fails here rather than in a reviewer's head. Imports
under `if TYPE_CHECKING:` are for annotations only and do not count.
"""

from __future__ import annotations

import ast
import graphlib
from pathlib import Path

from tests.conftest import REPO

PACKAGE = REPO / "forwarder"

# Lowest first. A unit (a top-level module or package of forwarder/) may import from its own layer or below.
LAYERS: list[set[str]] = [
    {"__init__", "errors", "problems", "logs", "worker_env"},
    {"settings_sections", "settings_marketing", "settings_audiences", "settings_reporting", "settings"},
    {"settings_problems", "setup_check"},
    {"events", "shape", "keys"},
    {"store"},
    {"metrics", "stats", "dead_filters", "cli_output"},
    {"mapping", "postbacks"},
    {"delivery"},
    {"tiktok", "marketing", "audiences", "reporting", "marketing_emulator"},  # destination kinds and what they pull
    {"runtime", "destination_kinds", "emulators"},
    {"reload", "http"},
    {"explain", "healthcheck", "multiprocess"},
    {"app"},
    {"cli", "__main__"},
]
LAYER_OF = {unit: rank for rank, units in enumerate(LAYERS) for unit in units}


def _module_name(path: Path) -> str:
    parts = path.relative_to(REPO).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _is_type_checking(node: ast.If) -> bool:
    return isinstance(node.test, ast.Name) and node.test.id == "TYPE_CHECKING"


def _imports(path: Path) -> set[str]:
    """The forwarder modules `path` imports at run time (absolute dotted names)."""
    module = _module_name(path)
    package = module if path.name == "__init__.py" else module.rpartition(".")[0]
    found: set[str] = set()

    def visit(node: ast.AST) -> None:
        if isinstance(node, ast.If) and _is_type_checking(node):
            for child in node.orelse:
                visit(child)
            return
        if isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")[: len(package.split(".")) - node.level + 1]
                target = ".".join([*base, node.module] if node.module else base)
            else:
                target = node.module or ""
            if target.startswith("forwarder"):
                found.add(target)
                found.update(f"{target}.{alias.name}" for alias in node.names)  # `from . import x`
        elif isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names if alias.name.startswith("forwarder"))
        for child in ast.iter_child_nodes(node):
            visit(child)

    visit(ast.parse(path.read_text()))
    return found


def _graph() -> dict[str, set[str]]:
    modules = {_module_name(path): path for path in PACKAGE.rglob("*.py")}
    return {name: {t for t in _imports(path) if t in modules and t != name} for name, path in modules.items()}


def _unit(module: str) -> str:
    parts = module.split(".")
    return parts[1] if len(parts) > 1 else "__init__"


def test_every_unit_has_a_layer() -> None:
    units = {_unit(module) for module in _graph()}
    assert units - set(LAYER_OF) == set(), "add the new module or package to LAYERS"


def test_imports_point_down_the_flow() -> None:
    upward = sorted(
        f"{module} -> {target}"
        for module, targets in _graph().items()
        for target in targets
        if LAYER_OF[_unit(target)] > LAYER_OF[_unit(module)]
    )
    assert upward == []


def test_no_import_cycle() -> None:
    graph = _graph()
    # A package's __init__ importing its own modules is how a package exposes them, not a cycle of meaning.
    edges = {m: {t for t in ts if not t.startswith(f"{m}.")} for m, ts in graph.items()}
    graphlib.TopologicalSorter(edges).prepare()  # raises CycleError naming the cycle
