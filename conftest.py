"""Root conftest: shared fixtures live in tests/fixtures/, one module per outside service."""

pytest_plugins = [
    "tests.fixtures.db",
    "tests.fixtures.liveperson",
    "tests.fixtures.slack",
    "tests.fixtures.app",
    "tests.fixtures.heartbeat",
]
