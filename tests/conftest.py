"""Shared fixtures. Each fixture family lives in its own module under tests/fixtures."""

pytest_plugins = [
    "tests.fixtures.samples",
    "tests.fixtures.pki",
    "tests.fixtures.broker",
    "tests.fixtures.database",
]
