"""Shared fixtures for every test in the repository: one module per external resource under tests/fixtures/."""

pytest_plugins = [
    "tests.fixtures.connectors",
    "tests.fixtures.postgres",
    "tests.fixtures.sheets_server",
    "tests.fixtures.stripe_server",
    "tests.fixtures.temporal",
]
