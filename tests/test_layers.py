"""The layers of ARCHITECTURE.md section 2: the import-linter contract in pyproject.toml
holds, fails on a wrong import, and no module of chatops/ is part of an import cycle."""

from __future__ import annotations

import os
import pkgutil
import shutil
import subprocess
import sys
import tomllib
from collections.abc import Iterable
from pathlib import Path

import grimp
import pytest

ROOT = Path(__file__).resolve().parent.parent
LINT_IMPORTS = Path(sys.executable).with_name("lint-imports")


def lint_imports(project: Path) -> subprocess.CompletedProcess[str]:
    """``lint-imports`` with ``project``'s pyproject.toml, on ``project``'s copy of chatops."""
    env = {**os.environ, "PYTHONPATH": str(project)}
    found = subprocess.run(
        [sys.executable, "-c", "import chatops; print(chatops.__file__)"],
        cwd=project,
        env=env,
        capture_output=True,
        text=True,
        check=True,
    )
    # The copy, not the installed package, is what the contract is checked on.
    assert Path(found.stdout.strip()).is_relative_to(project)
    return subprocess.run(
        [str(LINT_IMPORTS), "--no-cache", "--config", str(project / "pyproject.toml")],
        cwd=project,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )


@pytest.fixture
def project(tmp_path: Path) -> Path:
    """A copy of chatops/ and pyproject.toml, to break on purpose."""
    shutil.copytree(ROOT / "chatops", tmp_path / "chatops", ignore=shutil.ignore_patterns("*.pyc"))
    shutil.copy(ROOT / "pyproject.toml", tmp_path / "pyproject.toml")
    return tmp_path


def add_import(module: Path, line: str) -> None:
    text = module.read_text()
    anchor = "from __future__ import annotations\n"
    assert anchor in text
    module.write_text(text.replace(anchor, anchor + "\n" + line + "\n", 1))


def test_the_contract_holds_on_chatops(project: Path) -> None:
    result = lint_imports(project)

    assert result.returncode == 0, result.stdout + result.stderr
    assert "Contracts: 2 kept, 0 broken." in result.stdout


def test_the_contract_fails_on_a_domain_module_that_imports_the_slack_surface(
    project: Path,
) -> None:
    add_import(project / "chatops" / "domain" / "policy.py", "import chatops.slack")

    result = lint_imports(project)

    assert result.returncode == 1
    assert "chatops layers (ARCHITECTURE.md section 2) BROKEN" in result.stdout
    assert "chatops.domain is not allowed to import chatops.slack" in result.stdout
    assert "chatops.domain.policy -> chatops.slack" in result.stdout


def test_the_contract_counts_imports_inside_functions_and_under_type_checking(
    project: Path,
) -> None:
    store = project / "chatops" / "store" / "cards.py"
    add_import(
        store, "from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n    import chatops.alerts"
    )
    add_import(
        project / "chatops" / "monitor" / "heartbeat.py",
        "def _lazy() -> None:\n    import chatops.web.app  # noqa: F401",
    )

    result = lint_imports(project)

    assert result.returncode == 1
    assert "chatops.store.cards -> chatops.alerts" in result.stdout
    assert "chatops.monitor.heartbeat -> chatops.web.app" in result.stdout


def test_the_contract_fails_when_the_sandbox_imports_the_app(project: Path) -> None:
    add_import(project / "chatops" / "sandbox" / "serving.py", "import chatops.config")

    result = lint_imports(project)

    assert result.returncode == 1
    assert "the sandbox fakes import nothing from the app BROKEN" in result.stdout
    assert "chatops.sandbox.serving -> chatops.config" in result.stdout


def test_the_sandbox_contract_forbids_every_other_top_level_module() -> None:
    contracts = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["importlinter"]
    (sandbox,) = [c for c in contracts["contracts"] if c["id"] == "sandbox"]
    top_level = {
        f"chatops.{info.name}"
        for info in pkgutil.iter_modules([str(ROOT / "chatops")])
        if not info.name.startswith("_")
    }

    assert set(sandbox["forbidden_modules"]) == top_level - {"chatops.sandbox"}


def test_the_contract_fails_on_a_top_level_module_it_does_not_place(project: Path) -> None:
    (project / "chatops" / "stray.py").write_text('"""Placed in no layer."""\n')

    result = lint_imports(project)

    assert result.returncode == 1
    assert "chatops.stray" in result.stdout


# -- import cycles -------------------------------------------------------------------------


def import_cycles(graph: grimp.ImportGraph) -> list[list[str]]:
    """Every set of modules that import each other in a circle (Tarjan's strongly connected
    components of more than one module, or a module importing itself)."""
    imports = {m: sorted(graph.find_modules_directly_imported_by(m)) for m in graph.modules}
    order: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    cycles: list[list[str]] = []

    def visit(start: str) -> None:
        # Iterative, so a long chain of imports cannot exhaust Python's recursion limit.
        work: list[tuple[str, Iterable[str]]] = [(start, iter(imports[start]))]
        order[start] = low[start] = len(order)
        stack.append(start)
        on_stack.add(start)
        while work:
            module, pending = work[-1]
            for imported in pending:
                if imported not in order:
                    order[imported] = low[imported] = len(order)
                    stack.append(imported)
                    on_stack.add(imported)
                    work.append((imported, iter(imports[imported])))
                    break
                if imported in on_stack:
                    low[module] = min(low[module], order[imported])
            else:
                work.pop()
                if work:
                    parent = work[-1][0]
                    low[parent] = min(low[parent], low[module])
                if low[module] == order[module]:
                    component = []
                    while True:
                        member = stack.pop()
                        on_stack.discard(member)
                        component.append(member)
                        if member == module:
                            break
                    if len(component) > 1 or module in imports[module]:
                        cycles.append(sorted(component))

    for module in sorted(imports):
        if module not in order:
            visit(module)
    return cycles


def test_import_cycles_finds_a_cycle_and_only_the_modules_in_it() -> None:
    graph = grimp.ImportGraph()
    for importer, imported in [("a", "b"), ("b", "c"), ("c", "a"), ("c", "d"), ("e", "e")]:
        graph.add_import(importer=importer, imported=imported)

    assert sorted(import_cycles(graph)) == [["a", "b", "c"], ["e"]]


def test_no_module_of_chatops_is_in_an_import_cycle() -> None:
    # Every import counts: at module level, inside functions and under TYPE_CHECKING.
    graph = grimp.build_graph("chatops", cache_dir=None)

    assert import_cycles(graph) == []
