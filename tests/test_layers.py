"""The import rules of the package, checked on its source with `ast`.

- Stages are layers: a module imports only from its own layer or below (`LAYERS`), so that
  parsers never depend on passes, passes never on report sections or renderers, and the CLI
  is the only module that wires everything.
- Report sections and passes are siblings: neither imports the other.
- A pass (a module of `analyzer/passes/` that defines ``PASS``) imports no other pass; what
  passes share lives in the helper modules beside them or in `analyzer/derive`.
- No module imports another package's private (``_name``) names.

The package's ``__init__`` is the public facade (`analyzer.analyze`): it is the one module
allowed to reach the pipeline from layer 0, lazily, inside the function.

Imports inside functions and under ``if TYPE_CHECKING`` count too.
"""

from __future__ import annotations

import ast
from dataclasses import dataclass
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parent.parent / "analyzer"

LAYERS: dict[str, int] = {
    "analyzer": 0,
    "analyzer.errors": 0,
    "analyzer.resources": 0,
    "analyzer.lazy": 0,
    "analyzer.arrays": 0,
    "analyzer.clean": 0,
    "analyzer.config": 0,
    "analyzer.schema": 0,
    "analyzer.model": 0,
    "analyzer.outputs": 0,
    "analyzer.inputs": 1,
    "analyzer.formats": 2,
    "analyzer.derive": 3,
    "analyzer.sections": 4,
    "analyzer.passes": 4,
    "analyzer.verdict": 5,
    "analyzer.sources": 6,
    "analyzer.pipeline": 7,
    "analyzer.schema_doc": 7,
    "analyzer.render": 8,
    "analyzer.batch": 9,
    "analyzer.cli": 10,
    "analyzer.__main__": 11,
}
"""Module or package -> layer; a module belongs to the longest entry that prefixes it."""

FACADE = "analyzer"
"""The package's ``__init__``: `analyzer.analyze` imports the pipeline when called."""

SIBLINGS = {frozenset({"analyzer.sections", "analyzer.passes"})}
"""Packages of one layer that must not import each other."""


@dataclass(frozen=True)
class Import:
    importer: str
    imported: str
    names: tuple[str, ...]
    line: int


def module_name(path: Path) -> str:
    parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def modules() -> dict[str, Path]:
    return {module_name(path): path for path in sorted(PACKAGE.rglob("*.py"))}


def imports_of(name: str, path: Path) -> list[Import]:
    found: list[Import] = []
    tree = ast.parse(path.read_text(encoding="utf-8"))
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found += [
                Import(name, alias.name, (), node.lineno)
                for alias in node.names
                if alias.name.startswith("analyzer")
            ]
        elif (
            isinstance(node, ast.ImportFrom)
            and node.level == 0
            and (node.module or "").startswith("analyzer")
        ):
            names = tuple(alias.name for alias in node.names)
            found.append(Import(name, str(node.module), names, node.lineno))
    return found


def targets(imported: Import, known: dict[str, Path]) -> list[str]:
    """The modules an import refers to: the module itself, or for ``from package import
    module`` each submodule named."""
    submodules = [f"{imported.imported}.{name}" for name in imported.names]
    named = [module for module in submodules if module in known]
    return named or [imported.imported]


def group(module: str) -> str:
    return max((key for key in LAYERS if module == key or module.startswith(key + ".")), key=len)


def package_of(module: str) -> str:
    return module.rsplit(".", 1)[0] if module.count(".") > 1 else module


def is_pass(path: Path) -> bool:
    tree = ast.parse(path.read_text(encoding="utf-8"))
    return path.parent.name == "passes" and any(
        isinstance(node, ast.Assign)
        and any(isinstance(target, ast.Name) and target.id == "PASS" for target in node.targets)
        for node in tree.body
    )


KNOWN = modules()
ALL_IMPORTS = [item for name, path in KNOWN.items() for item in imports_of(name, path)]
PASS_MODULES = {name for name, path in KNOWN.items() if is_pass(path)}


def test_the_rules_see_the_package() -> None:
    assert len(KNOWN) > 50 and len(ALL_IMPORTS) > 200
    assert {"analyzer.passes.blocked_loop", "analyzer.passes.slow_syscall"} <= PASS_MODULES
    assert "analyzer.passes.common" not in PASS_MODULES


@pytest.mark.parametrize("module", sorted(KNOWN))
def test_every_module_has_a_layer(module: str) -> None:
    assert group(module) in LAYERS


def layer_violations(imports: list[Import], known: dict[str, Path]) -> list[str]:
    problems = []
    for item in imports:
        if item.importer == FACADE:
            continue
        source = group(item.importer)
        for target in targets(item, known):
            into = group(target)
            if LAYERS[into] > LAYERS[source]:
                problems.append(f"{item.importer}:{item.line} imports {target} (a later stage)")
            elif source != into and frozenset({source, into}) in SIBLINGS:
                problems.append(f"{item.importer}:{item.line} imports {target} (a sibling)")
    return problems


def test_stages_import_only_earlier_stages() -> None:
    assert layer_violations(ALL_IMPORTS, KNOWN) == []


def pass_violations(imports: list[Import], known: dict[str, Path], passes: set[str]) -> list[str]:
    return [
        f"{item.importer}:{item.line} imports the pass {target}"
        for item in imports
        if item.importer in passes
        for target in targets(item, known)
        if target in passes and target != item.importer
    ]


def test_passes_import_no_other_pass() -> None:
    assert pass_violations(ALL_IMPORTS, KNOWN, PASS_MODULES) == []


def private_violations(imports: list[Import], known: dict[str, Path]) -> list[str]:
    problems = []
    for item in imports:
        for name in item.names:
            dunder = name.startswith("__") and name.endswith("__")
            if not name.startswith("_") or dunder or f"{item.imported}.{name}" in known:
                continue
            if package_of(item.imported) != package_of(item.importer):
                problems.append(f"{item.importer}:{item.line} imports {item.imported}.{name}")
    return problems


def test_no_module_imports_another_packages_private_names() -> None:
    assert private_violations(ALL_IMPORTS, KNOWN) == []


# The checks must be able to fail: each is shown a made-up violation of its rule.


def test_the_checks_catch_made_up_violations() -> None:
    known = {**KNOWN}
    upward = Import("analyzer.formats.strace", "analyzer.passes.blocked_loop", ("run",), 1)
    sibling = Import("analyzer.passes.slow_syscall", "analyzer.sections", ("strace",), 2)
    assert len(layer_violations([upward, sibling], known)) == 2
    between = Import("analyzer.passes.slow_syscall", "analyzer.passes", ("thread_pileup",), 3)
    assert pass_violations([between], known, PASS_MODULES) == [
        "analyzer.passes.slow_syscall:3 imports the pass analyzer.passes.thread_pileup"
    ]
    private = Import("analyzer.render.flamegraph", "analyzer.derive.perf_fold", ("_x",), 4)
    same_package = Import("analyzer.derive.perf", "analyzer.derive.perf_fold", ("_x",), 5)
    assert private_violations([private, same_package], known) == [
        "analyzer.render.flamegraph:4 imports analyzer.derive.perf_fold._x"
    ]
