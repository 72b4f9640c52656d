"""The package is organized by pipeline stage: no import cycle, no upward import.

Every ``from .x import`` (module level or inside a function) is read with
``ast``; a module may import only modules of its own or a lower stage, and
the import graph has no cycle. The stages, bottom to top::

    warnings, _tree, _validate -> _precision, _captured -> objective
    -> optimize.*, krylov -> hessian, approximations -> covariance -> report
    -> diagnostics -> profile -> results
    -> fit, least_squares, matrix_free, bfgs_trace, compare -> batch
    -> bootstrap, coverage -> plots, demo -> cli, __init__, __main__
"""

from __future__ import annotations

import ast
import pathlib

import pytest

import hessjax

ROOT = pathlib.Path(hessjax.__file__).parent

STAGES = [
    {"warnings", "_tree", "_validate", "_processes", "compilation_cache"},
    {"_precision", "_captured", "constraints"},
    {"objective"},
    {"krylov", "optimize.__init__", "optimize.base", "optimize.line_search", "optimize.trust_region",
     "optimize.bfgs", "optimize.newton", "optimize.newton_cg", "optimize.levenberg_marquardt",
     "optimize.minimize"},
    {"hessian", "approximations"},
    {"covariance"},
    {"report"},
    {"diagnostics"},
    {"profile", "hypothesis_tests"},
    {"results"},
    {"bounded"},
    {"fit", "least_squares", "matrix_free", "bfgs_trace", "compare"},
    {"laplace"},
    {"batch"},
    {"bootstrap", "coverage"},
    {"plots", "demo"},
    {"cli", "__init__", "__main__"},
]
STAGE = {module: level for level, modules in enumerate(STAGES) for module in modules}


def _modules() -> dict[str, pathlib.Path]:
    return {
        ".".join(path.relative_to(ROOT).with_suffix("").parts): path
        for path in ROOT.rglob("*.py")
    }


def _imports(module: str, path: pathlib.Path, modules: dict) -> set[str]:
    package = module.split(".")[:-1]
    found = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if not isinstance(node, ast.ImportFrom):
            continue
        if node.level:
            base = package[: len(package) - node.level + 1]
        elif (node.module or "").split(".")[0] == "hessjax":
            base, node = [], ast.ImportFrom(module=node.module.partition(".")[2] or None, names=node.names)
        else:
            continue
        name = ".".join(base + ([node.module] if node.module else []))
        if name in modules:
            found.add(name)
        else:  # `from . import x` or `from .optimize import minimize`: a package
            for alias in node.names:
                candidate = f"{name}.{alias.name}" if name else alias.name
                found.add(candidate if candidate in modules else (f"{name}.__init__" if name else "__init__"))
    found.discard(module)
    return found


GRAPH = {m: _imports(m, p, _modules()) for m, p in _modules().items()}


def test_every_module_has_a_stage():
    assert set(GRAPH) == set(STAGE), (
        f"modules without a stage: {sorted(set(GRAPH) - set(STAGE))}; "
        f"stages naming no module: {sorted(set(STAGE) - set(GRAPH))}"
    )


@pytest.mark.parametrize("module", sorted(STAGE))
def test_no_module_imports_a_later_stage(module):
    upward = sorted(d for d in GRAPH.get(module, ()) if STAGE.get(d, -1) > STAGE[module])
    assert not upward, f"{module} (stage {STAGE[module]}) imports later stages: {upward}"


def test_import_graph_has_no_cycle():
    state: dict[str, int] = {}

    def visit(module, path):
        if state.get(module) == 1:
            raise AssertionError("import cycle: " + " -> ".join(path + [module]))
        if state.get(module) == 2:
            return
        state[module] = 1
        for dep in sorted(GRAPH.get(module, ())):
            visit(dep, path + [module])
        state[module] = 2

    for module in sorted(GRAPH):
        visit(module, [])


def test_no_private_name_is_imported_across_modules():
    """A module's private helpers (leading underscore) stay in that module."""
    offenders = []
    for module, path in _modules().items():
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.ImportFrom) and (node.level or (node.module or "").startswith("hessjax")):
                offenders += [f"{module}: {alias.name} from {node.module}" for alias in node.names
                              if alias.name.startswith("_") and not alias.name.startswith("__")]
    assert not offenders, offenders
