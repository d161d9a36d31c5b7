"""Root conftest: shared fixtures live in tests/fixtures/, one module per outside service."""

from hypothesis import HealthCheck, settings

pytest_plugins = [
    "tests.fixtures.db",
    "tests.fixtures.liveperson",
    "tests.fixtures.slack",
    "tests.fixtures.app",
    "tests.fixtures.heartbeat",
]

# Hypothesis times each example (200 ms) and its data generation by default: timing
# assertions that a busy machine fails. Properties are checked, not speed.
settings.register_profile("chatops", deadline=None, suppress_health_check=[HealthCheck.too_slow])
settings.load_profile("chatops")
