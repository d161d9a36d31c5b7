"""SQL lives in chatops/store (ARCHITECTURE.md section 2): no other module builds a query,
reaches for a table, or reads and writes through a session itself.

Outside store a module may name a session (its type), commit or roll back the transaction it
owns, and catch a database error; everything else goes through a store repository.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

CHATOPS = Path(__file__).resolve().parent.parent / "chatops"
STORE = CHATOPS / "store"

# What a module outside store may import of the database libraries: types and errors.
ALLOWED_IMPORTS = frozenset(
    {"sqlalchemy.exc", "sqlalchemy.ext.asyncio", "sqlmodel.ext.asyncio.session"}
)
# Session and connection methods that read or write rows.
DATA_METHODS = frozenset(
    {"exec", "execute", "scalar", "scalars", "stream", "get", "add", "add_all", "delete"}
    | {"merge", "flush", "refresh"}
)
HANDLES = frozenset({"session", "connection"})


def violations(source: str) -> list[str]:
    """What in ``source`` does database work that belongs in store, one line each."""
    found = []
    for node in ast.walk(ast.parse(source)):
        modules: list[str] = []
        if isinstance(node, ast.Import):
            modules = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module is not None:
            modules = [node.module]
        for module in modules:
            if module.split(".")[0] in {"sqlalchemy", "sqlmodel"} and module not in (
                ALLOWED_IMPORTS
            ):
                found.append(f"line {node.lineno}: imports {module}")
        if isinstance(node, ast.Attribute) and node.attr == "__table__":
            found.append(f"line {node.lineno}: reaches for __table__")
        if (
            isinstance(node, ast.Call)
            and isinstance(node.func, ast.Attribute)
            and node.func.attr in DATA_METHODS
            and isinstance(node.func.value, ast.Name)
            and node.func.value.id in HANDLES
        ):
            found.append(f"line {node.lineno}: {node.func.value.id}.{node.func.attr}()")
    return found


def modules_outside_store() -> list[Path]:
    return sorted(p for p in CHATOPS.rglob("*.py") if STORE not in p.parents)


def test_no_module_outside_store_does_database_work() -> None:
    found = {
        str(path.relative_to(CHATOPS.parent)): problems
        for path in modules_outside_store()
        if (problems := violations(path.read_text(encoding="utf-8")))
    }

    assert found == {}


def test_the_app_outside_store_is_checked_at_all() -> None:
    names = {str(path.relative_to(CHATOPS)) for path in modules_outside_store()}

    assert {"alerts/relay.py", "alerts/planner.py", "monitor/poll.py", "slack/control.py"} <= names


@pytest.mark.parametrize(
    "source",
    [
        "import sqlalchemy as sa",
        "from sqlmodel import select",
        "from sqlalchemy.dialects import postgresql",
        "OUTBOX = OutboxMessage.__table__",
        "async def f(session):\n    await session.exec(query)",
        "async def f(connection):\n    await connection.execute(query)",
        "def f(session, row):\n    session.add(row)",
    ],
)
def test_database_work_outside_store_is_found(source: str) -> None:
    assert len(violations(source)) == 1


@pytest.mark.parametrize(
    "source",
    [
        "from sqlalchemy.exc import IntegrityError",
        "from sqlmodel.ext.asyncio.session import AsyncSession",
        "async def f(session):\n    await session.commit()",
        "def f(values):\n    return values.get('key')",
    ],
)
def test_types_errors_and_commits_are_allowed(source: str) -> None:
    assert violations(source) == []
