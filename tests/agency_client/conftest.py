"""Fixtures of the agency_client tests (defined in helpers, shared with the CLI tests)."""

from tests.agency_client.helpers import (  # noqa: F401  (fixtures, found by name)
    agency_pki,
    exchange_settings,
    inbox_topics,
    live_bus,
    outbox_path,
    threaded_bus,
)
